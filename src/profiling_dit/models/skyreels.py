"""SkyReels-V2 (``SkyReelsV2Transformer3DModel``): the registry entry, the pipelines, the aliases.

The transformer is Wan2.1's with a per-frame timestep option: the same blocks (``blocks``, self-attention
``attn1``, cross-attention ``attn2``), the same UMT5 text and Wan VAE, and the same processor arithmetic
(``SkyReelsV2AttnProcessor``: RMS norms over the full width, then the interleaved-pair rotary embedding per head),
so the profiler's Q/K are Wan's (``wan_self_attention_qk``). Diffusers' 0.42 SkyReels-V2 transformer has no
context-parallel plan.

The diffusion-forcing pipelines are refused: they denoise every latent frame on a timestep of its own, over a step
matrix longer than ``num_inference_steps`` (asynchronous steps, and a new one for each window of a long video) and
on windows of the latents whose length changes, where a plan is one row of blocks a denoising step.
"""

from __future__ import annotations

from .spec import ArchitectureSpec, Family, ModelAlias, PipelineSpec
from .wan import wan_self_attention_qk

# SkyReelsV2Pipeline's own defaults (540P: 544 x 960, 97 frames at 24 fps, guidance 6)
SKYREELS_DEFAULTS = dict(height=544, width=960, frames=97, steps=50, guidance=6.0, fps=24)
_T = "SkyReelsV2Transformer3DModel"
_DIFFUSION_FORCING = ("diffusion forcing denoises each latent frame on its own timestep, over a step matrix longer "
                      "than `steps` and windows of the video whose length changes, and a plan is one row of blocks "
                      "a denoising step; use SkyReelsV2Pipeline or SkyReelsV2ImageToVideoPipeline")

FAMILY = Family(
    transformer_class=_T,
    architecture=ArchitectureSpec(
        name="skyreels-v2",
        block_lists=("blocks",),
        self_attention="attn1",
        frame_multiple=4,
        spatial_multiple=16,  # the pipeline's own check; its VAE x patch (8 x 2) is the same
        defaults=SKYREELS_DEFAULTS,
        self_attention_qk=wan_self_attention_qk,
        num_blocks_from_config=lambda cfg: int(cfg["num_layers"]),
        positions_from_config=lambda cfg: int(cfg.get("rope_max_seq_len", 1024)),  # diffusers' default
        peer_module_patterns=(r"blocks\.\d+\.attn1", r"blocks\.\d+\.attn2", r"blocks\.\d+\.ffn"),
        context_parallel_note="diffusers 0.42 has no context-parallel plan for SkyReelsV2Transformer3DModel",
    ),
    pipelines={
        "SkyReelsV2Pipeline": PipelineSpec(),
        "SkyReelsV2ImageToVideoPipeline": PipelineSpec(needs_image=True),
    },
    refused_pipelines={
        "SkyReelsV2DiffusionForcingPipeline": _DIFFUSION_FORCING,
        "SkyReelsV2DiffusionForcingImageToVideoPipeline": _DIFFUSION_FORCING,
        "SkyReelsV2DiffusionForcingVideoToVideoPipeline": _DIFFUSION_FORCING,
    },
    aliases=(
        ModelAlias("skyreels-v2", "Skywork/SkyReels-V2-T2V-14B-540P-Diffusers", _T, "SkyReels-V2 T2V 14B, 540p"),
        ModelAlias("skyreels-v2-720p", "Skywork/SkyReels-V2-T2V-14B-720P-Diffusers", _T, "SkyReels-V2 T2V 14B, 720p"),
        ModelAlias("skyreels-v2-i2v-1.3b", "Skywork/SkyReels-V2-I2V-1.3B-540P-Diffusers", _T,
                   "SkyReels-V2 image-to-video 1.3B, 540p (needs a first frame)"),
        ModelAlias("skyreels-v2-i2v", "Skywork/SkyReels-V2-I2V-14B-540P-Diffusers", _T,
                   "SkyReels-V2 image-to-video 14B, 540p (needs a first frame)"),
        ModelAlias("skyreels-v2-i2v-720p", "Skywork/SkyReels-V2-I2V-14B-720P-Diffusers", _T,
                   "SkyReels-V2 image-to-video 14B, 720p (needs a first frame)"),
    ),
)
