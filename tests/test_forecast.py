"""Forecasting a skipped step's delta: the plan's pairs, the hooks' arithmetic on hand-made blocks (plain, forecast,
and the fitting mode calibration uses), and pairs fitted from a staleness table with a known answer."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from profiling_dit.caching.hooks import apply_profiling_dit, cache_bytes, remove_profiling_dit
from profiling_dit.errors import InvalidSettingError
from profiling_dit.plan import Plan
from test_cache import DummyTransformer, _call

PLAIN = ((1.0, 0.0),)


def test_plain_reuse_is_a_plan_without_a_forecast():
    plan = Plan(4, 6, (1, 2), (0, 2, 5), forecast=PLAIN * 6)
    assert plan.forecast is None and not plan.forecasts  # (1, 0) everywhere: plain reuse, the same plan
    assert Plan.from_dict(plan.to_dict()) == plan and "forecast" not in plan.to_dict()
    weighted = Plan(4, 6, (1, 2), (0, 2, 5), forecast=PLAIN * 3 + ((1.5, -0.5), (0.9, 0.0)) + PLAIN)
    assert weighted.forecasts and weighted.keeps_two_deltas and Plan.from_dict(weighted.to_dict()) == weighted
    scaled = Plan(4, 6, (1, 2), (0, 2, 5), forecast=PLAIN + ((0.8, 0.0),) + PLAIN * 4)
    assert scaled.forecasts and not scaled.keeps_two_deltas  # scaling alone keeps one delta
    assert weighted.for_steps(12).forecast is None  # mapped full steps reuse plainly


@pytest.mark.parametrize("pairs, needle", [
    (PLAIN * 2 + ((0.5, 0.0),) + PLAIN * 3, "(1, 0) on full steps"),
    (PLAIN + ((1.0, 0.5),) + PLAIN * 4, "before the second full step"),
    (PLAIN * 5, "5 pairs for 6 steps"),
    (PLAIN * 3 + ((99.0, 0.0),) + PLAIN * 2, "forecast[3]"),
    (PLAIN * 3 + ((1.0, float("nan")),) + PLAIN * 2, "forecast[3]"),
    ((0.5,) * 6, "one pair (a, b) per step"),
])
def test_bad_pairs_are_refused_naming_them(pairs, needle):
    import re

    with pytest.raises(InvalidSettingError, match=re.escape(needle)):
        Plan(4, 6, (1, 2), (0, 2, 5), forecast=pairs)


BIASES = [0.0, 10.0, 30.0, 70.0, 150.0]
# blocks 1 and 2 are one run; with the input h = 2 + c of block 1 (c the step's bias), the run's delta is 3h + 3c
DELTA = {t: 3 * (2 + c) + 3 * c for t, c in enumerate(BIASES)}


def _run(plan, fit=None):
    """Outputs of a 4-block dummy transformer, one call a step, its block biases changed every step."""
    model = DummyTransformer(4)
    apply_profiling_dit(model, plan, fit=fit)
    outs, sizes = [], []
    for step, bias in enumerate(BIASES):
        for b in model.blocks:
            b.bias.fill_(bias)
        outs.append(_call(model, torch.tensor([1.0]), step, plan.steps).item())
        sizes.append(sum(cache_bytes(model).values()))
    remove_profiling_dit(model)
    return outs, sizes


def test_a_skipped_run_adds_its_forecast():
    plain = Plan(4, 5, (1, 2), (0, 1, 2, 4))  # step 3 reuses
    forecast = Plan(4, 5, (1, 2), (0, 1, 2, 4), forecast=PLAIN * 3 + ((1.5, -0.5),) + PLAIN)
    h3 = 2 + BIASES[3]
    plain_outs, plain_sizes = _run(plain)
    assert plain_outs[3] == 2 * (h3 + DELTA[2]) + BIASES[3]
    outs, sizes = _run(forecast)
    assert outs[3] == 2 * (h3 + 1.5 * DELTA[2] - 0.5 * DELTA[1]) + BIASES[3]
    assert outs[:3] == plain_outs[:3] and outs[4] == plain_outs[4]
    assert sizes[2] == 2 * plain_sizes[2]  # two deltas a run


def test_fitting_computes_the_reuse_step_and_adds_what_the_fit_says():
    seen = []

    def fit(state, run_id, true, delta, previous):
        seen.append((state.step, true[0].item(), delta[0].item(), previous[0].item()))
        return 2.0, -1.0

    outs, _ = _run(Plan(4, 5, (1, 2), (0, 1, 2, 4)), fit=fit)
    assert seen == [(3, DELTA[3], DELTA[2], DELTA[1])]  # only the reuse step, with its true delta
    h3 = 2 + BIASES[3]
    assert outs[3] == 2 * (h3 + 2.0 * DELTA[2] - 1.0 * DELTA[1]) + BIASES[3]  # what the fit said, not the truth


def test_pairs_from_a_table_with_a_known_answer():
    """Deltas on a line, D(t) = u + t·v: two full steps' deltas forecast any later one exactly,
    D(t) = (t − s′)/(s − s′)·D(s) − (t − s)/(s − s′)·D(s′)."""
    from types import SimpleNamespace

    from profiling_dit.caching.forecast import forecast_pairs
    from profiling_dit.caching.planner import StalenessModel

    rng = np.random.default_rng(0)
    u, v = rng.normal(size=64), rng.normal(size=64)
    steps, gap = 8, 7
    D = [u + t * v for t in range(steps)]
    error = [[float(np.linalg.norm(D[s + g] - D[s])) if s + g < steps else None for g in range(1, gap + 1)]
             for s in range(steps)]
    table = SimpleNamespace(order=(0,), max_gap=gap, sigmas=None,
                            sets=(SimpleNamespace(error=error, scale=[float(np.linalg.norm(d)) for d in D]),))
    pairs, forecast, plain = forecast_pairs(StalenessModel(table, 1), 1, steps, (0, 2, 4, 7))
    for t, want in ((3, (1.5, -0.5)), (5, (1.5, -0.5)), (6, (2.0, -1.0))):
        assert np.allclose(pairs[t], want, atol=1e-6), t
    a1 = float(D[1] @ D[0] / (D[0] @ D[0]))  # step 1 has one full step before it: a scale alone
    assert np.allclose(pairs[1], (a1, 0.0), atol=1e-6)
    assert forecast == pytest.approx(np.linalg.norm(D[1] - a1 * D[0]), rel=1e-5)
    assert plain == pytest.approx(np.linalg.norm(v) * (1 + 1 + 1 + 2), rel=1e-6)


@pytest.mark.parametrize("interval", [2, 3, 5])
def test_taylorseer_on_the_block_stack_keeps_diffusers_schedule(interval):
    from diffusers.hooks.hooks import CacheContext, StateManager
    from diffusers.hooks.taylorseer_cache import TaylorSeerCacheHook, TaylorSeerState

    from profiling_dit.bench.methods.taylorseer_blocks import taylorseer_plan

    manager = StateManager(TaylorSeerState, init_kwargs={"taylor_factors_dtype": torch.float32, "max_order": 1})
    manager.set_context(CacheContext("cond"))
    hook = TaylorSeerCacheHook(interval, 3, torch.float32, manager)
    computes = [hook._measure_should_compute()[0] for _ in range(20)]
    plan = taylorseer_plan(4, 20, interval)
    assert plan.full_step_mask() == computes


def test_taylorseer_on_the_block_stack_forecasts_a_line_exactly():
    """Its first-order forecast from the last two full steps is exact for deltas on a line."""
    from profiling_dit.bench.methods.taylorseer_blocks import taylorseer_plan

    plan = taylorseer_plan(4, 20, 5)
    u, v = 0.3, -1.7
    D = [u + t * v for t in range(20)]
    for t, (a, b) in enumerate(plan.forecast):
        earlier = [f for f in plan.full_steps if f < t]
        if t not in plan.full_steps and len(earlier) > 1:
            assert a * D[earlier[-1]] + b * D[earlier[-2]] == pytest.approx(D[t])


def test_a_plan_summary_says_how_many_deltas_a_run_keeps():
    from profiling_dit.caching.preview import plan_summary

    assert plan_summary(Plan(4, 6, (1, 2), (0, 2, 5)))["deltas_per_run"] == 1
    scaled = Plan(4, 6, (1, 2), (0, 2, 5), forecast=PLAIN + ((0.8, 0.0),) + PLAIN * 4)
    assert plan_summary(scaled)["deltas_per_run"] == 1
    weighted = Plan(4, 6, (1, 2), (0, 2, 5), forecast=PLAIN * 3 + ((1.5, -0.5),) + PLAIN * 2)
    assert plan_summary(weighted)["deltas_per_run"] == 2


def test_a_segment_pair_fits_the_segments_mean_true_delta():
    from profiling_dit.caching.forecast import _SegmentSums

    g = torch.Generator().manual_seed(0)
    d, p, noise = (torch.randn(32, generator=g) for _ in range(3))
    sums = _SegmentSums([0, 1, 4])  # steps 2 and 3 reuse after full step 1 (Δ_s = d, Δ_s′ = p)
    state = object()
    sums.add(state, 0, 2, (1.2 * d - 0.3 * p + noise,), (d,), (p,))  # errors that cancel over the segment
    sums.add(state, 0, 3, (1.2 * d - 0.3 * p - noise,), (d,), (p,))
    a, b = sums.pairs(5, {2: True, 3: True}, 0.0)[1]
    assert (a, b) == pytest.approx((1.2, -0.3), abs=1e-6)  # float32 deltas
