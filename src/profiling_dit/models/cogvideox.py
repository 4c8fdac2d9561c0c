"""CogVideoX (``CogVideoXTransformer3DModel``): the registry entry, the pipeline, the aliases, and the joint
attention's query and key exactly as ``CogVideoXAttnProcessor2_0`` forms them.

The attention is joint over [text tokens, video tokens] (text first); the rotary embedding, when
the model uses one, is applied to the video part. Profiling only.
"""

from __future__ import annotations

from typing import Callable, cast

from .spec import ArchitectureSpec, Family, JointQK, ModelAlias, PipelineSpec


def cogvideox_self_attention_qk(attn, hidden_states, encoder_hidden_states, attention_mask=None,
                                image_rotary_emb=None, **_) -> JointQK:
    import torch
    from diffusers.models.embeddings import apply_rotary_emb

    rope = cast("Callable[..., torch.Tensor]", apply_rotary_emb)  # one tensor, though diffusers annotates a pair
    n_text = encoder_hidden_states.size(1)
    x = torch.cat([encoder_hidden_states, hidden_states], dim=1)
    b = x.shape[0]
    q = attn.to_q(x).view(b, x.shape[1], attn.heads, -1).transpose(1, 2)
    k = attn.to_k(x).view(b, x.shape[1], attn.heads, -1).transpose(1, 2)
    if attn.norm_q is not None:
        q = attn.norm_q(q)
    if attn.norm_k is not None:
        k = attn.norm_k(k)
    if image_rotary_emb is not None:
        q = torch.cat([q[:, :, :n_text], rope(q[:, :, n_text:], image_rotary_emb)], dim=2)
        if not attn.is_cross_attention:
            k = torch.cat([k[:, :, :n_text], rope(k[:, :, n_text:], image_rotary_emb)], dim=2)
    return JointQK(q, k, slice(n_text, x.shape[1]), None)


COGVIDEOX_DEFAULTS = dict(height=480, width=720, frames=49, steps=50, guidance=6.0, fps=8)
_T = "CogVideoXTransformer3DModel"

FAMILY = Family(
    transformer_class=_T,
    architecture=ArchitectureSpec(
        name="cogvideox",
        block_lists=("transformer_blocks",),
        self_attention="attn1",
        frame_multiple=4,
        spatial_multiple=16,
        defaults=COGVIDEOX_DEFAULTS,
        self_attention_qk=cogvideox_self_attention_qk,
        block_streams=("hidden_states", "encoder_hidden_states"),
        num_blocks_from_config=lambda cfg: int(cfg["num_layers"]),
        context_parallel_note=("video and text tokens attend together in one attention call, so a context-parallel "
                               "plan must split the text stream and its padding mask with the video stream; diffusers "
                               "0.42 has none for this model and pdit does not write one"),
        patch_from_config=lambda cfg: (cfg.get("patch_size_t") or 1, cfg["patch_size"], cfg["patch_size"]),
        prediction_layout="FCHW",
        peer_module_patterns=(r"transformer_blocks\.\d+\.attn1", r"transformer_blocks\.\d+\.ff"),
    ),
    # CogVideoX batches both CFG branches into one transformer call
    pipelines={"CogVideoXPipeline": PipelineSpec(guidance="cfg-batched", max_sequence_length=226)},
    aliases=(
        ModelAlias("cogvideox-2b", "THUDM/CogVideoX-2b", _T, "CogVideoX 2B"),
        ModelAlias("cogvideox-5b", "THUDM/CogVideoX-5b", _T, "CogVideoX 5B"),
    ),
)
