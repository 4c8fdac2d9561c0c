"""The library as a notebook user meets it: the README's example, plans that follow each call's step
count, frames unchanged by the library-first layout, portable profiles, and profiles refused field by field."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import tiny_models as tm
from profiling_dit.errors import ProfileError

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DATA = Path(__file__).parent / "data"
REFERENCE = json.loads((DATA / "reference-frames.json").read_text())


def _readme_api_example() -> str:
    """The README's Python example: the fenced block after the `<!-- api-example -->` marker."""
    text = README.read_text()
    after = text.split("<!-- api-example -->", 1)[1]
    return re.search(r"```python\n(.*?)```", after, re.S).group(1)


def _run_example(code: str, cwd: Path, tmp: Path) -> subprocess.CompletedProcess:
    """Run the example as a user would, from ``cwd``, with its temporary folders made under ``tmp``."""
    tmp.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONWARNINGS": "ignore", "TMPDIR": str(tmp)}
    env.pop("PYTHONPATH", None)
    return subprocess.run([sys.executable, "-c", code + "\nprint('example-folder', out.resolve())\n"], cwd=cwd,
                          capture_output=True, text=True, env=env, timeout=600)


def _written(proc: subprocess.CompletedProcess) -> tuple[Path, dict, Path]:
    """What the example wrote, wherever it wrote it (its ``out`` folder): the folder, the profile it saved
    (checked with its pictures beside it) and the one video it wrote."""
    folder = Path(re.search(r"^example-folder (.+)$", proc.stdout, re.M).group(1))
    profiles = sorted(folder.glob("*.json"))
    assert len(profiles) == 1, profiles
    stem = profiles[0].stem
    for picture in ("heatmap", "l1", "masks"):
        assert (folder / f"{stem}.{picture}.png").stat().st_size > 0, picture
    videos = sorted(folder.glob("*.mp4"))
    assert len(videos) == 1, videos
    return folder, json.loads(profiles[0].read_text()), videos[0]


@pytest.mark.slow
def test_readme_example_runs_as_written_outside_the_repo(tmp_path):
    import imageio.v3 as iio

    code = _readme_api_example()
    assert 'pdit.load_pipeline("tiny")' in code
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    proc = _run_example(code + "\nprint('frames', video.shape)\n", cwd, tmp_path / "tmp")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "frames (17, 128, 128, 3)" in proc.stdout
    folder, saved, video = _written(proc)
    assert folder.is_relative_to((tmp_path / "tmp").resolve())  # a temporary folder: nothing left where the user ran it
    assert not any(cwd.iterdir())
    assert saved["model"]["requested"] == "tiny"
    assert iio.imread(video).shape == (17, 128, 128, 3)  # the video it generated, saved whole


@pytest.mark.slow
def test_readme_example_runs_on_a_two_expert_pipeline(tmp_path):
    folder = tm.save(tm.wan22_pipeline(), tmp_path / "wan22", steps=8)
    code = _readme_api_example()
    for name in ('pdit.load_pipeline("tiny")', 'pdit.shipped_profile("tiny")'):
        assert name in code
    code = code.replace('pdit.load_pipeline("tiny")', f"pdit.load_pipeline({str(folder)!r})")
    code = code.replace('pdit.shipped_profile("tiny")', "profile")  # the embedded model's: use the one just made
    run = tmp_path / "run"
    run.mkdir()
    proc = _run_example(code + "\nprint('experts', sorted(e.component for e in profile.experts))\n", run,
                        tmp_path / "tmp")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "experts ['transformer', 'transformer_2']" in proc.stdout
    _, saved, video = _written(proc)
    assert [e["component"] for e in saved["experts"]] == ["transformer", "transformer_2"]
    assert video.stat().st_size > 0


