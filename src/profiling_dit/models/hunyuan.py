"""HunyuanVideo joint attention: query and key exactly as ``HunyuanVideoAttnProcessor2_0`` forms them.

The attention is joint over [video tokens, text tokens]; the rotary embedding is applied to the video
part only, and padded text tokens are masked out as keys. Dual-stream blocks project the text with
``add_q_proj``/``add_k_proj``; single-stream blocks project the concatenation with ``to_q``/``to_k``.
Profiling only: the model's own processor still produces the output.
"""

from __future__ import annotations

import torch

from ..attention import JointQK


def hunyuan_self_attention_qk(attn, hidden_states, encoder_hidden_states=None, attention_mask=None,
                              image_rotary_emb=None, **_) -> JointQK:
    from diffusers.models.embeddings import apply_rotary_emb

    n_video = hidden_states.shape[1]
    joint_in_one = attn.add_q_proj is None and encoder_hidden_states is not None
    x = torch.cat([hidden_states, encoder_hidden_states], dim=1) if joint_in_one else hidden_states
    q = attn.to_q(x).unflatten(2, (attn.heads, -1))
    k = attn.to_k(x).unflatten(2, (attn.heads, -1))
    if attn.norm_q is not None:
        q = attn.norm_q(q)
    if attn.norm_k is not None:
        k = attn.norm_k(k)
    if image_rotary_emb is not None:
        q = torch.cat([apply_rotary_emb(q[:, :n_video], image_rotary_emb, sequence_dim=1), q[:, n_video:]], dim=1)
        k = torch.cat([apply_rotary_emb(k[:, :n_video], image_rotary_emb, sequence_dim=1), k[:, n_video:]], dim=1)
    if attn.add_q_proj is not None and encoder_hidden_states is not None:
        eq = attn.add_q_proj(encoder_hidden_states).unflatten(2, (attn.heads, -1))
        ek = attn.add_k_proj(encoder_hidden_states).unflatten(2, (attn.heads, -1))
        if attn.norm_added_q is not None:
            eq = attn.norm_added_q(eq)
        if attn.norm_added_k is not None:
            ek = attn.norm_added_k(ek)
        q, k = torch.cat([q, eq], dim=1), torch.cat([k, ek], dim=1)
    key_mask = None
    if attention_mask is not None:  # (B, 1, 1, S) bool: True = may be attended to
        key_mask = attention_mask.reshape(attention_mask.shape[0], -1).bool()
    return JointQK(q.transpose(1, 2), k.transpose(1, 2), slice(0, n_video), key_mask)
