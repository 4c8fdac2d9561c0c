"""Wan self-attention: the query and key exactly as ``WanAttnProcessor`` forms them.

Used only while profiling, to compute how much attention each token receives; the model's own
processor still produces the output. A test checks these Q/K reproduce the processor's output.
"""

from __future__ import annotations

import torch


def _rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    # Interleaved-pair rotary embedding, as Wan applies it (pairs (0,1), (2,3), ... of each head).
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