# --- the plan follows each call's step count --------------------------------------------------------
@pytest.mark.parametrize("steps", [10, 20, 30])
def test_api_plan_follows_the_call_and_ends_with_a_full_step(tiny_model, steps):
    import profiling_dit as pdit
    from profiling_dit.bench.runner import count_self_attention

    profile = pdit.Profile.load(pdit.shipped_profile("tiny"))
    assert profile.run.steps == 20
    pipe = tiny_model.pipe
    per_step = []
    with count_self_attention(tiny_model) as counter:
        pdit.apply(pipe, profile)
        try:
            with pytest.warns(UserWarning, match="this call runs") if steps != 20 else _no_warning():
                pipe("a red ball", num_inference_steps=steps, height=32, width=32, num_frames=5, max_sequence_length=16,
                     output_type="np", callback_on_step_end=lambda p, i, t, kw: per_step.append(counter[0]) or {})
        finally:
            pdit.remove(pipe)
    done = np.diff([0, *per_step])
    n = profile.model.num_blocks
    assert len(done) == steps
    assert done[-1] == 2 * n  # both CFG branches compute every block on the last step
    assert done.min() < 2 * n  # and some step reused
    expected = pdit.make_plan(profile, steps).full_step_mask()  # apply plans each call for its own step count
    assert [bool(d == 2 * n) for d in done] == expected


class _no_warning:
    def __enter__(self):
        import warnings

        self._ctx = warnings.catch_warnings()
        self._ctx.__enter__()
        warnings.simplefilter("error")

    def __exit__(self, *exc):
        return self._ctx.__exit__(*exc)


@pytest.mark.slow
@pytest.mark.parametrize("steps", [10, 30])
def test_cli_plan_follows_the_steps_and_ends_with_a_full_step(cli, tmp_path, steps):
    import profiling_dit as pdit

    out, report = tmp_path / "v.npy", tmp_path / "r.json"
    for schedule in ((), ("--schedule", "paper")):
        res = cli("generate", "--profile", pdit.shipped_profile("tiny"), "--prompt", "a red ball", "--steps", steps,
                  "--height", 32, "--width", 32, "--frames", 5, *schedule, "--out", out, "--report", report, "--force")
        assert res.exit_code == 0, res.output
        plan = json.loads(report.read_text())["profiling_dit"]
        assert plan["full_compute_steps"][-1] == steps - 1
    assert plan["full_compute_steps"] == REFERENCE["cases"][f"cached-{steps}-full-steps"]  # the paper's, as before


# --- the same frames, bit for bit, as before the layout change ------------------------------------------
def _hash(frames) -> str:
    return hashlib.sha256(np.ascontiguousarray(frames).tobytes()).hexdigest()


