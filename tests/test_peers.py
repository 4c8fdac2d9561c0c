"""The bench's peers EasyCache, DiCache, LeMiCa, ERTACache and the forecasters HiCache, FoCa and Spectrum on cases
whose answers are known (hand-made blocks, a made-up error table, trajectories on a line or a polynomial), each
adapter on the tiny model, and the bench report's PSNR cap and folding of same plans."""

import itertools
import math

import numpy as np
import pytest
import torch
from diffusers.hooks.hooks import CacheContext, _set_cache_context

from profiling_dit.bench.methods import METHODS, RunContext
from profiling_dit.bench.methods.dicache import DiCacheConfig, alignment_gamma, apply_dicache, remove_dicache
from profiling_dit.bench.methods.easycache import EasyCacheConfig, apply_easycache, remove_easycache
from profiling_dit.bench.methods.ertacache import (
    ERTACacheConfig,
    apply_ertacache,
    calibrate_ertacache,
    channel_gain,
    ertacache_schedule,
    remove_ertacache,
)
from profiling_dit.bench.methods.foca import FoCaConfig, apply_foca, bdf2_predict, heun_correct, remove_foca
from profiling_dit.bench.methods.hicache import (
    HiCacheConfig,
    apply_hicache,
    hermite,
    hermite_coefficients,
    hicache_weights,
    remove_hicache,
)
from profiling_dit.bench.methods.lemica import LeMiCaConfig, apply_lemica, default_max_gap, lemica_schedule, segments
from profiling_dit.bench.methods.spectrum import (
    SpectrumConfig,
    apply_spectrum,
    chebyshev_design,
    remove_spectrum,
    spectrum_schedule,
    spectrum_weights,
)
from profiling_dit.bench.report import PSNR_IDENTICAL_DB, summarize, table
from profiling_dit.bench.runner import count_self_attention
from profiling_dit.models import ArchitectureSpec, register_architecture
from profiling_dit.pipeline.generation import GenerationSettings, generate


# --- a stack whose blocks have known functions --------------------------------------------------
class ScaleBlock(torch.nn.Module):
    """out = 2·h: the stack of n blocks maps x to 2ⁿ·x, so every residual and change is known."""

    def __init__(self):
        super().__init__()
        self.calls = 0

    def forward(self, hidden_states):
        self.calls += 1
        return 2 * hidden_states


class PeerStack(torch.nn.Module):
    def __init__(self, n):
        super().__init__()
        self.blocks = torch.nn.ModuleList(ScaleBlock() for _ in range(n))

    def forward(self, hidden_states):
        for block in self.blocks:
            hidden_states = block(hidden_states)
        return hidden_states


register_architecture(PeerStack, ArchitectureSpec(
    name="peer-stack", block_lists=("blocks",), self_attention="", frame_multiple=1, spatial_multiple=1))


def _call(model, x, step, steps, name="cond"):
    _set_cache_context(model, CacheContext(name, step_index=step, num_inference_steps=steps))
    try:
        return model(torch.tensor([x])).item()
    finally:
        _set_cache_context(model, None)


def _calls(model):
    return [b.calls for b in model.blocks]


# --- EasyCache ---------------------------------------------------------------------------------------
def test_easycache_refreshes_when_the_summed_estimate_reaches_the_threshold():
    # two blocks: out = 4x, so k = 4; inputs grow by 0.1 a step; each estimate is k·0.1 / |last output|
    model = PeerStack(2)
    manager = apply_easycache(model, EasyCacheConfig(threshold=0.25, num_inference_steps=8, warmup_steps=2))
    outs = [_call(model, 1 + 0.1 * t, t, 8) for t in range(5)]
    state = manager._state_cache["cond"]
    # steps 0, 1 warm up (k = 0.4 / 0.1 = 4); step 2: 4·0.1/4.4 = 0.091, step 3: 0.182, step 4: 0.273 >= 0.25
    assert state.estimates[2:] == pytest.approx([0.4 / 4.4, 0.8 / 4.4, 1.2 / 4.4], rel=1e-5)
    assert _calls(model) == [3, 3]  # computed at steps 0, 1 and 4
    # reused steps add the last residual (4.4 − 1.1 = 3.3) to their input; computed ones are exact
    assert outs == pytest.approx([4.0, 4.4, 1.2 + 3.3, 1.3 + 3.3, 5.6], rel=1e-5)
    assert state.rate == pytest.approx((5.6 - 4.4) / (1.4 - 1.1), rel=1e-4)  # measured again at step 4
    remove_easycache(model)
    assert _call(model, 1.0, 0, 8) == 4.0 and _calls(model) == [4, 4]


