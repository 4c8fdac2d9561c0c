"""Every supported family beyond the embedded Wan: HunyuanVideo, CogVideoX, Wan2.1 image-to-video.

Tiny pipelines are built from configs (``tiny_models.py``), saved with ``save_pretrained`` and loaded
back through the normal path. For each: the registry finds the blocks, the profiler's Q/K are the
ones the model's attention actually uses, the caching exactness tests hold (no background blocks,
or an all-compute plan, are bit-identical to stock sampling; reuse changes the output and removal
restores it), a profile refuses the wrong model, and profile → generate → bench run from the CLI.
"""

from __future__ import annotations

import dataclasses
import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch

import tiny_models as tm
from profiling_dit.caching.schedules import paper_plan
from profiling_dit.plan import Plan
from profiling_dit.errors import ProfileError
from profiling_dit.pipeline.generation import GenerationSettings, generate
from profiling_dit.pipeline.loading import load_pipeline, resolve_model

FAMILIES = sorted(tm.BUILDERS)


@pytest.fixture(scope="module", params=FAMILIES)
def family(request, tmp_path_factory):
    name = request.param
    size = tm.size(name)
    steps = tm.STEPS.get(name, size["steps"])
    folder = tm.save(tm.BUILDERS[name](), tmp_path_factory.mktemp(name.replace("-", "_")) / "model", steps, size)
    image = None
    if name in tm.IMAGE_TO_VIDEO:
        from PIL import Image

        image = folder.parent / "first.png"
        rgb = np.random.default_rng(0).integers(0, 255, (size["height"], size["width"], 3), dtype=np.uint8)
        Image.fromarray(rgb).save(image)
    model = load_pipeline(resolve_model(str(folder)), device="cpu")
    gen = GenerationSettings(prompt="a red circle moving left", image=str(image) if image else None, steps=steps,
                             **{k: size[k] for k in ("height", "width", "frames")})
    return SimpleNamespace(name=name, folder=folder, model=model, gen=gen, image=image, size=size,
                           stock=generate(model, gen).frames)


def _n_blocks(model, expert="transformer"):
    return len(model.arch.blocks(getattr(model.pipe, expert)))


def test_registry_counts_every_block(family):
    for name in family.model.experts:
        tr = getattr(family.model.pipe, name)
        assert _n_blocks(family.model, name) == family.model.arch.num_blocks_from_config(dict(tr.config))
    if family.name == "hunyuanvideo":  # dual-stream blocks first, then single-stream ones
        assert family.model.arch.block_names(tr)[:3] == ["transformer_blocks.0", "transformer_blocks.1",
                                                         "single_transformer_blocks.0"]


