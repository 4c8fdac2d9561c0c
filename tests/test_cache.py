"""ProfilingDiT caching: exactness against stock sampling, and the delta semantics on hand-made blocks."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from diffusers.hooks.hooks import CacheContext, _set_cache_context

from conftest import SMALL
from profiling_dit.caching.hooks import apply_profiling_dit, profiling_dit_enabled, remove_profiling_dit
from profiling_dit.caching.schedules import paper_plan
from profiling_dit.plan import Plan
from profiling_dit.errors import InvalidSettingError
from profiling_dit.profile.file import shipped_profile
from profiling_dit.pipeline.generation import GenerationSettings, generate
from profiling_dit.models import ArchitectureSpec, register_architecture


# --- a transformer whose blocks have known functions -------------------------------------------
class ScaleShiftBlock(torch.nn.Module):
    """out = 2·h + bias; ``bias`` can be changed between steps to tell fresh from cached results."""

    def __init__(self):
        super().__init__()
        self.register_buffer("bias", torch.zeros(()))
        self.calls = 0

    def forward(self, hidden_states):
        self.calls += 1
        return 2 * hidden_states + self.bias


class DummyTransformer(torch.nn.Module):
    def __init__(self, n=4):
        super().__init__()
        self.blocks = torch.nn.ModuleList(ScaleShiftBlock() for _ in range(n))

    def forward(self, hidden_states):
        for block in self.blocks:
            hidden_states = block(hidden_states)
        return hidden_states


register_architecture(DummyTransformer, ArchitectureSpec(
    name="dummy", block_lists=("blocks",), self_attention="", frame_multiple=1, spatial_multiple=1))


def _call(model, x, step, steps, name="cond"):
    _set_cache_context(model, CacheContext(name, step_index=step, num_inference_steps=steps))
    try:
        return model(x)
    finally:
        _set_cache_context(model, None)


def test_reuse_step_adds_cached_run_delta_not_a_fresh_computation():
    model = DummyTransformer(4)
    # blocks 1,2 are one background run; steps: 0 full (warm-up), 1 reuse, 2 full (final)
    cfg = paper_plan(4, 3, (1, 2), warmup=0, interval_max=2, interval_min=2, final_full_steps=1)
    assert cfg.full_step_mask() == [True, False, True]
    apply_profiling_dit(model, cfg)
    x0 = torch.tensor([1.0])
    out0 = _call(model, x0, 0, 3)
    # chain: b0: 2, b1: 4, b2: 8, b3: 16 → run delta = h_out(2) - h_in(1) = 8 - 2 = 6
    assert out0.item() == 16.0
    for b in model.blocks:
        b.bias.fill_(100.0)  # a fresh computation of any block would now show +100
    x1 = torch.tensor([3.0])
    out1 = _call(model, x1, 1, 3)
    # b0 computes: 2·3+100 = 106; run (1,2) reuses: 106 + 6 = 112; b3 computes: 2·112+100 = 324
    assert out1.item() == 324.0
    assert [b.calls for b in model.blocks] == [2, 1, 1, 2]
    out2 = _call(model, x1, 2, 3)  # final step: full again
    assert out2.item() == ((((3 * 2 + 100) * 2 + 100) * 2 + 100) * 2 + 100)
    remove_profiling_dit(model)


def test_refresh_step_delta_reproduces_the_per_block_chain():
    model = DummyTransformer(5)
    for i, b in enumerate(model.blocks):
        b.bias.fill_(0.1 * (i + 1))
    cfg = Plan(num_blocks=5, steps=4, cached_blocks=(1, 2, 3), full_steps=(0, 3))
    x = torch.randn(7, generator=torch.Generator().manual_seed(0))
    plain = model(x)
    h_in = model.blocks[0](x)
    h_out = h_in
    for b in model.blocks[1:4]:
        h_out = b(h_out)
    with profiling_dit_enabled(model, cfg):
        full = _call(model, x, 0, 4)  # step 0: full compute, stores the run delta
        assert torch.equal(full, plain)  # a full step returns the chain's own output
        # the run's one delta equals h_out(3) − h_in(1) of the chain
        state = model._pdit_state_manager._state_cache["cond"]  # one delta per stream (one stream here)
        torch.testing.assert_close(state.delta[0], (h_out - h_in,), rtol=0, atol=0)
        reused = _call(model, x, 1, 4)  # same input again: the cached delta reproduces the chain
        torch.testing.assert_close(reused, plain, rtol=0, atol=1e-6)


def test_each_cfg_branch_has_its_own_cache():
    model = DummyTransformer(2)
    cfg = Plan(num_blocks=2, steps=3, cached_blocks=(1,), full_steps=(0, 2))
    with profiling_dit_enabled(model, cfg):
        _call(model, torch.tensor([1.0]), 0, 3, "cond")  # delta(b1) = 2·2 - 2 = 2
        _call(model, torch.tensor([10.0]), 0, 3, "uncond")  # delta(b1) = 40 - 20 = 20
        assert _call(model, torch.tensor([1.0]), 1, 3, "cond").item() == 2 + 2
        assert _call(model, torch.tensor([1.0]), 1, 3, "uncond").item() == 2 + 20


def test_a_drift_group_computes_on_its_own_steps_and_the_rest_reuses():
    """Blocks 1..3 cached, block 3 (the second group) also computing on step 1: it refreshes its own delta there
    while blocks 1 and 2 add theirs from step 0; on step 2 both groups reuse."""
    model = DummyTransformer(4)
    plan = Plan(num_blocks=4, steps=4, cached_blocks=(1, 2, 3), full_steps=(0, 3), drift_blocks=(3,), drift_steps=(1,))
    assert plan.runs() == [(1, 2), (3, 3)]  # a run never mixes the groups
    assert plan.computed_share == 1 - (3 * 2 - 1) / 16
    assert plan.timeline() == ["████", "█··█", "█··█", "██·█"]
    with profiling_dit_enabled(model, plan):
        assert _call(model, torch.tensor([1.0]), 0, 4).item() == 16.0  # run (1, 2): 8 − 2 = 6; run (3): 16 − 8 = 8
        for b in model.blocks:
            b.bias.fill_(100.0)
        # b0: 2 + 100 = 102; run (1, 2) reuses: 108; b3 computes: 216 + 100 = 316 (its new delta: 208)
        assert _call(model, torch.tensor([1.0]), 1, 4).item() == 316.0
        assert [b.calls for b in model.blocks] == [2, 1, 1, 2]
        # step 2: b0 102, run (1, 2) adds 6 → 108, run (3) adds its step-1 delta 208 → 316
        assert _call(model, torch.tensor([1.0]), 2, 4).item() == 316.0
        assert [b.calls for b in model.blocks] == [3, 1, 1, 2]
    for bad, match in [
        (dict(drift_blocks=(0,), drift_steps=(1,)), "not cached"),
        (dict(drift_blocks=(3,), drift_steps=(3,)), "full steps already"),
        (dict(drift_blocks=(3,)), "together"),
        (dict(drift_blocks=(3,), drift_steps=(1,), forecast=((1, 0), (0.5, 0), (1, 0), (1, 0))), "forecast"),
    ]:
        with pytest.raises(InvalidSettingError, match=match):
            Plan(num_blocks=4, steps=4, cached_blocks=(1, 2, 3), full_steps=(0, 3), **bad)
    assert Plan.from_dict(json.loads(json.dumps(plan.to_dict()))) == plan
    mapped = plan.for_steps(8)
    assert mapped.drift_blocks == (3,) and mapped.drift_steps and not set(mapped.drift_steps) & set(mapped.full_steps)


def test_plan_validation_and_serialisation():
    cfg = Plan(num_blocks=4, steps=6, cached_blocks=[3, 1], full_steps=(0, 3, 5), origin="by hand")
    assert cfg.cached_blocks == (1, 3) and hash(cfg)
    assert Plan.from_dict(cfg.to_dict()) == cfg
    assert cfg.computed_share == 1 - 2 * 3 / (6 * 4)
    with pytest.raises(InvalidSettingError, match="unknown"):
        Plan.from_dict({**cfg.to_dict(), "speed": 3})
    with pytest.raises(InvalidSettingError, match="outside the 4 blocks"):
        Plan(num_blocks=4, steps=6, cached_blocks=(4,), full_steps=(0,))
    with pytest.raises(InvalidSettingError, match="step 0"):
        Plan(num_blocks=4, steps=6, cached_blocks=(1,), full_steps=(1, 5))
    with pytest.raises(InvalidSettingError, match="repeat"):
        Plan(num_blocks=4, steps=6, cached_blocks=(1, 1), full_steps=(0,))
    with pytest.raises(InvalidSettingError, match="full_steps"):
        Plan(num_blocks=4, steps=6, cached_blocks=(1,), full_steps=(0, 6))
    with pytest.raises(InvalidSettingError, match="steps"):
        Plan(num_blocks=4, steps=True, cached_blocks=(1,), full_steps=(0,))
    with pytest.raises(InvalidSettingError, match="interval_max"):
        paper_plan(4, 6, (), warmup=0, interval_max=1, interval_min=2)
    with pytest.raises(InvalidSettingError, match="warmup"):
        paper_plan(4, 6, (), warmup=-1, interval_max=2, interval_min=2)
    with pytest.raises(InvalidSettingError, match="blocks"):
        apply_profiling_dit(DummyTransformer(3), cfg)
    with pytest.raises(InvalidSettingError, match="Plan"):
        apply_profiling_dit(DummyTransformer(4), cfg.to_dict())


def test_a_plan_for_another_step_count_keeps_its_share_and_its_ends():
    plan = Plan(num_blocks=4, steps=10, cached_blocks=(1, 2), full_steps=(0, 1, 4, 7, 9))
    for n in (5, 10, 20, 37):
        other = plan.for_steps(n)
        assert other.steps == n and other.cached_blocks == plan.cached_blocks
        assert other.full_steps[0] == 0 and other.full_steps[-1] == n - 1
        assert len(other.full_steps) == max(2, round(5 * n / 10))


# --- on the embedded tiny Wan pipeline ----------------------------------------------------------
GEN = GenerationSettings(prompt="a red ball", **{k: SMALL[k] for k in ("height", "width", "frames")}, steps=6)


@pytest.fixture(scope="module")
def stock(tiny_model):
    return generate(tiny_model, GEN).frames


def _blocks(model):
    return model.pipe.transformer.config.num_layers


def _cached(model, cfg, gen=GEN):
    with profiling_dit_enabled(model.pipe.transformer, cfg):
        return generate(model, gen).frames


def test_empty_background_set_is_bit_identical(tiny_model, stock):
    cfg = Plan(num_blocks=_blocks(tiny_model), steps=6, cached_blocks=(), full_steps=(0,))
    assert np.array_equal(_cached(tiny_model, cfg), stock)


def test_all_full_compute_plan_is_bit_identical(tiny_model, stock):
    n = _blocks(tiny_model)
    cfg = Plan(num_blocks=n, steps=6, cached_blocks=(1, 2, 3, n - 3, n - 1), full_steps=range(6))
    assert cfg.mask().all()
    assert np.array_equal(_cached(tiny_model, cfg), stock)


def test_reuse_changes_frames_and_removal_restores(tiny_model, stock):
    n = _blocks(tiny_model)
    cfg = paper_plan(n, 6, tuple(range(2, n - 1)), warmup=0, interval_max=3, interval_min=3)
    assert not cfg.mask().all()
    cached = _cached(tiny_model, cfg)
    assert not np.array_equal(cached, stock)
    again = _cached(tiny_model, cfg)
    assert np.array_equal(cached, again)  # state resets between pipeline calls
    assert np.array_equal(generate(tiny_model, GEN).frames, stock)


def test_batched_prompts(tiny_model):
    cfg = paper_plan(_blocks(tiny_model), 6, (3, 4, 5, 6), warmup=1, interval_max=3, interval_min=2)
    gen = GenerationSettings(prompt=("a red ball", "a blue square"), height=64, width=64, frames=5, steps=6)
    frames = _cached(tiny_model, cfg, gen)
    assert frames.shape == (2, 5, 64, 64, 3)
    assert not np.array_equal(frames[0], frames[1])


@pytest.mark.slow
def test_cli_generate_with_profile_matches_second_process_and_reports(cli, tmp_path):
    from profiling_dit.models import TINY_MODEL_DIR  # noqa: F401  (the shipped profile is for it)

    prof = shipped_profile("tiny")
    args = ["generate", "--profile", prof, "--prompt", "a red ball", "--height", 64, "--width", 64,
            "--frames", 9, "--steps", 6]
    a, b = tmp_path / "a.npy", tmp_path / "b.npy"
    res = cli(*args, "--out", a, "--report", tmp_path / "r.json")
    assert res.exit_code == 0, res.output
    assert cli(*args, "--out", b).exit_code == 0
    assert np.array_equal(np.load(a), np.load(b))
    proc = subprocess.run([sys.executable, "-m", "profiling_dit.cli", *map(str, args), "--out", str(tmp_path / "c.npy")],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert np.array_equal(np.load(a), np.load(tmp_path / "c.npy"))
    rep = json.loads((tmp_path / "r.json").read_text())["profiling_dit"]
    assert 0 < rep["computed_share"] < 1
    assert rep["cache_bytes"]["cond"] > 0 and rep["cache_bytes"]["uncond"] > 0
    from profiling_dit.profile.file import load_profile

    assert len(rep["timeline"]) == load_profile(prof).model.num_blocks
    assert "warnings" in json.loads((tmp_path / "r.json").read_text())  # size differs from the profile


def test_compile_runs_on_cpu(tmp_path, saved_tiny_dir):
    from profiling_dit.pipeline.loading import load_pipeline, resolve_model
    from profiling_dit.caching.sampling import generate_cached

    model = load_pipeline(resolve_model(str(saved_tiny_dir)), device="cpu")
    cfg = {"transformer": paper_plan(2, 4, (1,), warmup=0, interval_max=2, interval_min=2)}
    gen = GenerationSettings(prompt="a cat", height=32, width=32, frames=5, steps=4)
    plain, _ = generate_cached(model, gen, cfg)
    compiled, summary = generate_cached(model, gen, cfg, compile=True)
    assert summary["compiled"]
    np.testing.assert_allclose(compiled.frames.astype(int), plain.frames.astype(int), atol=2)
