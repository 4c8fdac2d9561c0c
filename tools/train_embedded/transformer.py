"""The transformer stage: flow matching on first frames, then crops or strips of the clips, then whole clips.

Every random draw of a step comes from one generator, in one order (``_draw_batch``): that order, and the
seed, make a run's weights."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from profiling_dit.errors import InvalidSettingError

from .checkpoints import load_checkpoint, save_checkpoint
from .config import TrainConfig, build_transformer


@dataclass(frozen=True)
class _Batch:
    """One step's inputs (on the CPU): clean latents, noise, prompt embeddings, noise levels, and the
    foreground share of each latent cell (None: the loss is not weighted)."""

    image: bool
    x0: torch.Tensor
    noise: torch.Tensor
    text: torch.Tensor
    sigma: torch.Tensor
    share: torch.Tensor | None


def _cosine_lr(base: float, step: int, total: int, warmup: int) -> float:
    """Linear warm-up over ``warmup`` steps, then cosine decay to 10% of ``base``."""
    warm = min(1.0, (step + 1) / max(1, warmup))
    return base * warm * (0.1 + 0.45 * (1 + math.cos(math.pi * step / max(1, total))))


def _crop_boxes(cfg: TrainConfig, rng: np.random.Generator, idx: np.ndarray, shape: torch.Size,
                foreground: torch.Tensor | None, strip_axis: int | None = None) -> list[tuple[slice, slice, slice]]:
    """Per sample (latent frames, rows, columns) of a crop: a window of ``dit_crop_frames`` latent frames
    at a random start, and a square of ``dit_crop`` latent pixels (aligned to the 2x2 patches) that is
    random, or, with ``dit_crop_on_object``, centred on the object's centroid in the window, jittered.
    With ``strip_axis`` (0: rows, 1: columns) the crop spans that whole axis and is ``dit_crop`` wide across."""
    t_all, h, w = shape[2], shape[3], shape[4]
    span = min(cfg.dit_crop_frames or t_all, t_all)
    size = cfg.dit_crop
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float32) + 0.5,
                            torch.arange(w, dtype=torch.float32) + 0.5, indexing="ij")
    boxes = []
    for i in idx:
        t0 = int(rng.integers(0, t_all - span + 1))
        cy, cx = rng.uniform(size / 2, h - size / 2), rng.uniform(size / 2, w - size / 2)
        if cfg.dit_crop_on_object and foreground is not None:
            share = foreground[i, t0:t0 + span].sum(0)  # (H', W')
            total = float(share.sum())
            if total > 0:
                cy = float((share * ys).sum()) / total + rng.uniform(-size / 4, size / 4)
                cx = float((share * xs).sum()) / total + rng.uniform(-size / 4, size / 4)
        y = int(np.clip(2 * round((cy - size / 2) / 2), 0, h - size))
        x = int(np.clip(2 * round((cx - size / 2) / 2), 0, w - size))
        rows, cols = slice(y, y + size), slice(x, x + size)
        if strip_axis == 0:
            rows = slice(None)
        elif strip_axis == 1:
            cols = slice(None)
        boxes.append((slice(t0, t0 + span), rows, cols))
    return boxes


def _motion_axes(prompts: list[str]) -> np.ndarray:
    """Per clip, the axis its object moves along (0: rows, up/down; 1: columns, left/right)."""
    from profiling_dit.embedded.synthetic import DIRECTIONS, scene_from_prompt

    axes = []
    for prompt in prompts:
        scene = scene_from_prompt(prompt)
        if scene is None:
            raise ValueError(f"strip crops need scene prompts; got {prompt!r}")  # training data, not user input
        axes.append(0 if DIRECTIONS[scene.direction][0] else 1)
    return np.array(axes)


def _check_crop(cfg: TrainConfig, latents: torch.Tensor) -> None:
    if cfg.dit_crop and cfg.dit_steps > cfg.dit_full_steps and (
            cfg.dit_crop > min(latents.shape[-2:]) or cfg.dit_crop % 2):
        raise InvalidSettingError(
            f"--dit-crop {cfg.dit_crop} does not fit latents of {tuple(latents.shape[-2:])}: use an even crop no "
            f"larger than the latent, or 0 for whole frames")


def _strip_pools(cfg: TrainConfig, prompts: list[str]) -> list[tuple[int, np.ndarray]]:
    """(axis, its clips) for strip crops, one per motion axis the clips hold (a small clip set may hold one)."""
    if not cfg.dit_crop_strips:
        return []
    axes = _motion_axes(prompts)
    return [(a, np.flatnonzero(axes == a)) for a in (0, 1) if (axes == a).any()]


def _draw_batch(cfg: TrainConfig, rng: np.random.Generator, step: int, total: int, latents: torch.Tensor,
                prompts: list[str], embeds: dict[str, torch.Tensor], foreground: torch.Tensor | None,
                strip_pools: list[tuple[int, np.ndarray]]) -> _Batch:
    """Step ``step``'s batch: its phase (first frames, crops, whole clips) from ``step``, its samples from ``rng``."""
    image = step < cfg.dit_image_steps
    crop = not image and cfg.dit_crop > 0 and step < total - cfg.dit_full_steps
    batch = cfg.dit_image_batch if image else cfg.dit_crop_batch if crop else cfg.dit_batch
    frames = slice(0, 1) if image else slice(None)
    rows = cols = slice(None)
    if crop:  # a random crop, aligned to the 2x2 patches (drawn even when per-sample boxes replace
        # it below: the random stream, so the weights of a seeded run, stay as they were)
        h, w = latents.shape[-2:]
        y, x = 2 * rng.integers(0, (h - cfg.dit_crop) // 2 + 1), 2 * rng.integers(0, (w - cfg.dit_crop) // 2 + 1)
        rows, cols = slice(y, y + cfg.dit_crop), slice(x, x + cfg.dit_crop)
    strip_axis, pool = strip_pools[step % len(strip_pools)] if crop and strip_pools else (None, None)
    idx = rng.integers(0, len(latents), batch) if pool is None else pool[rng.integers(0, len(pool), batch)]
    boxes = None
    if crop and (cfg.dit_crop_frames or cfg.dit_crop_on_object or strip_axis is not None):
        boxes = _crop_boxes(cfg, rng, idx, latents.shape, foreground, strip_axis)
        x0 = torch.stack([latents[i, :, t, r, c] for i, (t, r, c) in zip(idx, boxes)])
    else:
        x0 = latents[idx][:, :, frames, rows, cols]
    text = torch.stack([embeds["" if rng.random() < cfg.cfg_dropout else prompts[i]] for i in idx])
    u = torch.from_numpy(rng.random(batch)).float()
    sigma = cfg.flow_shift * u / (1 + (cfg.flow_shift - 1) * u)  # the scheduler's shift, applied to training
    noise = torch.from_numpy(rng.standard_normal(x0.shape)).float()
    share = None
    if foreground is not None and cfg.foreground_weight:
        share = (torch.stack([foreground[i, t, r, c] for i, (t, r, c) in zip(idx, boxes)]) if boxes else
                 foreground[idx][:, frames, rows, cols])
    return _Batch(image, x0, noise, text, sigma, share)


def _losses(model, b: _Batch, foreground_weight: float, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """(the loss trained on, weighted up on the object's cells; the plain MSE) of predicting ε - x0."""
    x0, noise, text, sigma = (t.to(device) for t in (b.x0, b.noise, b.text, b.sigma))
    s = sigma.view(-1, 1, 1, 1, 1)
    xt = (1 - s) * x0 + s * noise
    pred = model(xt, sigma * 1000, text, return_dict=False)[0]
    err = (pred - (noise - x0)).pow(2)
    plain = err.mean()
    if b.share is None:
        return plain, plain
    weight = 1 + foreground_weight * b.share.unsqueeze(1).to(device)  # (B, 1, T', H', W')
    return (err * weight).mean() / weight.mean(), plain


@torch.no_grad()
def _update_ema(ema: dict[str, torch.Tensor], model: torch.nn.Module, decay: float) -> None:
    for k, v in model.state_dict().items():
        if v.dtype.is_floating_point:
            ema[k].lerp_(v, 1 - decay)
        else:
            ema[k].copy_(v)


def train_transformer(cfg: TrainConfig, latents: torch.Tensor, prompts: list[str], embeds: dict[str, torch.Tensor],
                      foreground: torch.Tensor | None = None, progress=None, log=None):
    """Flow matching; returns the model carrying the EMA weights (what gets saved)."""
    torch.manual_seed(cfg.seed + 1)
    device = torch.device(cfg.device)
    model = build_transformer(cfg).train().to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.dit_lr, weight_decay=0.0)
    ema = {k: v.detach().clone() for k, v in model.state_dict().items()}
    ckpt = Path(cfg.out) / "checkpoints" / "transformer"
    meta = load_checkpoint(ckpt, model, opt, ema)
    start = meta["step"] if meta else 0
    rng = np.random.default_rng([cfg.seed, 1, start])
    total = cfg.dit_image_steps + cfg.dit_steps
    _check_crop(cfg, latents)
    strip_pools = _strip_pools(cfg, prompts)
    for step in range(start, total):
        b = _draw_batch(cfg, rng, step, total, latents, prompts, embeds, foreground, strip_pools)
        loss, plain = _losses(model, b, cfg.foreground_weight, device)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        for g in opt.param_groups:
            g["lr"] = _cosine_lr(cfg.dit_lr, step, total, cfg.dit_warmup)
        opt.step()
        _update_ema(ema, model, min(cfg.ema_decay, (step + 1) / (step + 10)))  # short runs: it follows closely
        if log:
            log({"stage": "transformer", "step": step + 1, "latent_frames": b.x0.shape[2],
                 "latent_size": list(b.x0.shape[-2:]), "batch": len(b.x0), "loss": loss.item(),
                 "mse": plain.item(), "sigma_mean": float(b.sigma.mean())})
        if progress:
            progress(step + 1, total, f"{'image' if b.image else 'video'} loss {loss.item():.3f}")
        if (step + 1) % cfg.checkpoint_every == 0 or step + 1 == total:
            save_checkpoint(ckpt, model, opt, step + 1, {"config": asdict(cfg)}, ema)
    model.load_state_dict(ema)
    return model.cpu().eval()
