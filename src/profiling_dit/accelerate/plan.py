"""The step × block plan (paper Eq. 11–15), known before sampling starts.

Step level: steps 0..s0 (the warm-up, 0-indexed, inclusive) are computed fully. After it, the next
full-compute step comes ``T(s)`` steps after the previous one, where ``T`` follows Eq. 15,

    T(s) = T_max − (T_max − T_min) · (s − s0) / (S − s0),

evaluated at the previous full step ``s`` and rounded to the nearest integer (at least 1). This is
our reading of Eq. 12: the paper's ``s mod T_s = 0`` with a varying ``T_s`` gives irregular gaps, so
we take ``T_s`` as the gap itself. The last ``final_full_steps`` steps are always computed fully.
Variants for the ablations of the paper's Table 4: ``stepwise`` (the above: gaps shrink),
``inverse`` (gaps grow from T_min to T_max), ``average`` (a constant gap of (T_max + T_min) / 2).

Block level: on a full step every block computes; on a reuse step the cached blocks (the
background set by default) are replaced by their cached delta and the others compute.
"""

from __future__ import annotations

import numpy as np

from ..errors import InvalidSettingError

SCHEDULES = ("stepwise", "inverse", "average")


def full_compute_steps(steps: int, warmup: int, interval_max: int, interval_min: int,
                       final_full_steps: int = 1, schedule: str = "stepwise") -> list[bool]:
    """One bool per step: True where every block computes."""
    if steps < 1:
        raise InvalidSettingError(f"`steps` must be >= 1, got {steps}")
    if not 0 <= warmup < steps:
        raise InvalidSettingError(f"`warmup` {warmup} must be in [0, {steps - 1}] for {steps} steps")
    if interval_min < 1 or interval_max < interval_min:
        raise InvalidSettingError(f"intervals must satisfy 1 <= `interval_min` <= `interval_max`, got "
                                  f"{interval_min} and {interval_max}")
    if schedule not in SCHEDULES:
        raise InvalidSettingError(f"`schedule` must be one of {', '.join(SCHEDULES)}, got {schedule!r}")
    full = [False] * steps
    for s in range(warmup + 1):
        full[s] = True
    span = max(1, steps - warmup)
    s = warmup
    while True:
        frac = (s - warmup) / span
        if schedule == "stepwise":
            gap = interval_max - (interval_max - interval_min) * frac
        elif schedule == "inverse":
            gap = interval_min + (interval_max - interval_min) * frac
        else:
            gap = (interval_max + interval_min) / 2
        s += max(1, int(np.floor(gap + 0.5)))
        if s >= steps:
            break
        full[s] = True
    for s in range(max(0, steps - final_full_steps), steps):
        full[s] = True
    return full


def build_plan(full_steps: list[bool], num_blocks: int, cached_blocks) -> np.ndarray:
    """(steps, blocks) bool array: True = the block computes at that step."""
    plan = np.ones((len(full_steps), num_blocks), dtype=bool)
    cached = sorted(set(cached_blocks))
    for s, full in enumerate(full_steps):
        if not full:
            plan[s, cached] = False
    return plan


def runs_of(blocks) -> list[tuple[int, int]]:
    """Maximal runs of consecutive block indices, as inclusive (first, last) pairs (paper Fig. 6)."""
    runs: list[tuple[int, int]] = []
    for b in sorted(set(blocks)):
        if runs and b == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], b)
        else:
            runs.append((b, b))
    return runs


def computed_share(plan: np.ndarray) -> float:
    return float(plan.mean()) if plan.size else 1.0


def implied_speedup(block_time_share: float, share_computed: float) -> float:
    """1 / (share of time outside the blocks + share inside × computed share)."""
    return 1.0 / ((1.0 - block_time_share) + block_time_share * share_computed)


def timeline(plan: np.ndarray, compute: str = "█", reuse: str = "·") -> list[str]:
    """One string per block, one character per step."""
    return ["".join(compute if c else reuse for c in row) for row in plan.T]


def estimate_block_time_share(call_seconds: list[float], computed_blocks: list[int], num_blocks: int,
                              skip_first: int = 2) -> float | None:
    """Share of a full transformer call's time spent in its blocks, from one cached run.

    Each call's time is fitted as ``a + b · (blocks computed)`` by least squares (the first
    ``skip_first`` calls, which carry warm-up costs, are left out); the share is
    ``num_blocks·b / (a + num_blocks·b)``. ``None`` when every call computed the same number of blocks.
    """
    t = np.asarray(call_seconds[skip_first:], dtype=float)
    c = np.asarray(computed_blocks[skip_first:], dtype=float)
    if len(t) < 2 or np.ptp(c) == 0:
        return None
    b, a = np.polyfit(c, t, 1)
    full = a + num_blocks * b
    if full <= 0 or b <= 0:
        return None
    return float(min(1.0, max(0.0, num_blocks * b / full)))
