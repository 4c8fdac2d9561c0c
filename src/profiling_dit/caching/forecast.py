"""Forecasting a skipped step's delta: a reuse step t adds a_t·D(s) + b_t·D(s′) instead of D(s), s and s′ the last two
full steps (``Plan.forecast``; (1, 0) is plain reuse). Two ways to choose (a_t, b_t), both least squares:

- **From the profile alone** (``from_profile``): the staleness table holds e(a, b) = ‖D(b) − D(a)‖ and
  c(a) = ‖D(a)‖ of each cached set's delta on stock sampling, so ⟨D(a), D(b)⟩ = (c(a)² + c(b)² − e(a, b)²) / 2,
  and the best (a, b) for each step is a 2 × 2 solve. These are estimates (for several prompts the table keeps the
  mean of the norms), made on the stock trajectory rather than the cached one.
- **From generations** (``fit_forecast``, a calibration): the plan runs with its reuse steps computed all the same,
  and at each the runs add what the fit says from the true deltas seen so far (so the run follows the forecasting
  trajectory, and what it should have added is measured on it); the sums over the prompts give the weights. One
  generation per prompt, each at the cost of stock sampling.

``shrink`` pulls every pair toward plain reuse: (1, 0) + ((a, b) − (1, 0)) / (1 + shrink).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..plan import MAX_FORECAST_WEIGHT, Plan
from .planner import StalenessModel


def inner_products(model: StalenessModel, size: int, steps: int) -> np.ndarray:
    """(steps, steps): ⟨D(a), D(b)⟩ of the first ``size`` blocks' deltas; NaN where not measured."""
    return _inner_products(model.error_matrix(size, steps), model.scale_vector(size, steps))


def _inner_products(e: np.ndarray, c: np.ndarray) -> np.ndarray:
    """⟨D(a), D(b)⟩ from e[a, b] = ‖D(b) − D(a)‖ (a < b) and c[a] = ‖D(a)‖."""
    steps = len(c)
    sq = c ** 2
    out = np.full((steps, steps), np.nan)
    a, b = np.nonzero(np.isfinite(e))
    out[a, b] = (sq[a] + sq[b] - e[a, b] ** 2) / 2
    out[b, a] = out[a, b]
    out[np.arange(steps), np.arange(steps)] = sq
    return out


def solve(tt: float, td: float, tp: float, dd: float, dp: float, pp: float, two: bool,
          shrink: float = 0.0) -> tuple[tuple[float, float], float]:
    """The (a, b) minimising ‖T − a·D − b·P‖² from its inner products (``two``: b too, else b = 0), shrunk toward
    (1, 0), and the error ‖T − a·D − b·P‖ it leaves (clipped at 0 against rounding)."""
    a, b = shrunk(least_squares(td, tp, dd, dp, pp, two), shrink)
    err2 = tt - 2 * a * td - 2 * b * (tp if two else 0.0) + a * a * dd + (2 * a * b * dp + b * b * pp if two else 0.0)
    return (a, b), float(np.sqrt(max(0.0, err2)))


def least_squares(td: float, tp: float, dd: float, dp: float, pp: float, two: bool) -> tuple[float, float]:
    """The (a, b) minimising ‖T − a·D − b·P‖² (b = 0 unless ``two``); (1, 0) where the products do not decide it."""
    if two and np.all(np.isfinite([td, tp, dd, dp, pp])):
        m = np.array([[dd, dp], [dp, pp]])
        if abs(np.linalg.det(m)) > 1e-12 * max(1.0, dd * pp):
            a, b = np.linalg.solve(m, [td, tp])
            return float(a), float(b)
    if np.isfinite(td) and dd > 0:
        return float(td / dd), 0.0
    return 1.0, 0.0


def shrunk(pair: tuple[float, float], shrink: float) -> tuple[float, float]:
    """(1, 0) + (pair − (1, 0)) / (1 + shrink), within the bounds a plan takes."""
    a, b = 1.0 + (pair[0] - 1.0) / (1.0 + shrink), pair[1] / (1.0 + shrink)
    return (float(np.clip(a, -MAX_FORECAST_WEIGHT, MAX_FORECAST_WEIGHT)),
            float(np.clip(b, -MAX_FORECAST_WEIGHT, MAX_FORECAST_WEIGHT)))


def forecast_pairs(model: StalenessModel, size: int, steps: int, full_steps, shrink: float = 0.0
                   ) -> tuple[tuple[tuple[float, float], ...], float, float]:
    """The (a, b) of every step for a plan caching the first ``size`` blocks with these full steps, from the
    profile's table, and the plan's predicted error with and without them (the planner's sum of ‖error‖)."""
    e = model.error_matrix(size, steps)
    P = _inner_products(e, model.scale_vector(size, steps))
    full = sorted(full_steps)
    pairs = [(1.0, 0.0)] * steps
    plain = forecast = 0.0
    for t in range(steps):
        if t in full:
            continue
        before = [f for f in full if f < t]
        s = before[-1]
        p = before[-2] if len(before) > 1 else s
        reuse = float(e[s, t])  # plain reuse's error, as measured
        plain += reuse
        pair, err = solve(P[t, t], P[t, s], P[t, p], P[s, s], P[s, p], P[p, p], len(before) > 1, shrink)
        if not np.isfinite(err):
            pair, err = (1.0, 0.0), reuse
        pairs[t] = pair
        forecast += err
    return tuple(pairs), forecast, plain


