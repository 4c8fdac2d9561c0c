"""HunyuanVideo 1.5 (``HunyuanVideo15Transformer3DModel``): the registry entry, the pipeline, the aliases, and the
joint attention's query and key exactly as ``HunyuanVideo15AttnProcessor2_0`` forms them.

Every block is dual-stream (video and text hidden states in, both out); its attention is joint over [video tokens,
text tokens], the text projected with ``add_q_proj``/``add_k_proj``, the rotary embedding on the video part only, and
the text's padding masked (the processor pads the text mask with True over the video). ``HunyuanVideo15Pipeline``
takes its guidance scale from its ``guider`` component (``PipelineSpec.guidance_from``), names its branches as the
guider does (``pred_cond``, ``pred_uncond``: read as cond, uncond) and takes no step callback. Profiling only.
"""

from __future__ import annotations

from typing import Callable, cast

from .hunyuan import _qk
from .spec import ArchitectureSpec, Family, JointQK, ModelAlias, PipelineSpec


def hunyuan15_self_attention_qk(attn, hidden_states, encoder_hidden_states=None, attention_mask=None,
                                image_rotary_emb=None, **_) -> JointQK:
    import torch
    from diffusers.models.embeddings import apply_rotary_emb

    rope = cast("Callable[..., torch.Tensor]", apply_rotary_emb)  # one tensor, though diffusers annotates a pair
    n_video = hidden_states.shape[1]
    q, k = _qk(attn.to_q, attn.to_k, attn.norm_q, attn.norm_k, hidden_states, attn.heads)
    if image_rotary_emb is not None:
        q, k = rope(q, image_rotary_emb, sequence_dim=1), rope(k, image_rotary_emb, sequence_dim=1)
    if encoder_hidden_states is not None:
        eq, ek = _qk(attn.add_q_proj, attn.add_k_proj, attn.norm_added_q, attn.norm_added_k, encoder_hidden_states,
                     attn.heads)
        q, k = torch.cat([q, eq], dim=1), torch.cat([k, ek], dim=1)
    key_mask = None
    if attention_mask is not None:  # (B, text): True = may be attended to; the video keys all may
        key_mask = torch.nn.functional.pad(attention_mask, (q.shape[1] - attention_mask.shape[1], 0), value=True).bool()
    return JointQK(q.transpose(1, 2), k.transpose(1, 2), slice(0, n_video), key_mask)


# the 480p model's size (target_size 640 at 16:9), 121 frames at 24 fps; the guider's own scale, 6
HUNYUAN15_DEFAULTS = dict(height=480, width=848, frames=121, steps=50, guidance=6.0, fps=24)
_T = "HunyuanVideo15Transformer3DModel"

FAMILY = Family(
    transformer_class=_T,
    architecture=ArchitectureSpec(
        name="hunyuanvideo-1.5",
        block_lists=("transformer_blocks",),
        self_attention="attn",
        frame_multiple=4,
        spatial_multiple=16,  # its VAE compresses 16 times in space, patch 1
        defaults=HUNYUAN15_DEFAULTS,
        self_attention_qk=hunyuan15_self_attention_qk,
        block_streams=("hidden_states", "encoder_hidden_states"),
        num_blocks_from_config=lambda cfg: int(cfg["num_layers"]),
        patch_from_config=lambda cfg: (cfg["patch_size_t"], cfg["patch_size"], cfg["patch_size"]),
        vae_spatial_from_config=lambda cfg: int(cfg.get("spatial_compression_ratio", 16)),
        peer_module_patterns=(r"transformer_blocks\.\d+\.attn", r"transformer_blocks\.\d+\.ff",
                              r"transformer_blocks\.\d+\.ff_context"),
        context_parallel_note=("video and text tokens attend together, with the text's padding mask; diffusers 0.42 "
                               "has no context-parallel plan for HunyuanVideo15Transformer3DModel"),
    ),
    pipelines={"HunyuanVideo15Pipeline": PipelineSpec(guidance_from="guider", max_sequence_length=1000)},
    aliases=(
        ModelAlias("hunyuanvideo-1.5", "hunyuanvideo-community/HunyuanVideo-1.5-Diffusers-480p_t2v", _T,
                   "HunyuanVideo 1.5 T2V 8.3B, 480p"),
        ModelAlias("hunyuanvideo-1.5-720p", "hunyuanvideo-community/HunyuanVideo-1.5-Diffusers-720p_t2v", _T,
                   "HunyuanVideo 1.5 T2V 8.3B, 720p"),
    ),
)
