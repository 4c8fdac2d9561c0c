"""LTX-Video (``LTXVideoTransformer3DModel``): the registry entry, the pipeline, the alias, and the
self-attention's query and key exactly as ``LTXVideoAttnProcessor`` forms them.

The self-attention (``attn1``) sees the video tokens only; the text comes in through ``attn2``. The
processor normalises Q and K across heads (``norm_q``/``norm_k`` over the full width), applies the
interleaved-pair rotary embedding to the full width, and only then splits the heads. Profiling only.
"""

from __future__ import annotations

from .spec import ArchitectureSpec, Family, ModelAlias, PipelineSpec


def ltx_self_attention_qk(attn, hidden_states, encoder_hidden_states=None, attention_mask=None,
                          image_rotary_emb=None, **_):
    """(q, k), each (batch, heads, tokens, head_dim), as the processor forms them."""
    from diffusers.models.transformers.transformer_ltx import apply_rotary_emb

    source = hidden_states if encoder_hidden_states is None else encoder_hidden_states
    q, k = attn.norm_q(attn.to_q(hidden_states)), attn.norm_k(attn.to_k(source))
    if image_rotary_emb is not None:
        q, k = apply_rotary_emb(q, image_rotary_emb), apply_rotary_emb(k, image_rotary_emb)
    return q.unflatten(2, (attn.heads, -1)).transpose(1, 2), k.unflatten(2, (attn.heads, -1)).transpose(1, 2)


# LTXPipeline's own defaults (its frame_rate is 25)
LTX_DEFAULTS = dict(height=512, width=704, frames=161, steps=50, guidance=3.0, fps=25)
_T = "LTXVideoTransformer3DModel"

FAMILY = Family(
    transformer_class=_T,
    architecture=ArchitectureSpec(
        name="ltx-video",
        block_lists=("transformer_blocks",),
        self_attention="attn1",
        frame_multiple=8,  # the VAE's temporal compression
        spatial_multiple=32,  # the VAE's spatial compression (its patch 4 x three 2x downsamplings), patch 1
        defaults=LTX_DEFAULTS,
        self_attention_qk=ltx_self_attention_qk,
        num_blocks_from_config=lambda cfg: int(cfg["num_layers"]),
        prediction_layout="NC",  # packed tokens
        vae_spatial_from_config=lambda cfg: int(cfg.get("spatial_compression_ratio") or cfg.get("patch_size", 4)
                                                * 2 ** sum(cfg.get("spatio_temporal_scaling", (1, 1, 1, 0)))),
        patch_from_config=lambda cfg: (cfg.get("patch_size_t") or 1, cfg["patch_size"], cfg["patch_size"]),
        peer_module_patterns=(r"transformer_blocks\.\d+\.attn1", r"transformer_blocks\.\d+\.attn2",
                              r"transformer_blocks\.\d+\.ff"),
        context_parallel_note=("diffusers 0.42 has a context-parallel plan for this model, but with Ulysses its "
                               "cross-attention fails here on two processes (the text mask keeps every head while "
                               "each rank holds half of them)"),
    ),
    # LTXPipeline batches both CFG branches into one transformer call (context "cond_uncond")
    pipelines={"LTXPipeline": PipelineSpec(guidance="cfg-batched", max_sequence_length=128)},
    aliases=(ModelAlias("ltx-video", "Lightricks/LTX-Video", _T, "LTX-Video 2B"),),
)
