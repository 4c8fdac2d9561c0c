"""CogVideoX joint attention: query and key exactly as ``CogVideoXAttnProcessor2_0`` forms them.

The attention is joint over [text tokens, video tokens] (text first); the rotary embedding, when
the model uses one, is applied to the video part. Profiling only.
"""

from __future__ import annotations

from ..attention import JointQK


def cogvideox_self_attention_qk(attn, hidden_states, encoder_hidden_states, attention_mask=None,
                                image_rotary_emb=None, **_) -> JointQK:
    import torch
    from diffusers.models.embeddings import apply_rotary_emb

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
        q = torch.cat([q[:, :, :n_text], apply_rotary_emb(q[:, :, n_text:], image_rotary_emb)], dim=2)
        if not attn.is_cross_attention:
            k = torch.cat([k[:, :, :n_text], apply_rotary_emb(k[:, :, n_text:], image_rotary_emb)], dim=2)
    return JointQK(q, k, slice(n_text, x.shape[1]), None)