def test_easycache_computes_the_last_step_and_never_skips_at_threshold_zero():
    model = PeerStack(2)
    apply_easycache(model, EasyCacheConfig(threshold=0.0, num_inference_steps=4, warmup_steps=1))
    [_call(model, 1 + 0.1 * t, t, 4) for t in range(4)]
    assert _calls(model) == [4, 4]
    remove_easycache(model)
    with pytest.raises(ValueError, match="warmup_steps"):
        EasyCacheConfig(threshold=0.1, num_inference_steps=4, warmup_steps=5)


# --- DiCache ------------------------------------------------------------------------------------------
def _dicache_run(xs, threshold):
    """Three blocks (probe: block 0): whole-stack residual R = 7x, probe residual P = x; two warm-up steps."""
    model = PeerStack(3)
    manager = apply_dicache(model, DiCacheConfig(threshold=threshold, warmup_steps=2))
    outs = [_call(model, x, t, len(xs)) for t, x in enumerate(xs)]
    return model, manager, outs


def test_dicache_probe_decides_and_aligns_the_cached_trajectories():
    # step 2: the probe's output changed by |2.4 − 2.2| / 2.2 = 0.091 < 0.5: skipped; γ = (1.2 − 1) / (1.1 − 1) = 2,
    # so the stack adds R₁ + 2 (R₂ − R₁) = 7 + 2·0.7 = 8.4 = 7·1.2, the exact residual of this linear stack
    model, manager, outs = _dicache_run([1.0, 1.1, 1.2], threshold=0.5)
    assert _calls(model) == [3, 2, 2]  # the probe ran every step, the rest not at step 2
    assert outs[2] == pytest.approx(1.2 + 8.4, rel=1e-5)
    assert manager._state_cache["cond"].gammas == pytest.approx([2.0], rel=1e-4)
    remove_dicache(model)
    # a jump past the trajectory: γ = 3.5 is clipped to 2, the output keeps R₁ + 2 (R₂ − R₁)
    model, _, outs = _dicache_run([1.0, 1.1, 1.35], threshold=0.5)
    assert outs[2] == pytest.approx(1.35 + 8.4, rel=1e-5)
    # the same change at a lower threshold: computed
    model, _, outs = _dicache_run([1.0, 1.1, 1.2], threshold=0.05)
    assert _calls(model) == [3, 3, 3] and outs[2] == pytest.approx(9.6)


def test_dicache_alignment_coefficient_is_clipped():
    p1, p2 = torch.zeros(4), torch.ones(4)
    assert alignment_gamma(torch.full((4,), 1.5), p1, p2) == pytest.approx(1.5)
    assert alignment_gamma(torch.full((4,), 0.5), p1, p2) == 1.0
    assert alignment_gamma(torch.full((4,), 9.0), p1, p2) == 2.0


# --- LeMiCa -------------------------------------------------------------------------------------------
def _brute_force(weights, steps, nodes):
    best = None
    for mid in itertools.combinations(range(1, steps - 1), nodes - 2):
        path = (0, *mid, steps - 1)
        edges = list(zip(path, path[1:]))
        if any(e not in weights and e[1] - e[0] != 1 for e in edges):
            continue
        key = tuple(sorted((weights.get(e, 0.0) for e in edges), reverse=True))
        if best is None or key < best[0]:
            best = (key, path)
    return best


def test_lemica_takes_the_lowest_worst_case_path_not_the_lowest_sum():
    # 6 steps, 3 full steps: 0 → a → 5. Worst edges: a=1: 4, a=2: 5, a=3: 3, a=4: 4.5 (a=1 has the lowest sum)
    weights = {(0, 2): 1.0, (2, 5): 5.0, (0, 3): 3.0, (3, 5): 3.0, (0, 4): 4.5, (1, 5): 4.0}
    assert lemica_schedule(weights, 6, 3) == (0, 3, 5)
    # a tie on the worst edge is broken by the next worst: (3, 1) beats (3, 3)
    assert lemica_schedule({**weights, (0, 2): 3.0, (2, 5): 1.0}, 6, 3) == (0, 2, 5)
    # every step computed: the consecutive edges, which reuse nothing
    assert lemica_schedule(weights, 6, 6) == (0, 1, 2, 3, 4, 5)
    with pytest.raises(ValueError, match="no path"):
        lemica_schedule({(0, 2): 1.0}, 6, 2)  # no calibrated segment spans 0 → 5


