"""The one plan type: which blocks reuse cached deltas, and on which steps every block computes.

A ``Plan`` is data, known before sampling starts, and the only thing the caching hooks consume. The
paper's schedule (``full_compute_steps`` here, Eq. 15; ``caching.schedules.paper_plan``), the planner and
calibration each produce one (``profiling_dit.caching``); a profile
stores calibrated plans as ``Plan`` s too. No torch or diffusers import: a plan can be made, checked and
printed before anything heavy loads.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass

import numpy as np

from ._validate import check_int, check_number, check_step_list
from .errors import InvalidSettingError


@dataclass(frozen=True)
class Plan:
    r"""A static caching plan for one transformer.

    Args:
        num_blocks: the transformer's block count (checked when the plan is installed).
        steps: how many denoising steps this transformer runs (for one expert of a two-expert pipeline, that
            expert's own steps).
        cached_blocks: the blocks that reuse their cached delta on the steps that are not full (consecutive
            cached blocks form runs that are skipped together).
        full_steps: the steps (0-based, over ``steps``) on which every block computes; step 0 always does.
        step_range: ``(start, stop)``: where these steps lie in a call, for one expert of a two-expert pipeline
            (Wan2.2 A14B); ``None``: the transformer runs every step.
        origin: where the plan came from ("planned for budget 0.5", "the paper's schedule"), for reports.
        predicted_error: the planner's predicted error, for reports.
        forecast: one pair (a_t, b_t) per step, or ``None``: on a reuse step t the cached blocks add
            a_t·Δ_s + b_t·Δ_s′ instead of Δ_s, where s and s′ are the last two full steps; (1, 0) is plain reuse,
            bit for bit, and ``None`` plain reuse everywhere. Full steps hold (1, 0); steps before the second full
            step may only scale (b_t = 0). A plan with some b_t ≠ 0 keeps two deltas a run instead of one.

    ``origin`` and ``predicted_error`` describe the plan; they never change what runs.

    Example:
        ```python
        >>> import profiling_dit as pdit
        >>> plan = pdit.Plan(num_blocks=8, steps=20, cached_blocks=(0, 2, 3, 4, 6, 7),
        ...                  full_steps=(0, 1, 2, 5, 8, 11, 14, 17, 19))
        >>> round(plan.computed_share, 3)
        0.55
        >>> pdit.apply_profiling_dit(pipe.transformer, plan)
        ```
    """

    num_blocks: int
    steps: int
    cached_blocks: tuple[int, ...]
    full_steps: tuple[int, ...]
    step_range: tuple[int, int] | None = None
    origin: str = ""
    predicted_error: float | None = None
    forecast: tuple[tuple[float, float], ...] | None = None
    drift_blocks: tuple[int, ...] = ()
    drift_steps: tuple[int, ...] = ()

    def __post_init__(self):
        check_int("num_blocks", self.num_blocks, 1, 100_000)
        check_int("steps", self.steps, 1, 100_000)
        cached = check_step_list("cached_blocks", self.cached_blocks, self.num_blocks, "blocks")
        object.__setattr__(self, "cached_blocks", cached)
        full = check_step_list("full_steps", self.full_steps, self.steps, "steps")
        if not full or full[0] != 0:
            raise InvalidSettingError(f"`full_steps` must include step 0 (nothing is cached yet), got {list(full)}")
        object.__setattr__(self, "full_steps", full)
        if self.step_range is not None:
            try:
                a, b = (int(x) for x in self.step_range)
            except (TypeError, ValueError):
                raise InvalidSettingError(f"`step_range` must be (start, stop), got {self.step_range!r}") from None
            if not 0 <= a < b:
                raise InvalidSettingError(f"`step_range` must be (start, stop) with 0 <= start < stop, got {(a, b)}")
            object.__setattr__(self, "step_range", (a, b))
        if not isinstance(self.origin, str):
            raise InvalidSettingError(f"`origin` must be a string, got {type(self.origin).__name__}")
        if self.predicted_error is not None:
            object.__setattr__(self, "predicted_error", check_number("predicted_error", self.predicted_error))
        if self.forecast is not None:
            object.__setattr__(self, "forecast", self._checked_forecast(self.forecast, full))
        self._check_drift(cached, full)

    def _check_drift(self, cached: tuple[int, ...], full: tuple[int, ...]) -> None:
        blocks = check_step_list("drift_blocks", self.drift_blocks, self.num_blocks, "blocks")
        steps = check_step_list("drift_steps", self.drift_steps, self.steps, "steps")
        object.__setattr__(self, "drift_blocks", blocks)
        object.__setattr__(self, "drift_steps", steps)
        if bool(blocks) != bool(steps):
            raise InvalidSettingError("give `drift_blocks` and `drift_steps` together (the blocks of the second group "
                                      "and the steps they also compute on), or neither")
        if set(blocks) - set(cached):
            raise InvalidSettingError(f"`drift_blocks` {sorted(set(blocks) - set(cached))} are not cached: the "
                                      "second group is a part of `cached_blocks`")
        if set(steps) & set(full):
            raise InvalidSettingError(f"`drift_steps` {sorted(set(steps) & set(full))} are full steps already: give "
                                      "the steps the second group computes on besides `full_steps`")
        if blocks and self.forecast is not None:
            raise InvalidSettingError("a plan with a second group (`drift_blocks`) reuses plainly: leave `forecast` "
                                      "out")

    def _checked_forecast(self, forecast, full: tuple[int, ...]) -> tuple[tuple[float, float], ...] | None:
        try:
            pairs = tuple((float(a), float(b)) for a, b in forecast)
        except (TypeError, ValueError):
            raise InvalidSettingError(f"`forecast` must be one pair (a, b) per step, got {forecast!r:.80}") from None
        if len(pairs) != self.steps:
            raise InvalidSettingError(f"`forecast` has {len(pairs)} pairs for {self.steps} steps; give one a step")
        for i, (a, b) in enumerate(pairs):
            check_number(f"forecast[{i}]", a, -MAX_FORECAST_WEIGHT, MAX_FORECAST_WEIGHT)
            check_number(f"forecast[{i}]", b, -MAX_FORECAST_WEIGHT, MAX_FORECAST_WEIGHT)
        if any(pairs[s] != (1.0, 0.0) for s in full):
            raise InvalidSettingError("`forecast` must be (1, 0) on full steps (nothing is forecast there)")
        second = full[1] if len(full) > 1 else self.steps
        if any(b for _, b in pairs[: second + 1]):
            raise InvalidSettingError(f"`forecast` b must be 0 before the second full step ({second}): only one full "
                                      "step's delta is there to use")
        return pairs if any(p != (1.0, 0.0) for p in pairs) else None

    @property
    def forecasts(self) -> bool:
        """Whether a reuse step adds other than its last delta."""
        return self.forecast is not None and bool(self.cached_blocks)

    @property
    def keeps_two_deltas(self) -> bool:
        """Whether a run keeps its last two full steps' deltas (some step adds the one before the last)."""
        return self.forecasts and any(b for _, b in self.forecast or ())

    # -- what it computes --
    @property
    def computed_share(self) -> float:
        """The share of block evaluations computed: ``1 − |cached|·(steps − |full|) / (steps·blocks)``, less what the
        second group computes on its own steps."""
        reuse = self.steps - len(self.full_steps)
        skipped = len(self.cached_blocks) * reuse - len(self.drift_blocks) * len(self.drift_steps)
        return 1.0 - skipped / (self.steps * self.num_blocks)

    def full_step_mask(self) -> list[bool]:
        """One bool per step: True where every block computes."""
        full = set(self.full_steps)
        return [s in full for s in range(self.steps)]

    def mask(self) -> np.ndarray:
        """(steps, blocks) bool array, read-only: True where the block computes at that step. Made once a plan."""
        return self._mask

    @functools.cached_property
    def _mask(self) -> np.ndarray:
        out = np.ones((self.steps, self.num_blocks), dtype=bool)
        full = set(self.full_steps)
        reuse = [s for s in range(self.steps) if s not in full]
        if reuse and self.cached_blocks:
            out[np.ix_(reuse, list(self.cached_blocks))] = False
        if self.drift_blocks:
            out[np.ix_(list(self.drift_steps), list(self.drift_blocks))] = True
        out.flags.writeable = False
        return out

    def runs(self) -> list[tuple[int, int]]:
        """The cached blocks as maximal runs of consecutive blocks of one group, inclusive (first, last) pairs, in
        block order (a run computes or reuses as a whole)."""
        drift = set(self.drift_blocks)
        return sorted(runs_of([b for b in self.cached_blocks if b not in drift]) + runs_of(self.drift_blocks))

    def timeline(self, compute: str = "█", reuse: str = "·") -> list[str]:
        """One string per block, one character per step."""
        return ["".join(compute if c else reuse for c in row) for row in self.mask().T]

    # -- other step counts --
    def for_steps(self, steps: int) -> "Plan":
        """This plan for a call of ``steps`` steps: its full steps mapped proportionally (``map_full_steps``: the
        same share of full steps, spread as they are spread, step 0 and, when it was, the last step full)."""
        check_int("steps", steps, 1, 100_000)
        if steps == self.steps:
            return self
        # a forecast's weights were fitted to the full steps they follow: mapped steps reuse plainly
        full = map_full_steps(self.full_steps, self.steps, steps)
        drift: tuple[int, ...] = ()
        if self.drift_blocks:  # the second group's steps, mapped with the full steps they fall between
            both = map_full_steps(sorted(self.full_steps + self.drift_steps), self.steps, steps)
            drift = tuple(s for s in both if s not in full)
        return dataclasses.replace(self, steps=steps, full_steps=full, forecast=None, drift_steps=drift,
                                   drift_blocks=self.drift_blocks if drift else ())

    # -- JSON --
    def to_dict(self) -> dict:
        d = {"num_blocks": self.num_blocks, "steps": self.steps, "cached_blocks": list(self.cached_blocks),
             "full_steps": list(self.full_steps), "origin": self.origin, "predicted_error": self.predicted_error}
        if self.step_range is not None:
            d["step_range"] = list(self.step_range)
        if self.forecast is not None:
            d["forecast"] = [list(pair) for pair in self.forecast]
        if self.drift_blocks:
            d["drift_blocks"], d["drift_steps"] = list(self.drift_blocks), list(self.drift_steps)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "Plan":
        if not isinstance(d, dict):
            raise InvalidSettingError(f"a plan must be a JSON object, got {type(d).__name__}")
        unknown = set(d) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise InvalidSettingError(f"unknown plan field(s): {', '.join(sorted(unknown))}")
        d = dict(d)
        if d.get("step_range") is not None:
            d["step_range"] = tuple(d["step_range"])
        if isinstance(d.get("forecast"), list):
            d["forecast"] = tuple(tuple(pair) if isinstance(pair, list) else pair for pair in d["forecast"])
        return cls(**d)


SCHEDULES = ("stepwise", "inverse", "average")
# the largest forecast coefficient a plan takes
MAX_FORECAST_WEIGHT = 16.0


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


def runs_of(blocks) -> list[tuple[int, int]]:
    """Maximal runs of consecutive block indices, as inclusive (first, last) pairs (paper Fig. 6)."""
    runs: list[tuple[int, int]] = []
    for b in sorted(set(blocks)):
        if runs and b == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], b)
        else:
            runs.append((b, b))
    return runs


