"""HunyuanVideo (``HunyuanVideoTransformer3DModel``): the registry entry, the pipeline, the alias, and the joint
attention's query and key exactly as ``HunyuanVideoAttnProcessor2_0`` forms them.

The attention is joint over [video tokens, text tokens]; the rotary embedding is applied to the video
part only, and padded text tokens are masked out as keys. Dual-stream blocks project the text with
``add_q_proj``/``add_k_proj``; single-stream blocks project the concatenation with ``to_q``/``to_k``.
Profiling only: the model's own processor still produces the output.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, cast

from .spec import ArchitectureSpec, Family, JointQK, ModelAlias, PipelineSpec

if TYPE_CHECKING:
    import torch


def _qk(to_q, to_k, norm_q, norm_k, x: torch.Tensor, heads: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Project and (optionally) normalise, as (B, S, H, d)."""
    q, k = to_q(x).unflatten(2, (heads, -1)), to_k(x).unflatten(2, (heads, -1))
    return (norm_q(q) if norm_q is not None else q), (norm_k(k) if norm_k is not None else k)


def hunyuan_self_attention_qk(attn, hidden_states, encoder_hidden_states=None, attention_mask=None,
                              image_rotary_emb=None, **_) -> JointQK:
    import torch
    from diffusers.models.embeddings import apply_rotary_emb

    rope = cast("Callable[..., torch.Tensor]", apply_rotary_emb)  # one tensor, though diffusers annotates a pair
    n_video = hidden_states.shape[1]
    joint_in_one = attn.add_q_proj is None and encoder_hidden_states is not None
    x = torch.cat([hidden_states, encoder_hidden_states], dim=1) if joint_in_one else hidden_states
    q, k = _qk(attn.to_q, attn.to_k, attn.norm_q, attn.norm_k, x, attn.heads)
    if image_rotary_emb is not None:
        q = torch.cat([rope(q[:, :n_video], image_rotary_emb, sequence_dim=1), q[:, n_video:]], dim=1)
        k = torch.cat([rope(k[:, :n_video], image_rotary_emb, sequence_dim=1), k[:, n_video:]], dim=1)
    if attn.add_q_proj is not None and encoder_hidden_states is not None:
        eq, ek = _qk(attn.add_q_proj, attn.add_k_proj, attn.norm_added_q, attn.norm_added_k, encoder_hidden_states,
                     attn.heads)
        q, k = torch.cat([q, eq], dim=1), torch.cat([k, ek], dim=1)
    key_mask = None
    if attention_mask is not None:  # (B, 1, 1, S) bool: True = may be attended to
        key_mask = attention_mask.reshape(attention_mask.shape[0], -1).bool()
    return JointQK(q.transpose(1, 2), k.transpose(1, 2), slice(0, n_video), key_mask)


# HunyuanVideo's guidance is *embedded* (an input of the transformer, one call per step), 6.0 by default.
HUNYUAN_DEFAULTS = dict(height=720, width=1280, frames=129, steps=50, guidance=6.0, fps=24)
_T = "HunyuanVideoTransformer3DModel"

FAMILY = Family(
    transformer_class=_T,
    architecture=ArchitectureSpec(
        name="hunyuanvideo",
        # 20 dual-stream blocks, then 40 single-stream blocks; both take and return (video, text).
        block_lists=("transformer_blocks", "single_transformer_blocks"),
        self_attention="attn",
        frame_multiple=4,
        spatial_multiple=16,
        defaults=HUNYUAN_DEFAULTS,
        self_attention_qk=hunyuan_self_attention_qk,
        block_streams=("hidden_states", "encoder_hidden_states"),
        num_blocks_from_config=lambda cfg: int(cfg["num_layers"]) + int(cfg["num_single_layers"]),
        context_parallel_note=("video and text tokens attend together in one attention call, so a context-parallel "
                               "plan must split the text stream and its padding mask with the video stream; diffusers "
                               "0.42 has none for this model and pdit does not write one"),
        patch_from_config=lambda cfg: (cfg["patch_size_t"], cfg["patch_size"], cfg["patch_size"]),
        peer_module_patterns=(r"transformer_blocks\.\d+\.attn", r"transformer_blocks\.\d+\.ff",
                              r"single_transformer_blocks\.\d+\.attn"),
    ),
    pipelines={
        "HunyuanVideoPipeline": PipelineSpec(guidance="embedded", pass_negative_prompt=False, max_sequence_length=256),
    },
    aliases=(ModelAlias("hunyuanvideo", "hunyuanvideo-community/HunyuanVideo", _T,
                        "HunyuanVideo 13B (embedded guidance)"),),
)
