"""The embedded model's training tooling (tools/train_embedded) runs end to end on a miniature configuration,
resumes from checkpoints, writes the shipped model cards, and stays off the library's import path."""

import ast
import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from profiling_dit.embedded.pooling_vae import build_pooling_vae
from profiling_dit.errors import InvalidSettingError
from tools.train_embedded import TrainConfig, load_checkpoint, save_checkpoint, train_tiny, write_model_card


def test_checkpoint_round_trip(tmp_path):
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model(torch.randn(4, 3)).sum().backward()
    opt.step()
    save_checkpoint(tmp_path / "c", model, opt, 7, {"note": "x"})
    model2 = torch.nn.Linear(3, 2)
    opt2 = torch.optim.AdamW(model2.parameters(), lr=1e-3)
    meta = load_checkpoint(tmp_path / "c", model2, opt2)
    assert meta["step"] == 7 and meta["note"] == "x"
    assert torch.equal(model.weight, model2.weight)
    assert torch.equal(opt.state_dict()["state"][0]["exp_avg"], opt2.state_dict()["state"][0]["exp_avg"])


def test_miniature_training_runs_and_loads(tmp_path):
    cfg = TrainConfig(out=str(tmp_path / "run"), clips=6, frames=5, height=32, width=32, dit_steps=3, dit_batch=2,
                      dit_image_steps=2, dit_image_batch=3, num_layers=2, checkpoint_every=2)
    folder = train_tiny(cfg)
    log = [json.loads(line) for line in (tmp_path / "run" / "loss_log.jsonl").read_text().splitlines()]
    assert [r["stage"] for r in log] == ["transformer"] * 5
    # image pre-training on latent frame 0, then whole clips (5 frames -> 2 latent frames)
    assert [r["latent_frames"] for r in log if r["stage"] == "transformer"] == [1, 1, 2, 2, 2]
    assert all(r["latent_size"] == [8, 8] for r in log)  # whole frames
    assert all(np.isfinite(r["loss"]) for r in log)
    meta = json.loads((folder / "pdit_model.json").read_text())
    assert meta["trained"] is True
    # the saved folder loads through the normal path and generates
    from profiling_dit.pipeline.generation import GenerationSettings, generate
    from profiling_dit.pipeline.loading import load_pipeline, resolve_model

    model = load_pipeline(resolve_model(str(folder)), device="cpu")
    frames = generate(model, GenerationSettings(prompt="a red circle moving left over grass", height=32, width=32,
                                                frames=5, steps=2)).frames
    assert frames.shape == (1, 5, 32, 32, 3)
    # resuming a finished run does no more steps
    train_tiny(cfg)
    log2 = (tmp_path / "run" / "loss_log.jsonl").read_text().splitlines()
    assert len(log2) == len(log)
    # the model card states what the evaluation measured, and how the model was trained
    verdicts = [{"passed": p, "color_ok": p, "motion_ok": True, "background_ok": True} for p in (True, False, True)]
    card = write_model_card(folder, cfg, {"verdicts": verdicts, "vae_psnr_held_out": 17.25, "train_seconds": 600})
    text = card.read_text()
    assert card == folder / "README.md"
    assert "**2/3 passed**" in text and "colour right 2/3" in text and "direction right 3/3" in text
    assert "17.2 dB" in text and "about 10 minutes of training" in text
    assert ("flow matching, steps 1-2 on first frames (images) at batch 3, then steps 3-5 on whole clips at batch 2"
            in text)
    assert "At 5 x 32 x 32 the transformer sees 2 latent frames of 4 x 4 = 16 tokens" in text


def test_vae_encodes_to_the_planned_latent_grid():
    vae = build_pooling_vae()
    with torch.no_grad():
        z = vae.encode(torch.zeros(1, 3, 17, 128, 128)).latent_dist.mode()
    assert tuple(z.shape) == (1, 12, 5, 32, 32)  # with patch (1,2,2): 256 tokens per latent frame