def test_profiler_qk_are_the_ones_the_attention_uses(family, monkeypatch):
    """Capture the Q/K (and key mask) that reach SDPA inside block 0's self-attention, and compare."""
    from profiling_dit.profile.attention import JointQK

    model = family.model
    attn = getattr(model.arch.blocks(model.pipe.transformer)[0], model.arch.self_attention)
    inner = attn.processor
    seen, ours, active = [], [], [False]
    sdpa = torch.nn.functional.scaled_dot_product_attention

    def spy(*args, **kw):  # diffusers' dispatcher passes query=, key=, value= by name
        names = ("query", "key", "value")
        q, k, v = (kw.pop(n) if n in kw else args[i] for i, n in enumerate(names))
        if active[0]:
            seen.append((q.clone(), k.clone(), kw.get("attn_mask")))
        return sdpa(q, k, v, **kw)

    class Wrap:
        def __getattr__(self, name):
            return getattr(inner, name)

        def __call__(self, a, *args, **kwargs):
            if not ours:
                ours.append(model.arch.self_attention_qk(a, *args, **kwargs))
                active[0] = True
            try:
                return inner(a, *args, **kwargs)
            finally:
                active[0] = False

    monkeypatch.setattr(torch.nn.functional, "scaled_dot_product_attention", spy)
    attn.set_processor(Wrap())
    try:
        generate(model, GenerationSettings(**{**family.gen.to_dict(), "steps": 1}))
    finally:
        attn.set_processor(inner)
    assert seen and ours
    q, k, mask = seen[0]
    qk = ours[0]
    if isinstance(qk, JointQK):
        torch.testing.assert_close(qk.q, q, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(qk.k, k, rtol=1e-5, atol=1e-6)
        from profiling_dit.pipeline.memory import token_grid

        n_video = qk.video.stop - qk.video.start
        assert n_video == int(np.prod(token_grid(model.source, family.gen)))  # the video tokens, from the configs
        if mask is not None:  # (B, 1, 1, S) over the keys, or (B, 1, S, S) over query-key pairs
            assert torch.equal(qk.key_mask, mask.reshape(mask.shape[0], -1, mask.shape[-1]).any(1))
    else:
        torch.testing.assert_close(qk[0], q, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(qk[1], k, rtol=1e-5, atol=1e-6)


def _plans(family, make):
    """One plan per expert, ``make(num_blocks, steps)`` over the steps it runs; with two experts each carries its
    step range."""
    ranges = family.model.expert_step_ranges(family.gen.steps)
    out = {}
    for name in family.model.experts:
        a, b = ranges[name]
        plan = make(_n_blocks(family.model, name), b - a)
        out[name] = dataclasses.replace(plan, step_range=(a, b)) if len(ranges) > 1 else plan
    return out


def _cached(family, make):
    from profiling_dit.caching.sampling import generate_cached

    result, summary = generate_cached(family.model, family.gen, _plans(family, make))
    return result.frames, summary


def test_no_background_blocks_is_bit_identical(family):
    frames, _ = _cached(family, lambda n, steps: Plan(num_blocks=n, steps=steps, cached_blocks=(), full_steps=(0,)))
    assert np.array_equal(frames, family.stock)


def test_all_compute_plan_is_bit_identical(family):
    frames, summary = _cached(family, lambda n, steps: Plan(
        num_blocks=n, steps=steps, cached_blocks=tuple(range(1, n)), full_steps=range(steps)))
    assert summary["computed_share"] == 1.0
    assert np.array_equal(frames, family.stock)


def test_reuse_changes_frames_and_removal_restores(family):
    # on HunyuanVideo the run spans both block lists (dual-stream 1, then the single-stream blocks)
    frames, summary = _cached(family, lambda n, steps: paper_plan(
        n, steps, tuple(range(1, n)), warmup=0, interval_max=2, interval_min=2, final_full_steps=0))
    assert summary["computed_share"] < 1
    assert not np.array_equal(frames, family.stock)
    assert np.array_equal(generate(family.model, family.gen).frames, family.stock)


def _cli(*args):
    from typer.testing import CliRunner

    from profiling_dit.cli.app import app

    return CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)


def test_cli_profile_generate_bench_end_to_end(family, tmp_path):
    image = ["--image", family.image] if family.image else []
    # A known foreground (the left half of every frame): random weights give no object to segment,
    # and R_attn of an empty foreground is undefined.
    size = family.size
    masks = np.zeros((size["frames"], size["height"], size["width"]), bool)
    masks[:, :, : size["width"] // 2] = True
    np.save(tmp_path / "masks.npy", masks)
    prof = tmp_path / "p.json"
    res = _cli("profile", "--model", family.folder, "--prompt", "a red circle", *image, "--masks",
               tmp_path / "masks.npy", "--out", prof)
    assert res.exit_code == 0, res.output
    profile = json.loads(prof.read_text())
    import jsonschema

    from profiling_dit.profile.file import SCHEMA_PATH

    jsonschema.validate(profile, json.loads(SCHEMA_PATH.read_text()))
    n = _n_blocks(family.model)
    r = np.array(profile["r_attn"]["mean"], dtype=float)
    assert profile["model"]["num_blocks"] == n and r.shape[0] == n
    assert ((r >= 0) & (r <= 1)).all() and r.any()  # measured, not the empty-foreground fallback
    if len(family.model.experts) > 1:  # one block profile per expert, over the steps it runs
        experts = profile["experts"]
        assert [e["component"] for e in experts] == ["transformer", "transformer_2"]
        assert [e["num_blocks"] for e in experts] == [_n_blocks(family.model, x) for x in family.model.experts]
        (a0, b0), (a1, b1) = (e["step_range"] for e in experts)
        assert a0 == 0 and b0 == a1 and b1 == family.gen.steps and 0 < b0 < b1
        for e in experts:
            assert np.array(e["r_attn"]["mean"]).shape == (e["num_blocks"], e["step_range"][1] - e["step_range"][0])
            assert sorted(e["split"]["foreground_blocks"] + e["split"]["background_blocks"]) == list(range(e["num_blocks"]))
    out = tmp_path / "v.npy"
    # the profile names its model by the folder's name only (no path): the folder is passed again
    res = _cli("generate", "--profile", prof, "--prompt", "a red circle", *image, "--out", out)
    assert res.exit_code == 2 and "local folder named 'model'" in res.output
    res = _cli("generate", "--profile", prof, "--model", family.folder, "--prompt", "a red circle", *image,
               "--out", out, "--report", tmp_path / "r.json")
    assert res.exit_code == 0, res.output
    assert np.load(out).shape[-4:] == (size["frames"], size["height"], size["width"], 3)
    report = json.loads((tmp_path / "r.json").read_text())
    assert 0 < report["profiling_dit"]["computed_share"] < 1
    if len(family.model.experts) > 1:  # the plan covers each expert's steps
        plans = report["profiling_dit"]["experts"]
        assert set(plans) == {"transformer", "transformer_2"}
        for name, plan in plans.items():
            a, b = plan["step_range"]
            assert len(plan["timeline"]) == _n_blocks(family.model, name)
            assert all(len(row) == b - a for row in plan["timeline"])
            assert plan["full_compute_steps"][0] <= a  # the expert's first step computes in full
            assert a in plan["full_compute_steps"] and b - 1 in plan["full_compute_steps"]
    res = _cli("bench", "--profile", prof, "--model", family.folder, "--prompts", "a red circle", *image, "--methods",
               "baseline,profiling-dit,teacache", "--out", tmp_path / "bench")
    assert res.exit_code == 0, res.output
    summary = {r["method"]: r for r in json.loads((tmp_path / "bench" / "results.json").read_text())["summary"]}
    assert summary["baseline"]["status"] == "ok" and summary["profiling-dit"]["status"] == "ok"
    assert summary["profiling-dit"]["computed_share"] < 1
    if len(family.model.experts) > 1:  # single-transformer peers are not run on two experts
        assert summary.get("teacache", {}).get("status") != "ok"
        assert "teacache" in json.dumps(json.loads((tmp_path / "bench" / "results.json").read_text()))
    else:
        assert summary["teacache"]["status"] == "ok", summary["teacache"]  # multi-stream residuals work too


def test_profile_refuses_another_family(family, tmp_path, tiny_model):
    from profiling_dit.profile.file import load_profile

    image = ["--image", family.image] if family.image else []
    prof = tmp_path / "p.json"
    assert _cli("profile", "--model", family.folder, "--prompt", "a red circle", *image, "--steps", 2,
                "--out", prof).exit_code == 0
    with pytest.raises(ProfileError, match="another model"):
        load_profile(prof).check_fits(tiny_model)
    res = _cli("generate", "--profile", prof, "--model", "tiny", "--prompt", "x", "--out", tmp_path / "v.npy")
    assert res.exit_code == 2 and "another model" in res.output
    if len(family.model.experts) > 1:  # the second expert is checked too
        broken = json.loads(prof.read_text())
        broken["experts"][1]["config_hash"] = "sha256:0000000000000000"
        bad = tmp_path / "bad.json"
        bad.write_text(json.dumps(broken))
        res = _cli("generate", "--profile", bad, "--model", family.folder, "--prompt", "x", "--out", tmp_path / "v.npy")
        assert res.exit_code == 2 and "transformer_2" in res.output and "another model" in res.output


def test_image_to_video_needs_an_image(family, tmp_path):
    if family.name not in tm.IMAGE_TO_VIDEO:
        from PIL import Image

        image = tmp_path / "first.png"
        Image.new("RGB", (32, 32)).save(image)  # a real image: the model's kind, not the file, is what is wrong
        res = _cli("generate", "--model", family.folder, "--prompt", "x", "--image", image,
                   "--out", tmp_path / "v.npy")
        assert res.exit_code == 2 and "text-to-video" in res.output
        return
    res = _cli("generate", "--model", family.folder, "--prompt", "x", "--out", tmp_path / "v.npy")
    assert res.exit_code == 2 and "--image" in res.output


def test_models_command_lists_the_families():
    res = _cli("models")
    for word in ("hunyuanvideo", "cogvideox-2b", "wan2.1-i2v-480p", "HunyuanVideoTransformer3DModel",
                 "CogVideoXTransformer3DModel"):
        assert word in res.output
