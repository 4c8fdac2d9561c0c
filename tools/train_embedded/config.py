"""What a training run is: ``TrainConfig``, and the architecture it trains."""

from __future__ import annotations

from dataclasses import dataclass

from profiling_dit.embedded.pooling_vae import POOLING_VAE_CONFIG
from profiling_dit.embedded.tiny import embedded_transformer_config


@dataclass(frozen=True)
class TrainConfig:
    out: str
    seed: int = 0
    clips: int = 2000
    frames: int = 17
    height: int = 128
    width: int = 128
    dit_steps: int = 6500
    dit_batch: int = 4
    # Image pre-training: the first steps train on latent frame 0 alone (the VAE encodes pixel frame 0
    # by itself, so it is an image latent), ~5x cheaper a step than 5 latent frames, to learn layout,
    # colour and background before the video steps learn motion. 0 turns it off.
    dit_image_steps: int = 600
    dit_image_batch: int = 16
    # Video steps on crops of the latent video (this many latent pixels a side, or across a strip; 0:
    # whole frames). A step of 12 strips of 32 x 12 latent pixels (16 x 6 tokens) and 3 latent frames
    # costs ~0.55 s here against ~1.4 s for 4 whole clips.
    dit_crop: int = 12
    dit_crop_batch: int = 12
    # Crops take this many consecutive latent frames (0: all of them); motion is a shift between
    # neighbouring latent frames, which a window of 3 shows at ~0.5 s a step against ~0.8 s for 5.
    dit_crop_frames: int = 3
    # Centre each crop on the object (its foreground centroid in the window, jittered by up to a quarter
    # of the crop) instead of a random place, so that every crop shows the object and its motion.
    dit_crop_on_object: bool = True
    # Strips instead of squares: a crop spans the whole frame along the clip's motion axis (``dit_crop``
    # latent pixels across it, centred on the object), so it holds the frame's edges along that axis.
    # Wan has no absolute position (rotary embeddings only): edges are the only cue for where the object
    # starts, and squares centred on the object teach it to sit in the middle of whatever it sees. A
    # batch holds strips of one axis (steps alternate between the two).
    dit_crop_strips: bool = True
    # With crops, the last this many video steps are on whole frames again (at ``dit_batch``), so the
    # model sees the attention range it samples with.
    dit_full_steps: int = 500
    dit_lr: float = 8e-4
    dit_warmup: int = 200
    ema_decay: float = 0.998
    # Loss weight of a latent cell = 1 + foreground_weight x (share of its pixels that are foreground).
    foreground_weight: float = 4.0
    # Which embedded architecture (tiny.py's EMBEDDED_TRANSFORMER_CONFIGS): "tiny" (8 blocks) or "tiny-deep" (20).
    arch: str = "tiny"
    # Where the transformer trains ("cpu", "cuda"); rendering, encoding and the text encoder stay on the CPU.
    device: str = "cpu"
    num_layers: int | None = None  # None: the architecture's block count (tests train fewer)
    # Width overrides for experiments (None: the architecture's); a model trained with them is not a shipped
    # architecture, so tiny.py's configs must follow before such a model is shipped.
    num_attention_heads: int | None = None
    attention_head_dim: int | None = None
    ffn_dim: int | None = None
    cfg_dropout: float = 0.1
    flow_shift: float = 3.0
    checkpoint_every: int = 200


# The architectures trained are the shipped ones (tiny.py). On 2 CPU cores a step of the 8-block model
# costs ~0.6 s for 16 first frames, ~0.55 s for 12 strips of 16x6 tokens x 3 latent frames and ~1.4 s
# for 4 whole clips (the shipped run's loss log); the 20-block one about the same (tiny.py).
TRAINED_VAE_CONFIG = POOLING_VAE_CONFIG


def transformer_config(cfg: TrainConfig) -> dict:
    """The transformer's config: ``cfg.arch``'s, with ``cfg``'s overrides."""
    config = embedded_transformer_config(cfg.arch)
    for key in ("num_layers", "num_attention_heads", "attention_head_dim", "ffn_dim"):
        if getattr(cfg, key) is not None:
            config[key] = getattr(cfg, key)
    return config


def build_transformer(cfg: TrainConfig):
    from diffusers import WanTransformer3DModel

    return WanTransformer3DModel(**transformer_config(cfg))


def latent_frame_count(cfg: TrainConfig) -> int:
    """Latent frames of a training clip: the VAE's first frame alone, then one per temporal chunk."""
    return (cfg.frames - 1) // 2 ** sum(TRAINED_VAE_CONFIG["temperal_downsample"]) + 1