def _trained_log(cfg: TrainConfig) -> list[dict]:
    """Train ``cfg`` and return its loss log."""
    train_tiny(cfg)
    return [json.loads(line) for line in (Path(cfg.out) / "loss_log.jsonl").read_text().splitlines()]


def _window_config(tmp_path, **overrides) -> TrainConfig:
    """A miniature run: crops of 2-latent-frame windows centred on the object, then one whole-clip step."""
    return TrainConfig(**{**dict(out=str(tmp_path / "run"), clips=4, frames=9, height=32, width=32, dit_steps=3,
                                 dit_batch=2, dit_image_steps=0, dit_crop=4, dit_crop_batch=3, dit_crop_frames=2,
                                 dit_crop_on_object=True, dit_full_steps=1, num_layers=1), **overrides})


def test_video_steps_on_latent_crops_then_whole_frames(tmp_path):
    cfg = TrainConfig(out=str(tmp_path / "run"), clips=4, frames=5, height=32, width=32, dit_steps=3, dit_batch=2,
                      dit_image_steps=0, dit_crop=4, dit_crop_batch=3, dit_crop_strips=False, dit_full_steps=1,
                      num_layers=1, checkpoint_every=2)
    log = _trained_log(cfg)
    assert len(log) == 3 and all(np.isfinite(r["loss"]) for r in log)
    # crops of the 8x8 latent of a 32x32 clip, then the last step on whole frames at the whole-clip batch
    assert [r["latent_size"] for r in log] == [[4, 4], [4, 4], [8, 8]]
    assert [r["batch"] for r in log] == [3, 3, 2]


def test_strips_work_when_the_clips_hold_one_motion_axis(tmp_path):
    # The first 4 training scenes all move left: every strip is then a row strip.
    cfg = TrainConfig(out=str(tmp_path / "run"), clips=4, frames=5, height=32, width=32, dit_steps=3, dit_batch=2,
                      dit_image_steps=0, dit_crop=4, dit_crop_batch=3, dit_crop_strips=True, dit_full_steps=1,
                      num_layers=1)
    log = _trained_log(cfg)
    assert [r["latent_size"] for r in log] == [[4, 8], [4, 8], [8, 8]]


def test_a_crop_larger_than_the_latent_is_refused(tmp_path):
    cfg = TrainConfig(out=str(tmp_path / "run"), clips=2, frames=5, height=32, width=32, dit_steps=2,
                      dit_image_steps=0, dit_crop=16, dit_full_steps=0, num_layers=1)
    with pytest.raises(InvalidSettingError, match="--dit-crop"):
        train_tiny(cfg)


def test_the_model_card_says_how_often_the_direction_is_right():
    from tools.train_embedded.model_card import _motion_limit

    assert "does not move the object" in _motion_limit(1, 20)
    assert "only 8 of 20" in _motion_limit(8, 20)
    assert _motion_limit(17, 20) == "" and _motion_limit(0, 0) == ""


def test_the_model_card_phases_follow_the_config_when_there_is_no_log(tmp_path):
    from tools.train_embedded.model_card import _phases

    cfg = TrainConfig(out=str(tmp_path), dit_image_steps=2, dit_steps=5, dit_crop=16, dit_crop_batch=16,
                      dit_crop_strips=False, dit_full_steps=2)
    assert _phases(tmp_path / "missing.jsonl", cfg) == (
        "steps 1-2 on first frames (images) at batch 16, then steps 3-5 on 8x8-token crops centred on the object "
        "of 3-latent-frame windows at batch 16, then steps 6-7 on whole clips at batch 4")
    cfg = dataclasses.replace(cfg, dit_crop_frames=0, dit_crop_on_object=False, dit_batch=8)
    assert _phases(tmp_path / "missing.jsonl", cfg) == (
        "steps 1-2 on first frames (images) at batch 16, then steps 3-5 on 8x8-token crops of clips at batch 16, "
        "then steps 6-7 on whole clips at batch 8")


