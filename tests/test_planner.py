"""The planner and calibration: plans within budget, exact where they compute everything, optimal for their
cost, v1 profiles still usable, calibrated profiles round-tripping."""

from __future__ import annotations

import itertools
import json
import math
import warnings
from pathlib import Path

import numpy as np
import pytest

from profiling_dit.caching.planner import _place_full_steps, budget_for_speedup, plan_for_budget, segment_costs
from profiling_dit.caching.policy import make_plan
from profiling_dit.plan import Plan, map_full_steps
from profiling_dit.errors import BudgetOutOfReachError, InvalidSettingError, ProfileError
from profiling_dit.profile.file import Profile, Staleness, StalenessSet, shipped_profile

V1 = Path(__file__).parent / "data" / "profile-v1.json"


def _table(n=4, steps=10, gap=4, seed=0) -> Staleness:
    """A made-up staleness table: errors grow with the gap and shrink along the run."""
    rng = np.random.default_rng(seed)
    sets = []
    for k in range(1, n + 1):
        err = [[(k ** 0.5) * g * (1.0 + (steps - s) / steps) * (1 + 0.1 * rng.random()) if s + g < steps else None
                for g in range(1, gap + 1)] for s in range(steps)]
        sets.append(StalenessSet(k, err, [10.0] * steps))
    return Staleness("guided-delta-l2", 16, gap, tuple(range(n)), tuple(sets), None)


@pytest.mark.parametrize("steps", [6, 10, 20, 30, 50])
@pytest.mark.parametrize("budget", [0.2, 0.35, 0.5, 0.62, 0.75, 0.9, 0.99])
def test_planner_never_exceeds_its_budget(steps, budget):
    try:
        plan = plan_for_budget(_table(), 4, steps, budget)
    except BudgetOutOfReachError as e:  # a budget too low for the measured gaps says so, and what can be met
        assert e.lowest > budget and f"raise `budget` to {e.lowest:g}" in str(e)
        assert plan_for_budget(_table(), 4, steps, e.lowest).computed_share <= e.lowest + 1e-9
        return
    assert plan.computed_share <= budget + 1e-9
    assert plan.full_steps[0] == 0 and plan.full_steps[-1] == steps - 1
    config = Plan(num_blocks=4, steps=steps, cached_blocks=plan.cached_blocks, full_steps=plan.full_steps)
    assert abs(config.mask().mean() - plan.computed_share) < 1e-9
    gaps = np.diff(plan.full_steps)
    # never reuses a delta longer than was measured: 4 steps of the 10-step table, scaled to this step count
    assert gaps.max() - 1 <= 4 * (steps - 1) / 9 + 1e-9


def test_dynamic_program_is_optimal():
    rng = np.random.default_rng(1)
    steps = 9
    err = rng.random((steps, steps)) * 10
    w = np.ones(steps)
    cost = segment_costs(err, w)
    for count in range(2, steps + 1):
        value, full = _place_full_steps(cost, count, 1)
        best = min(
            (sum(err[max(f for f in (0, *mid) if f < t), t] for t in range(steps) if t not in (0, *mid, steps - 1)),
             (0, *mid, steps - 1))
            for mid in itertools.combinations(range(1, steps - 1), count - 2))
        assert value == pytest.approx(best[0]) and full == tuple(sorted(best[1]))


def test_budget_one_is_bit_identical_to_stock(tiny_model):
    import profiling_dit as pdit

    gen = pdit.GenerationSettings(prompt="a red ball", steps=6, height=32, width=32, frames=5)
    stock = pdit.generate(tiny_model, gen).frames
    profile = Profile.load(shipped_profile("tiny"))
    configs = pdit.apply(tiny_model.pipe, profile, budget=1.0)
    try:
        assert configs["transformer"].mask().all()
        cached = pdit.generate(tiny_model, gen).frames
    finally:
        pdit.remove(tiny_model.pipe)
    assert np.array_equal(cached, stock)


