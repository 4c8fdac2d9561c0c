import json
import math

import numpy as np
import pytest

from profiling_dit.bench.runner import BenchSettings, count_self_attention
from profiling_dit.pipeline.generation import GenerationSettings, generate
from profiling_dit.metrics import motion_ratio, psnr, ssim, temporal_error
from profiling_dit.bench.methods import METHODS, NotApplicable, RunContext
from profiling_dit.bench.methods.teacache import fit_teacache_polynomial
from profiling_dit.profile.file import load_profile, shipped_profile

TINY_GEN = GenerationSettings(prompt="a red ball", height=32, width=32, frames=5, steps=8)


# --- metrics on hand-made frames ---------------------------------------------------------------
def test_identical_frames():
    f = np.random.default_rng(0).integers(0, 256, (1, 4, 16, 16, 3), dtype=np.uint8)
    assert math.isinf(psnr(f, f)) and ssim(f, f) == pytest.approx(1.0)
    assert temporal_error(f[0], f[0]) == 0.0 and motion_ratio(f[0], f[0]) == pytest.approx(1.0)


def test_known_shift_gives_known_psnr():
    a = np.full((3, 8, 8, 3), 100, np.uint8)
    b = a + 10  # MSE = 100
    assert psnr(a, b) == pytest.approx(10 * math.log10(255 ** 2 / 100))
    assert temporal_error(a, b) == 0.0  # a constant shift does not change motion


def test_lost_motion_shows_in_temporal_measures():
    ref = np.zeros((3, 4, 4, 3), np.uint8)
    ref[1] = 30
    ref[2] = 60
    frozen = np.repeat(ref[:1], 3, axis=0)
    assert motion_ratio(ref, frozen) == 0.0
    assert temporal_error(ref, frozen) == pytest.approx(30 / 255)


def test_teacache_polynomial_fit_recovers_a_known_curve():
    xs = np.linspace(0.01, 0.5, 12)
    coeffs = fit_teacache_polynomial([(x, 2 * x * x + 0.5 * x + 0.01) for x in xs], degree=2)
    np.testing.assert_allclose(coeffs, (2, 0.5, 0.01), atol=1e-8)


# --- every adapter really skips at an aggressive setting ---------------------------------------
AGGRESSIVE = {
    "profiling-dit": {"budget": 0.5},
    "profiling-dit-paper": {"background_share": 0.75},
    "profiling-dit-foreground": {"background_share": 0.25},
    "profiling-dit-inverse": {"background_share": 0.75},
    "profiling-dit-average": {"background_share": 0.75},
    "first-block-cache": {"threshold": 5.0},
    "taylorseer": {"cache_interval": 3},
    "magcache": {"threshold": 5.0, "max_skip_steps": 3},
    "pab": {"skip_range": 2, "timestep_range": (0, 1000)},
    "seacache": {"threshold": 5.0},
    "teacache": {"threshold": 5.0},
}


def _ctx(model, profile):
    return RunContext(model, TINY_GEN, profile,
                      lambda on_last: generate(model, TINY_GEN, on_step=(
                          lambda i, n: on_last() if (on_last and i == n - 1) else None)))


@pytest.fixture(scope="module")
def baseline_count(tiny_model):
    with count_self_attention(tiny_model) as counter:
        generate(tiny_model, TINY_GEN)
    assert counter[0] == tiny_model.pipe.transformer.config.num_layers * TINY_GEN.steps * 2  # every block, step, branch
    return counter[0]


@pytest.mark.parametrize("name", sorted(AGGRESSIVE))
def test_adapter_skips_at_aggressive_setting(tiny_model, baseline_count, name):
    method = METHODS[name]
    ctx = _ctx(tiny_model, load_profile(shipped_profile("tiny")))
    method.check(ctx)
    if method.calibrate is not None:
        method.calibrate(ctx)
    method.apply(ctx, AGGRESSIVE[name])
    try:
        with count_self_attention(tiny_model) as counter:
            frames = generate(tiny_model, TINY_GEN).frames
    finally:
        method.remove(ctx)
    share = counter[0] / baseline_count
    assert 0 < share < 1, f"{name} computed {share:.3f}"
    assert frames.shape == (1, 5, 32, 32, 3)
    # removal restores stock sampling
    with count_self_attention(tiny_model) as counter:
        generate(tiny_model, TINY_GEN)
    assert counter[0] == baseline_count


