"""LTX-2 (``LTX2VideoTransformer3DModel``): joint audio and video. The registry entry, the pipeline, the aliases,
and the video self-attention's query and key exactly as ``LTX2AudioVideoAttnProcessor`` forms them.

Every block carries two streams, the video tokens and the audio tokens (each attends to itself, to the text and to
the other stream), so a cached run keeps one delta for each and a skipped run moves both. The profiler reads the
video self-attention (``attn1``, video tokens only); the audio stream is cached with the blocks it passes through.

``LTX2Pipeline`` calls the transformer up to three times a step, each in its own cache context: the batched CFG
branches (``"cond_uncond"``), spatio-temporal guidance (``"uncond_stg"``, the same model with some blocks'
self-attention perturbed) and modality guidance (``"uncond_modality"``, the cross-modal attention off). Each context
keeps its own cache, as the CFG branches of other families do, so each call follows the plan on its own deltas.

The VAE's temporal compression is read from its config (``temporal_compression_ratio``, else
``patch_size_t · 2^(temporal scalings)``): the real model's is 8, a model of another VAE keeps its own.
"""

from __future__ import annotations

from .spec import ArchitectureSpec, Family, ModelAlias, PipelineSpec


def ltx2_self_attention_qk(attn, hidden_states, encoder_hidden_states=None, attention_mask=None,
                           query_rotary_emb=None, key_rotary_emb=None, **_):
    """(q, k), each (batch, heads, tokens, head_dim), as the processor forms them (normalised over the full width,
    then the rotary embedding, split or interleaved, then the heads)."""
    from diffusers.models.transformers.transformer_ltx2 import apply_interleaved_rotary_emb, apply_split_rotary_emb

    source = hidden_states if encoder_hidden_states is None else encoder_hidden_states
    q, k = attn.norm_q(attn.to_q(hidden_states)), attn.norm_k(attn.to_k(source))
    if query_rotary_emb is not None:
        rotate = apply_interleaved_rotary_emb if attn.rope_type == "interleaved" else apply_split_rotary_emb
        q = rotate(q, query_rotary_emb)
        k = rotate(k, key_rotary_emb if key_rotary_emb is not None else query_rotary_emb)
    return q.unflatten(2, (attn.heads, -1)).transpose(1, 2), k.unflatten(2, (attn.heads, -1)).transpose(1, 2)


def _scaling(cfg: dict, ratio: str, patch: str) -> int:
    """A compression ratio of the LTX-2 VAE from its config, as the VAE computes it when the config leaves it out."""
    if cfg.get(ratio):
        return int(cfg[ratio])
    return int(cfg.get(patch) or 1) * 2 ** sum(bool(x) for x in cfg.get("spatio_temporal_scaling", (True,) * 4))


# LTX2Pipeline's own defaults (121 frames at 24 fps, 30 steps, CFG 3)
LTX2_DEFAULTS = dict(height=512, width=768, frames=121, steps=30, guidance=3.0, fps=24)
_T = "LTX2VideoTransformer3DModel"

FAMILY = Family(
    transformer_class=_T,
    architecture=ArchitectureSpec(
        name="ltx-2",
        block_lists=("transformer_blocks",),
        self_attention="attn1",
        frame_multiple=8,  # the real VAE's temporal compression (a model's own is read from its VAE config)
        spatial_multiple=32,  # the real VAE's spatial compression, patch 1
        defaults=LTX2_DEFAULTS,
        self_attention_qk=ltx2_self_attention_qk,
        block_streams=("hidden_states", "audio_hidden_states"),
        num_blocks_from_config=lambda cfg: int(cfg["num_layers"]),
        prediction_layout="NC",  # packed tokens
        vae_spatial_from_config=lambda cfg: _scaling(cfg, "spatial_compression_ratio", "patch_size"),
        vae_temporal_from_config=lambda cfg: _scaling(cfg, "temporal_compression_ratio", "patch_size_t"),
        patch_from_config=lambda cfg: (cfg.get("patch_size_t") or 1, cfg["patch_size"], cfg["patch_size"]),
        peer_module_patterns=(r"transformer_blocks\.\d+\.attn1", r"transformer_blocks\.\d+\.attn2",
                              r"transformer_blocks\.\d+\.ff"),
        context_parallel_note=("diffusers 0.42 has a context-parallel plan for this model, but it fails here on two "
                               "processes: with split rotary embeddings the plan splits them along the heads, and "
                               "with interleaved ones the attention mask does not match the split heads"),
    ),
    pipelines={"LTX2Pipeline": PipelineSpec(
        guidance="cfg-batched", max_sequence_length=1024,
        module_components=(("ltx2", "LTX2TextConnectors"), ("ltx2", "LTX2Vocoder")))},
    aliases=(ModelAlias("ltx-2", "Lightricks/LTX-2", _T, "LTX-2 19B, joint audio and video"),),
)
