import pytest
import torch

from profiling_dit.profile.attention import extra_memory_bytes, received_attention
from profiling_dit.models import arch_for
from profiling_dit.embedded.tiny import build_tiny_pipeline


def _full_abar(q, k):
    a = torch.softmax(q.double() @ k.double().transpose(-1, -2) / q.shape[-1] ** 0.5, dim=-1)
    return a.mean(dim=2).mean(dim=1)


@pytest.mark.parametrize("chunk", [1, 7, 64, 1000])
def test_chunked_equals_full_softmax(chunk):
    g = torch.Generator().manual_seed(0)
    q = torch.randn(2, 3, 50, 8, generator=g) * 2
    k = torch.randn(2, 3, 50, 8, generator=g) * 2
    got = received_attention(q, k, chunk_size=chunk)
    torch.testing.assert_close(got.double(), _full_abar(q, k), rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(got.sum(-1), torch.ones(2), rtol=1e-5, atol=1e-5)


def test_query_stride_is_mean_over_subsampled_queries():
    g = torch.Generator().manual_seed(1)
    q, k = torch.randn(1, 2, 40, 4, generator=g), torch.randn(1, 2, 40, 4, generator=g)
    got = received_attention(q, k, chunk_size=3, query_stride=4)
    want = _full_abar(q[:, :, ::4], k)
    torch.testing.assert_close(got.double(), want, rtol=1e-5, atol=1e-7)


def test_bfloat16_inputs_are_scored_in_float32():
    g = torch.Generator().manual_seed(2)
    q, k = torch.randn(1, 2, 30, 8, generator=g), torch.randn(1, 2, 30, 8, generator=g)
    got = received_attention(q.bfloat16(), k.bfloat16())
    assert got.dtype == torch.float32
    torch.testing.assert_close(got.double(), _full_abar(q.bfloat16().float(), k.bfloat16().float()),
                               rtol=1e-4, atol=1e-6)


def test_wan_qk_reproduces_processor_output():
    pipe = build_tiny_pipeline(num_layers=1)
    tr = pipe.transformer
    arch = arch_for(tr)
    attn = tr.blocks[0].attn1
    rot = tr.rope(torch.zeros(1, 8, 3, 8, 8))
    pt, ph, pw = tr.config.patch_size
    dim = tr.config.num_attention_heads * tr.config.attention_head_dim
    hs = torch.randn(1, 3 * 8 * 8 // (pt * ph * pw), dim, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        q, k = arch.self_attention_qk(attn, hs, None, None, rot)
        v = attn.to_v(hs).unflatten(2, (attn.heads, -1)).transpose(1, 2)
        o = torch.nn.functional.scaled_dot_product_attention(q, k, v).transpose(1, 2).flatten(2)
        o = attn.to_out[1](attn.to_out[0](o))
        ref = attn(hs, None, None, rot)
    torch.testing.assert_close(o, ref, rtol=1e-5, atol=1e-6)


def test_memory_formula_wan_480p_fits_80gb():
    # Wan2.1-1.3B: 12 heads x 128, 480x832x81 frames -> 21 x 30 x 52 = 32,760 tokens, batch 1 (one branch).
    extra = extra_memory_bytes(batch=1, heads=12, tokens=32760, head_dim=128, chunk_size=1024)
    assert extra < 4 * 2**30  # about 3.2 GB on top of the model's own use
