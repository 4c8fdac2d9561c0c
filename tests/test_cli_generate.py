import json
import os
import subprocess
import sys
import time

import imageio.v2 as iio2
import numpy as np
import pytest

from conftest import SMALL


def _small_args(**overrides):
    d = {**SMALL, **overrides}
    return ["--height", d["height"], "--width", d["width"], "--frames", d["frames"], "--steps", d["steps"]]


@pytest.mark.slow
def test_generate_npy_and_report(cli, tmp_path):
    """Done-when 2 of issue 2, at the issue's exact settings."""
    out, rep = tmp_path / "v.npy", tmp_path / "r.json"
    res = cli("generate", "--model", "tiny", "--prompt", "a red ball", "--frames", 17, "--height", 128,
              "--width", 128, "--steps", 10, "--out", out, "--report", rep)
    assert res.exit_code == 0, res.output
    frames = np.load(out, allow_pickle=False)
    assert frames.shape == (17, 128, 128, 3) and frames.dtype == np.uint8
    report = json.loads(rep.read_text())
    t = report["timings"]
    assert t["total_s"] > 0 and 0 < t["transformer_s"] < t["total_s"]
    assert t["transformer_calls"] == 20  # 10 steps x (cond + uncond)
    assert len(t["step_s"]) == 10 and all(s > 0 for s in t["step_s"])
    assert report["settings"]["frames"] == 17 and report["environment"]["versions"]["torch"]


@pytest.mark.slow
@pytest.mark.parametrize("ext", [".mp4", ".gif"])
def test_video_formats_playable(cli, tmp_path, ext):
    out = tmp_path / f"v{ext}"
    res = cli("generate", "--prompt", "a blue square", *_small_args(), "--out", out)
    assert res.exit_code == 0, res.output
    reader = iio2.get_reader(out)
    frames = [f for f in reader]
    assert len(frames) == SMALL["frames"]
    assert frames[0].shape[:2] == (SMALL["height"], SMALL["width"])


@pytest.mark.slow
def test_same_seed_same_frames_different_seed_different(cli, tmp_path):
    paths = []
    for i, seed in enumerate((7, 7, 8)):
        p = tmp_path / f"{i}.npy"
        assert cli("generate", "--prompt", "a red ball", *_small_args(), "--seed", seed, "--out", p).exit_code == 0
        paths.append(np.load(p))
    assert np.array_equal(paths[0], paths[1])
    assert not np.array_equal(paths[0], paths[2])


def test_generate_from_saved_pretrained_folder(cli, tmp_path, saved_tiny_dir):
    """Done-when 3: a folder saved with save_pretrained loads through the same code path."""
    out = tmp_path / "v.npy"
    res = cli("generate", "--model", saved_tiny_dir, "--prompt", "a cat", *_small_args(), "--out", out)
    assert res.exit_code == 0, res.output
    assert np.load(out).shape == (SMALL["frames"], SMALL["height"], SMALL["width"], 3)


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--frames", 18], "4k+1"),
        (["--height", 100], "multiple of 16"),
        (["--width", 8], "multiple of 16"),
        (["--steps", 0], "--steps"),
        (["--guidance", -1], "--guidance"),
        (["--seed", -3], "--seed"),
        (["--fps", 0], "--fps"),
        (["--prompt", "  "], "--prompt"),
        (["--model", "/no/such/folder"], "does not exist"),
        (["--model", "nonsense"], "unknown model"),
        (["--dtype", "float8"], "float8"),
    ],
)
def test_bad_input_one_line_exit_2(cli, tmp_path, args, needle):
    out = tmp_path / "v.npy"
    base = {"--prompt": "x", "--out": str(out)}
    argv = ["generate"]
    for k, v in base.items():
        if k not in args:
            argv += [k, v]
    res = cli(*argv, *args)
    assert res.exit_code == 2
    assert needle in res.output
    assert not out.exists()


def test_bad_output_paths(cli, tmp_path):
    existing = tmp_path / "v.npy"
    existing.write_bytes(b"keep")
    res = cli("generate", "--prompt", "x", "--out", existing)
    assert res.exit_code == 2 and "--force" in res.output
    assert existing.read_bytes() == b"keep"
    res = cli("generate", "--prompt", "x", "--out", tmp_path / "v.avi")
    assert res.exit_code == 2 and ".mp4" in res.output
    res = cli("generate", "--prompt", "x", "--out", tmp_path / "w.npy", "--report", tmp_path / "r.txt")
    assert res.exit_code == 2 and ".json" in res.output


def test_output_folder_is_created(cli, tmp_path):
    out = tmp_path / "a" / "b" / "v.npy"
    assert cli("generate", "--prompt", "x", *_small_args(steps=1), "--out", out).exit_code == 0
    assert out.is_file()


def test_unsupported_transformer_class(cli, tmp_path, saved_tiny_dir):
    import shutil

    folder = tmp_path / "weird"
    shutil.copytree(saved_tiny_dir, folder)
    cfg = folder / "transformer" / "config.json"
    data = json.loads(cfg.read_text())
    data["_class_name"] = "FluxTransformer2DModel"
    cfg.write_text(json.dumps(data))
    res = cli("generate", "--model", folder, "--prompt", "x", "--out", tmp_path / "v.npy")
    assert res.exit_code == 2 and "not supported" in res.output


def _run_pdit(args, env_extra):
    env = {**os.environ, **env_extra}
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "profiling_dit.cli", *args], capture_output=True, text=True, env=env, timeout=60
    )
    return proc, time.perf_counter() - t0


@pytest.mark.parametrize(
    "env",
    [
        {"HF_HUB_OFFLINE": "1"},
        # Not offline-flagged: the Hub probe meets a closed loopback port and must fail fast.
        {"HF_HUB_OFFLINE": "0", "HF_ENDPOINT": "http://127.0.0.1:9"},
    ],
    ids=["offline-flag", "unreachable-hub"],
)
@pytest.mark.slow
def test_hub_model_unavailable_fails_fast(tmp_path, env):
    """Done-when 4: `--model wan2.1` offline exits 2 within 15 s with one line naming the model and the fix."""
    env = {**env, "HF_HOME": str(tmp_path / "hf")}
    proc, elapsed = _run_pdit(["generate", "--model", "wan2.1", "--prompt", "x", "--out", str(tmp_path / "v.mp4")], env)
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert "wan2.1" in lines[0] and "Wan-AI/Wan2.1-T2V-1.3B-Diffusers" in lines[0] and "--model=DIR" in lines[0]
    assert elapsed < 15
    assert "Traceback" not in proc.stderr


def test_models_lists_aliases_and_classes(cli):
    res = cli("models")
    assert res.exit_code == 0
    for word in ("tiny", "wan2.1", "wan2.1-14b", "WanTransformer3DModel"):
        assert word in res.output


def test_help_does_not_import_torch():
    code = "import sys; from profiling_dit.cli.app import app; print('torch' in sys.modules, 'diffusers' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


@pytest.mark.slow
def test_library_does_not_import_cli_libraries():
    code = (
        "import sys, profiling_dit, profiling_dit.pipeline.generation, profiling_dit.pipeline.loading, profiling_dit.pipeline.video_io;"
        "print('typer' in sys.modules, 'rich' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


@pytest.mark.slow
def test_public_api_is_lazy_and_complete():
    code = (
        "import sys, profiling_dit as p; assert 'diffusers' not in sys.modules;"
        "from profiling_dit import Plan, make_plan, apply_profiling_dit, remove_profiling_dit, load_profile;"
        "print(Plan.__name__)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "Plan"