def test_lemica_dynamic_programme_is_exact():
    rng = np.random.default_rng(0)
    steps = 9
    weights = {e: float(rng.integers(0, 6)) for e in segments(steps, 4)}  # integer weights: many ties
    for nodes in range(3, steps + 1):
        path = lemica_schedule(weights, steps, nodes)
        key = tuple(sorted((weights.get(e, 0.0) for e in zip(path, path[1:])), reverse=True))
        assert len(path) == nodes and key == _brute_force(weights, steps, nodes)[0]


def test_lemica_segments_reach_the_smallest_share():
    assert default_max_gap(20) == 7  # 4 full steps of 20 (share 0.2) need segments of 7
    assert lemica_schedule({e: 1.0 for e in segments(20, default_max_gap(20))}, 20, 4)[-1] == 19
    model = PeerStack(2)
    apply_lemica(model, LeMiCaConfig((0, 3), 4))
    outs = [_call(model, 1 + 0.1 * t, t, 4) for t in range(4)]
    assert _calls(model) == [2, 2] and outs[1] == pytest.approx(1.1 + 3.0)  # step 0's residual, 4·1 − 1
    with pytest.raises(ValueError, match="first and the last"):
        LeMiCaConfig((1, 3), 4)


# --- ERTACache ----------------------------------------------------------------------------------------
def test_ertacache_gain_rectifies_a_known_residual():
    r_cached = torch.tensor([[1.0, 2.0], [3.0, 4.0], [-1.0, 0.5]])  # tokens × channels
    r_true = r_cached * torch.tensor([1.5, 0.5])
    gain = channel_gain(r_true, r_cached)
    torch.testing.assert_close(gain, torch.tensor([1.5, 0.5]))
    torch.testing.assert_close(gain * r_cached, r_true)
    assert channel_gain(r_true, torch.zeros(3, 2)).tolist() == [1.0, 1.0]  # nothing to scale


def test_ertacache_schedule_follows_the_calibrated_errors():
    errors = {(0, 1): 0.05, (0, 2): 0.2, (2, 3): 0.05, (2, 4): 0.1, (2, 5): 0.3, (4, 5): 0.01}
    assert ertacache_schedule(errors, 6, 0.15, 5) == (None, 0, None, 2, 2, None)  # the last step computes
    assert ertacache_schedule(errors, 6, 0.15, 1) == (None, 0, None, 2, None, None)  # segments of at most 1 reuse
    assert ertacache_schedule(errors, 6, 0.0, 5) == (None,) * 6


def test_ertacache_calibration_and_rectified_reuse_on_a_linear_stack():
    # two blocks: residual r = 3x; inputs x_t = (1 + 0.1 t)·v, so r_t = (1 + 0.1t)/(1 + 0.1c)·r_c: the gain
    # reproduces the stock residual, the reused step's output is stock's, and φ = 1
    model = PeerStack(2)
    v = torch.tensor([[1.0, -2.0], [0.5, 3.0]])
    xs = [(1 + 0.1 * t) * v for t in range(6)]

    def run():
        outs = []
        for t, x in enumerate(xs):
            _set_cache_context(model, CacheContext("cond", step_index=t, num_inference_steps=6))
            try:
                outs.append(model(x))
            finally:
                _set_cache_context(model, None)
        return outs

    stock = run()
    calibration = calibrate_ertacache(model, 6, run, max_gap=5)
    assert calibration.errors[(0, 1)] == pytest.approx(0.1 / 1.1, rel=1e-5)  # |r_0 − r_1| / |r_1|
    assert calibration.errors[(2, 4)] == pytest.approx(0.2 / 1.4, rel=1e-5)
    assert calibration.phi[(0, 2)] == pytest.approx(1.0, rel=1e-5)
    torch.testing.assert_close(calibration.gains["cond"][(0, 2)][0], torch.full((2,), 1.2))
    before = _calls(model)
    apply_ertacache(model, ERTACacheConfig(threshold=0.15, calibration=calibration))
    outs = run()
    remove_ertacache(model)
    # computes steps 0, 2 and 5; reuses 1 (from 0), 3 and 4 (from 2)
    assert [a - b for a, b in zip(_calls(model), before)] == [3, 3]
    for out, ref in zip(outs, stock):
        torch.testing.assert_close(out, ref)
    # without the rectification a reused step adds r_c as it was: step 1 gets x_1 + 3·x_0
    apply_ertacache(model, ERTACacheConfig(threshold=0.15, calibration=calibration, rectify=False))
    outs = run()
    remove_ertacache(model)
    torch.testing.assert_close(outs[1], xs[1] + 3 * xs[0])


