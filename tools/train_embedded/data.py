"""The training data: rendered clips, their latents and foreground shares, and the prompts' embeddings.

``to_vae_input``, ``normalized_latents`` and ``vae_psnr`` are also what the VAE and transformer checks in
``benchmarks/`` use, so that they see the latents exactly as training does."""

from __future__ import annotations

import numpy as np
import torch

from profiling_dit.embedded.pooling_vae import reference_latents

from .config import TRAINED_VAE_CONFIG, TrainConfig


def latent_foreground(masks: np.ndarray, spatial: int = 4, temporal: int = 4) -> np.ndarray:
    """Share of foreground pixels in each latent cell, (T', H/spatial, W/spatial) for masks (T, H, W).

    Latent frame 0 covers pixel frame 0; latent frame k covers frames 4k-3 .. 4k (the Wan VAE's
    causal chunks); a cell's share is the mean over its frames and pixels.
    """
    t, h, w = masks.shape
    groups = [masks[:1]] + [masks[1 + temporal * k: 1 + temporal * (k + 1)] for k in range((t - 1) // temporal)]
    out = np.stack([g.reshape(len(g), h // spatial, spatial, w // spatial, spatial).mean(axis=(0, 2, 4))
                    for g in groups])
    return out.astype(np.float32)


def render_clips(cfg: TrainConfig, progress=None) -> tuple[np.ndarray, list[str], np.ndarray]:
    """(videos uint8 (N, T, H, W, 3), prompts, foreground share per latent cell (N, T', H/s, W/s))."""
    from profiling_dit.embedded.synthetic import render, split_scenes

    train, _ = split_scenes()
    videos = np.empty((cfg.clips, cfg.frames, cfg.height, cfg.width, 3), np.uint8)
    prompts, fg = [], []
    for i in range(cfg.clips):
        scene = train[i % len(train)]
        videos[i], masks = render(scene, cfg.frames, cfg.height, cfg.width, seed=cfg.seed * 100003 + i // len(train))
        fg.append(latent_foreground(masks, spatial=TRAINED_VAE_CONFIG["scale_factor_spatial"]))
        prompts.append(scene.prompt)
        if progress:
            progress(i + 1, cfg.clips)
    return videos, prompts, np.stack(fg)


def to_vae_input(videos_uint8: np.ndarray) -> torch.Tensor:
    """Videos (N, T, H, W, 3) uint8 as the VAE takes them: (N, 3, T, H, W) in [-1, 1]."""
    x = torch.from_numpy(videos_uint8).float().div_(127.5).sub_(1.0)  # [-1, 1]
    return x.permute(0, 4, 1, 2, 3).contiguous()  # (B, 3, T, H, W)


def encode_latents(vae, videos: np.ndarray, batch: int = 64, progress=None, check: int = 2) -> torch.Tensor:
    """Latents (posterior means) of ``videos``.

    The pooling VAE's encoder computes ``pooling_vae.reference_latents`` exactly (to ~1e-4), and
    that plain-torch form is 200x faster on this CPU, so it is what encodes the training set; the
    first ``check`` clips also go through the VAE itself and must agree.
    """
    if check:
        with torch.no_grad():
            sample = to_vae_input(videos[:check])
            through_vae = vae.encode(sample).latent_dist.mode()
        gap = float((through_vae - reference_latents(sample)).abs().max())
        if gap > 1e-3:
            raise RuntimeError(f"the VAE's encoder and the pooling reference disagree by {gap:.2g}")
    out = []
    for i in range(0, len(videos), batch):
        out.append(reference_latents(to_vae_input(videos[i:i + batch])))
        if progress:
            progress(min(i + batch, len(videos)), len(videos))
    return torch.cat(out)


@torch.no_grad()
def normalized_latents(vae, videos: np.ndarray) -> torch.Tensor:
    """``videos`` (uint8) through ``vae`` (posterior mean), normalised by its latents_mean/std as in training."""
    mean = torch.tensor(vae.config.latents_mean).view(1, -1, 1, 1, 1)
    std = torch.tensor(vae.config.latents_std).view(1, -1, 1, 1, 1)
    return (vae.encode(to_vae_input(videos)).latent_dist.mode() - mean) / std


def vae_psnr(vae, videos: np.ndarray) -> float:
    """Reconstruction PSNR (dB, uint8 scale) of ``videos`` through the VAE (posterior mean)."""
    from profiling_dit.metrics import psnr

    with torch.no_grad():
        rec = vae.decode(vae.encode(to_vae_input(videos)).latent_dist.mode()).sample
    rec = ((rec.clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 4, 1).numpy()
    return psnr(videos, rec)


@torch.no_grad()
def prompt_embeddings(pipe, prompts: list[str], max_len: int) -> dict[str, torch.Tensor]:
    unique = sorted(set(prompts) | {""})
    embeds, _ = pipe.encode_prompt(unique, do_classifier_free_guidance=False, max_sequence_length=max_len,
                                   device=torch.device("cpu"))
    return {p: e for p, e in zip(unique, embeds)}
