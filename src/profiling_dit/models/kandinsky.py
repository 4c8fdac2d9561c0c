"""Kandinsky 5 (``Kandinsky5Transformer3DModel``): the registry entry, the pipeline, the aliases, and the visual
self-attention's query and key exactly as ``Kandinsky5AttnProcessor`` forms them.

The transformer runs its text blocks (``text_transformer_blocks``) on the text alone, then its visual blocks
(``visual_transformer_blocks``: self-attention over the video tokens, cross-attention to the text, feed-forward), the
ones pdit profiles and caches. The processor splits the heads, normalises Q and K per head in float32, and applies
its rotary embedding (2 x 2 rotations) through bfloat16 whatever the model's dtype; the Q/K here do the same. Its
output is (B, F, H, W, C), and ``Kandinsky5T2VPipeline`` calls the transformer outside any cache context, so pdit
names the calls (``PipelineSpec.call_contexts``). The sparse "nabla" attention of some checkpoints orders the tokens
in 8 x 8 tiles and masks most pairs: such a model is cached as any other but not profiled.
"""

from __future__ import annotations

from .spec import ArchitectureSpec, Family, ModelAlias, PipelineSpec


def _rotary(x, rope):
    import torch

    out = (rope * x.reshape(*x.shape[:-1], -1, 1, 2).to(torch.float32)).sum(dim=-1)
    return out.reshape(*x.shape).to(torch.bfloat16)  # as the processor does


def kandinsky5_self_attention_qk(attn, hidden_states, encoder_hidden_states=None, rotary_emb=None,
                                 sparse_params=None, **_):
    """(q, k), each (batch, heads, tokens, head_dim), as the processor forms them."""
    if sparse_params is not None:
        from ..errors import InvalidSettingError

        raise InvalidSettingError("this Kandinsky 5 model's sparse (nabla) attention orders the video tokens in 8 x 8 "
                                  "tiles and masks most of them, so pdit cannot profile it; cache it with a profile "
                                  "of a model with attention_type \"regular\", or profile one")
    shape = hidden_states.shape[:-1]
    q = attn.to_query(hidden_states).reshape(*shape, attn.num_heads, -1)
    k = attn.to_key(hidden_states).reshape(*shape, attn.num_heads, -1)
    q, k = attn.query_norm(q.float()).type_as(q), attn.key_norm(k.float()).type_as(k)
    if rotary_emb is not None:
        q, k = _rotary(q, rotary_emb).type_as(q), _rotary(k, rotary_emb).type_as(k)
    return q.transpose(1, 2), k.transpose(1, 2)


# Kandinsky5T2VPipeline's own defaults (5 s at 24 fps)
KANDINSKY5_DEFAULTS = dict(height=512, width=768, frames=121, steps=50, guidance=5.0, fps=24)
_T = "Kandinsky5Transformer3DModel"
_HUB = "kandinskylab/Kandinsky-5.0-T2V-{}-Diffusers"

FAMILY = Family(
    transformer_class=_T,
    architecture=ArchitectureSpec(
        name="kandinsky5",
        block_lists=("visual_transformer_blocks",),
        self_attention="self_attention",
        frame_multiple=4,  # the HunyuanVideo VAE's temporal compression
        spatial_multiple=16,  # its spatial compression 8 x the patch 2; the pipeline's own check
        defaults=KANDINSKY5_DEFAULTS,
        self_attention_qk=kandinsky5_self_attention_qk,
        num_blocks_from_config=lambda cfg: int(cfg["num_visual_blocks"]),
        positions_from_config=lambda cfg: 128,  # its 3D rotary embedding's positions along each axis
        prediction_layout="FHWC",
        vae_spatial_from_config=lambda cfg: int(cfg.get("spatial_compression_ratio", 8)),
        peer_module_patterns=(r"visual_transformer_blocks\.\d+\.self_attention",
                              r"visual_transformer_blocks\.\d+\.cross_attention",
                              r"visual_transformer_blocks\.\d+\.feed_forward"),
        context_parallel_note="diffusers 0.42 has no context-parallel plan for Kandinsky5Transformer3DModel",
    ),
    pipelines={"Kandinsky5T2VPipeline": PipelineSpec(call_contexts=("cond", "uncond"))},
    aliases=(
        ModelAlias("kandinsky5-lite", _HUB.format("Lite-sft-5s"), _T, "Kandinsky 5.0 T2V Lite 2B, 5 s"),
        ModelAlias("kandinsky5-lite-10s", _HUB.format("Lite-sft-10s"), _T,
                   "Kandinsky 5.0 T2V Lite 2B, 10 s (sparse attention: generate only)"),
        ModelAlias("kandinsky5-pro", _HUB.format("Pro-sft-5s"), _T, "Kandinsky 5.0 T2V Pro 19B, 5 s"),
    ),
)