# --- HiCache ------------------------------------------------------------------------------------------
def test_hicache_hermite_basis_and_its_reduction_to_taylorseer():
    assert [hermite(n, 0.7) for n in range(4)] == pytest.approx([1, 1.4, 4 * 0.49 - 2, 8 * 0.343 - 12 * 0.7])
    s, x = 0.5, 3.0  # dual scaling: σᵏ·Hₖ(σx)/k! = (1, 2σ²x, 2σ⁴x² − σ²)
    assert hermite_coefficients(2, s, x) == pytest.approx((1, 2 * s**2 * x, 2 * s**4 * x**2 - s**2))
    # first order at σ = 1/√2: TaylorSeer's F(s) + k·(F(s) − F(s′))/(s − s′) on every forecast step
    full = HiCacheConfig(num_inference_steps=20, interval=4).full_steps
    assert full == (0, 1, 2, 6, 10, 14, 18)
    for t in (t for t in range(20) if t not in full):
        s_, p = [f for f in full if f < t][-2:][::-1]
        k, g = t - s_, s_ - p
        assert hicache_weights(full, t, 1, 1 / math.sqrt(2), 3) == pytest.approx({s_: 1 + k / g, p: -k / g})


def test_hicache_second_order_forecast_of_a_quadratic_by_hand():
    # F(t) = t², full steps 0, 1, 2, 5: Δ⁰ = 25, Δ¹ = (25 − 4)/3 = 7, Δ¹(2) = 4 − 1 = 3 (step 1 forms none: the
    # reference starts at warmup − 1), Δ² = (7 − 3)/3; at t = 6, σ = 0.5: 25 + 0.5·7 − 1/8·4/3
    w = hicache_weights((0, 1, 2, 5), 6, 2, 0.5, 3)
    assert sum(c * f**2 for f, c in w.items()) == pytest.approx(25 + 3.5 - 1 / 6)
    assert set(w) == {1, 2, 5}  # the last order + 1 full steps


def test_hicache_on_a_stack_is_exact_on_a_line_and_damps_at_small_sigma():
    xs = [1 + 0.1 * t for t in range(8)]  # two blocks: delta 3x, on a line in t
    model = PeerStack(2)
    manager = apply_hicache(model, HiCacheConfig(num_inference_steps=8, interval=3, sigma=1 / math.sqrt(2)))
    outs = [_call(model, x, t, 8) for t, x in enumerate(xs)]
    assert _calls(model) == [4, 4]  # full steps 0, 1, 2, 5
    assert manager._state_cache["cond"].forecast_steps == [3, 4, 6, 7]
    assert outs == pytest.approx([4 * x for x in xs], rel=1e-5)  # Δ² = 0 on a line: order 2 is exact too
    remove_hicache(model)
    apply_hicache(model, HiCacheConfig(num_inference_steps=8, interval=3, order=1, sigma=0.5))
    outs = [_call(model, x, t, 8) for t, x in enumerate(xs)]
    remove_hicache(model)
    assert outs[3] == pytest.approx(1.3 + 3 * 1.2 + 0.5 * 0.3, rel=1e-5)  # 2σ²x = half TaylorSeer's slope
    with pytest.raises(ValueError, match="sigma"):
        HiCacheConfig(num_inference_steps=8, interval=3, sigma=1.5)


# --- FoCa ---------------------------------------------------------------------------------------------
def test_foca_predictor_and_corrector_on_known_trajectories():
    a, b = 0.4, -1.3
    line = [a + b * t for t in range(3)]
    assert bdf2_predict(line[1], line[0], b) == pytest.approx(line[2])  # exact on a line
    assert heun_correct(line[1], line[2], b) == pytest.approx(line[2])
    # BDF2 is second order: exact on a quadratic given the slope at the new point
    assert bdf2_predict(4.0, 1.0, 2 * 3.0) == pytest.approx(9.0)


