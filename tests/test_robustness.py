"""Nothing lost, nothing hung, every bad input refused in one line before anything heavy: full disks, racing
writers, stale temporaries of live runs, malformed model folders, images and sizes a model cannot take."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from profiling_dit.errors import InvalidSettingError, ModelNotAvailableError, OutputPathError, PditError

FRAMES = (np.arange(5 * 32 * 32 * 3) % 251).astype(np.uint8).reshape(5, 32, 32, 3)


# --- a full disk -------------------------------------------------------------------------------------------------
@pytest.fixture()
def full_disk(tmp_path):
    """A 1 MiB tmpfs with a good video in it, then filled to the last byte (root only; skipped otherwise)."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("a full disk is made with a small tmpfs, which needs root")
    mount = tmp_path / "disk"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here")
    try:
        from profiling_dit.pipeline.video_io import write_video

        for ext in ("mp4", "npy"):
            write_video(FRAMES, mount / f"good.{ext}")
        (mount / "good.json").write_text('{"report": 1}\n')
        with open(mount / "filler", "wb") as f:
            try:
                while True:
                    f.write(b"\0" * 65536)
                    f.flush()
            except OSError:
                pass
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


@pytest.mark.parametrize("ext", ["mp4", "npy", "gif"])
def test_a_full_disk_replaces_nothing_and_says_so(full_disk, ext):
    from profiling_dit.pipeline.video_io import write_video

    before = (full_disk / f"good.{ext}").read_bytes() if ext != "gif" else None
    target = full_disk / f"good.{ext}"
    with pytest.raises((OutputPathError, OSError)) as e:
        write_video(np.tile(FRAMES, (4, 4, 4, 1)), target)
    assert "\n" not in str(e.value)
    if before is not None:
        assert target.read_bytes() == before  # the good file is still there, whole
    assert not [p for p in full_disk.iterdir() if ".pdit-tmp" in p.name]  # no temporary left behind


def test_a_full_disk_is_one_line_naming_the_file(full_disk):
    from profiling_dit._io import atomic_write_text
    from profiling_dit.cli._errors import os_message

    with pytest.raises(OSError) as e:
        atomic_write_text(full_disk / "good.json", "x" * 100_000)
    message = os_message(e.value)
    assert "No space left on device" in message and "good.json" in message and "\n" not in message
    assert (full_disk / "good.json").read_text() == '{"report": 1}\n'  # the old report is still there


