"""Wan2.1 / Wan2.2 (``WanTransformer3DModel``): the registry entry, the pipelines, the aliases, and the
self-attention's Q/K exactly as ``WanAttnProcessor`` forms them.

The Q/K function is used only while profiling, to compute how much attention each token receives; the
model's own processor still produces the output. A test checks these Q/K reproduce the processor's output.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from .spec import ArchitectureSpec, Family, ModelAlias, PipelineSpec

if TYPE_CHECKING:
    import torch

WAN_DEFAULTS = dict(height=480, width=832, frames=81, steps=50, guidance=5.0, fps=16)

# The embedded models' settings, written once: what they were trained for (their pdit_model.json holds the same,
# written from here by profiling_dit.embedded.tiny.write_model_meta), and the defaults of GenerationSettings.
EMBEDDED_DEFAULTS: dict[str, Any] = dict(height=128, width=128, frames=17, steps=20, guidance=5.0, fps=16,
                                         max_sequence_length=16)

# The embedded models: trained Wan pipelines shipped inside the package (8 blocks; 20 narrower blocks).
TINY_MODEL_DIR = Path(__file__).resolve().parent.parent / "assets" / "tiny-wan"
TINY_DEEP_MODEL_DIR = Path(__file__).resolve().parent.parent / "assets" / "tiny-wan-deep"


def _rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    # Interleaved-pair rotary embedding, as Wan applies it (pairs (0,1), (2,3), ... of each head).
    import torch

    x1, x2 = x.unflatten(-1, (-1, 2)).unbind(-1)
    c, s = cos[..., 0::2], sin[..., 1::2]
    out = torch.empty_like(x)
    out[..., 0::2] = x1 * c - x2 * s
    out[..., 1::2] = x1 * s + x2 * c
    return out.type_as(x)


def wan_self_attention_qk(attn, hidden_states, encoder_hidden_states=None, attention_mask=None, rotary_emb=None,
                          **_):
    """Return (q, k), each (batch, heads, tokens, head_dim), for a Wan self-attention call."""
    if attn.fused_projections:
        q, k, _v = attn.to_qkv(hidden_states).chunk(3, dim=-1)
    else:
        q, k = attn.to_q(hidden_states), attn.to_k(hidden_states)
    q = attn.norm_q(q).unflatten(2, (attn.heads, -1))
    k = attn.norm_k(k).unflatten(2, (attn.heads, -1))
    if rotary_emb is not None:
        q, k = _rotate(q, *rotary_emb), _rotate(k, *rotary_emb)
    return q.transpose(1, 2), k.transpose(1, 2)


_T = "WanTransformer3DModel"

FAMILY = Family(
    transformer_class=_T,
    architecture=ArchitectureSpec(
        name="wan",
        block_lists=("blocks",),
        self_attention="attn1",
        frame_multiple=4,
        spatial_multiple=16,  # Wan2.2 TI2V 5B: 32, its VAE's 16 x the patch 2 (read from its configs: for_configs)
        defaults=WAN_DEFAULTS,
        self_attention_qk=wan_self_attention_qk,
        num_blocks_from_config=lambda cfg: int(cfg["num_layers"]),
        positions_from_config=lambda cfg: int(cfg.get("rope_max_seq_len", 1024)),  # diffusers' default
        peer_module_patterns=(r"blocks\.\d+\.attn1", r"blocks\.\d+\.attn2", r"blocks\.\d+\.ffn"),
        context_parallel=True,  # diffusers' WanTransformer3DModel._cp_plan splits the sequence at blocks.0
    ),
    pipelines={
        "WanPipeline": PipelineSpec(),
        "WanImageToVideoPipeline": PipelineSpec(needs_image=True),
    },
    aliases=(
        ModelAlias("tiny", None, _T, "embedded tiny Wan pipeline (CPU, seconds)", folder=TINY_MODEL_DIR,
                   defaults=EMBEDDED_DEFAULTS, judge="synthetic"),
        ModelAlias("tiny-deep", None, _T, "embedded tiny Wan pipeline with 20 narrower blocks (CPU, seconds)",
                   folder=TINY_DEEP_MODEL_DIR, defaults=EMBEDDED_DEFAULTS, judge="synthetic"),
        ModelAlias("wan2.1", "Wan-AI/Wan2.1-T2V-1.3B-Diffusers", _T, "Wan2.1 T2V 1.3B"),
        ModelAlias("wan2.1-1.3b", "Wan-AI/Wan2.1-T2V-1.3B-Diffusers", _T, "Wan2.1 T2V 1.3B"),
        ModelAlias("wan2.1-14b", "Wan-AI/Wan2.1-T2V-14B-Diffusers", _T, "Wan2.1 T2V 14B"),
        ModelAlias("wan2.1-i2v-480p", "Wan-AI/Wan2.1-I2V-14B-480P-Diffusers", _T,
                   "Wan2.1 image-to-video 14B, 480p (needs a first frame)"),
        ModelAlias("wan2.1-i2v-720p", "Wan-AI/Wan2.1-I2V-14B-720P-Diffusers", _T,
                   "Wan2.1 image-to-video 14B, 720p (needs a first frame)"),
        ModelAlias("wan2.2-t2v-a14b", "Wan-AI/Wan2.2-T2V-A14B-Diffusers", _T,
                   "Wan2.2 T2V A14B: two experts (high-noise, low-noise)"),
        ModelAlias("wan2.2-i2v-a14b", "Wan-AI/Wan2.2-I2V-A14B-Diffusers", _T,
                   "Wan2.2 I2V A14B: two experts (needs a first frame)"),
        ModelAlias("wan2.2-ti2v-5b", "Wan-AI/Wan2.2-TI2V-5B-Diffusers", _T,
                   "Wan2.2 TI2V 5B (one transformer; height/width multiples of 32)"),
    ),
)
