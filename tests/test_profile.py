import dataclasses
import json
import re
import subprocess
import sys
from pathlib import Path

import jsonschema
import numpy as np
import pytest

from conftest import SMALL
from profiling_dit.errors import InvalidSettingError, ProfileError
from profiling_dit.profile.file import SCHEMA_PATH, Profile, load_profile, shipped_profile

ROOT = Path(__file__).resolve().parents[1]

SCHEMA = json.loads(SCHEMA_PATH.read_text())


def _small(**kw):
    d = {**SMALL, **kw}
    return ["--height", d["height"], "--width", d["width"], "--frames", d["frames"], "--steps", d["steps"]]


@pytest.fixture(scope="module")
def small_profile(tmp_path_factory):
    """One CLI profile run on the embedded model, shared by the read-only tests below."""
    from typer.testing import CliRunner

    from profiling_dit.cli.app import app

    out = tmp_path_factory.mktemp("prof") / "p.json"
    args = ["profile", "--prompt", "a red ball", "--prompt", "a blue square on sand", *map(str, _small(steps=6)),
            "--every", "2", "--out", str(out)]
    res = CliRunner().invoke(app, args, catch_exceptions=False)
    assert res.exit_code == 0, res.output
    return out


def test_profile_cli_writes_valid_profile_and_pictures(small_profile, tiny_model):
    prof = json.loads(small_profile.read_text())
    jsonschema.validate(prof, SCHEMA)
    n = tiny_model.pipe.transformer.config.num_layers
    assert prof["model"]["num_blocks"] == n
    assert prof["run"]["profiled_steps"] == [0, 2, 4]
    mean = np.array(prof["r_attn"]["mean"])
    assert mean.shape == (n, 3)
    assert len(prof["r_attn"]["per_prompt"]) == 2
    per = np.array(prof["r_attn"]["per_prompt"])
    np.testing.assert_allclose(mean, per.mean(axis=0), atol=1e-5)
    assert prof["segmenter"]["name"] == "pca-otsu"
    assert len(prof["l1"]["steps"]) == 5  # steps 1..5
    for name in prof["pictures"].values():
        png = small_profile.parent / name
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    sp = prof["split"]
    assert sorted(sp["foreground_blocks"] + sp["background_blocks"]) == list(range(n))
    assert len(sp["background_blocks"]) == int(0.75 * n)  # default background share 0.75, rounded down


def test_profile_round_trip(small_profile, tmp_path):
    prof = load_profile(small_profile)
    again = tmp_path / "again.json"
    prof.save(again, pictures=False)
    assert load_profile(again) == prof
    assert Profile.from_dict(prof.to_dict()) == prof == Profile.from_json(small_profile.read_bytes())


def test_the_schema_file_is_generated_from_the_profile_classes():
    from profiling_dit.profile.schema import COMMAND, main, schema_text

    assert SCHEMA_PATH.read_text() == schema_text(), f"profile.schema.json is stale; regenerate it: {COMMAND}"
    assert main(["--check"]) == 0


def test_every_shipped_and_recorded_profile_loads_and_round_trips(tmp_path):
    """The shipped profiles, the version-1 file and the profiles benchmarks recorded, unchanged."""
    candidates = [*ROOT.glob("src/profiling_dit/assets/profiles/*.json"), ROOT / "tests/data/profile-v1.json",
                  *ROOT.glob("benchmarks/results/**/*.json")]
    files = sorted(p for p in candidates if b'"profiling-dit-profile"' in p.read_bytes())
    assert len(files) >= 4
    for path in files:
        prof = Profile.load(path)
        jsonschema.validate(json.loads(path.read_text()), SCHEMA)
        prof.save(tmp_path / "again.json", pictures=False)
        assert Profile.load(tmp_path / "again.json") == prof, path
    assert Profile.load(ROOT / "tests/data/profile-v1.json").schema_version == 1


def test_the_run_settings_of_a_profile_are_the_profile_settings():
    from profiling_dit.profile.file import RunSettings
    from profiling_dit.profile.settings import ProfileSettings

    assert set(RunSettings.__annotations__) | set(RunSettings.__required_keys__) == \
        {f.name for f in dataclasses.fields(ProfileSettings)}