@pytest.mark.slow
def test_generate_on_a_full_disk_keeps_the_old_video_and_exits_2(full_disk):
    before = (full_disk / "good.mp4").read_bytes()
    proc = subprocess.run([sys.executable, "-m", "profiling_dit.cli", "generate", "--prompt", "a red ball", "--steps",
                           "2", "--height", "32", "--width", "32", "--frames", "5", "--out", str(full_disk / "good.mp4"),
                           "--force"], capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr and proc.stderr.strip().splitlines()[-1].startswith("Error: ")
    assert "Wrote" not in proc.stdout
    assert (full_disk / "good.mp4").read_bytes() == before


# --- racing writers and stale temporaries ---------------------------------------------------------------------------
def test_of_two_runs_racing_to_one_file_without_force_one_writes_it(tmp_path):
    from profiling_dit.pipeline.video_io import check_output_path, write_video

    out = tmp_path / "v.npy"
    check_output_path(out), check_output_path(out)  # both runs' checks pass: the file is not there yet
    write_video(FRAMES, out, overwrite=False)
    with pytest.raises(OutputPathError, match="appeared while this run worked"):
        write_video(FRAMES[::-1].copy(), out, overwrite=False)
    assert np.array_equal(np.load(out), FRAMES)
    write_video(FRAMES[::-1].copy(), out, overwrite=True)  # --force
    assert np.array_equal(np.load(out), FRAMES[::-1])


def test_a_live_runs_temporaries_are_not_removed_by_another_run(tmp_path):
    from profiling_dit._io import SET_MARK, remove_stale_sets, remove_stale_temporaries

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()
    live_set, dead_set = tmp_path / f"{SET_MARK}{os.getpid()}-a", tmp_path / f"{SET_MARK}{dead}-b"
    live_tmp, dead_tmp = tmp_path / f".v.mp4.{os.getpid()}-x.pdit-tmp.mp4", tmp_path / f".v.mp4.{dead}-y.pdit-tmp.mp4"
    for p in (live_set, dead_set):
        p.mkdir()
    for p in (live_tmp, dead_tmp):
        p.write_bytes(b"x")
    remove_stale_sets(tmp_path)
    assert remove_stale_temporaries(tmp_path / "v.mp4") == [dead_tmp]
    assert live_set.exists() and live_tmp.exists() and not dead_set.exists() and not dead_tmp.exists()


def test_a_refused_output_path_creates_no_folder(tmp_path):
    from profiling_dit.pipeline.video_io import check_output_path

    with pytest.raises(OutputPathError):
        check_output_path(tmp_path / "new" / "deeper" / "v.txt")
    assert check_output_path(tmp_path / "new" / "deeper" / "v.npy") == tmp_path / "new" / "deeper" / "v.npy"
    assert not (tmp_path / "new").exists()  # made only when the file is written
    with pytest.raises(OutputPathError, match="empty"):
        check_output_path("")


# --- model folders, checked from their small files before any weights load ------------------------------------------
@pytest.fixture(scope="module")
def saved_folder(tmp_path_factory):
    from profiling_dit.embedded.tiny import build_tiny_pipeline

    folder = tmp_path_factory.mktemp("folder") / "tiny"
    build_tiny_pipeline(seed=1, num_layers=2).save_pretrained(folder, safe_serialization=True)
    (folder / "pdit_model.json").write_text(json.dumps({"max_sequence_length": 16, "default_steps": 4}))
    return folder


def _edit_json(name, edit):
    def apply(folder: Path):
        path = folder / name
        data = json.loads(path.read_text())
        path.write_text(json.dumps(edit(data)))
    return apply


def _write(name, text):
    def apply(folder: Path):
        (folder / name).write_text(text)
    return apply


def _pickles_only(component, suffix=".bin"):
    def apply(folder: Path):
        for p in (folder / component).glob("*.safetensors"):
            p.rename(p.with_suffix(suffix))
    return apply


def _edit_header(name, edit):
    """Rewrite a safetensors file's JSON header (its tensors' bytes kept as they are)."""
    def apply(folder: Path):
        path = folder / name
        raw = path.read_bytes()
        length = int.from_bytes(raw[:8], "little")
        header = json.loads(raw[8:8 + length])
        first = next(k for k in header if k != "__metadata__")
        edit(header[first])
        new = json.dumps(header).encode()
        path.write_bytes(len(new).to_bytes(8, "little") + new + raw[8 + length:])
    return apply


def _truncate(name):
    def apply(folder: Path):
        path = folder / name
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    return apply


def _remove(name):
    def apply(folder: Path):
        path = folder / name
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    return apply


def _component(name, entry):
    return _edit_json("model_index.json", lambda d: {**d, name: entry})


VAE_WEIGHTS = "vae/diffusion_pytorch_model.safetensors"
# case -> (how to break a saved folder, the words its one-line refusal must hold: what is wrong, and where)
MALFORMED = {
    "pdit_model.json is a list": (_write("pdit_model.json", "[1, 2]"), ["not a JSON object"]),
    "max_sequence_length -1": (_edit_json("pdit_model.json", lambda d: {**d, "max_sequence_length": -1}),
                               ["max_sequence_length"]),
    "max_sequence_length 1e9": (_edit_json("pdit_model.json", lambda d: {**d, "max_sequence_length": 10**9}),
                                ["max_sequence_length"]),
    "transformer config a list": (_write("transformer/config.json", "[]"), ["not a JSON object"]),
    "_class_name a list": (_edit_json("transformer/config.json", lambda d: {**d, "_class_name": ["x"]}),
                           ["_class_name"]),
    "3000 layers for 2": (_edit_json("transformer/config.json", lambda d: {**d, "num_layers": 3000}),
                          ["claims 3000 blocks"]),
    "model_index.json not JSON": (_write("model_index.json", "{not json"), ["not readable JSON"]),
    ".bin weights only": (_pickles_only("transformer"), ["transformer", "pickles are never loaded"]),
    "a broken safetensors header": (_write("transformer/diffusion_pytorch_model.safetensors", "\x10"),
                                    ["not a safetensors file"]),
    # issue 36: each was refused only once diffusers had started loading, or ended in a traceback
    "the pipeline's _class_name a list": (
        _edit_json("model_index.json", lambda d: {**d, "_class_name": ["pipeline", "WanPipeline"]}),
        ["model_index.json", "`_class_name` must name a diffusers pipeline class"]),
    "text_encoder pickles only": (_pickles_only("text_encoder"), ["text_encoder", "model.bin", "never loaded"]),
    "vae pickles only": (_pickles_only("vae", ".pth"), ["vae", "diffusion_pytorch_model.pth", "never loaded"]),
    "os.system": (_component("vae", ["os", "system"]), ["`vae`", "'os'", "only from diffusers or transformers"]),
    "builtins.eval": (_component("text_encoder", ["builtins", "eval"]), ["`text_encoder`", "'builtins'"]),
    "subprocess.Popen": (_component("scheduler", ["subprocess", "Popen"]), ["`scheduler`", "'subprocess'"]),
    "a module for a class": (_component("vae", ["diffusers", "models"]), ["`vae`", "'models'", "not a class name"]),
    "a constant for a class": (_component("vae", ["transformers", "CONFIG_NAME"]), ["`vae`", "not a class name"]),
    "half a pair": (_component("vae", ["diffusers", None]), ["`vae`", "not a class name"]),
    "not a pair": (_component("tokenizer", "x"), ["`tokenizer`", "not [library, class]"]),
    "no transformer": (_component("transformer", [None, None]), ["no diffusers `transformer`"]),
    "custom_pipeline": (_edit_json("model_index.json", lambda d: {**d, "custom_pipeline": "evil"}),
                        ["custom_pipeline", "never loaded"]),
    "a .py file in a component": (_write("text_encoder/modeling_evil.py", "import os\n"),
                                  ["text_encoder", "modeling_evil.py", "never run"]),
    "a pipeline.py beside model_index.json": (_write("pipeline.py", "import os\n"), ["pipeline.py", "never run"]),
    "auto_map in a config": (_edit_json("text_encoder/config.json",
                                        lambda d: {**d, "auto_map": {"AutoModel": "modeling_evil.Evil"}}),
                             ["text_encoder", "auto_map"]),
    "a component without its folder": (_remove("vae"), ["`vae`", "not a folder"]),
    "a component without a config": (_remove("scheduler/scheduler_config.json"), ["scheduler", "has no config"]),
    "a model config without weights": (_remove(VAE_WEIGHTS), ["vae", "no safetensors weights"]),
    "a truncated safetensors": (_truncate(VAE_WEIGHTS), [VAE_WEIGHTS, "truncated"]),
    "2^50 elements": (_edit_header(VAE_WEIGHTS, lambda t: t.update(shape=[2**50])),
                      [VAE_WEIGHTS, f"claims {2**50} elements"]),
    "2^50 elements, offsets to match": (
        _edit_header(VAE_WEIGHTS, lambda t: t.update(shape=[2**50], data_offsets=[0, 2**50 * 4])),
        [VAE_WEIGHTS, "truncated"]),
    "an unknown dtype": (_edit_header(VAE_WEIGHTS, lambda t: t.update(dtype="Q7")), [VAE_WEIGHTS, "dtype 'Q7'"]),
    "a shard index naming a file elsewhere": (
        _write("vae/diffusion_pytorch_model.safetensors.index.json",
               json.dumps({"weight_map": {"decoder.conv_in.bias": "../../etc/passwd"}})),
        ["vae", "'../../etc/passwd'", "not a safetensors file beside it"]),
    "a component named by a path": (_component("../vae", ["diffusers", "AutoencoderKLWan"]),
                                    ["`../vae`", "not a component name"]),
    "a patch size of one number": (_edit_json("transformer/config.json", lambda d: {**d, "patch_size": [1]}),
                                   ["transformer/config.json", "`patch_size`"]),
    "a position limit that is not a number": (
        _edit_json("transformer/config.json", lambda d: {**d, "rope_max_seq_len": "x"}), ["`rope_max_seq_len`"]),
}

_RESOLVE_EACH = """
import json, sys
from profiling_dit.pipeline.loading import resolve_model
out = {}
for case, folder in json.loads(sys.argv[1]).items():
    try:
        resolve_model(folder)
        out[case] = ["accepted", "", "diffusers" in sys.modules]
    except Exception as e:
        out[case] = [type(e).__name__, str(e), "diffusers" in sys.modules]
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def refusals(saved_folder, tmp_path_factory):
    """Each malformed folder (and the good ones) resolved in one fresh process: case -> (outcome, message, whether
    diffusers had been imported by then)."""
    root = tmp_path_factory.mktemp("malformed")
    folders = {"the good folder": str(saved_folder), "tiny": "tiny", "tiny-deep": "tiny-deep"}
    for i, (case, (edit, _)) in enumerate(MALFORMED.items()):
        folder = root / f"m{i}"
        shutil.copytree(saved_folder, folder)
        edit(folder)
        folders[case] = str(folder)
    run = subprocess.run([sys.executable, "-c", _RESOLVE_EACH, json.dumps(folders)], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-2000:]
    return json.loads(run.stdout)


@pytest.mark.parametrize("case", list(MALFORMED))
def test_a_malformed_model_folder_is_refused_in_one_line_before_loading(refusals, case):
    outcome, message, diffusers_imported = refusals[case]
    assert outcome == "ModelNotAvailableError", (outcome, message)
    assert all(needle in message for needle in MALFORMED[case][1]) and "\n" not in message, message
    assert not diffusers_imported


def test_good_folders_pass_the_check_without_diffusers_and_load(refusals, saved_folder):
    from profiling_dit.pipeline.loading import load_pipeline, resolve_model

    for case in ("the good folder", "tiny", "tiny-deep"):
        assert refusals[case] == ["accepted", "", False], refusals[case]
    assert type(load_pipeline(resolve_model(str(saved_folder)), device="cpu").pipe).__name__ == "WanPipeline"


def test_a_folder_is_checked_without_importing_diffusers(saved_folder, tmp_path):
    folder = tmp_path / "m"
    shutil.copytree(saved_folder, folder)
    _edit_json("transformer/config.json", lambda d: {**d, "num_layers": 3000})(folder)
    code = ("import sys\nfrom profiling_dit.pipeline.loading import resolve_model\ntry:\n"
            f"    resolve_model({str(folder)!r})\nexcept Exception as e:\n    print(type(e).__name__)\n"
            "print('diffusers' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.split()
    assert out == ["ModelNotAvailableError", "False"]


def test_sizes_past_the_models_position_embedding_are_refused_before_loading(saved_folder, tmp_path):
    from profiling_dit import preflight
    from profiling_dit.pipeline.loading import resolve_model

    folder = tmp_path / "m"
    shutil.copytree(saved_folder, folder)
    _edit_json("transformer/config.json", lambda d: {**d, "rope_max_seq_len": 4})(folder)
    source = resolve_model(str(folder))
    with pytest.raises(InvalidSettingError, match="position embedding covers 4 positions"):
        preflight.settings_for(source, prompt="a red ball", height=128, width=128, frames=5)
    preflight.settings_for(source, prompt="a red ball", height=32, width=32, frames=5)  # 2x2 patches of 16 px: fits


def test_a_profile_given_sets_the_sizes_and_steps(saved_folder):
    import profiling_dit as pdit
    from profiling_dit import preflight

    profile = pdit.Profile.load(pdit.shipped_profile("tiny"))
    source = pdit.resolve_model("tiny")
    settings = preflight.settings_for(source, profile, prompt="a red ball")
    run = profile.run
    assert (settings.steps, settings.height, settings.width, settings.frames) == (run.steps, run.height, run.width,
                                                                                run.frames)
    assert preflight.settings_for(source, profile, prompt="a red ball", steps=7).steps == 7


# --- images --------------------------------------------------------------------------------------------------------
def _file(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _png_header(path: Path, width: int, height: int) -> Path:
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
                     + chunk(b"IEND", b""))
    return path


@pytest.mark.parametrize("make, needle", [
    (lambda p: _png_header(p / "bomb.png", 100_000, 100_000), "more pixels"),
    (lambda p: _png_header(p / "wide.png", 5000, 10), "at most 4096"),
    (lambda p: _file(p / "empty.png", b""), "not a readable image"),
    (lambda p: _file(p / "text.png", b"hello"), "not a readable image"),
])
def test_an_image_is_checked_from_its_header(tmp_path, make, needle):
    from profiling_dit.pipeline.settings import GenerationSettings

    with pytest.raises(InvalidSettingError, match=needle):
        GenerationSettings(prompt="x", image=str(make(tmp_path)))


# --- messages -------------------------------------------------------------------------------------------------------
def test_a_profile_field_is_not_shown_as_a_flag():
    from profiling_dit.cli import app  # noqa: F401  (registers the app's flags)
    from profiling_dit.cli._errors import cli_message

    assert cli_message("profile: field `model` is missing") == "profile: field `model` is missing"
    assert cli_message("give `model` a folder") == "give --model a folder"


def test_every_refusal_here_is_a_pdit_error():
    assert issubclass(ModelNotAvailableError, PditError) and issubclass(OutputPathError, PditError)


def test_garbage_lpips_weights_are_refused_before_anything_loads(tmp_path):
    from profiling_dit.bench.runner import BenchSettings

    weights = tmp_path / "lpips.safetensors"
    weights.write_bytes(b"\xff" * 64)
    with pytest.raises(InvalidSettingError, match="not a safetensors file"):
        BenchSettings(prompts=("a red ball",), lpips_weights=str(weights))


def test_of_two_runs_racing_to_one_set_without_force_one_writes_it(tmp_path):
    from profiling_dit._io import atomic_set

    with atomic_set(tmp_path, overwrite=False) as stage:  # the first run: writes its set
        stage("pic.png").write_text("first picture")
        stage("p.json").write_text("first")
    with pytest.raises(FileExistsError):  # the second, whose checks passed before the first wrote
        with atomic_set(tmp_path, overwrite=False) as stage:
            stage("pic.png").write_text("second picture")
            stage("p.json").write_text("second")
    assert (tmp_path / "p.json").read_text() == "first" and (tmp_path / "pic.png").read_text() == "first picture"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.json", "pic.png"]  # no staging folder left
    with atomic_set(tmp_path) as stage:  # --force
        stage("p.json").write_text("second")
    assert (tmp_path / "p.json").read_text() == "second"


def test_model_folder_fuzzer_finds_no_traceback(saved_folder, tmp_path):
    """Seeded mutations of a saved folder's small files (types, huge and negative numbers, lists, strings, keys
    removed, components that name callables or modules, safetensors headers that lie): each must resolve and give
    its settings, or be refused in one line as a PditError."""
    import random

    from profiling_dit import preflight
    from profiling_dit.pipeline.loading import resolve_model

    rng = random.Random(7)
    values = [None, -1, 0, 10**30, 1.5e308, "x", [], [1], {}, True, float("nan"), ["os", "system"],
              ["builtins", "eval"], ["subprocess", "Popen"], ["diffusers", "models"], ["diffusers", None],
              ["pipeline", "WanPipeline"], [None, None]]
    header_values = [None, -1, "F99", "F16", [2**50], [-1], [0, 2**52], [10, 2], [0, 0], [2**62, 2**62 + 4]]
    files = {"pdit_model.json": ["max_sequence_length", "default_steps", "default_height", "trained", "judge"],
             "transformer/config.json": ["_class_name", "num_layers", "patch_size", "rope_max_seq_len",
                                         "num_attention_heads", "auto_map"],
             "model_index.json": ["_class_name", "transformer", "vae", "text_encoder", "tokenizer", "scheduler",
                                  "transformer_2", "custom_pipeline"],
             "text_encoder/config.json": ["auto_map", "architectures"],
             VAE_WEIGHTS: ["dtype", "shape", "data_offsets"]}
    outcomes = {"accepted": 0, "refused": 0}
    for i in range(60):
        folder = tmp_path / f"m{i}"
        shutil.copytree(saved_folder, folder)
        name = rng.choice(list(files))
        key = rng.choice(files[name])
        if name == VAE_WEIGHTS:
            value = rng.choice(header_values)
            _edit_header(name, lambda t, key=key, value=value: t.update({key: value}))(folder)
        else:
            data = json.loads((folder / name).read_text())
            if rng.random() < 0.2:
                data.pop(key, None)
            else:
                data[key] = rng.choice(values)
            (folder / name).write_text(json.dumps(data))  # NaN is written as NaN, which JSON does not allow
        try:
            source = resolve_model(str(folder))
            preflight.settings_for(source, prompt="a red ball")  # reads the pipeline class (image or not)
            outcomes["accepted"] += 1
        except PditError as e:
            assert "\n" not in str(e), str(e)
            outcomes["refused"] += 1
        shutil.rmtree(folder)
    assert outcomes["refused"] > 20 and outcomes["accepted"] > 5, outcomes


def test_a_bench_of_the_baseline_alone_draws_its_plot(tmp_path):
    from profiling_dit.bench.report import pareto_plot

    results = {"summary": [{"method": "baseline", "setting": "defaults", "status": "ok", "psnr": float("inf"),
                            "computed_share": 1.0, "transformer_speedup": 1.0}],
               "runs": [], "settings": {"prompts": ["x"], "seeds": [0], "steps": 4}}
    assert pareto_plot(results, tmp_path / "p.png").stat().st_size > 0


def test_a_prompts_file_too_long_to_bench_is_one_line(tmp_path):
    from profiling_dit.bench.runner import read_prompts

    big = tmp_path / "prompts.txt"
    big.write_text("a red ball\n" * 10_000)
    with pytest.raises(InvalidSettingError, match="over 64 KB"):
        read_prompts(str(big))
    with pytest.raises(InvalidSettingError, match="folder"):
        read_prompts(str(tmp_path))


def test_processes_that_cannot_split_the_heads_are_refused_before_launching(monkeypatch, capsys, tmp_path):
    import subprocess as sp

    from profiling_dit.cli.app import main

    launched = []
    monkeypatch.setattr(sp, "call", lambda *a, **k: launched.append(a) or 0)
    monkeypatch.setattr(sys, "argv", ["pdit", "generate", "--model", "tiny-deep", "--prompt", "a red ball", "--out",
                                      str(tmp_path / "v.npy"), "--nproc", "2", "--context-parallel", "ulysses"])
    with pytest.raises(SystemExit) as e:
        main()
    err = capsys.readouterr().err
    assert e.value.code == 2 and "splits the 1 attention heads" in err and launched == []


@pytest.mark.parametrize("device", ["", " ", "\t", "cuda:x", "meta", " cpu"])
def test_an_empty_or_unknown_device_is_refused_in_one_line(device):
    from profiling_dit.pipeline.loading import resolve_device
    from profiling_dit.pipeline.settings import check_device

    with pytest.raises(InvalidSettingError, match="`device`") as e:
        resolve_device(device)
    assert "\n" not in str(e.value) and ("empty" in str(e.value)) == (not device.strip())
    assert check_device("CPU") == "cpu" and check_device("cuda:1") == "cuda:1" and check_device("auto") == "auto"