def test_fastercache_on_wan_with_cfg_is_not_applicable(tiny_model):
    with pytest.raises(NotApplicable, match="per CFG branch"):
        METHODS["fastercache"].check(_ctx(tiny_model, None))


def test_profiling_dit_needs_a_profile(tiny_model):
    with pytest.raises(NotApplicable, match="profile"):
        METHODS["profiling-dit"].check(_ctx(tiny_model, None))


def test_unknown_method_is_rejected():
    from profiling_dit.errors import InvalidSettingError

    with pytest.raises(InvalidSettingError, match="unknown method"):
        BenchSettings(prompts=("x",), methods=("warp-speed",))


# --- the CLI writes its four outputs --------------------------------------------------------------
@pytest.mark.slow
def test_cli_bench_writes_outputs_and_reports_every_method(cli, tmp_path):
    out = tmp_path / "bench"
    res = cli("bench", "--profile", shipped_profile("tiny"), "--height", 32, "--width", 32, "--frames", 5,
              "--steps", 6, "--methods", "profiling-dit,first-block-cache,fastercache,cache-dit",
              "--out", out)
    assert res.exit_code == 0, res.output
    results = json.loads((out / "results.json").read_text())
    names = {r["method"] for r in results["summary"]} | set(results["not_applicable"])
    assert names == {"baseline", "profiling-dit", "first-block-cache", "fastercache", "cache-dit"}
    assert "per CFG branch" in results["not_applicable"]["fastercache"]
    md = (out / "results.md").read_text()
    assert "| profiling-dit |" in md and "not applicable" in md and "LPIPS: unavailable" in md
    assert (out / "pareto.png").read_bytes()[:4] == b"\x89PNG"
    pdit = next(r for r in results["summary"] if r["method"] == "profiling-dit")
    assert pdit["computed_share"] < 1 and pdit["transformer_speedup"] > 0
    # the default prompt is of the synthetic generator's form, so every video is judged against it
    assert results["settings"]["prompts"] == ["a red circle moving right over grass"]
    assert all(r["judge_cases"] == 1 for r in results["summary"])
    assert all(isinstance(r["judge_passed"], bool) for r in results["runs"])
    assert "| judge |" in md


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--methods", "warp-speed"], "unknown method"),
        (["--seeds", "a,b"], "--seeds"),
        (["--repeats", "0"], "--repeats"),
        (["--frames", "10"], "4k+1"),
    ],
)
def test_cli_bench_bad_input(cli, tmp_path, args, needle):
    res = cli("bench", "--out", tmp_path / "b", *args)
    assert res.exit_code == 2 and needle in res.output
    assert not (tmp_path / "b").exists()


def test_cli_bench_refuses_existing_results(cli, tmp_path):
    out = tmp_path / "b"
    out.mkdir()
    (out / "results.json").write_text("{}")
    res = cli("bench", "--out", out)
    assert res.exit_code == 2 and "--force" in res.output


@pytest.mark.parametrize("out, needle", [("", "empty"), (" \t", "empty"), ("/proc/x", "cannot create the folder")])
def test_run_bench_refuses_an_output_folder_before_any_work(monkeypatch, out, needle):
    from profiling_dit.bench import runner
    from profiling_dit.errors import OutputPathError

    monkeypatch.setattr(runner, "generate", lambda *a, **k: pytest.fail("a generation ran"))
    with pytest.raises(OutputPathError, match=needle) as e:  # before the model is even looked at
        runner.run_bench(object(), None, BenchSettings(prompts=("x",), methods=("baseline",)), out=out)
    assert "\n" not in str(e.value)