def test_crops_can_be_short_windows_centred_on_the_object():
    from tools.train_embedded.transformer import _crop_boxes

    cfg = TrainConfig(out="unused", dit_crop=4, dit_crop_frames=2, dit_crop_on_object=True)
    foreground = torch.zeros(3, 5, 16, 16)
    foreground[0, :, 12, 12] = 1.0  # clip 0: the object sits at latent cell (12, 12)
    foreground[1, :3, 2, 3] = 1.0   # clip 1: at (2, 3) in latent frames 0-2 only
    rng = np.random.default_rng(0)
    for _ in range(20):
        boxes = _crop_boxes(cfg, rng, np.array([0, 1, 2]), torch.Size([3, 12, 5, 16, 16]), foreground)
        for t, r, c in boxes:
            assert t.stop - t.start == 2 and 0 <= t.start <= 3
            assert r.stop - r.start == 4 and c.stop - c.start == 4 and r.start % 2 == 0 and c.start % 2 == 0
            assert 0 <= r.start <= 12 and 0 <= c.start <= 12
        t, r, c = boxes[0]
        assert r.start <= 12 < r.stop and c.start <= 12 < c.stop  # the object is in the crop
        t, r, c = boxes[1]
        if t.start <= 2:  # the window holds the object: the crop does too
            assert r.start <= 2 < r.stop and c.start <= 3 < c.stop


def test_training_on_object_centred_windows_runs_and_says_so(tmp_path):
    from tools.train_embedded.model_card import _phases

    cfg = _window_config(tmp_path, dit_crop_strips=False)
    log = _trained_log(cfg)
    assert [r["latent_frames"] for r in log] == [2, 2, 3] and all(np.isfinite(r["loss"]) for r in log)
    assert _phases(tmp_path / "run" / "loss_log.jsonl", cfg) == (
        "steps 1-2 on 2x2-token crops centred on the object of 2-latent-frame windows at batch 3, "
        "then steps 3-3 on whole clips at batch 2")


def test_the_same_seed_trains_the_same_weights(tmp_path):
    """`make train-tiny` is seeded: two runs of one config give byte-identical transformer weights."""
    from safetensors.torch import load_file

    weights = []
    for name in ("a", "b"):
        cfg = _window_config(tmp_path, out=str(tmp_path / name), dit_image_steps=1, dit_image_batch=2,
                             dit_crop_batch=2)
        folder = train_tiny(cfg)
        weights.append(load_file(str(folder / "transformer" / "diffusion_pytorch_model.safetensors")))
    assert weights[0].keys() == weights[1].keys()
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])
    other = dataclasses.replace(cfg, out=str(tmp_path / "c"), seed=1)  # and another seed gives other weights
    changed = load_file(str(train_tiny(other) / "transformer" / "diffusion_pytorch_model.safetensors"))
    assert not all(torch.equal(weights[0][k], changed[k]) for k in weights[0])


def test_strip_crops_span_the_motion_axis_and_hold_the_object():
    from tools.train_embedded.transformer import _crop_boxes, _motion_axes

    assert list(_motion_axes(["a red circle moving left over grass", "a red circle moving up over sky",
                              "a black square moving down over sand", "a blue triangle moving right over floor"])
                ) == [1, 0, 0, 1]
    cfg = TrainConfig(out="unused", dit_crop=6, dit_crop_frames=3, dit_crop_on_object=True, dit_crop_strips=True)
    foreground = torch.zeros(2, 5, 16, 16)
    foreground[0, :, 4, 13] = 1.0  # clip 0: the object at latent cell (4, 13)
    foreground[1, :, 11, 2] = 1.0  # clip 1: at (11, 2)
    rng = np.random.default_rng(0)
    for axis in (0, 1):
        for _ in range(20):
            boxes = _crop_boxes(cfg, rng, np.array([0, 1]), torch.Size([2, 12, 5, 16, 16]), foreground, axis)
            for (t, r, c), (oy, ox) in zip(boxes, ((4, 13), (11, 2))):
                assert t.stop - t.start == 3
                along, across = (r, c) if axis == 0 else (c, r)
                assert along == slice(None)  # the whole frame along the motion axis: both its edges
                assert across.stop - across.start == 6 and across.start % 2 == 0
                assert 0 <= across.start and across.stop <= 16
                assert across.start <= (ox if axis == 0 else oy) < across.stop  # and the object