def _cpu_vendor() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("vendor_id"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def _skip_unless_recorded_here(rec: dict) -> None:
    here = (torch.__version__, torch.backends.cpu.get_cpu_capability(), _cpu_vendor())
    there = (rec["torch"], rec["cpu_capability"], rec["cpu_vendor"])
    if here != there:
        pytest.skip(f"reference frames were recorded with torch, CPU kernels and vendor {there}; here {here} "
                    "(float results may differ in the last bit)")


@pytest.fixture(scope="module")
def same_platform():
    _skip_unless_recorded_here(REFERENCE["recorded_with"])


@pytest.fixture(scope="module")
def same_platform_as_plans():
    _skip_unless_recorded_here(REFERENCE["plans"]["recorded_with"])


@pytest.mark.parametrize("steps", [20, 10, 30])
def test_frames_equal_those_recorded_before_the_layout_change(tiny_model, same_platform, steps):
    import profiling_dit as pdit
    from profiling_dit.caching.sampling import generate_cached

    gen = pdit.GenerationSettings(prompt="a red circle moving right over grass", steps=steps, height=64, width=64,
                                  frames=9, seed=3)
    profile = pdit.Profile.load(pdit.shipped_profile("tiny"))
    if steps == 20:
        assert _hash(pdit.generate(tiny_model, gen).frames) == REFERENCE["cases"]["stock-20"]
    plans = {"transformer": pdit.make_plan(profile, steps, schedule="paper")}
    result, summary = generate_cached(tiny_model, gen, plans)
    assert _hash(result.frames) == REFERENCE["cases"][f"cached-{steps}"]
    assert summary["full_compute_steps"] == REFERENCE["cases"][f"cached-{steps}-full-steps"]
    # the one-call API, whose plan adapts to the call, gives the same frames
    pdit.apply(tiny_model.pipe, profile, schedule="paper")
    try:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            again = pdit.generate(tiny_model, gen).frames
    finally:
        pdit.remove(tiny_model.pipe)
    assert _hash(again) == REFERENCE["cases"][f"cached-{steps}"]


PLAN_CASES = REFERENCE["plans"]["cases"]


def _plan_options(key: str) -> tuple[int, dict]:
    """'tiny-30-budget=0.4' -> (30, {"budget": 0.4}), as tests/data/record_plan_frames.py named its cases."""
    _, steps, options = key.split("-", 2)
    parsed = {}
    for item in filter(None, options.split(",")):
        name, value = item.split("=")
        parsed[name] = value if name in ("schedule", "reuse") else float(value)
    return int(steps), parsed


@pytest.mark.parametrize("key", [k for k in PLAN_CASES if k.startswith("tiny-")])
def test_plans_give_the_frames_recorded_before_one_plan_type(tiny_model, same_platform_as_plans, key):
    import profiling_dit as pdit
    from profiling_dit.caching.sampling import generate_cached

    steps, options = _plan_options(key)
    gen = pdit.GenerationSettings(prompt="a red circle moving right over grass", steps=steps, height=64, width=64,
                                  frames=9, seed=3)
    # the embedded model's profile as it was shipped when these were recorded (its calibrated plans changed since)
    plan = pdit.make_plan(pdit.Profile.load(DATA / "tiny-wan-profile-2026-12-03.json"), steps, **options)
    result, summary = generate_cached(tiny_model, gen, {"transformer": plan})
    want = PLAN_CASES[key]
    assert (summary["full_compute_steps"], summary["cached_blocks"]) == (want["full"], want["cached"])
    assert _hash(result.frames) == want["hash"]


def test_teacache_gives_the_frames_recorded_before_it_shared_the_run_hooks(tiny_model, same_platform_as_plans):
    import profiling_dit as pdit
    from profiling_dit.bench.methods.teacache import TeaCacheConfig, apply_teacache, remove_teacache

    gen = pdit.GenerationSettings(prompt="a red circle moving right over grass", steps=20, height=64, width=64,
                                  frames=9, seed=3)
    apply_teacache(tiny_model.pipe.transformer, TeaCacheConfig(threshold=0.2, coefficients=(1.0, 0.0),
                                                               num_inference_steps=20))
    try:
        frames = pdit.generate(tiny_model, gen).frames
    finally:
        remove_teacache(tiny_model.pipe.transformer)
    assert _hash(frames) == PLAN_CASES["teacache-0.2-linear"]["hash"]


# --- profiles: portable, validated field by field ---------------------------------------------------
def _strings(node):
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for k, v in node.items():
            yield k
            yield from _strings(v)
    elif isinstance(node, list):
        for v in node:
            yield from _strings(v)


def _paths_in(data: dict, *roots: Path) -> list[str]:
    bad = []
    for s in _strings(data):
        if s.startswith(("/", "~")) or re.match(r"^[A-Za-z]:[\\/]", s) or any(str(r) in s for r in roots):
            bad.append(s)
    return bad


def test_shipped_profile_holds_no_path():
    import profiling_dit as pdit

    data = json.loads(pdit.shipped_profile("tiny").read_text())
    assert _paths_in(data, ROOT, Path.home()) == []


@pytest.mark.slow
def test_a_fresh_profile_holds_no_path(tmp_path, saved_tiny_dir):
    import profiling_dit as pdit

    masks = np.zeros((5, 32, 32), np.uint8)
    masks[:, 8:24, 8:24] = 1
    np.save(tmp_path / "my-masks.npy", masks)
    model = pdit.load_pipeline(str(saved_tiny_dir), device="cpu")
    profile = pdit.profile_model(model.pipe, ["a red ball"], steps=2, height=32, width=32, frames=5,
                                 masks=tmp_path / "my-masks.npy")
    profile.save(tmp_path / "p.json")
    data = json.loads((tmp_path / "p.json").read_text())
    assert _paths_in(data, tmp_path, saved_tiny_dir, ROOT, Path.home()) == []
    assert data["model"]["requested"] == saved_tiny_dir.name
    assert data["segmenter"]["detail"] == "masks file my-masks.npy"


def _shipped() -> dict:
    import profiling_dit as pdit

    return json.loads(pdit.shipped_profile("tiny").read_text())


def _with(path, value):
    data = _shipped()
    node = data
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return data


@pytest.mark.parametrize("data, field", [
    (_with(("split", "background_blocks"), [0, 2.5, 3]), "split.background_blocks[1]"),
    (_with(("split", "background_blocks"), [0, None, 3]), "split.background_blocks[1]"),
    (_with(("model", "requested"), None), "model.requested"),
    (_with(("run", "steps"), 0), "run.steps"),
    (_with(("run", "steps"), 1e30), "run.steps"),
    (_with(("schema_version",), True), "schema version"),
    (_with(("block_scores",), [float("nan")] * 8), "block_scores[0]"),
    (_with(("block_scores",), [0.5] * 7), "block_scores"),
    (_with(("split", "background_blocks"), [0, 2, 3]), "split"),
    (_with(("schedule", "warmup"), 20), "schedule.warmup"),
    (_with(("experts",), [{"component": "transformer"}]), "experts"),
    # profiles that describe nothing, and integers past any sane bound
    (_with(("plans", 0, "cached_blocks"), []), "plans[0].cached_blocks"),
    (_with(("r_attn", "per_prompt"), []), "r_attn.per_prompt"),
    (_with(("l1", "per_prompt", 0), []), "l1.per_prompt[0]"),
    (_with(("masks", 0), []), "masks[0]"),
    (_with(("masks", 1, 0), []), "masks[1][0]"),
    (_with(("r_attn", "steps"), list(range(1, 21))), "r_attn.steps"),  # step 20 of a 20-step run
    (_with(("r_attn", "steps"), [1, 0, *range(2, 20)]), "r_attn.steps"),  # not increasing
    (_with(("run", "steps"), 1.5e308), "run.steps"),
    (_with(("run", "steps"), 2**63), "run.steps"),
    (_with(("run", "seed"), 2**63), "run.seed"),
    (_with(("staleness", "tokens"), 2**63), "staleness.tokens"),
    # lists that pair with another have its length
    (_with(("l1", "mean"), [0.1] * 3), "l1.mean"),
    (_with(("r_attn", "mean", 3), [0.5] * 19), "r_attn.mean"),
    (_with(("r_attn", "per_prompt"), [_shipped()["r_attn"]["mean"]]), "r_attn.per_prompt"),
    (_with(("run", "wall_s"), [1.0]), "run.wall_s"),
    (_with(("model", "block_names"), ["blocks.0"]), "model.block_names"),
    (_with(("staleness", "sigmas"), [1.0] * 20), "staleness.sigmas"),
])
def test_bad_profiles_are_refused_naming_the_field(data, field):
    from profiling_dit.profile.file import Profile

    with pytest.raises(ProfileError) as e:
        Profile.from_dict(json.loads(json.dumps(data)) if not _has_nan(data) else data)
    message = str(e.value)
    assert "\n" not in message and field in message, message


def _has_nan(data) -> bool:
    return "nan" in json.dumps(data).lower()


def test_run_without_frames_is_refused():
    from profiling_dit.profile.file import Profile

    data = _shipped()
    del data["run"]["frames"]
    with pytest.raises(ProfileError, match="field `run.frames` is missing"):
        Profile.from_dict(data)


@pytest.mark.parametrize("text, needle", [
    ("[" * 100000 + "]" * 100000, "nested too deeply"),
    ('{"a": ' + "1" * 5000 + "}", "not a valid profile"),
    ('{"kind": "profiling-dit-profile", "x": NaN}', "not valid JSON"),
])
def test_hostile_profile_files_are_one_line(tmp_path, text, needle):
    from profiling_dit.profile.file import Profile

    p = tmp_path / "p.json"
    p.write_text(text)
    with pytest.raises(ProfileError, match=needle) as e:
        Profile.load(p)
    assert "\n" not in str(e.value)


def test_a_folder_as_profile_says_so(tmp_path):
    from profiling_dit.profile.file import Profile

    with pytest.raises(ProfileError, match="is a folder"):
        Profile.load(tmp_path)


def test_profile_round_trips_through_dict_and_config():
    import profiling_dit as pdit

    profile = pdit.Profile.load(pdit.shipped_profile("tiny"))
    assert pdit.Profile.from_dict(profile.to_dict()) == profile
    plan = pdit.make_plan(profile, schedule="paper")
    assert plan.steps == 20 and plan.cached_blocks == profile.split.background_blocks
    from profiling_dit.caching.schedules import rescale_paper_knobs

    s = profile.schedule
    _, imax, _ = rescale_paper_knobs(30, 20, s.warmup, s.interval_max, s.interval_min)
    assert pdit.make_plan(profile, steps=30, warmup=2).full_steps[:4] == (0, 1, 2, 2 + imax)  # after rescaling
    with pytest.raises(TypeError, match="speed"):
        pdit.make_plan(profile, speed=3)
