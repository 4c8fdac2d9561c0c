"""Pictures that go beside a profile: R_attn heatmap (Fig. 2), L1 curve (Fig. 4), PCA frames + masks."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .._plotting import pyplot as _plt
from .._plotting import save_figure as _save

F_COLOR, B_COLOR = "#d62728", "#1f77b4"


def heatmap(r_attn: np.ndarray, steps: list[int], background: list[int], tau: float, path: Path, title: str) -> Path:
    """R_attn per block (rows) and profiled step (columns); row labels say F (foreground) or B (background: the
    set the paper's schedule caches), in colour, with a legend."""
    from matplotlib.patches import Patch

    plt = _plt()
    r = np.asarray(r_attn, dtype=float)
    fig, ax = plt.subplots(figsize=(max(6, 0.28 * r.shape[1] + 3.5), max(3.2, 0.28 * r.shape[0] + 1.6)))
    im = ax.imshow(r, aspect="auto", cmap="turbo", vmin=0, vmax=1, interpolation="nearest")
    ax.set_xlabel("denoising step")
    ax.set_ylabel("block")
    ax.set_xticks(range(len(steps)), [str(s) for s in steps], fontsize=7)
    ax.set_yticks(range(r.shape[0]), [f"{i} {'B' if i in background else 'F'}" for i in range(r.shape[0])], fontsize=7)
    for i, tick in enumerate(ax.get_yticklabels()):
        tick.set_color(B_COLOR if i in background else F_COLOR)
    ax.set_title(f"{title}\nR_attn: share of foreground tokens with high attention (τ = {tau:.3f})", fontsize=9)
    fig.colorbar(im, ax=ax, label="R_attn")
    ax.legend(handles=[Patch(color=F_COLOR, label="F: foreground block (score ≥ τ): the paper's schedule computes it "
                                                  "every step (planned plans may cache it)"),
                       Patch(color=B_COLOR, label="B: background block (score < τ): the paper's schedule caches it")],
              loc="upper center", bbox_to_anchor=(0.5, -0.14), fontsize=7, ncol=2, frameon=False)
    return _save(fig, path)


def l1_curve(steps: list[int], l1: list[float], rel_l1: list[float], schedule: dict, path: Path,
             paper_full_steps: list[int] | None = None, planned_full_steps: list[int] | None = None,
             planned_label: str = "") -> Path:
    """How much the noise prediction changes from step to step (paper Fig. 4), with the suggested schedule's
    warm-up and full-compute steps (and, when given, a calibrated plan's) marked."""
    from matplotlib.ticker import MaxNLocator

    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 3.6))
    lines = ax.plot(steps, rel_l1, marker="o", ms=3, color="C0", label="relative L1 |Δε| / |ε_prev| (left axis)")
    ax2 = ax.twinx()
    lines += ax2.plot(steps, l1, color="gray", ls="--", lw=1, label="L1 mean |Δε| (right axis)")
    lines.append(ax.axvline(schedule["warmup"], color="red", ls=":", label=f"warm-up s0 = {schedule['warmup']}"))
    low = ax.get_ylim()[0]
    if paper_full_steps:
        lines += ax.plot(paper_full_steps, [low] * len(paper_full_steps), "|", color="red", ms=14, mew=2,
                         clip_on=False, label="full-compute steps, the paper's schedule")
    if planned_full_steps:
        lines += ax.plot(planned_full_steps, [low] * len(planned_full_steps), "^", color="green", ms=6,
                         clip_on=False, label=f"full-compute steps, {planned_label or 'the default plan'}")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("denoising step")
    ax.set_ylabel("relative L1")
    ax2.set_ylabel("L1")
    ax.set_title(f"Change of the noise prediction between consecutive steps; suggested T_max = "
                 f"{schedule['interval_max']}, T_min = {schedule['interval_min']}", fontsize=9)
    ax.legend(handles=lines, fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=2, frameon=False)
    return _save(fig, path)


def mask_panel(rgb: np.ndarray, masks: np.ndarray, path: Path, title: str, max_frames: int = 8) -> Path:
    """Top row: PCA frames of the noise prediction; bottom row: the same with the foreground mask in red."""
    plt = _plt()
    f = rgb.shape[0]
    idx = np.unique(np.linspace(0, f - 1, min(f, max_frames)).round().astype(int))
    fig, axes = plt.subplots(2, len(idx), figsize=(1.6 * len(idx) + 1.5, 3.8), squeeze=False)
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
            axes[r, col].set_xticks([])
            axes[r, col].set_yticks([])
    axes[0, 0].set_ylabel("PCA of the\nnoise prediction", fontsize=7)
    axes[1, 0].set_ylabel("foreground\n(red)", fontsize=7)
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
                              "interval_min": sched.interval_min}, Path(f"{stem}.l1.png"),
                             *_full_steps(profile)),
    }
    if profile.views is not None:
        pics["masks"] = mask_panel(profile.views["pca_frames"], profile.views["mask"], Path(f"{stem}.masks.png"),
                                   f"PCA of the noise prediction at step {profile.run.mask_step} and "
                                   f"foreground ({profile.segmenter['name']})")
    return pics


def _full_steps(profile) -> tuple[list[int], list[int] | None, str]:
    """Full-compute steps of the paper's schedule with the profile's suggested warm-up and intervals and, when the
    profile holds calibrated plans, of the one nearest budget 0.5 (two-expert profiles: the first expert's), over the
    profiled steps."""
    from ..plan import full_compute_steps

    first = profile.components[0]
    entry = profile.expert(first) if profile.experts else None
    steps = entry.step_range[1] - entry.step_range[0] if entry is not None else profile.run.steps
    sched = (entry.blocks if entry is not None else profile.blocks).schedule
    mask = full_compute_steps(steps, min(sched.warmup, steps - 1), sched.interval_max, sched.interval_min)
    paper = [i for i, f in enumerate(mask) if f]
    stored = [p for p in profile.plans if p.component == first and p.plan.steps == steps]
    if not stored:
        return paper, None, ""
    nearest = min(stored, key=lambda p: abs(p.budget - 0.5))
    return paper, list(nearest.plan.full_steps), f"the plan calibrated for budget {nearest.budget:g}"