def test_training_on_strips_alternates_axes_and_says_so(tmp_path):
    from tools.train_embedded.model_card import _phases

    cfg = _window_config(tmp_path, clips=8, dit_steps=4, dit_crop_strips=True)
    log = _trained_log(cfg)
    assert [r["latent_size"] for r in log] == [[8, 4], [4, 8], [8, 4], [8, 8]]
    assert all(np.isfinite(r["loss"]) for r in log)
    expected = ("steps 1-3 on strips 4 tokens long (the whole frame along the motion) and 2 wide centred on the "
                "object of 2-latent-frame windows at batch 3, then steps 4-4 on whole clips at batch 2")
    assert _phases(tmp_path / "run" / "loss_log.jsonl", cfg) == expected
    assert _phases(tmp_path / "missing.jsonl", cfg) == expected


def test_the_deep_architecture_is_chosen_by_name_and_its_card_says_so(tmp_path):
    from profiling_dit.embedded.tiny import TINY_DEEP_TRANSFORMER_CONFIG, build_tiny_pipeline
    from tools.train_embedded.config import transformer_config

    cfg = TrainConfig(out=str(tmp_path / "run"), arch="tiny-deep", clips=4, frames=5, height=32, width=32,
                      dit_steps=1, dit_batch=2, dit_image_steps=1, dit_image_batch=2, num_layers=2, device="cpu")
    assert transformer_config(cfg) == {**TINY_DEEP_TRANSFORMER_CONFIG, "num_layers": 2}
    assert TINY_DEEP_TRANSFORMER_CONFIG["num_layers"] >= 20
    pipe = build_tiny_pipeline(arch="tiny-deep")
    assert len(pipe.transformer.blocks) == TINY_DEEP_TRANSFORMER_CONFIG["num_layers"]
    assert pipe.transformer.config.num_attention_heads == 1 and pipe.transformer.config.ffn_dim == 128
    folder = train_tiny(cfg)
    trained = json.loads((folder / "transformer" / "config.json").read_text())
    assert (trained["num_layers"], trained["num_attention_heads"], trained["ffn_dim"]) == (2, 1, 128)
    verdicts = [{"passed": True, "color_ok": True, "motion_ok": True, "background_ok": True}]
    text = write_model_card(folder, cfg, {"verdicts": verdicts, "vae_psnr_held_out": 20.0}).read_text()
    assert text.startswith("# pdit tiny-wan-deep") and "--model tiny-deep" in text
    assert "2 blocks, 1 head x 64, FFN 128" in text and "make train-tiny-deep" in text
    with pytest.raises(InvalidSettingError, match="tiny-deep"):
        transformer_config(dataclasses.replace(cfg, arch="huge"))
    with pytest.raises(InvalidSettingError, match="`arch`"):
        build_tiny_pipeline(arch="huge")


def test_training_time_is_the_loss_logs_span_without_pauses(tmp_path):
    from tools.train_embedded.stages import transformer_seconds

    log = tmp_path / "loss_log.jsonl"
    assert transformer_seconds(log) == 0.0
    times = [100.0, 101.0, 102.0, 5000.0, 1e4 + 1, 1e4 + 2]  # resumed after two pauses
    log.write_text("".join(json.dumps({"stage": "transformer", "step": i, "time": t}) + "\n"
                           for i, t in enumerate(times)))
    assert transformer_seconds(log) == 5.0