def map_full_steps(full, steps: int, new_steps: int, count: int | None = None) -> tuple[int, ...]:
    """A list of full steps for ``steps`` steps, mapped to ``new_steps``: ``count`` full steps (default: the same
    share, rounded; at least one), spread over the call as the list spreads over its own (its positions, as
    fractions of the run, resampled to the new count), step 0 always full, and the last step full when it was."""
    full = sorted(full)
    if new_steps == steps and count is None:
        return tuple(full)
    ends = 2 if full[-1] == steps - 1 and new_steps > 1 and len(full) > 1 else 1
    if count is None:
        count = int(round(len(full) * new_steps / steps))
    count = max(ends, min(new_steps, count))
    where = np.asarray(full, dtype=float) / max(1, steps - 1)
    wanted: list[float] | np.ndarray
    if count == 1 or len(full) == 1:
        wanted = [0.0]
    else:
        wanted = np.interp(np.linspace(0, len(full) - 1, count), np.arange(len(full)), where)
    chosen: list[int] = []
    for u in wanted:
        target = int(round(u * (new_steps - 1)))
        free = [c for c in range(new_steps) if c not in chosen]
        chosen.append(min(free, key=lambda c: (abs(c - target), c)))
    chosen.sort()
    chosen[0] = 0
    if ends == 2:
        chosen[-1] = new_steps - 1
    return tuple(sorted(set(chosen)))


def implied_speedup(block_time_share: float, share_computed: float) -> float:
    """1 / (share of time outside the blocks + share inside × computed share)."""
    return 1.0 / ((1.0 - block_time_share) + block_time_share * share_computed)
