"""Forecasting a skipped step's delta: the plan's weights, the hooks' arithmetic on hand-made blocks, and the weights
fitted from a staleness table with a known answer."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from profiling_dit.caching.hooks import apply_profiling_dit, cache_bytes, remove_profiling_dit
from profiling_dit.errors import InvalidSettingError
from profiling_dit.plan import Plan
from test_cache import DummyTransformer, _call


def test_plain_reuse_is_a_plan_without_weights():
    plan = Plan(4, 6, (1, 2), (0, 2, 5), forecast=(0, 0, 0, 0, 0, 0))
    assert plan.forecast is None and not plan.forecasts  # all zero: plain reuse, the same plan
    assert Plan.from_dict(plan.to_dict()) == plan and "forecast" not in plan.to_dict()
    weighted = Plan(4, 6, (1, 2), (0, 2, 5), forecast=(0, 0, 0, 0.5, -0.25, 0))
    assert weighted.forecasts and Plan.from_dict(weighted.to_dict()) == weighted
    assert weighted.for_steps(12).forecast is None  # mapped full steps reuse plainly


@pytest.mark.parametrize("weights, needle", [
    ((0, 0, 0.5, 0, 0, 0), "0 on full steps"),
    ((0, 0.5, 0, 0, 0, 0), "before the second full step"),
    ((0, 0, 0, 0.5, 0), "one a step"),
    ((0, 0, 0, 9.0, 0, 0), "forecast[3]"),
    ((0, 0, 0, float("nan"), 0, 0), "forecast[3]"),
    ("abc", "one number per step"),
])
def test_bad_weights_are_refused_naming_them(weights, needle):
    with pytest.raises(InvalidSettingError, match=needle.replace("[", r"\[").replace("]", r"\]")):
        Plan(4, 6, (1, 2), (0, 2, 5), forecast=weights)


def _run(plan, biases):
    """Outputs of a 4-block dummy transformer, one call a step, with block biases changed every step."""
    model = DummyTransformer(4)
    apply_profiling_dit(model, plan)
    outs, sizes = [], []
    for step, bias in enumerate(biases):
        for b in model.blocks:
            b.bias.fill_(bias)
        outs.append(_call(model, torch.tensor([1.0]), step, plan.steps).item())
        sizes.append(sum(cache_bytes(model).values()))
    remove_profiling_dit(model)
    return outs, sizes


def test_a_skipped_run_adds_its_forecast_delta():
    biases = [0.0, 10.0, 30.0, 70.0, 150.0]
    # blocks 1 and 2 are one run; full steps 0, 1, 2, 4; step 3 reuses
    plain = Plan(4, 5, (1, 2), (0, 1, 2, 4))
    forecast = Plan(4, 5, (1, 2), (0, 1, 2, 4), forecast=(0, 0, 0, 0.5, 0))
    # the run's delta at step t (input h = 2 + c): out = 4h + 3c, delta = 3h + 3c with c = bias
    delta = {t: 3 * (2 + c) + 3 * c for t, c in enumerate(biases)}
    h3 = 2 + biases[3]
    assert _run(plain, biases)[0][3] == 2 * (h3 + delta[2]) + biases[3]
    fore = delta[2] + 0.5 * (delta[2] - delta[1])
    outs, sizes = _run(forecast, biases)
    assert outs[3] == 2 * (h3 + fore) + biases[3]
    assert outs[:3] == _run(plain, biases)[0][:3] and outs[4] == _run(plain, biases)[0][4]
    assert sizes[2] == 2 * _run(plain, biases)[1][2]  # two deltas a run, per branch


def test_weights_from_a_table_with_a_known_answer():
    """Deltas on a line, D(t) = a + t·b: the best order-one forecast is exact, w = (t − s) / (s − s′)."""
    from types import SimpleNamespace

    from profiling_dit.caching.forecast import forecast_weights
    from profiling_dit.caching.planner import StalenessModel

    rng = np.random.default_rng(0)
    a, b = rng.normal(size=64), rng.normal(size=64)
    steps, gap = 8, 7
    D = [a + t * b for t in range(steps)]
    error = [[float(np.linalg.norm(D[s + g] - D[s])) if s + g < steps else None for g in range(1, gap + 1)]
             for s in range(steps)]
    table = SimpleNamespace(order=(0,), max_gap=gap, sigmas=None,
                            sets=(SimpleNamespace(error=error, scale=[float(np.linalg.norm(d)) for d in D]),))
    weights, forecast, plain = forecast_weights(StalenessModel(table, 1), 1, steps, (0, 2, 4, 7))
    assert np.allclose(weights, [0, 0, 0, 0.5, 0, 0.5, 1.0, 0], atol=1e-9)  # (t − s) / (s − s′)
    # only step 1 cannot forecast (one full step before it): it keeps plain reuse's error, ‖b‖
    assert forecast == pytest.approx(np.linalg.norm(b), rel=1e-6)
    assert plain == pytest.approx(np.linalg.norm(b) * (1 + 1 + 1 + 2), rel=1e-6)
