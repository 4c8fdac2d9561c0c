"""The embedded model's VAE: a stock AutoencoderKLWan whose weights compute an exact mean-pooling autoencoder."""

import numpy as np
import pytest
import torch

from profiling_dit.metrics import psnr
from profiling_dit.embedded.pooling_vae import Z_DIM, build_pooling_vae, reference_latents
from profiling_dit.embedded.synthetic import Scene, judge, render
from tools.train_embedded.data import to_vae_input


@pytest.fixture(scope="module")
def vae():
    return build_pooling_vae()


def _expected_frames(latents: torch.Tensor) -> torch.Tensor:
    """Each frame's pooled colours, nearest-upsampled 4x: latent 0 -> frame 0, latent k -> frames 4k-3..4k."""
    up = torch.nn.functional.interpolate(latents, scale_factor=(1, 4, 4), mode="nearest")
    frames = [up[:, 9:12, :1]]
    for k in range(1, latents.shape[2]):
        frames += [up[:, 3 * g:3 * g + 3, k:k + 1] for g in range(4)]
    return torch.cat(frames, dim=2)


def test_encoder_computes_the_pooled_colours_of_every_frame(vae):
    x = torch.rand(2, 3, 9, 32, 48) * 2 - 1
    with torch.no_grad():
        post = vae.encode(x).latent_dist
    ref = reference_latents(x)
    assert post.mode().shape == (2, Z_DIM, 3, 8, 12)
    assert torch.allclose(post.mode(), ref, atol=1e-4)
    assert float(post.std.max()) < 1e-6  # deterministic: the log-variance is the clamp's floor
    # latent frame 1 holds frames 1-4 in channel groups of three
    pooled = torch.nn.functional.avg_pool3d(x, (1, 4, 4))
    for g in range(4):
        assert torch.allclose(ref[:, 3 * g:3 * g + 3, 1], pooled[:, :, 1 + g], atol=1e-6)


def test_decoder_upsamples_any_latent_exactly(vae):
    z = torch.randn(1, Z_DIM, 3, 6, 5)  # not only encoder outputs: generated latents too
    with torch.no_grad():
        out = vae.decode(z).sample
    assert out.shape == (1, 3, 9, 24, 20)
    assert torch.allclose(out, _expected_frames(z).clamp(-1, 1), atol=1e-3)


@pytest.mark.slow
def test_round_trip_keeps_what_the_judge_looks_at(vae):
    scene = Scene("purple", "triangle", "up", "floor")
    video, masks = render(scene, seed=5)
    with torch.no_grad():
        rec = vae.decode(vae.encode(to_vae_input(video[None])).latent_dist.mode()).sample
    rec = ((rec.clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 4, 1).numpy()[0]
    assert judge(rec, scene).passed
    assert psnr(video, rec) > 22
    t, h, w = masks.shape
    whole = masks.reshape(t, h // 4, 4, w // 4, 4).all(axis=(2, 4))  # 4x4 blocks entirely inside the object
    inner = np.repeat(np.repeat(whole, 4, axis=1), 4, axis=2)
    assert inner.sum() > 1000
    assert np.abs(rec[inner].astype(int) - video[inner]).max() <= 1  # object interiors keep their colour


def test_saved_and_loaded_vae_is_the_same(vae, tmp_path):
    from diffusers import AutoencoderKLWan

    vae.save_pretrained(tmp_path, safe_serialization=True)
    loaded = AutoencoderKLWan.from_pretrained(tmp_path).eval()
    x = torch.rand(1, 3, 5, 16, 16) * 2 - 1
    with torch.no_grad():
        assert torch.equal(loaded.encode(x).latent_dist.mode(), vae.encode(x).latent_dist.mode())
