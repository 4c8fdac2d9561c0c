"""The paper's schedule (Eq. 11–15) as a ``Plan``: full-compute steps from a warm-up and shrinking gaps.

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

``paper_plan`` makes the ``Plan`` (explicit full steps) that the hooks consume; a call of another step count
rescales the warm-up and the intervals (``rescale_paper_knobs``) and makes a new one.
"""

from __future__ import annotations

import numpy as np

from .._validate import check_int
from ..errors import InvalidSettingError
from ..plan import SCHEDULES, Plan, full_compute_steps  # noqa: F401  (SCHEDULES re-exported)

# `schedule` names a user can give: the paper's stepwise schedule and its ablations (paper Table 4)
PAPER_SCHEDULES = {"paper": "stepwise", "inverse": "inverse", "average": "average"}
SCHEDULE_NAMES = tuple(PAPER_SCHEDULES)
# `reuse`: which blocks reuse their deltas on the paper's schedule (the method, or its ablation: paper Table 3)
REUSE_CHOICES = ("background", "foreground")


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


def rescale_paper_knobs(steps: int, written_for: int, warmup: int, interval_max: int,
                        interval_min: int) -> tuple[int, int, int]:
    """Warm-up and intervals written for ``written_for`` steps, for ``steps`` steps: × steps / written_for,
    rounded, intervals at least 2, the warm-up shorter than the call."""
    if steps == written_for:
        return warmup, interval_max, interval_min
    ratio = steps / written_for
    imax = max(2, int(round(interval_max * ratio)))
    imin = max(2, min(imax, int(round(interval_min * ratio))))
    return min(int(round(warmup * ratio)), steps - 1), imax, imin


def paper_plan(num_blocks: int, steps: int, cached_blocks, *, warmup: int, interval_max: int, interval_min: int,
               final_full_steps: int = 1, schedule: str = "stepwise", origin: str = "the paper's schedule",
               step_range: tuple[int, int] | None = None) -> Plan:
    """The paper's schedule for ``steps`` steps as a ``Plan`` (a warm-up longer than the call is shortened)."""
    check_int("warmup", warmup, 0, 100_000)
    check_int("interval_max", interval_max, 1, 100_000)
    check_int("interval_min", interval_min, 1, 100_000)
    check_int("final_full_steps", final_full_steps, 0, 100_000)
    if interval_max < interval_min:
        raise InvalidSettingError(f"`interval_max` ({interval_max}) must be >= `interval_min` ({interval_min})")
    mask = full_compute_steps(steps, min(warmup, steps - 1), interval_max, interval_min, final_full_steps, schedule)
    return Plan(num_blocks=num_blocks, steps=steps, cached_blocks=tuple(cached_blocks),
                full_steps=tuple(s for s, f in enumerate(mask) if f), step_range=step_range, origin=origin)