def test_a_finished_run_resumed_with_more_steps_continues_and_says_so(tmp_path):
    from tools.train_embedded.model_card import _phases

    cfg = _window_config(tmp_path, clips=8, dit_steps=3, dit_crop_strips=True)
    first = _trained_log(cfg)
    longer = dataclasses.replace(cfg, dit_steps=5)
    log = _trained_log(longer)
    assert log[:3] == first and [r["step"] for r in log] == [1, 2, 3, 4, 5]  # two more steps, the first kept
    assert [r["latent_size"] for r in log] == [[8, 4], [4, 8], [8, 8], [4, 8], [8, 8]]  # strips again, then a clip
    assert _phases(tmp_path / "run" / "loss_log.jsonl", longer) == (
        "steps 1-2 on strips 4 tokens long (the whole frame along the motion) and 2 wide centred on the object of "
        "2-latent-frame windows at batch 3, then steps 3-3 on whole clips at batch 2 (the run ended here and was "
        "resumed with more video steps: its learning rate's cosine restarted at the longer schedule's value), then "
        "steps 4-4 on strips 4 tokens long (the whole frame along the motion) and 2 wide centred on the object of "
        "2-latent-frame windows at batch 3, then steps 5-5 on whole clips at batch 2")



# --- the tooling is off the library's path ---------------------------------------------------------------------------
ROOT = Path(__file__).resolve().parents[1]
LIB = ROOT / "src" / "profiling_dit"


