"""The embedded tiny Wan model: how it is built from configs.

The shipped weights live in ``assets/tiny-wan`` in diffusers' ``save_pretrained`` layout (trained by
``tools/train_embedded`` in the repository) and are loaded by the same code as any local folder
(``profiling_dit.load_pipeline``). This module builds a fresh, untrained pipeline of the same architecture
(random transformer and text encoder, the constructed pooling VAE), used by the training and by the
tests, which need tiny pipelines without touching the network.

The tokenizer is a word-level ``tokenizers`` model over a small closed vocabulary (the words of the
synthetic-video prompts plus common English glue words). Unknown words map to ``<unk>``. It needs
no download and behaves the same on every machine.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from ..models.wan import EMBEDDED_DEFAULTS

# Words the embedded model's prompts are made of. Order matters: ids are positions in this list,
# so only ever append to it.
VOCABULARY: tuple[str, ...] = (
    # glue
    "a", "an", "the", "and", "of", "on", "over", "in", "across", "through", "with", "is", "to",
    "from", "at", "its", "small", "big", "large", "tiny", "bright", "dark", "slowly", "quickly",
    # motion
    "moving", "moves", "rolling", "rolls", "sliding", "slides", "flying", "bouncing", "drifting",
    "left", "right", "up", "down", "still", "static", "toward", "away",
    # shapes and objects
    "circle", "square", "triangle", "ball", "box", "cube", "disc", "star", "shape", "object",
    "cat", "dog", "car", "bird", "fish",
    # colours
    "red", "green", "blue", "yellow", "orange", "purple", "white", "black", "pink", "cyan",
    "magenta", "brown", "gray", "grey",
    # backgrounds
    "grass", "sky", "sand", "floor", "water", "snow", "wall", "field", "road", "beach", "desert",
    "background", "gradient", "texture", "night", "day",
)

SPECIAL_TOKENS = ("<pad>", "</s>", "<unk>")

# Prompts are short; the stock pipeline pads to 512 tokens, which would dominate a tiny model's cost.
TINY_MAX_SEQUENCE_LENGTH = EMBEDDED_DEFAULTS["max_sequence_length"]

# The shipped model's architecture (tools/train_embedded trains it): 8 blocks, 2 heads x 64, patch
# (1, 2, 2) over the pooling VAE's 12-channel latents, 256 video tokens per latent frame at 128x128.
# Heads of 64, not 32: Wan has no absolute position embedding, so motion has to be learned as attention
# to a relative offset, and Wan's rotary embedding gives each spatial axis 2 * (head_dim // 6) channels.
# At 32 that is 5 frequencies, only two of them (1 and 0.16 rad a token) useful over 16 tokens; at 64 it
# is 10 (1, 0.40, 0.16, 0.06 ...), enough to point attention at "2 tokens to the left in the last frame".
TINY_TRANSFORMER_CONFIG = dict(
    patch_size=(1, 2, 2),
    num_attention_heads=2,
    attention_head_dim=64,
    in_channels=12,
    out_channels=12,
    text_dim=64,
    freq_dim=64,
    ffn_dim=512,
    num_layers=8,
    cross_attn_norm=True,
    qk_norm="rms_norm_across_heads",
    eps=1e-6,
    rope_max_seq_len=1024,
)

# The deep embedded model (``--model tiny-deep``): 20 blocks, so that choosing which blocks to cache can
# matter, made narrow (one head of 64, FFN 128) to cost the same to train and run here as the 8-block model:
# a training step measured 0.58 s (first frames) / 0.52 s (strips) / 1.10 s (whole clips) against 0.59 /
# 0.53 / 1.00 s for the 8-block model; 20 blocks of two heads and FFN 256 cost 1.16 / 1.09 / 2.29 s.
# The head stays 64 wide for the rotary frequencies (above).
TINY_DEEP_TRANSFORMER_CONFIG = dict(TINY_TRANSFORMER_CONFIG, num_layers=20, num_attention_heads=1, ffn_dim=128)

# The embedded architectures by model name.
EMBEDDED_TRANSFORMER_CONFIGS = {"tiny": TINY_TRANSFORMER_CONFIG, "tiny-deep": TINY_DEEP_TRANSFORMER_CONFIG}



def embedded_transformer_config(arch: str) -> dict:
    """A copy of the transformer config of the embedded architecture ``arch`` (``tiny`` or ``tiny-deep``)."""
    if arch not in EMBEDDED_TRANSFORMER_CONFIGS:
        from ..errors import InvalidSettingError

        raise InvalidSettingError(f"`arch` {arch!r} is not an embedded model; choose from "
                                  f"{', '.join(EMBEDDED_TRANSFORMER_CONFIGS)}")
    return dict(EMBEDDED_TRANSFORMER_CONFIGS[arch])


TINY_TEXT_ENCODER_CONFIG: dict[str, Any] = dict(
    d_model=64,
    d_kv=16,
    d_ff=128,
    num_layers=2,
    num_heads=4,
    relative_attention_num_buckets=8,
    relative_attention_max_distance=32,
    dropout_rate=0.0,
    feed_forward_proj="gated-gelu",
)

TINY_SCHEDULER_CONFIG = dict(
    prediction_type="flow_prediction",
    use_flow_sigmas=True,
    flow_shift=3.0,
    num_train_timesteps=1000,
)


def build_tokenizer():
    """A word-level fast tokenizer over ``VOCABULARY`` (works offline, deterministic)."""
    from tokenizers import Tokenizer, normalizers, pre_tokenizers, processors
    from tokenizers.models import WordLevel
    from transformers import PreTrainedTokenizerFast

    vocab = {tok: i for i, tok in enumerate(SPECIAL_TOKENS)}
    for word in VOCABULARY:
        vocab.setdefault(word, len(vocab))
    tok = Tokenizer(WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    # T5-style: every sequence ends with </s>.
    tok.post_processor = processors.TemplateProcessing(
        single="$A </s>", special_tokens=[("</s>", vocab["</s>"])]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        pad_token="<pad>",
        eos_token="</s>",
        unk_token="<unk>",
        model_max_length=TINY_MAX_SEQUENCE_LENGTH,
    )


def build_tiny_pipeline(seed: int = 0, num_layers: int | None = None, arch: str = "tiny"):
    """Build a fresh, randomly initialised tiny ``WanPipeline`` (in eval mode).

    Args:
        seed: seeds the weight initialisation, so the same seed gives the same weights.
        num_layers: override the number of transformer blocks (tests use fewer).
        arch: which embedded transformer (``EMBEDDED_TRANSFORMER_CONFIGS``): ``tiny`` or ``tiny-deep``.
    """
    tcfg = embedded_transformer_config(arch)  # checked before the heavy imports
    from diffusers import UniPCMultistepScheduler, WanPipeline, WanTransformer3DModel
    from transformers import UMT5Config, UMT5EncoderModel

    from .pooling_vae import build_pooling_vae

    tokenizer = build_tokenizer()
    gen_state = torch.random.get_rng_state()
    try:
        torch.manual_seed(seed)
        text_encoder = UMT5EncoderModel(
            UMT5Config(vocab_size=len(tokenizer), pad_token_id=0, eos_token_id=1, **TINY_TEXT_ENCODER_CONFIG)
        )
        vae = build_pooling_vae(seed=seed)
        if num_layers is not None:
            tcfg["num_layers"] = num_layers
        transformer = WanTransformer3DModel(**tcfg)
    finally:
        torch.random.set_rng_state(gen_state)
    scheduler = UniPCMultistepScheduler(**TINY_SCHEDULER_CONFIG)
    pipe = WanPipeline(
        tokenizer=tokenizer, text_encoder=text_encoder, vae=vae, scheduler=scheduler, transformer=transformer
    )
    for module in (text_encoder, vae, transformer):
        module.eval()  # type: ignore[union-attr]  # mypy reads diffusers' torch-less placeholder class
    return pipe


from ..pipeline.loading import PDIT_META_FILE  # noqa: E402  (the one name for the file)


def write_model_meta(folder: str | Path, *, trained: bool, description: str) -> None:
    """Write the small ``pdit_model.json`` that tells pdit how to run a model folder."""
    from .._io import atomic_write_text

    meta = {"max_sequence_length": TINY_MAX_SEQUENCE_LENGTH, "trained": trained, "description": description,
            "judge": "synthetic",
            **{f"default_{k}": v for k, v in EMBEDDED_DEFAULTS.items() if k != "max_sequence_length"}}
    atomic_write_text(Path(folder) / PDIT_META_FILE, json.dumps(meta, indent=2) + "\n")


def save_untrained_tiny(folder: str | Path, seed: int = 0) -> Path:
    """Write an untrained tiny pipeline to ``folder`` (safetensors) with its pdit metadata."""
    folder = Path(folder)
    pipe = build_tiny_pipeline(seed=seed)
    pipe.save_pretrained(folder, safe_serialization=True)
    write_model_meta(
        folder,
        trained=False,
        description=(
            "Untrained tiny Wan-architecture pipeline (random weights, seed %d): it makes noise-like "
            "videos. It exists to exercise the full pipeline on CPU in seconds." % seed
        ),
    )
    return folder


if __name__ == "__main__":  # pragma: no cover - maintenance entry point
    import argparse

    parser = argparse.ArgumentParser(description="Write an untrained tiny model folder (the shipped one is trained).")
    parser.add_argument("--out", required=True)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(save_untrained_tiny(args.out, args.seed))
