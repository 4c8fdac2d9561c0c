"""Every bad profile is one line and exit code 2 (issue 4, done-when 3)."""

import json
import pytest

from profiling_dit.profile.file import shipped_profile

SHIPPED = shipped_profile("tiny")


def _variant(tmp_path, mutate):
    data = json.loads(SHIPPED.read_text())
    mutate(data)
    p = tmp_path / "bad.json"
    p.write_text(json.dumps(data))
    return p


def _set(path, value):
    def mutate(d):
        node = d
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
    return mutate


@pytest.mark.parametrize(
    "mutate, needle",
    [
        (_set(("model", "transformer_class"), "HunyuanVideoTransformer3DModel"), "transformer class"),
        (_set(("model", "config_hash"), "sha256:0000000000000000"), "config hash"),
        (_set(("schema_version",), 7), "schema version 7"),
        (_set(("schedule", "interval_max"), -2), "interval_max"),
        (_set(("schedule", "warmup"), 50), "warmup"),
    ],
    ids=["class", "hash", "version", "negative-interval", "warmup-too-long"],
)
def test_bad_profiles(cli, tmp_path, mutate, needle):
    bad = _variant(tmp_path, mutate)
    out = tmp_path / "v.npy"
    res = cli("generate", "--profile", bad, "--model", "tiny", "--prompt", "x", "--steps", 20, "--out", out)
    assert res.exit_code == 2, res.output
    lines = [line for line in res.output.splitlines() if line.strip()]
    assert len(lines) == 1 and needle in lines[0], res.output
    assert not out.exists()


def test_block_count_mismatch(cli, tmp_path, saved_tiny_dir):
    res = cli("generate", "--profile", SHIPPED, "--model", saved_tiny_dir, "--prompt", "x", "--steps", 3,
              "--height", 32, "--width", 32, "--frames", 5, "--out", tmp_path / "v.npy")
    assert res.exit_code == 2 and "block count" in res.output


def test_corrupt_and_missing_profiles(cli, tmp_path):
    broken = tmp_path / "broken.json"
    broken.write_text('{"kind": "profiling-dit-profile", "schema_ver')
    for path, needle in ((broken, "not valid JSON"), (tmp_path / "none.json", "does not exist")):
        res = cli("generate", "--profile", path, "--prompt", "x", "--out", tmp_path / "v.npy")
        assert res.exit_code == 2 and needle in res.output


@pytest.mark.parametrize(
    "flags, needle",
    [
        (["--tau", "1.5"], "--tau"),
        (["--background-share", "-0.1"], "--background-share"),
        (["--interval-max", "-1"], "--interval-max"),
        (["--interval-min", "4", "--interval-max", "2"], "--interval-max"),
        (["--warmup", "20"], "--warmup"),
    ],
)
def test_out_of_range_overrides(cli, tmp_path, flags, needle):
    res = cli("generate", "--profile", SHIPPED, "--prompt", "x", "--steps", 20, *flags, "--out", tmp_path / "v.npy")
    assert res.exit_code == 2 and needle in res.output, res.output


def test_caching_flags_need_a_profile(cli, tmp_path):
    res = cli("generate", "--prompt", "x", "--warmup", 2, "--out", tmp_path / "v.npy")
    assert res.exit_code == 2 and "--profile" in res.output


def test_step_count_mismatch_is_a_warning_and_rescales(tmp_path):
    from profiling_dit.caching.policy import make_plan
    from profiling_dit.profile.file import load_profile

    prof = load_profile(SHIPPED)
    from profiling_dit.caching.schedules import rescale_paper_knobs

    s = prof.schedule
    warmup, imax, _ = rescale_paper_knobs(2 * prof.run.steps, prof.run.steps, s.warmup, s.interval_max, s.interval_min)
    assert warmup == round(s.warmup * 2)
    assert imax == max(2, round(s.interval_max * 2))
    double = make_plan(prof, steps=2 * prof.run.steps, schedule="paper")
    assert double.full_steps[:warmup + 1] == tuple(range(warmup + 1))