def test_a_bad_field_is_one_line_saying_what_it_must_be():
    data = json.loads(shipped_profile("tiny").read_text())
    data["run"]["steps"] = "a"
    with pytest.raises(ProfileError) as e:
        Profile.from_json(json.dumps(data), "profile 'x.json'")
    assert str(e.value) == "profile 'x.json': field `run.steps`: Expected `int`, got 'a'; profile the model again " \
                           "(`pdit profile`)"
    data["run"]["steps"] = 100001
    with pytest.raises(ProfileError) as e:
        Profile.from_json(json.dumps(data), "profile 'x.json'")
    assert str(e.value) == "profile 'x.json': field `run.steps`: Expected `int` <= 100000, got 100001; profile the " \
                           "model again (`pdit profile`)"
    data["run"]["steps"], data["pictures"]["heatmap"] = 20, "../x.png"  # a dict's entry is named by its key
    with pytest.raises(ProfileError, match=r"field `pictures.heatmap`: Expected `str` matching regex .*, got '\.\./x"):
        Profile.from_dict(data)


def test_reading_a_profile_imports_no_torch(tmp_path):
    code = ("import sys; from profiling_dit.profile.file import Profile, shipped_profile; "
            "Profile.load(shipped_profile('tiny-deep')); "
            "print(sorted({'torch', 'diffusers', 'jsonschema'} & set(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=tmp_path)
    assert out.stdout.strip() == "[]"


@pytest.mark.slow
def test_a_two_expert_profile_is_checked_expert_by_expert(tmp_path):
    """Each expert's block profile over its own steps; the top level is the first expert's."""
    import copy

    import profiling_dit as pdit
    import tiny_models as tm
    from profiling_dit.pipeline.settings import GenerationSettings
    from profiling_dit.profile.settings import ProfileSettings

    model = pdit.load_pipeline(str(tm.save(tm.wan22_pipeline(), tmp_path / "wan22", steps=8)), device="cpu")
    profile = pdit.profile_model(model.pipe, ["a red ball", "a blue cube"], steps=8, height=32, width=32, frames=5,
                                 progress=False)
    profile.save(tmp_path / "p.json", pictures=False)
    data = json.loads((tmp_path / "p.json").read_text())
    assert [e["step_range"] for e in data["experts"]] == [[0, 4], [4, 8]]
    assert Profile.load(tmp_path / "p.json") == profile
    for path, value, field in [
        (("experts", 1, "r_attn", "steps"), [0, 1, 2, 3], "experts[1].r_attn.steps"),  # the other expert's steps
        (("experts", 1, "block_scores"), [0.5] * 3, "experts[1].block_scores"),  # the other expert's block count
        (("experts", 1, "staleness", "sets", 0, "error"), [[None]] * 8, "experts[1].staleness.sets[0]"),
        (("experts", 1, "staleness"), None, "experts[1].staleness"),  # schema version 2: every expert's table
        (("split",), data["experts"][1]["split"], "split"),  # the top level is the first expert's
        (("experts", 0, "step_range"), [0, 5], "experts"),
    ]:
        bad = copy.deepcopy(data)
        node = bad
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
        with pytest.raises(ProfileError, match=re.escape(f"field `{field}`")):
            Profile.from_dict(bad)
    with pytest.raises(InvalidSettingError, match="`every` 8 measures no step of transformer_2"):
        ProfileSettings(every=8).check_for_model(model, GenerationSettings(prompt="x", steps=8, height=32, width=32,
                                                                           frames=5))


def test_profiling_needs_two_steps_and_a_profiled_step_per_expert():
    from profiling_dit.pipeline.settings import GenerationSettings
    from profiling_dit.profile.settings import ProfileSettings

    with pytest.raises(InvalidSettingError, match="`steps` must be at least 2"):
        ProfileSettings().check_for(GenerationSettings(prompt="x", steps=1))
    for bad in ({"every": 0}, {"chunk_size": 2.5}, {"attn_threshold": float("nan")}, {"tau": 1.5},
                {"staleness_tokens": 2**63}, {"time_blocks": "yes"}, {"branch": "both"}):
        with pytest.raises(InvalidSettingError, match=f"`{next(iter(bad))}`"):
            ProfileSettings(**bad)


def test_profiled_frames_equal_plain_frames(tiny_model):
    from profiling_dit.pipeline.generation import GenerationSettings, generate
    from profiling_dit.profile.measure import ProfileSettings, measure_prompt

    gen = GenerationSettings(prompt="a red ball", **{k: SMALL[k] for k in ("height", "width", "frames", "steps")})
    plain = generate(tiny_model, gen).frames
    captured = {}

    def spy(i, total):
        captured["steps"] = i + 1

    meas = measure_prompt(tiny_model, gen, ProfileSettings(chunk_size=7))
    again = generate(tiny_model, gen, on_step=spy).frames
    assert np.array_equal(plain, again)
    n = tiny_model.pipe.transformer.config.num_layers
    assert meas.r_attn.shape == (n, SMALL["steps"]) and not np.isnan(meas.r_attn).all()
    # and the profiled run itself produced the same frames: re-run inside the capture context
    from profiling_dit.profile.attention import AttentionRecorder, attention_capture

    rec = AttentionRecorder(n, "cond", {0, 1, 2}, gen.guidance, 5, 1, set())
    with attention_capture(tiny_model.pipe.transformer, tiny_model.arch, rec):
        profiled = generate(tiny_model, gen).frames
    assert np.array_equal(plain, profiled)
    assert len(rec.abar) == n * 3


def test_profile_refuses_other_model(small_profile, saved_tiny_dir):
    from profiling_dit.pipeline.loading import load_pipeline, resolve_model

    other = load_pipeline(resolve_model(str(saved_tiny_dir)), device="cpu")
    with pytest.raises(ProfileError, match="block count"):
        load_profile(small_profile).check_fits(other)


@pytest.mark.parametrize(
    "content, needle",
    [
        ("{not json", "not valid JSON"),
        ('{"kind": "something-else"}', "not a ProfilingDiT profile"),
        ('{"kind": "profiling-dit-profile", "schema_version": 99}', "schema version 99"),
        ('{"kind": "profiling-dit-profile", "schema_version": 1}', "field `r_attn` is missing"),
    ],
)
def test_bad_profile_files(tmp_path, content, needle):
    p = tmp_path / "p.json"
    p.write_text(content)
    with pytest.raises(ProfileError, match=needle):
        load_profile(p)


@pytest.mark.slow
def test_profile_user_masks(cli, tmp_path):
    masks = np.zeros((SMALL["frames"], 64, 64), np.uint8)
    masks[:, 16:48, 16:48] = 1
    mpath = tmp_path / "m.npy"
    np.save(mpath, masks)
    out = tmp_path / "p.json"
    res = cli("profile", "--prompt", "a red ball", *_small(steps=2), "--masks", mpath, "--out", out)
    assert res.exit_code == 0, res.output
    prof = json.loads(out.read_text())
    assert prof["segmenter"]["name"] == "user-masks"
    assert prof["foreground_share"][0] == pytest.approx(0.25)


@pytest.mark.parametrize(
    "extra, needle",
    [
        (["--sam2", "/no/such/sam2.safetensors"], "does not exist"),
        (["--masks", "/no/such/masks.npy"], "does not exist"),
        (["--tau", "1.5"], "--tau"),
        (["--tau", "0.3", "--background-share", "0.5"], "not both"),
        (["--every", "0"], "--every"),
        (["--mask-step", "99"], "--mask-step"),
        (["--frames", "10"], "4k+1"),
    ],
)
def test_profile_bad_input(cli, tmp_path, extra, needle):
    out = tmp_path / "p.json"
    res = cli("profile", "--prompt", "x", "--out", out, *extra)
    assert res.exit_code == 2 and needle in res.output
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_profile_bad_masks_shape_writes_nothing(cli, tmp_path):
    mpath = tmp_path / "m.npy"
    np.save(mpath, np.zeros((4, 64, 64), np.uint8))
    out = tmp_path / "p.json"
    res = cli("profile", "--prompt", "x", *_small(steps=2), "--masks", mpath, "--out", out)
    assert res.exit_code == 2 and "frames" in res.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.npy"]


def test_profile_pickle_checkpoint_refused(cli, tmp_path):
    pt = tmp_path / "sam2.pt"
    pt.write_bytes(b"not loaded")
    res = cli("profile", "--prompt", "x", "--sam2", pt, "--out", tmp_path / "p.json")
    assert res.exit_code == 2 and "safetensors" in res.output


def test_profile_unwritable_output(cli, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    res = cli("profile", "--prompt", "x", "--out", blocker / "p.json")
    assert res.exit_code == 2 and "cannot write" in res.output


@pytest.mark.slow
def test_sam2_path_with_random_weights(cli, tmp_path):
    """SAM2 built from the sam2 package's config, random weights saved as safetensors, through the CLI."""
    import torch
    from safetensors.torch import save_file

    from profiling_dit.profile.segmentation import build_sam2_model

    torch.manual_seed(0)
    model = build_sam2_model(None, "tiny")
    ckpt = tmp_path / "sam2_hiera_tiny_random.safetensors"
    save_file({k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}, str(ckpt))
    out = tmp_path / "p.json"
    res = cli("profile", "--prompt", "a red ball", "--height", 64, "--width", 64, "--frames", 5, "--steps", 2,
              "--sam2", ckpt, "--sam2-config", "tiny", "--out", out)
    assert res.exit_code == 0, res.output
    prof = json.loads(out.read_text())
    assert prof["segmenter"]["name"] == "sam2" and "sam2_hiera_tiny_random" in prof["segmenter"]["detail"]
    assert len(prof["masks"][0]) == 2  # 5 frames -> 2 latent frames


@pytest.mark.slow
def test_cli_calibrate_refines_a_profile_made_earlier(cli, small_profile, tmp_path):
    out = tmp_path / "calibrated.json"
    res = cli("calibrate", "--profile", small_profile, "--out", out)
    assert res.exit_code == 2 and "--generations" in res.output and len(res.output.strip().splitlines()) == 1
    assert not out.exists()
    res = cli("calibrate", "--profile", small_profile, "--generations", 10, "--budgets", "0.5,0.7",
              "--calibration-scale", 1, "--out", out)
    assert res.exit_code == 0, res.output
    assert "calibrated, budget 0.5" in res.output and "the mean over 2 prompts" in res.output
    assert "width; the profiled size)" in res.output
    calibrated = Profile.load(out)
    assert [p.budget for p in calibrated.plans] == [0.5, 0.7]
    assert sum(p.generations for p in calibrated.plans) + 2 <= 10
    assert calibrated.split == Profile.load(small_profile).split  # the measured part as it was


@pytest.mark.slow
def test_cli_profile_calibrates_both_experts_of_a_two_expert_pipeline(cli, tmp_path):
    import tiny_models as tm

    folder = tm.save(tm.wan22_pipeline(), tmp_path / "wan22", steps=8)
    args = ("profile", "--model", folder, "--prompt", "a red ball", "--steps", 8, "--height", 32, "--width", 32,
            "--frames", 5, "--budgets", "0.5,0.7")
    res = cli(*args, "--generations", 6, "--out", tmp_path / "few.json")
    assert res.exit_code == 2 and "give at least 9" in res.output and "a budget and expert" in res.output
    assert not (tmp_path / "few.json").exists()  # refused before profiling
    res = cli(*args, "--generations", 12, "--out", tmp_path / "p.json")
    assert res.exit_code == 0, res.output
    for budget in ("0.5", "0.7"):
        for name in ("transformer", "transformer_2"):
            assert f"calibrated, budget {budget}, {name}:" in res.output
    plans = Profile.load(tmp_path / "p.json").plans
    assert sorted((p.component, p.budget, p.steps) for p in plans) == [
        ("transformer", 0.5, 4), ("transformer", 0.7, 4), ("transformer_2", 0.5, 4), ("transformer_2", 0.7, 4)]
    res = cli("plan", "--profile", tmp_path / "p.json", "--budget", 0.5)
    assert res.exit_code == 0 and res.output.count("calibrated for budget 0.5") == 2, res.output