def _imports(source: str, package: str) -> set[str]:
    """The modules ``source``, a module of ``package``, imports anywhere in it (relative imports resolved)."""
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            parts = package.split(".")
            base = parts[:len(parts) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            names |= {module} | {f"{module}.{alias.name}" for alias in node.names}
    return names


def _tooling(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if m.split(".")[0] == "tools" or m.startswith("profiling_dit.embedded.training"))


def test_no_library_module_imports_the_training_tooling():
    assert _tooling(_imports("from tools.train_embedded import train_tiny\nfrom . import training\n",
                             "profiling_dit.embedded")) == [
        "profiling_dit.embedded.training", "tools.train_embedded", "tools.train_embedded.train_tiny"]  # it sees them
    assert not (LIB / "embedded" / "training.py").exists()
    found = {str(path.relative_to(LIB)): _tooling(_imports(path.read_text(), ".".join(
        path.relative_to(LIB.parent).parts[:-1]))) for path in LIB.rglob("*.py")}
    assert {name: modules for name, modules in found.items() if modules} == {}


@pytest.mark.slow
def test_running_the_embedded_model_loads_none_of_its_training_tooling():
    code = ("import importlib.util, sys, profiling_dit as pdit\n"
            "m = pdit.load_pipeline('tiny', device='cpu')\n"
            "pdit.generate(m, pdit.GenerationSettings(prompt='a red ball', steps=2, height=32, width=32, frames=5))\n"
            "print(sorted(n for n in sys.modules if n.split('.')[0] == 'tools' or 'training' in n.split('.')))\n"
            "print(importlib.util.find_spec('tools.train_embedded') is not None)\n")  # it was there to be imported
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": os.pathsep.join(
        p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().splitlines()[-2:] == ["[]", "True"]


# --- the model card: a template, filled with what a run recorded ----------------------------------------------------
RESULTS = ROOT / "benchmarks" / "results"


def _verdicts(judged: int, passed: int, colour: int, motion: int, background: int) -> list[dict]:
    """Per-prompt verdicts with these counts (a run's record keeps the counts; the card reads only them)."""
    return [{"passed": i < passed, "color_ok": i < colour, "motion_ok": i < motion, "background_ok": i < background}
            for i in range(judged)]


def _write_log(folder: Path, steps: list[tuple[int, int, int, list[int], int]]) -> None:
    """A loss log of the transformer steps (first, last, latent frames, latent size, batch) of each bucket."""
    with open(folder / "loss_log.jsonl", "w") as f:
        for first, last, frames, size, batch in steps:
            for step in range(first, last + 1):
                f.write(json.dumps({"stage": "transformer", "step": step, "latent_frames": frames,
                                    "latent_size": size, "batch": batch}) + "\n")


def _tiny_run(folder: Path) -> tuple[dict, dict]:
    """The shipped 8-block model's run (run 11): its config, its evaluation on 20 held-out prompts, its loss curve
    per 200 steps (latent size and batch included)."""
    record = json.loads((RESULTS / "train-experiment-10.json").read_text())
    judged = record["eval_20_held_out"]
    _write_log(folder, [(*r["steps"], r["latent_frames"], r["latent_size"], r["batch"])
                        for r in record["loss_curve_per_200_steps"]])
    result = {"verdicts": _verdicts(20, judged["passed"], judged["colour"], judged["direction"], judged["background"]),
              "vae_psnr_held_out": judged["vae_psnr_held_out"], "train_seconds": record["train_seconds"]}
    return record["config"], result


def _deep_run(folder: Path) -> tuple[dict, dict]:
    """The shipped deep model's run: its config, its judge on all held-out prompts, its loss per 100 steps (which
    keeps the latent frames only: first frames, strips and whole clips have the config's sizes and batches)."""
    record = json.loads((RESULTS / "train-tiny-deep.json").read_text())
    config, judged = record["config"], record["judge_held_out"]
    full = [config["height"] // 4, config["width"] // 4]
    kinds = {1: (full, config["dit_image_batch"]), 3: ([full[0], config["dit_crop"]], config["dit_crop_batch"]),
             5: (full, config["dit_batch"])}
    _write_log(folder, [(*r["steps"], r["latent_frames"], *kinds[r["latent_frames"]])
                        for r in record["loss_every_100_steps"]])
    result = {"verdicts": _verdicts(judged["of"], judged["passed"], judged["colour_right"], judged["direction_right"],
                                    judged["background_right"]),
              "vae_psnr_held_out": record["vae_psnr_held_out"], "train_seconds": record["transformer_minutes"] * 60}
    return config, result


@pytest.mark.parametrize("name, run", [("tiny-wan", _tiny_run), ("tiny-wan-deep", _deep_run)])
def test_the_shipped_model_cards_are_the_template_filled_with_their_runs_records(tmp_path, name, run):
    config, result = run(tmp_path)
    cfg = TrainConfig(**{**config, "out": str(tmp_path)})  # the loss log is read from the run's folder
    card = write_model_card(tmp_path, cfg, result).read_text()
    assert card == (LIB / "assets" / name / "README.md").read_text()


def test_every_placeholder_of_the_model_card_is_filled(tmp_path):
    from tools.train_embedded.model_card import TEMPLATE, card_values, render_model_card, template_fields

    cfg = TrainConfig(out=str(tmp_path), arch="tiny-deep", seed=7, clips=123, frames=9, height=64, width=96,
                      device="cuda", cfg_dropout=0.25, ema_decay=0.99)
    values = card_values(cfg, {"verdicts": _verdicts(5, 2, 4, 3, 5), "vae_psnr_held_out": 19.96,
                               "train_seconds": 1530})
    assert set(values) == template_fields() and len(values) > 30  # every placeholder has a value, none is left over
    text = render_model_card(values)
    assert "$" not in text and "$" in TEMPLATE.read_text()
    for expected in ("# pdit tiny-wan-deep:", "`make train-tiny-deep` (`python -m tools.train_embedded --arch "
                     "tiny-deep`, seed 7) in the repository, on cuda, about 26 minutes", "- 123 clips of 9 x 64 x 96;",
                     "sees 3 latent frames of 8 x 12 = 96 tokens", "prompt dropped 25% of the time", "EMA 0.99 of",
                     "**2/5 passed** (the first 5 of the 55", "direction right 3/5", "PSNR on held-out clips: 20.0 dB",
                     "- **It moves the object the prompted way in only 3 of 5 held-out prompts**"):
        assert expected in text
    with pytest.raises(KeyError):
        render_model_card({k: v for k, v in values.items() if k != "phases"})