def test_bench_folder_check_leaves_nothing_behind(tmp_path):
    from profiling_dit.bench.runner import check_bench_folder
    from profiling_dit.errors import OutputPathError

    assert check_bench_folder(tmp_path / "new" / "deeper") == tmp_path / "new" / "deeper"
    assert list(tmp_path.iterdir()) == []  # the folders it made to try are gone, and its file
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputPathError, match="is a file"):
        check_bench_folder(tmp_path / "file")
    with pytest.raises(OutputPathError, match="cannot create the folder"):
        check_bench_folder(tmp_path / "file" / "b")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_run_bench_counts_every_job_to_its_total_and_writes_into_out(tiny_model, tmp_path, monkeypatch):
    import dataclasses

    from profiling_dit.bench.runner import plan_jobs, plan_runs, run_bench

    fbc = METHODS["first-block-cache"]

    def failing(ctx, params):
        raise RuntimeError("boom")

    monkeypatch.setitem(METHODS, "first-block-cache", dataclasses.replace(fbc, apply=failing))
    bs = BenchSettings(prompts=("a red circle moving right over grass",), seeds=(0, 1),
                       methods=("first-block-cache", "fastercache", "magcache"), repeats=2, steps=4, height=32,
                       width=32, frames=5)
    jobs = plan_jobs(bs)
    assert plan_runs(bs) == len(jobs) == 1 + 1 + 2 * (1 + 1 + 1 + 1) * 2  # warm-up, magcache's calibration, runs
    assert [j.kind for j in jobs[:3]] == ["warm-up", "run", "run"] and jobs[-1].method == "magcache"
    seen: list[tuple] = []
    results = run_bench(tiny_model, None, bs, on_progress=lambda d, n, what: seen.append((d, n, what)),
                        out=tmp_path / "b")
    assert [d for d, _, _ in seen] == list(range(1, len(jobs) + 1)) and {n for _, n, _ in seen} == {len(jobs)}
    assert {r["status"] for r in results["runs"] if r["method"] == "first-block-cache"} == {"failed"}
    assert "fastercache" in results["not_applicable"]
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == ["pareto.png", "results.json", "results.md"]
    written = json.loads((tmp_path / "b" / "results.json").read_text())
    assert [(r["method"], r["status"]) for r in written["runs"]] == [(r["method"], r["status"]) for r in results["runs"]]


@pytest.mark.parametrize("args, needle", [
    (["--prompts", "a red ball", "--prompts", "a blue box"], "more than once"),
    (["--seeds", " 1 , 2 ", "--methods", "warp-speed"], "unknown method"),  # spaces around items are fine
    (["--seeds", "1,,2"], "empty item"),
    (["--seeds", "1,1"], "twice"),
    (["--methods", ","], "empty item"),
    (["--methods", "baseline", "--repeats", "1000000000"], "--repeats"),
])
def test_cli_bench_list_options_and_counts_are_one_line(cli, tmp_path, args, needle):
    res = cli("bench", *args, "--out", tmp_path / "b")
    assert res.exit_code == 2 and res.output.count("\n") == 1 and needle in res.output, res.output
    assert not (tmp_path / "b").exists()  # refused before anything is written


def _lead_results():
    """A bench with a known answer: ours at shares 0.3, 0.4, 0.5 (25, 28, 27 dB: an inversion), two peers."""
    rows, runs = [], []
    ours = {"budget=0.3": (0.3, [24.0, 26.0]), "budget=0.4": (0.4, [29.0, 27.0]), "budget=0.5": (0.5, [27.5, 26.5])}
    peers = {("magcache", "t=1"): (0.35, [26.0, 26.0]), ("teacache", "t=2"): (0.5, [27.0, 28.0]),
             ("teacache", "t=3"): (0.9, [40.0, 40.0])}  # outside the compared shares
    for (method, setting), (share, values) in [*((("profiling-dit", k), v) for k, v in ours.items()), *peers.items()]:
        rows.append({"method": method, "setting": setting, "status": "ok", "computed_share": share,
                     "psnr": sum(values) / 2})
        runs += [{"method": method, "setting": setting, "status": "ok", "prompt": "p", "seed": seed, "psnr": v}
                 for seed, v in enumerate(values)]
    return {"summary": rows, "runs": runs}