def from_profile(plan: Plan, staleness, shrink: float = 0.0) -> Plan:
    """``plan`` with forecast pairs fitted from the profile's staleness table (``staleness``: its ``Staleness``),
    when its cached set is one of the table's nested sets; else the plan unchanged."""
    model = StalenessModel(staleness, plan.num_blocks)
    size = len(plan.cached_blocks)
    if size == 0 or model.set_for(size) != tuple(plan.cached_blocks):
        return plan
    pairs, error, _ = forecast_pairs(model, size, plan.steps, plan.full_steps, shrink)
    return dataclasses.replace(plan, forecast=pairs, predicted_error=error,
                               origin=f"{plan.origin}; forecast from the profile")


def _products(true: tuple, delta: tuple, previous: tuple | None) -> np.ndarray:
    """⟨T,T⟩, ⟨T,D⟩, ⟨T,P⟩, ⟨D,D⟩, ⟨D,P⟩, ⟨P,P⟩ over the streams (P: Δ_s′, or Δ_s when there is none), in float64."""
    def dot(x, y) -> float:
        return float(sum((u.double() * v.double()).sum() for u, v in zip(x, y)))

    p = previous if previous is not None else delta
    return np.array([dot(true, true), dot(true, delta), dot(true, p), dot(delta, delta), dot(delta, p), dot(p, p)])


class _Sums:
    """Per step, the inner products of the true delta T with Δ_s (D) and Δ_s′ (P), summed over runs, branches and
    prompts: what the least-squares fit of (a, b) needs."""

    def __init__(self, steps: int):
        self.m = np.zeros((steps, 6))  # tt, td, tp, dd, dp, pp

    def add(self, step: int, true: tuple, delta: tuple, previous: tuple | None) -> None:
        self.m[step] += _products(true, delta, previous)

    def pair(self, step: int, two: bool, shrink: float) -> tuple[float, float]:
        tt, td, tp, dd, dp, pp = (float(x) for x in self.m[step])
        return solve(tt, td, tp, dd, dp, pp, two, shrink)[0]


class _SegmentSums:
    """Per segment (the reuse steps after one full step), the sum of its true deltas per run and branch, with the
    deltas it reused: a segment's pair fits the segment's mean true delta, which is what its steps add up to in the
    sample (errors of opposite sign within a segment cancel there)."""

    def __init__(self, full: list[int]):
        self.full = full
        self.kept: dict[tuple, list] = {}  # (segment, branch state, run) -> [sum of T, Δ_s, Δ_s′]

    def segment(self, step: int) -> int:
        return max(f for f in self.full if f < step)

    def add(self, state, run_id: int, step: int, true: tuple, delta: tuple, previous: tuple | None) -> None:
        key = (self.segment(step), id(state), run_id)
        if key not in self.kept:
            self.kept[key] = [tuple(t.double() for t in true), delta, previous]
        else:
            self.kept[key][0] = tuple(s + t.double() for s, t in zip(self.kept[key][0], true))

    def pairs(self, steps: int, two: dict[int, bool], shrink: float) -> dict[int, tuple[float, float]]:
        m: dict[int, np.ndarray] = {}
        for (segment, _, _), (total, delta, previous) in self.kept.items():
            m[segment] = m.get(segment, np.zeros(6)) + _products(total, delta, previous)
        out = {}
        for segment, (_tt, td, tp, dd, dp, pp) in m.items():
            n = sum(1 for t in range(segment + 1, steps) if t not in self.full and self.segment(t) == segment)
            # the segment's sum of true deltas fits n·(a·Δ_s + b·Δ_s′)
            a, b = least_squares(td, tp, dd, dp, pp, two[segment + 1])
            out[segment] = shrunk((a / n, b / n), shrink)
        return out


def fit_forecast(model, plan: Plan, settings_list, shrink: float = 0.0, on_generation=None,
                 target: str = "step") -> Plan:
    """``plan`` with forecast pairs fitted on real generations (see the module docstring): one generation per
    ``GenerationSettings`` in ``settings_list``, each at the cost of stock sampling. ``model``: a ``LoadedModel``
    or pipeline with one transformer. ``target``: ``"step"``, each step's pair fits that step's true delta (on the
    forecasting trajectory); ``"segment"``, one pair a segment fits the segment's mean true delta (on the plain
    reuse trajectory)."""
    from ..pipeline.generation import generate
    from ..pipeline.loading import as_model
    from .hooks import apply_profiling_dit, remove_profiling_dit

    model = as_model(model)
    sums = _Sums(plan.steps)
    full = sorted(plan.full_steps)
    segments = _SegmentSums(full)
    two = {t: sum(f < t for f in full) > 1 for t in range(plan.steps)}

    def fit(state, run_id, true, delta, previous):
        if target == "segment":
            segments.add(state, run_id, state.step, true, delta, previous if two[state.step] else None)
            return 1.0, 0.0
        sums.add(state.step, true, delta, previous if two[state.step] else None)
        return sums.pair(state.step, two[state.step], shrink)

    for i, settings in enumerate(settings_list):
        apply_profiling_dit(model.pipe.transformer, dataclasses.replace(plan, forecast=None), fit=fit,
                            steps_provider=lambda: getattr(model.pipe, "num_timesteps", None))
        try:
            generate(model, settings)
        finally:
            remove_profiling_dit(model.pipe.transformer)
        if on_generation is not None:
            on_generation(i + 1, len(settings_list))
    if target == "segment":
        by_segment = segments.pairs(plan.steps, two, shrink)
        pairs = tuple((1.0, 0.0) if t in plan.full_steps else by_segment.get(segments.segment(t), (1.0, 0.0))
                      for t in range(plan.steps))
    else:
        pairs = tuple((1.0, 0.0) if t in plan.full_steps else sums.pair(t, two[t], shrink)
                      for t in range(plan.steps))
    return dataclasses.replace(plan, forecast=pairs, origin=f"{plan.origin}; forecast fitted on "
                                                            f"{len(settings_list)} generations")