def test_foca_on_a_stack_integrates_through_the_cached_steps():
    model = PeerStack(1)  # delta = x
    apply_foca(model, FoCaConfig(num_inference_steps=8, interval=3))
    xs = [1 + 0.1 * t for t in range(8)]
    assert [_call(model, x, t, 8) for t, x in enumerate(xs)] == pytest.approx([2 * x for x in xs], rel=1e-5)
    remove_foca(model)
    # x_t = t²: step 3 from 4, 1 with slope 3: P = 16/3 − 1/3 + 2 = 7, F = 4 + (3 + 3)/2 = 7; step 4 rolls on
    # (7, 4): 10; step 5 computes (slope (25 − 4)/3 = 7); step 6 from (25, 10): P = 104/3, F = 25 + (7 + 29/3)/2
    model = PeerStack(1)
    apply_foca(model, FoCaConfig(num_inference_steps=7, interval=3))
    outs = [_call(model, float(t * t), t, 7) for t in range(7)]
    remove_foca(model)
    assert _calls(model) == [4]
    assert outs == pytest.approx([0, 2, 8, 9 + 7, 16 + 10, 50, 36 + 25 + (7 + 29 / 3) / 2], rel=1e-5)


# --- Spectrum -----------------------------------------------------------------------------------------
def test_spectrum_schedule_is_the_reference_one():
    # 50 steps, warm-up 5, N = 2: α = 0.75 gives the reference's 14 full steps, α = 3 its 10
    assert spectrum_schedule(50, 5, 2, 0.75) == (0, 1, 2, 3, 4, 6, 8, 11, 15, 20, 25, 31, 38, 46)
    assert len(spectrum_schedule(50, 5, 2, 3.0)) == 10
    assert spectrum_schedule(8, 2, 1, 0.0) == tuple(range(8))  # gaps of 1: every step computes


def test_spectrum_forecasts_a_chebyshev_trajectory_exactly_as_ridge_vanishes():
    steps, coef = 20, np.array([0.5, -1.0, 0.25, 2.0, -0.75])  # degree 4 in τ = 2t/steps − 1

    def h(t):
        return float(chebyshev_design(np.array([2 * t / steps - 1]), 4)[0] @ coef)

    full = (0, 1, 3, 5, 8, 12)
    for t in (13, 15, 19):
        assert spectrum_weights(full, t, steps, lam=0.0) @ [h(f) for f in full] == pytest.approx(h(t), abs=1e-8)
        assert spectrum_weights(full, t, steps, lam=0.1) @ [h(f) for f in full] != pytest.approx(h(t), abs=1e-3)
    # mix 0: the first-order extrapolation from the last two full steps alone
    assert spectrum_weights(full, 14, steps, mix=0.0) == pytest.approx([0, 0, 0, 0, -0.5, 1.5])


def test_spectrum_on_a_stack_forecasts_the_last_block_output():
    model = PeerStack(1)  # output = 2x; x_t a cubic in t
    steps = 10
    config = SpectrumConfig(num_inference_steps=steps, warmup=5, lam=0.0)
    assert config.full_steps == (0, 1, 2, 3, 4, 6, 8)
    apply_spectrum(model, config)
    xs = [0.3 + 0.2 * t - 0.05 * t**2 + 0.004 * t**3 for t in range(steps)]
    outs = [_call(model, x, t, steps) for t, x in enumerate(xs)]
    remove_spectrum(model)
    assert _calls(model) == [7]
    assert outs == pytest.approx([2 * x for x in xs], rel=1e-4)  # the forecast steps 5, 7, 9 too
    with pytest.raises(ValueError, match="target"):
        SpectrumConfig(num_inference_steps=steps, target="hidden")  # type: ignore[arg-type]


# --- every new adapter really skips on the tiny model ------------------------------------------------
PEER_GEN = GenerationSettings(prompt="a red circle moving right over grass", height=32, width=32, frames=5, steps=6)
AGGRESSIVE = {
    "easycache": {"threshold": 100.0},
    "dicache": {"threshold": 100.0},
    "lemica": {"budget": 0.2},
    "ertacache": {"threshold": 100.0},
    "hicache": {"interval": 6},
    "foca": {"interval": 6},
    "spectrum": {"alpha": 2.0},
}


