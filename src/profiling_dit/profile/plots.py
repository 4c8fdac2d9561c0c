"""Pictures that go beside a profile: R_attn heatmap (Fig. 2), L1 curve (Fig. 4), PCA frames + masks."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .._plotting import pyplot as _plt
from .._plotting import save_figure as _save


def heatmap(r_attn: np.ndarray, steps: list[int], background: list[int], tau: float, path: Path, title: str) -> Path:
    plt = _plt()
    r = np.asarray(r_attn, dtype=float)
    fig, ax = plt.subplots(figsize=(max(5, 0.28 * r.shape[1] + 2.5), max(3, 0.28 * r.shape[0] + 1.2)))
    im = ax.imshow(r, aspect="auto", cmap="turbo", vmin=0, vmax=1, interpolation="nearest")
    ax.set_xlabel("denoising step")
    ax.set_ylabel("block")
    ax.set_xticks(range(len(steps)), [str(s) for s in steps], fontsize=7)
    ax.set_yticks(range(r.shape[0]), [f"{i}{' B' if i in background else ' F'}" for i in range(r.shape[0])], fontsize=7)
    ax.set_title(f"{title}\nR_attn (share of foreground tokens with high attention); τ={tau:.3f}", fontsize=9)
    fig.colorbar(im, ax=ax, label="R_attn")
    return _save(fig, path)


def l1_curve(steps: list[int], l1: list[float], rel_l1: list[float], schedule: dict, path: Path) -> Path:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 3.2))
    ax.plot(steps, rel_l1, marker="o", ms=3, label="relative L1 (|Δε| / |ε_prev|)")
    ax2 = ax.twinx()
    ax2.plot(steps, l1, color="gray", ls="--", lw=1, label="L1 (mean |Δε|)")
    ax.axvline(schedule["warmup"], color="red", ls=":", label=f"warm-up s0={schedule['warmup']}")
    ax.set_xlabel("denoising step")
    ax.set_ylabel("relative L1")
    ax2.set_ylabel("L1")
    ax.set_title(f"L1 between consecutive noise predictions; T_max={schedule['interval_max']}, "
                 f"T_min={schedule['interval_min']}", fontsize=9)
    ax.legend(fontsize=7, loc="upper right")
    return _save(fig, path)


def mask_panel(rgb: np.ndarray, masks: np.ndarray, path: Path, title: str, max_frames: int = 8) -> Path:
    """Top row: PCA frames; bottom row: the same with the foreground mask overlaid."""
    plt = _plt()
    f = rgb.shape[0]
    idx = np.unique(np.linspace(0, f - 1, min(f, max_frames)).round().astype(int))
    fig, axes = plt.subplots(2, len(idx), figsize=(1.6 * len(idx) + 0.5, 3.6), squeeze=False)
    for col, i in enumerate(idx):
        axes[0, col].imshow(rgb[i], interpolation="nearest")
        axes[0, col].set_title(f"latent frame {i}", fontsize=7)
        over = rgb[i].copy()
        m = masks[i]
        if m.shape != over.shape[:2]:
            m = np.kron(m, np.ones((over.shape[0] // m.shape[0], over.shape[1] // m.shape[1]), bool))
        over[m] = 0.5 * over[m] + 0.5 * np.array([1.0, 0.1, 0.1])
        axes[1, col].imshow(over, interpolation="nearest")
        for r in range(2):
            axes[r, col].axis("off")
    fig.suptitle(title, fontsize=9)
    return _save(fig, path)


def write_profile_pictures(profile, json_path: Path) -> dict[str, Path]:
    """The pictures of a profile, beside its JSON (``STEM.heatmap.png``, ``STEM.l1.png``, and, when the PCA
    frames are at hand, i.e. for a profile just measured, ``STEM.masks.png``)."""
    json_path = Path(json_path)
    stem = json_path.with_suffix("")
    sched = profile.schedule
    pics = {
        "heatmap": heatmap(np.array(profile.blocks.r_attn.mean), list(profile.blocks.r_attn.steps),
                           list(profile.split.background_blocks), profile.split.tau, Path(f"{stem}.heatmap.png"),
                           f"{profile.model.transformer_class} ({profile.model.requested})"),
        "l1_curve": l1_curve(list(profile.l1.steps), list(profile.l1.mean), list(profile.l1.relative_mean),
                             {"warmup": sched.warmup, "interval_max": sched.interval_max,
                              "interval_min": sched.interval_min}, Path(f"{stem}.l1.png")),
    }
    if profile.views is not None:
        pics["masks"] = mask_panel(profile.views["pca_frames"], profile.views["mask"], Path(f"{stem}.masks.png"),
                                   f"PCA of the noise prediction at step {profile.run.mask_step} and "
                                   f"foreground ({profile.segmenter['name']})")
    return pics