def test_shipped_profile_plans_for_every_budget_and_step_count():
    profile = Profile.load(shipped_profile("tiny"))
    assert profile.schema_version == 2 and profile.blocks.staleness is not None
    assert profile.run.block_time_share and 0.5 < profile.run.block_time_share <= 1
    for steps in (10, 20, 30, 50):
        for budget in (0.35, 0.5, 0.75):
            config = make_plan(profile, steps=steps, budget=budget)
            assert config.mask().mean() <= budget + 1e-9
            assert config.mask()[-1].all()


def test_calibrated_plans_are_used_at_their_budget_and_steps():
    profile = Profile.load(shipped_profile("tiny"))
    assert profile.plans, "the shipped profile is calibrated (make profile-tiny)"
    entry = profile.plans[0]
    plan = entry.plan
    config = make_plan(profile, steps=plan.steps, budget=entry.budget)
    assert config.full_steps == plan.full_steps and config.cached_blocks == plan.cached_blocks
    assert config.origin.startswith("calibrated")
    other = make_plan(profile, steps=plan.steps + 10, budget=entry.budget)  # another step count: mapped, within budget
    assert "mapped to 30" in other.origin and other.mask().mean() <= entry.budget + 1e-9
    uncalibrated = make_plan(profile, steps=plan.steps, budget=0.62)
    assert uncalibrated.origin.startswith("planned")
    # the profile's measurements alone, its calibrated plans left out: the planner's plan for the same budget
    alone = make_plan(profile, steps=plan.steps, budget=entry.budget, calibrated=False)
    planner = plan_for_budget(profile.blocks.staleness, profile.model.num_blocks, plan.steps, entry.budget)
    assert alone.origin.startswith("planned") and (alone.cached_blocks, alone.full_steps) == (
        planner.cached_blocks, planner.full_steps)
    assert (alone.cached_blocks, alone.full_steps) != (plan.cached_blocks, plan.full_steps)


def test_calibrated_profile_round_trips(tmp_path):
    profile = Profile.load(shipped_profile("tiny"))
    profile.save(tmp_path / "p.json", pictures=False)
    again = Profile.load(tmp_path / "p.json")
    assert again == profile and again.plans == profile.plans


def test_version_1_profile_loads_and_falls_back_to_the_paper_schedule():
    v1 = Profile.load(V1)
    assert v1.schema_version == 1 and v1.blocks.staleness is None
    with pytest.warns(UserWarning, match="paper's schedule"):
        config = make_plan(v1, steps=20)
    assert config.full_step_mask() == [True] * 6 + [False] * 5 + [True] + [False] * 5 + [True, False, True]
    with pytest.raises(ProfileError, match="no staleness table"):
        make_plan(v1, budget=0.5)


