"""Forecasting a skipped step's delta from the profile alone: the weights of an order-one linear forecast.

A cached set C reuses on step t the delta D(s) of its last full step s. An order-one forecast adds
D(s) + w_t·(D(s) − D(s′)), s′ the full step before s. Its error is a quadratic form in the inner products of the
set's deltas at s′, s and t, and those follow from the staleness table the profile already holds: with
e(a, b) = ‖D(b) − D(a)‖ and c(a) = ‖D(a)‖ (``StalenessSet.error`` and ``.scale``),

    ⟨D(a), D(b)⟩ = (c(a)² + c(b)² − e(a, b)²) / 2,

so with u = D(t) − D(s) (plain reuse's error) and v = D(s) − D(s′),

    ‖u − w·v‖² = e(s, t)² − 2w·⟨u, v⟩ + w²·e(s′, s)²,   minimised at  w* = ⟨u, v⟩ / e(s′, s)².

The profile measures these on stock sampling and, for several prompts, keeps the mean of the norms, so the inner
products are estimates; ``shrink`` pulls every weight toward plain reuse (w = w* / (1 + shrink)), and a step whose
three deltas were not all measured within the table's ``max_gap`` reuses plainly.
"""

from __future__ import annotations

import numpy as np

from ..plan import MAX_FORECAST_WEIGHT, Plan
from .planner import StalenessModel


def inner_products(model: StalenessModel, size: int, steps: int) -> np.ndarray:
    """(steps, steps): ⟨D(a), D(b)⟩ of the first ``size`` blocks' deltas; NaN where not measured."""
    c = model.scale_vector(size, steps)
    e = model.error_matrix(size, steps)
    sq = c ** 2
    out = np.full((steps, steps), np.nan)
    upper = np.isfinite(e)
    a, b = np.nonzero(upper)
    out[a, b] = (sq[a] + sq[b] - e[a, b] ** 2) / 2
    out[b, a] = out[a, b]
    out[np.arange(steps), np.arange(steps)] = sq
    return out


def forecast_weights(model: StalenessModel, size: int, steps: int, full_steps, shrink: float = 0.0
                     ) -> tuple[tuple[float, ...], float, float]:
    """The order-one weights for a plan caching the first ``size`` blocks with these full steps, and its predicted
    error with and without them (the sum over reuse steps of ‖error‖, as the planner's)."""
    P = inner_products(model, size, steps)
    e = model.error_matrix(size, steps)
    full = sorted(full_steps)
    weights = np.zeros(steps)
    plain = forecast = 0.0
    for t in range(steps):
        if t in full:
            continue
        before = [f for f in full if f < t]
        s = before[-1]
        u2 = e[s, t] ** 2
        plain += float(np.sqrt(u2))
        w, err2 = 0.0, u2
        if len(before) > 1:
            p = before[-2]
            v2 = e[p, s] ** 2
            uv = P[t, s] - P[t, p] - P[s, s] + P[s, p]
            if np.isfinite(uv) and np.isfinite(v2) and v2 > 0:
                w = float(np.clip(uv / v2 / (1.0 + shrink), -MAX_FORECAST_WEIGHT, MAX_FORECAST_WEIGHT))
                err2 = u2 - 2 * w * uv + w * w * v2
        weights[t] = w
        forecast += float(np.sqrt(max(0.0, err2)))
    return tuple(float(w) for w in weights), forecast, plain


def with_forecast(plan: Plan, staleness, shrink: float = 0.0) -> Plan:
    """``plan`` with order-one forecast weights fitted from the profile's staleness table (``staleness``: its
    ``Staleness``), for the plan's cached set when it is one of the table's nested sets; else the plan unchanged."""
    import dataclasses

    model = StalenessModel(staleness, plan.num_blocks)
    size = len(plan.cached_blocks)
    if size == 0 or model.set_for(size) != tuple(plan.cached_blocks):
        return plan
    weights, error, _ = forecast_weights(model, size, plan.steps, plan.full_steps, shrink)
    return dataclasses.replace(plan, forecast=weights, predicted_error=error,
                               origin=f"{plan.origin}, forecast (order one)")