@pytest.fixture(scope="module")
def peer_baseline(tiny_model):
    with count_self_attention(tiny_model) as counter:
        generate(tiny_model, PEER_GEN)
    return counter[0]


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(AGGRESSIVE))
def test_peer_adapter_skips_at_aggressive_setting(tiny_model, peer_baseline, name):
    method = METHODS[name]
    ctx = RunContext(tiny_model, PEER_GEN, None, lambda on_last: generate(tiny_model, PEER_GEN))
    method.check(ctx)
    if method.calibrate is not None:
        method.calibrate(ctx)
    method.apply(ctx, AGGRESSIVE[name])
    try:
        with count_self_attention(tiny_model) as counter:
            frames = generate(tiny_model, PEER_GEN).frames
    finally:
        method.remove(ctx)
    share = counter[0] / peer_baseline
    assert 0 < share < 1, f"{name} computed {share:.3f}"
    assert frames.shape == (1, 5, 32, 32, 3)
    with count_self_attention(tiny_model) as counter:  # removal restores stock sampling
        generate(tiny_model, PEER_GEN)
    assert counter[0] == peer_baseline


def test_bench_lists_the_new_peers(cli):
    out = cli("bench", "--list").output
    for name in ("easycache", "dicache", "lemica", "ertacache", "hicache", "foca", "spectrum"):
        assert f"\n{name}\t" in out


# --- the report: PSNR cap and same plans ---------------------------------------------------------------
def _run(method, setting, psnr, prompt="p", seed=1, share=0.5, ssim=0.9):
    return dict(method=method, setting=setting, params={}, prompt=prompt, seed=seed, status="ok", psnr=psnr,
                ssim=ssim, computed_share=share, temporal_error=0.01, motion_ratio=1.0, transformer_s=1.0,
                wall_s=1.0, transformer_speedup=2.0, wall_speedup=1.5, judge_passed=None)


def test_report_caps_only_identical_frames():
    runs = [_run("magcache", "t", 70.0, seed=1), _run("magcache", "t", 50.0, seed=2),
            _run("teacache", "t", math.inf, seed=1), _run("teacache", "t", 70.0, seed=2),
            _run("pab", "t", math.inf, seed=1), _run("pab", "t", math.inf, seed=2)]
    rows = {r["method"]: r for r in summarize(runs)}
    assert rows["magcache"]["psnr"] == pytest.approx(60.0)  # 70 counts as 70 (was capped to 60: 55)
    assert rows["teacache"]["psnr"] == pytest.approx((PSNR_IDENTICAL_DB + 70.0) / 2)
    assert rows["teacache"]["identical_cases"] == 1 and math.isinf(rows["pab"]["psnr"])


def test_report_shows_settings_that_ran_the_same_plan_once():
    runs = []
    for method, psnrs in (("profiling-dit-paper", (30.0, 31.0)), ("profiling-dit-foreground", (20.0, 21.0)),
                          ("profiling-dit-inverse", (30.0, 31.0)), ("profiling-dit-average", (30.0, 31.0)),
                          ("magcache", (30.0, 31.0))):
        runs += [_run(method, "background_share=0.75", p, seed=s) for s, p in zip((1, 2), psnrs)]
    runs += [_run("profiling-dit-average", "background_share=0.5", 30.0, seed=1),  # equal on one case only
             _run("profiling-dit-average", "background_share=0.5", 33.0, seed=2)]
    summary = summarize(runs)
    by = {(r["method"], r["setting"]): r for r in summary}
    paper = by[("profiling-dit-paper", "background_share=0.75")]
    assert paper["same_plan"] == ["profiling-dit-inverse (background_share=0.75)",
                                  "profiling-dit-average (background_share=0.75)"]
    assert by[("profiling-dit-average", "background_share=0.75")]["same_plan_as"] == \
        "profiling-dit-paper (background_share=0.75)"
    assert "same_plan_as" not in by[("profiling-dit-average", "background_share=0.5")]
    assert "same_plan_as" not in by[("magcache", "background_share=0.75")]  # another family: its own row
    shown = table({"summary": summary, "not_applicable": {}})
    assert [r[0] for r in shown] == ["profiling-dit-paper", "profiling-dit-foreground", "magcache",
                                     "profiling-dit-average"]
    assert "same plan as profiling-dit-inverse (background_share=0.75), profiling-dit-average" in shown[0][-1]


def test_every_method_plots_in_its_own_colour():
    from profiling_dit.bench.methods import METHODS, Method, color, noop

    colours = [m.color for m in METHODS.values()]
    assert len(set(colours)) == len(colours)
    assert color("profiling-dit") == METHODS["profiling-dit"].color and color("gone-from-the-registry") == "#7f7f7f"
    with pytest.raises(TypeError, match="color"):  # a new peer names its colour, or it does not register
        Method("new-peer", "new", {}, ({},), noop, noop)  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="hex RGB"):
        Method("new-peer", "new", {}, ({},), noop, noop, color="black")
