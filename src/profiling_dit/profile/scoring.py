"""From measurements to decisions: R_attn (Eq. 6), the F/B block split (Eq. 7), and a suggested
step schedule (Eq. 15) from the L1 curve.

Choices where the paper is silent (documented in the README):
- *High attention*: token j is high-attention when ā_j > κ · mean(ā) = κ / N (κ = ``attn_threshold``,
  default 1.0: "more than a uniform share").
- R_attn is computed per latent frame, |high ∩ fg| / |fg|, and averaged over the frames whose
  foreground is not empty (the paper: "performed over all frames … and averaged").
- A block's score is its R_attn averaged over the profiled steps.
- Split: F = {i | score_i ≥ τ}, B = the rest. Given a target background share β instead of τ, the
  ⌊β·L⌋ lowest-scoring blocks are B (ties broken by block index) and τ is reported as the midpoint
  between the highest B score and the lowest F score.
"""

from __future__ import annotations

import math

import numpy as np

from .._validate import check_number
from ..errors import InvalidSettingError


def r_attn(abar: np.ndarray, fg: np.ndarray, attn_threshold: float = 1.0) -> float:
    """Eq. 6 for one block and step. ``abar``: (N,) with N = F'·H'·W'; ``fg``: (F', H', W') bools."""
    abar = np.asarray(abar, dtype=np.float64).reshape(fg.shape)
    high = abar > attn_threshold * abar.mean()
    vals = []
    for f in range(fg.shape[0]):
        n_fg = fg[f].sum()
        if n_fg:
            vals.append((high[f] & fg[f]).sum() / n_fg)
    return float(np.mean(vals)) if vals else float("nan")


def score_order(scores) -> list[int]:
    """Blocks from the lowest score to the highest (NaN as 0; ties: the lower block index first)."""
    return [int(i) for i in np.argsort(np.nan_to_num(np.asarray(scores, dtype=np.float64), nan=0.0), kind="stable")]


def split_blocks(scores, tau: float | None = None, background_share: float | None = None):
    """Return (tau, foreground_blocks, background_blocks). Exactly one of tau / background_share."""
    scores = np.asarray(scores, dtype=np.float64)
    n = len(scores)
    if (tau is None) == (background_share is None):
        raise InvalidSettingError("give exactly one of `tau` or `background_share`")
    if not len(scores) or not np.isfinite(scores).any():
        raise InvalidSettingError("the block scores are empty or none is a number; profile the model again")
    if tau is not None:
        tau = check_number("tau", tau, 0, 1)
        fg = [i for i, s in enumerate(scores) if s >= tau]
        bg = [i for i, s in enumerate(scores) if not s >= tau]
        return float(tau), fg, bg
    background_share = check_number("background_share", background_share, 0, 1)
    k = int(math.floor(background_share * n + 1e-9))
    clean = np.nan_to_num(scores, nan=0.0)
    order = score_order(scores)  # ties: the lower block index goes to B first
    bg = sorted(int(i) for i in order[:k])
    fg = sorted(int(i) for i in order[k:])
    if k == 0:
        tau = float(clean.min()) if n else 0.0
    elif k >= n:  # just above every score, within R_attn's [0, 1] (the block lists say the split either way)
        tau = float(min(1.0, np.nextafter(clean.max(), np.inf)))
    else:
        tau = float((clean[order[k - 1]] + clean[order[k]]) / 2)
    return float(tau), fg, bg


def suggest_schedule(rel_l1: dict[int, float], steps: int) -> dict:
    """Warm-up s0 and intervals T_max ≥ T_min from the relative L1 curve (Fig. 4 → Eq. 15).

    - s0: the first step after which the relative L1 stays below 1.5× the curve's median (at least
      1, at most a quarter of the steps): the early steps change fast and are never reused.
    - T_max, T_min: how many steps the accumulated relative change takes to reach 4× the median
      over the first and the last third of the remaining steps; T_max is at least T_min, T_min at
      least 2 (an interval of 1 would mean no reuse), T_max at most a third of the steps.
    """
    if steps < 3 or len(rel_l1) < 2:
        return {"warmup": min(1, steps - 1), "interval_max": 2, "interval_min": 2, "method": "default (too few steps)"}
    keys = sorted(rel_l1)
    vals = np.array([rel_l1[k] for k in keys])
    med = float(np.median(vals))
    s0 = keys[-1]
    for i, k in enumerate(keys):
        if np.all(vals[i:] <= 1.5 * med):
            s0 = k
            break
    s0 = int(min(max(1, s0), max(1, steps // 4)))
    rest = [k for k in keys if k > s0]
    third = max(1, len(rest) // 3)
    early = np.mean([rel_l1[k] for k in rest[:third]]) if rest else med
    late = np.mean([rel_l1[k] for k in rest[-third:]]) if rest else med
    budget = 4.0 * med

    def interval(level):
        return int(max(2, math.floor(budget / max(level, 1e-12))))

    t_min = min(interval(late), max(2, steps // 3))
    t_max = max(t_min, min(interval(early), max(2, steps // 3)))
    return {"warmup": s0, "interval_max": t_max, "interval_min": t_min,
            "method": "relative-L1 budget of 4x median per interval"}