def test_schedule_paper_reproduces_the_old_plans():
    v2 = Profile.load(shipped_profile("tiny"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        old = make_plan(Profile.load(V1), steps=30)
    paper = make_plan(v2, steps=30, schedule="paper")
    assert v2.split == Profile.load(V1).split and v2.schedule == Profile.load(V1).schedule
    assert paper.full_step_mask() == old.full_step_mask()
    assert paper.cached_blocks == old.cached_blocks


def test_speedup_turns_into_a_budget():
    assert budget_for_speedup(2.0, 1.0) == pytest.approx(0.5)
    assert budget_for_speedup(2.0, 0.9) == pytest.approx((0.5 - 0.1) / 0.9)
    with pytest.raises(InvalidSettingError, match="out of reach"):
        budget_for_speedup(20.0, 0.9)
    profile = Profile.load(shipped_profile("tiny"))
    config = make_plan(profile, steps=20, speedup=1.5)
    beta = profile.run.block_time_share
    assert 1 / ((1 - beta) + beta * config.mask().mean()) >= 1.5 - 1e-9


def test_map_full_steps_keeps_the_share_and_the_ends():
    full = (0, 1, 2, 4, 7, 11, 15, 19)
    for new in (10, 20, 30, 50):
        mapped = map_full_steps(full, 20, new)
        assert mapped[0] == 0 and mapped[-1] == new - 1
        assert abs(len(mapped) / new - len(full) / 20) <= 1 / new + 1e-9


def test_calibration_keeps_to_its_generations(tmp_path, saved_tiny_dir):
    import profiling_dit as pdit
    from profiling_dit.caching.calibrate import calibrate

    model = pdit.load_pipeline(str(saved_tiny_dir), device="cpu")
    profile = pdit.profile_model(model, ["a red ball"], steps=6, height=32, width=32, frames=5)
    seen = []
    calibrated = calibrate(model, profile, budgets=(0.5, 0.7), max_generations=9,
                           on_generation=lambda i, n, what: seen.append(i))
    assert len(seen) <= 9 and seen[-1] == len(seen)
    assert [p.budget for p in calibrated.plans] == [0.5, 0.7]
    for p in calibrated.plans:
        assert p.plan.computed_share <= p.budget + 1e-9 and p.plan.full_steps[0] == 0
    calibrated.save(tmp_path / "c.json", pictures=False)
    assert Profile.load(tmp_path / "c.json").plans == calibrated.plans
    config = make_plan(calibrated, steps=6, budget=0.5)
    assert config.origin.startswith("calibrated")


def test_calibration_scores_every_prompt_at_the_reduced_size_and_never_worsens_with_budget(saved_tiny_dir,
                                                                                          monkeypatch):
    import profiling_dit as pdit
    from profiling_dit.caching import calibrate as module
    from profiling_dit.caching.calibrate import calibrate, calibration_cost

    model = pdit.load_pipeline(str(saved_tiny_dir), device="cpu")
    prompts = ["a red ball", "a blue cube"]
    profile = pdit.profile_model(model, prompts, steps=8, height=64, width=32, frames=9)
    seen: list[tuple] = []
    for name in ("generate", "generate_cached"):
        real = getattr(module, name)

        def spy(model, gen, *rest, _real=real, **kw):
            seen.append((gen.prompt, gen.frames, gen.height, gen.width))
            return _real(model, gen, *rest, **kw)

        monkeypatch.setattr(module, name, spy)
    budgets = (0.4, 0.5, 0.6, 0.7)
    calibrated = calibrate(model, profile, budgets=budgets, max_generations=30, scale=0.5, progress=False)
    assert {s[1:] for s in seen} == {(5, 32, 16)}  # half the sides, frames 4k+1 with half the k
    assert len(seen) <= 30 and [s[0] for s in seen[:2]] == prompts
    assert sorted(s[0] for s in seen) == sorted(prompts * (len(seen) // 2))  # every candidate on both prompts
    scores = [p.calibration_psnr_db if p.calibration_psnr_db is not None else math.inf for p in calibrated.plans]
    assert scores == sorted(scores), "a larger budget may keep the plan below it, so it never scores lower"
    assert {(p.calibration_prompts, p.calibration_size) for p in calibrated.plans} == {(2, (5, 32, 16))}
    cost = calibration_cost(calibrated)
    assert cost["generations"] == len(seen) and cost["size"] == (5, 32, 16) and cost["profiled_size"] == (9, 64, 32)
    assert cost["pixel_share"] == pytest.approx(5 * 32 * 16 / (9 * 64 * 32))
    with pytest.raises(InvalidSettingError, match="at least 18"):
        calibrate(model, profile, budgets=budgets, max_generations=17, scale=0.5, progress=False)
    seen.clear()
    calibrate(model, profile, budgets=budgets, max_generations=18, scale=0.5, progress=False)
    assert len(seen) <= 18  # the fewest allowed still keeps to them


def test_segment_paths_least_sum_and_lowest_worst_case():
    from profiling_dit.caching.planner import min_sum_path, minimax_path

    # 6 steps, 3 full steps 0 → a → 5: sums a=1: 4, a=2: 6, a=3: 6, a=4: 4.5; worst edges 4, 5, 3, 4.5
    weights = {(0, 2): 1.0, (2, 5): 5.0, (0, 3): 3.0, (3, 5): 3.0, (0, 4): 4.5, (1, 5): 4.0}
    assert min_sum_path(weights, 6, 3) == (0, 1, 5)
    assert minimax_path(weights, 6, 3) == (0, 3, 5)
    assert min_sum_path(weights, 6, 6) == minimax_path(weights, 6, 6) == (0, 1, 2, 3, 4, 5)
    with pytest.raises(ValueError, match="no path"):
        min_sum_path({(0, 2): 1.0}, 6, 2)


def test_segment_search_measures_each_segment_once_and_tries_its_paths(saved_tiny_dir, monkeypatch):
    import profiling_dit as pdit
    from profiling_dit.caching import calibrate as module
    from profiling_dit.caching.calibrate import calibrate, calibration_cost, segment_count, segment_gap
    from profiling_dit.caching.planner import full_step_count, min_sum_path, minimax_path

    model = pdit.load_pipeline(str(saved_tiny_dir), device="cpu")
    prompts = ["a red ball", "a blue cube"]
    steps, budgets = 8, (0.5, 0.7)
    profile = pdit.profile_model(model, prompts, steps=steps, height=32, width=32, frames=5)
    gap = segment_gap(steps, budgets, profile.blocks.staleness.max_gap)
    n = profile.model.num_blocks
    seen: list[tuple] = []
    real = module.generate_cached

    def spy(model, gen, plans, *rest, **kw):
        plan = plans["transformer"]
        seen.append((gen.prompt, plan.cached_blocks, plan.full_steps))
        return real(model, gen, plans, *rest, **kw)

    monkeypatch.setattr(module, "generate_cached", spy)
    # a known error per segment: long segments and those starting early cost more, so the paths are known
    errors = iter([])

    def known(reference, frames):
        i, j = next(errors)
        return (j - i) ** 2 / (1 + i)

    monkeypatch.setattr(module, "_squared_error", known)
    count = segment_count(steps, budgets, profile.blocks.staleness.max_gap)
    segments = [(i, j) for i in range(steps) for j in range(i + 2, min(i + gap, steps - 1) + 1)]
    assert len(segments) == count
    errors = iter(segments)
    least = count + 2 * (1 + 2 * len(budgets))
    with pytest.raises(InvalidSettingError, match=f"at least {least}"):
        calibrate(model, profile, budgets=budgets, max_generations=least - 1, segment_search=True, progress=False)
    calibrated = calibrate(model, profile, budgets=budgets, max_generations=least + 8, segment_search=True,
                           progress=False)
    measured = seen[:count]
    assert all(p == prompts[0] and cached == tuple(range(n)) for p, cached, _ in measured)  # the first prompt only
    assert [tuple(t for t in range(steps) if t not in full) for _, _, full in measured] == [
        tuple(range(i + 1, j)) for i, j in segments]  # one segment reused per generation, each once
    weights = {(i, j): (j - i) ** 2 / (1 + i) for i, j in segments}
    scored = {(cached, full) for _, cached, full in seen[count:]}
    for budget in budgets:
        nodes = full_step_count(budget, steps, n, n)
        for path in (min_sum_path(weights, steps, nodes), minimax_path(weights, steps, nodes)):
            assert (tuple(range(n)), path) in scored  # tried for this budget, on both prompts
            assert sum(1 for p, c, f in seen[count:] if (c, f) == (tuple(range(n)), path)) == 2
    assert len(seen) + 2 <= least + 8
    assert {p.segment_generations for p in calibrated.plans} == {count}
    assert calibration_cost(calibrated)["generations"] == len(seen) + 2  # the stock runs go through `generate`
    # left to itself, calibration runs the segment search when it leaves four candidates a budget after it
    enough = count + 2 * (1 + 4 * len(budgets))
    errors = iter(segments)
    assert {p.segment_generations for p in calibrate(model, profile, budgets, enough, progress=False).plans} == {count}
    assert {p.segment_generations for p in calibrate(model, profile, budgets, enough - 1, progress=False).plans} == {0}


def test_a_smaller_budgets_plan_grows_into_the_gaps():
    from profiling_dit.caching.calibrate import _grown

    plan = Plan(num_blocks=4, steps=20, cached_blocks=(0, 1, 2, 3), full_steps=(0, 1, 8, 11, 19))
    assert _grown(plan, 0.25) is plan  # already at its budget
    assert _grown(plan, 0.3).full_steps == (0, 1, 8, 11, 15, 19)  # the widest gap, 11 → 19, split first
    assert _grown(plan, 0.35).full_steps == (0, 1, 4, 8, 11, 15, 19)
    grown = _grown(plan, 0.5)
    assert grown.computed_share <= 0.5 + 1e-9 and set(plan.full_steps) <= set(grown.full_steps)
    assert len(_grown(plan, 0.99).full_steps) == 19 and _grown(plan, 1.0).full_steps == tuple(range(20))


def test_noise_power_weighs_each_step_by_its_noise_level_and_its_plans_are_candidates():
    from profiling_dit.caching.calibrate import PLANNER_VARIANTS, _candidates
    from profiling_dit.caching.planner import StalenessModel, find_plan

    table = Profile.load(shipped_profile("tiny")).blocks.staleness
    model = StalenessModel(table, 8)
    sigma = np.interp(np.linspace(0, 1, 21), np.linspace(0, 1, len(table.sigmas)), table.sigmas)[:-1]
    assert np.allclose(model.weights(20, -0.5), model.weights(20) * np.maximum(sigma, 1e-3) ** -0.5)
    assert np.array_equal(model.weights(20, 0.0), model.weights(20))
    assert find_plan(table, 8, 20, 0.5, noise_power=0.0) == find_plan(table, 8, 20, 0.5)
    early, late = (find_plan(table, 8, 20, 0.5, noise_power=g) for g in (2.0, -2.0))
    assert early.full_steps != late.full_steps  # the weight moves the full steps
    assert sum(early.full_steps) < sum(late.full_steps)  # early steps weighing more: full steps come earlier
    # calibration tries the planner's plan first, then each variant's, then the second cached-set size
    candidates = _candidates(table, 8, 20, 0.6, {}, None)
    wanted = [find_plan(table, 8, 20, 0.6)] + [find_plan(table, 8, 20, 0.6, **v) for v in PLANNER_VARIANTS]
    assert candidates[:len(wanted)] == wanted
    assert find_plan(table, 8, 20, 0.6, final_full_steps=2).full_steps[-2:] == (18, 19)


def test_calibration_size_keeps_to_the_model_size_rules():
    from profiling_dit.caching.calibrate import calibration_size
    from profiling_dit.models import arch_for_class_name

    wan = arch_for_class_name("WanTransformer3DModel")
    assert calibration_size(17, 128, 128, wan, 0.5) == (9, 64, 64)
    assert calibration_size(81, 480, 832, wan, 0.5) == (41, 240, 416)
    assert calibration_size(17, 128, 128, wan, 1.0) == (17, 128, 128)
    assert calibration_size(5, 16, 16, wan, 0.25) == (5, 16, 16)  # never under one unit
    with pytest.raises(InvalidSettingError, match="scale"):
        calibration_size(17, 128, 128, wan, 0)


def test_cli_plan_is_a_dry_run(cli):
    res = cli("plan", "--profile", shipped_profile("tiny"), "--budget", "0.5", "--steps", 30)
    assert res.exit_code == 0, res.output
    assert "budget 0.5" in res.output and "implied transformer speedup" in res.output
    res = cli("plan", "--profile", shipped_profile("tiny"), "--schedule", "paper")
    assert res.exit_code == 0 and "the paper's schedule" in res.output
    res = cli("plan", "--profile", shipped_profile("tiny"), "--budget", "1.5")
    assert res.exit_code == 2 and "--budget" in res.output


@pytest.mark.slow
def test_cli_generate_with_budget_reports_the_plan(cli, tmp_path):
    report = tmp_path / "r.json"
    res = cli("generate", "--profile", shipped_profile("tiny"), "--prompt", "a red ball", "--budget", "0.4",
              "--steps", 10, "--height", 32, "--width", 32, "--frames", 5, "--out", tmp_path / "v.npy",
              "--report", report)
    assert res.exit_code == 0, res.output
    plan = json.loads(report.read_text())["profiling_dit"]
    assert plan["computed_share"] <= 0.4 + 1e-9 and "budget 0.4" in plan["origin"]
    assert plan["cached_blocks"] and plan["predicted_error"] is not None


def test_plans_that_cannot_be_made_are_one_line_errors():
    profile = Profile.load(shipped_profile("tiny"))
    with pytest.raises(InvalidSettingError, match="no block to cache"):
        make_plan(profile, background_share=0.0)
    with pytest.raises(InvalidSettingError, match="one or the other"):
        make_plan(profile, warmup=2, budget=0.4)
    with pytest.raises(InvalidSettingError, match="raise `budget`"):
        make_plan(profile, budget=0.05)


@pytest.mark.parametrize("steps", [4, 6, 8, 20])
def test_a_budget_out_of_reach_names_the_nearest_budget_that_is_met(steps):
    """At few steps (distilled models run 4 to 8) the first and last steps alone are a large share: a budget below
    what any plan reaches is refused with the lowest one that is, and that one plans."""
    profile = Profile.load(shipped_profile("tiny"))
    lowest = {}
    for calibrated in (True, False):  # its calibrated plans, mapped to this count, may reach lower than the planner
        with pytest.raises(BudgetOutOfReachError) as caught:
            make_plan(profile, steps, budget=0.05, calibrated=calibrated)
        low = lowest[calibrated] = caught.value.lowest
        assert f"the lowest budget that can be met is {low:g}" in str(caught.value)
        assert make_plan(profile, steps, budget=low, calibrated=calibrated).computed_share <= low + 1e-9
        with pytest.raises(BudgetOutOfReachError):
            make_plan(profile, steps, budget=low - 0.01, calibrated=calibrated)
    assert lowest[True] <= lowest[False]


def test_final_full_steps_hold_for_planned_plans():
    profile = Profile.load(shipped_profile("tiny"))
    for final in (1, 3):
        plan = make_plan(profile, 10, budget=0.6, final_full_steps=final)
        assert set(range(10 - final, 10)) <= set(plan.full_steps)
        assert plan.computed_share <= 0.6 + 1e-9


def test_calibration_refuses_a_budget_no_plan_meets(saved_tiny_dir):
    import profiling_dit as pdit
    from profiling_dit.caching.calibrate import calibrate

    model = pdit.load_pipeline(str(saved_tiny_dir), device="cpu")
    profile = pdit.profile_model(model, ["a red ball"], steps=4, height=32, width=32, frames=5)
    with pytest.raises(BudgetOutOfReachError, match="lowest budget that can be met is 0.5 .*raise the lowest of"):
        calibrate(model, profile, budgets=(0.05,), max_generations=3)


def test_greedy_order_adds_the_block_that_adds_the_least_error():
    from profiling_dit.profile.staleness import greedy_order

    # block 2 barely changes; blocks 0 and 1 change a lot but cancel each other; block 3 changes most
    rng = np.random.default_rng(0)
    grams = []
    for _ in range(2):  # two profiled prompts
        gram = {}
        for s in range(6):
            for g in (1, 2):
                d = rng.normal(size=8) * g
                vecs = np.stack([d, -d + 0.01 * rng.normal(size=8), 0.1 * rng.normal(size=8), 3 * rng.normal(size=8)])
                gram[(s, s + g)] = vecs @ vecs.T
        grams.append(gram)
    order = greedy_order(grams, range(6), 2)
    assert order[0] == 2 and order[-1] == 3 and set(order[1:3]) == {0, 1}
    with pytest.raises(ValueError):
        greedy_order([{}], range(6), 2)


@pytest.mark.slow
def test_a_profile_can_rank_the_planners_sets_by_staleness(tmp_path, saved_tiny_dir, cli):
    import profiling_dit as pdit

    model = pdit.load_pipeline(str(saved_tiny_dir), device="cpu")
    kw = dict(steps=6, height=32, width=32, frames=5)
    by_r_attn = pdit.profile_model(model, ["a red ball"], **kw)
    by_staleness = pdit.profile_model(model, ["a red ball"], pdit.ProfileSettings(set_ranking="staleness"), **kw)
    # the same measurement: the paper's split is the same, only the planner's order differs
    assert by_staleness.split == by_r_attn.split
    assert by_r_attn.blocks.staleness.ranking == "r_attn" and by_staleness.blocks.staleness.ranking == "staleness"
    assert by_r_attn.blocks.staleness.order == tuple(int(i) for i in np.argsort(by_r_attn.block_scores, kind="stable"))
    errors = [np.nansum(np.array(s.error, dtype=float)) for s in by_staleness.blocks.staleness.sets]
    r_errors = [np.nansum(np.array(s.error, dtype=float)) for s in by_r_attn.blocks.staleness.sets]
    assert errors[0] <= r_errors[0] + 1e-9  # the greedy first block is the cheapest one
    by_staleness.save(tmp_path / "s.json", pictures=False)
    loaded = Profile.load(tmp_path / "s.json")
    assert loaded.blocks.staleness.ranking == "staleness"
    order = loaded.blocks.staleness.order
    config = make_plan(loaded, budget=0.6)
    assert set(config.cached_blocks) == set(order[:len(config.cached_blocks)])
    with pytest.raises(InvalidSettingError, match="set_ranking"):
        pdit.ProfileSettings(set_ranking="random")
    res = cli("profile", "--model", str(saved_tiny_dir), "--prompt", "a red ball", "--steps", 4, "--height", 32,
              "--width", 32, "--frames", 5, "--set-ranking", "staleness", "--out", tmp_path / "cli.json")
    assert res.exit_code == 0, res.output
    assert json.loads((tmp_path / "cli.json").read_text())["staleness"]["ranking"] == "staleness"


def test_the_deep_models_shipped_profile_fits_it_and_plans_from_measured_errors():
    import profiling_dit as pdit
    from profiling_dit.pipeline.loading import resolve_model

    profile = pdit.Profile.load(pdit.shipped_profile("tiny-deep"))
    profile.check_fits(resolve_model("tiny-deep"))
    assert profile.model.num_blocks >= 20
    staleness = profile.blocks.staleness
    # `make paper-claim` measured the R_attn ranking's sets ahead of the staleness ranking's on this model, so its
    # sets grow lowest R_attn first
    assert staleness.ranking == "r_attn" and sorted(staleness.order) == list(range(profile.model.num_blocks))
    scores = profile.blocks.block_scores
    assert [scores[b] for b in staleness.order] == sorted(scores)
    assert profile.plans  # calibrated
    for budget in (0.3, 0.5, 0.75):
        config = make_plan(profile, budget=budget)
        assert config.origin.startswith("calibrated")
        assert float(config.mask().mean()) <= budget + 1e-9
        k = len(config.cached_blocks)
        assert set(config.cached_blocks) == set(staleness.order[:k])
    # the paper's schedule still caches the R_attn background blocks
    assert make_plan(profile, schedule="paper").cached_blocks == tuple(profile.split.background_blocks)


def test_values_a_plan_cannot_honour_are_refused_not_ignored():
    profile = Profile.load(shipped_profile("tiny"))
    with pytest.raises(InvalidSettingError, match="in 2 steps"):  # was: silently 100% computed
        make_plan(profile, steps=2, budget=0.1)
    assert make_plan(profile, steps=2, budget=1).computed_share == 1.0
    with pytest.raises(InvalidSettingError, match="final_full_steps"):
        make_plan(profile, budget=0.5, final_full_steps=999)
    with pytest.raises(InvalidSettingError, match="steps"):  # was: minutes of planning
        make_plan(profile, steps=100_000)
    for bad in (float("nan"), float("inf"), -1.0, True):
        with pytest.raises(InvalidSettingError, match="speedup"):
            make_plan(profile, speedup=bad)
        with pytest.raises(InvalidSettingError, match="budget"):
            make_plan(profile, budget=bad)


@pytest.mark.slow
def test_two_expert_calibration_scores_each_experts_plan_on_the_finished_video(tmp_path, monkeypatch):
    """Wan2.2 A14B's two experts: a plan per expert and budget, every candidate generated with both experts'
    plans in place (the hand-over included), the pair never below the planner's pair, and used by ``make_plans``."""
    import profiling_dit as pdit
    import tiny_models as tm
    from profiling_dit.caching import calibrate as module
    from profiling_dit.caching.calibrate import calibrate, calibration_cost
    from profiling_dit.caching.sampling import generate_cached
    from profiling_dit.metrics import psnr
    from profiling_dit.pipeline.generation import GenerationSettings, generate

    model = pdit.load_pipeline(str(tm.save(tm.wan22_pipeline(), tmp_path / "wan22", steps=8)), device="cpu")
    profile = pdit.profile_model(model, ["a red ball"], steps=8, height=32, width=32, frames=5, progress=False)
    with pytest.raises(InvalidSettingError, match="at least 5 .* a budget and expert"):
        calibrate(model, profile, budgets=(0.5,), max_generations=4, progress=False)
    seen: list[dict] = []
    real = module.generate_cached

    def spy(model, gen, plans, **kw):
        seen.append(plans)
        return real(model, gen, plans, **kw)

    monkeypatch.setattr(module, "generate_cached", spy)
    calibrated = calibrate(model, profile, budgets=(0.5,), max_generations=12, segment_search=False, progress=False)
    assert seen and all(set(p) == {"transformer", "transformer_2"} for p in seen)
    assert {p["transformer"].step_range for p in seen} == {(0, 4)} and {p["transformer_2"].step_range for p in seen} \
        == {(4, 8)}
    assert len(seen) + 1 <= 12
    entries = {p.component: p for p in calibrated.plans}
    assert set(entries) == {"transformer", "transformer_2"}
    for entry in entries.values():
        assert entry.budget == 0.5 and entry.steps == 4 and entry.plan.computed_share <= 0.5 + 1e-9
    assert calibration_cost(calibrated)["generations"] == len(seen) + 1
    # the stored score is the finished video's with both plans; it is at least the planner's pair's
    settings = GenerationSettings(prompt="a red ball", steps=8, height=32, width=32, frames=5, seed=profile.run.seed,
                                  guidance=profile.run.guidance, negative_prompt=profile.run.negative_prompt)
    stock = generate(model, settings).frames
    plans = pdit.make_plans(model, calibrated, 8, budget=0.5)
    assert all(p.origin.startswith("calibrated") for p in plans.values())
    ours = psnr(stock, generate_cached(model, settings, plans)[0].frames)
    planner = psnr(stock, generate_cached(model, settings, pdit.make_plans(model, profile, 8, budget=0.5))[0].frames)
    assert ours == pytest.approx(entries["transformer"].calibration_psnr_db, abs=1e-6)
    assert ours == pytest.approx(entries["transformer_2"].calibration_psnr_db, abs=1e-6)
    assert ours >= planner - 1e-6
    calibrated.save(tmp_path / "c.json", pictures=False)
    assert Profile.load(tmp_path / "c.json").plans == calibrated.plans
    # the segment search measures each expert's segments with the other expert computing every step
    seen.clear()
    searched = calibrate(model, profile, budgets=(0.5,), max_generations=11, segment_search=True, progress=False)
    for plans in seen[:6]:  # 3 segments of 4 steps each (0 → 2, 0 → 3, 1 → 3)
        shares = sorted(p.computed_share for p in plans.values())
        assert shares[0] < 1 and shares[1] == 1
    assert [name for plans in seen[:6] for name, p in plans.items() if p.computed_share < 1] == \
        ["transformer"] * 3 + ["transformer_2"] * 3
    assert {p.segment_generations for p in searched.plans} == {6}