def test_the_lead_over_peers_is_measured_point_by_point():
    from profiling_dit.bench.lead import compare_with_peers, lead_lines

    lead = compare_with_peers(_lead_results())
    points = {p["method"]: p for p in lead["points"]}
    assert set(points) == {"magcache", "teacache"}  # the peer at share 0.9 is outside [0.25, 0.8]
    assert not points["magcache"]["beaten"] and points["magcache"]["gap_db"] == pytest.approx(-1.0)
    assert points["teacache"]["beaten"] and points["teacache"]["gap_db"] == pytest.approx(0.5)
    # 27.5 dB on ours' envelope (0.3, 25) → (0.4, 28): share 0.3 + 0.1 · 2.5 / 3
    assert points["teacache"]["compute_ratio"] == pytest.approx((0.3 + 0.1 * 2.5 / 3) / 0.5)
    assert points["magcache"]["compute_ratio"] == pytest.approx((0.3 + 0.1 / 3) / 0.35)
    assert [p["method"] for p in lead["losses"]] == ["magcache"]
    (inv,) = lead["inversions"]
    assert (inv["from"], inv["to"], inv["cases_lower"]) == ("budget=0.4", "budget=0.5", 2)
    assert inv["drop_db"] == pytest.approx(1.0) and inv["per_case_spread_db"] == pytest.approx(0.5)
    assert inv["larger_than_spread"]
    text = "\n".join(lead_lines(lead))
    assert "loses to magcache (t=1, share 0.350: 1.00 dB behind)" in text and "larger than it" in text
    assert compare_with_peers({"summary": [r for r in _lead_results()["summary"]
                                           if r["method"] == "profiling-dit"]}) == {}


def test_bench_reports_each_methods_calibration_cost_and_ours_from_the_profile_alone(tiny_model, tmp_path):
    from profiling_dit.bench.report import to_markdown
    from profiling_dit.bench.runner import run_bench
    from profiling_dit.caching.calibrate import calibration_cost

    profile = load_profile(shipped_profile("tiny"))
    bs = BenchSettings(prompts=("a red circle moving right over grass",), seeds=(0,), methods=(
        "profiling-dit", "profiling-dit-profile-alone", "magcache", "taylorseer"), repeats=1, steps=6,
        height=32, width=32, frames=5, sweep=False)
    results = run_bench(tiny_model, profile, bs)
    runs = len(profile.run.prompts)
    assert results["calibration_generations"] == {
        "baseline": 0, "profiling-dit": runs + calibration_cost(profile)["generations"],
        "profiling-dit-profile-alone": runs, "magcache": 1, "taylorseer": 0}
    # ours from the profile alone is compared with the peers as ours is, and is not one of them
    alone = results["variant_leads"]["profiling-dit-profile-alone"]
    assert alone["ours"] == "profiling-dit-profile-alone"
    assert {p["method"] for p in alone["points"]} <= {"magcache", "taylorseer"} and alone["points"]
    md = to_markdown(results)
    assert "Calibration cost, in generations" in md and f"profiling-dit-profile-alone {runs}," in md


def test_bench_runs_ours_lightly_calibrated_at_its_own_cost(tiny_model, tmp_path):
    """``profiling-dit-light``: the profile's measurements calibrated with about 10 generations before the first run,
    its plans used at their budgets, its cost counted, and compared with the peers as ours is."""
    import profiling_dit as pdit
    from profiling_dit.bench.methods.ours import LIGHT_BUDGETS, LIGHT_GENERATIONS
    from profiling_dit.bench.runner import run_bench

    profile = pdit.profile_model(tiny_model, ["a red circle moving right over grass"], steps=6, height=32, width=32,
                                 frames=5, progress=False)
    bs = BenchSettings(prompts=("a blue square moving left over sand",), seeds=(0,), methods=(
        "profiling-dit-light", "profiling-dit-profile-alone", "magcache"), repeats=1, steps=6, height=32, width=32,
        frames=5, sweep=True)
    results = run_bench(tiny_model, profile, bs)
    record = results["calibration"]["profiling-dit-light"]
    plans = record["light_plans"]
    assert plans and {p["budget"] for p in plans} <= set(LIGHT_BUDGETS)
    for p in plans:  # each computes at most its budget
        plan = pdit.Plan(num_blocks=8, steps=6, cached_blocks=p["cached_blocks"], full_steps=p["full_steps"])
        assert plan.computed_share <= p["budget"] + 1e-9
    cost = results["calibration_generations"]["profiling-dit-light"]
    assert cost == 1 + record["light_generations"] and 1 < cost <= 1 + LIGHT_GENERATIONS
    assert results["calibration_generations"]["profiling-dit-profile-alone"] == 1
    rows = {r["setting"]: r for r in results["summary"] if r["method"] == "profiling-dit-light" and r["status"] == "ok"}
    assert {f"budget={p['budget']:g}" for p in plans} <= set(rows)
    assert results["variant_leads"]["profiling-dit-light"]["ours"] == "profiling-dit-light"
