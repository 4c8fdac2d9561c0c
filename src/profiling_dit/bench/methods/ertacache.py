"""ERTACache (Peng et al., "ERTACache: Error Rectification and Timesteps Adjustment for Efficient Diffusion",
arXiv 2508.21091; reference code github.com/bytedance/ERTACache, which could not be read where this was written:
this follows the paper's description), on the shared run-skipping hooks.

Static, calibrated offline on one stock generation (``calibrate_ertacache``), which records each step's whole-stack
residual r_t (output of the last block − input of the first) per CFG branch. Three parts:

- *Offline policy calibration* (residual error profiling): the error of reusing step c's residual at a later step t
  is e(c, t) = mean |r_t − r_c| / mean |r_t| (averaged over the CFG branches). The schedule
  (``ertacache_schedule``) computes the first and the last step; after a computed step c, a step t reuses r_c while
  e(c, t) < ``threshold`` and t − c ≤ ``max_gap``, and computes otherwise (then c = t).
- *Explicit error rectification* (closed form): the reuse error r_t − r_c is modelled as linear in r_c, one gain per
  channel, g = Σ r_t·r_c / Σ r_c² over the tokens (least squares, ``channel_gain``); a reused step adds g ⊙ r_c.
- *Trajectory-aware timestep adjustment*: a reused step's velocity ṽ is off in magnitude along the trajectory; the
  sampler's step Δσ on that step is scaled by φ = ⟨v_t, ṽ_t⟩ / ⟨ṽ_t, ṽ_t⟩, the least-squares step that brings
  Δσ·ṽ closest to the stock step Δσ·v_t, measured in the calibration (where each candidate reuse is also run, cheaply:
  its blocks are skipped). The pipeline's scheduler is not touched: the transformer's output on that step is
  multiplied by φ, which is the same as scaling Δσ for an Euler step and close to it for Wan's UniPC solver.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import cast

import torch
from diffusers.hooks import HookRegistry, ModelHook
from diffusers.hooks.hooks import StateManager

from ..._compat import remove_hook
from ._stack import StackState, install_stack, rel_l1, remove_stack, step_of
from .base import Method, NotApplicable
from .lemica import default_max_gap

_RUN = "pdit_ertacache_run"
_OUT = "pdit_ertacache_output"

Pair = tuple[int, int]  # (cached step c, reusing step t)


@dataclass(eq=False)
class ERTACalibration:
    """What one stock calibration generation measured, for every pair (c, t) with 0 < t − c ≤ ``max_gap``."""

    steps: int
    max_gap: int
    errors: dict[Pair, float] = field(default_factory=dict)  # e(c, t), mean over branches
    gains: dict[str, dict[Pair, tuple[torch.Tensor, ...]]] = field(default_factory=dict)  # per branch, per stream
    phi: dict[Pair, float] = field(default_factory=dict)

    def __repr__(self) -> str:  # results.json holds this line, not the tensors
        return f"ERTACalibration(steps={self.steps}, max_gap={self.max_gap}, pairs={len(self.errors)})"


@dataclass(frozen=True)
class ERTACacheConfig:
    """ERTACache's settings.

    Args:
        threshold: the largest calibrated reuse error e(c, t) a step may reuse with (larger skips more).
        calibration: from ``calibrate_ertacache`` on a generation of the same step count.
        rectify: add the rectified residual g ⊙ r_c (else r_c as it was).
        adjust_timesteps: scale a reused step's velocity by φ.

    Example::

        calib = calibrate_ertacache(pipe.transformer, 20, lambda: pipe(prompt, num_inference_steps=20))
        apply_ertacache(pipe.transformer, ERTACacheConfig(threshold=0.2, calibration=calib))
        video = pipe(prompt, num_inference_steps=20).frames[0]
        remove_ertacache(pipe.transformer)
    """

    threshold: float
    calibration: ERTACalibration
    rectify: bool = True
    adjust_timesteps: bool = True

    def __post_init__(self):
        if not self.threshold >= 0:
            raise ValueError(f"ERTACache threshold must be >= 0, got {self.threshold}")


def channel_gain(r_true: torch.Tensor, r_cached: torch.Tensor) -> torch.Tensor:
    """The per-channel g minimising ‖r_true − g ⊙ r_cached‖² over every token (the last axis is the channel):
    Σ r_true·r_cached / Σ r_cached², 1 where a channel's cached residual is all zero."""
    a, b = r_true.detach().float(), r_cached.detach().float()
    dims = tuple(range(a.dim() - 1))
    num, den = (a * b).sum(dims), (b * b).sum(dims)
    return torch.where(den > 0, num / den.clamp_min(1e-30), torch.ones_like(den))


def ertacache_schedule(errors: dict[Pair, float], steps: int, threshold: float, max_gap: int) -> tuple[int | None, ...]:
    """Per step: the computed step whose residual it reuses, or None where it computes. The first and last steps
    compute; after a computed step c, step t reuses while e(c, t) < threshold and t − c ≤ max_gap."""
    plan: list[int | None] = []
    cached = 0
    for t in range(steps):
        if 0 < t < steps - 1 and t - cached <= max_gap and errors.get((cached, t), float("inf")) < threshold:
            plan.append(cached)
        else:
            plan.append(None)
            cached = t
    return tuple(plan)


class _State(StackState):
    """Per CFG branch: the last computed step's residual, the step this call reuses from, and (calibration) the
    residuals of the last ``max_gap`` computed steps and a residual to force for a shadow run."""

    def __init__(self):
        super().__init__()
        self.base: tuple[torch.Tensor, ...] | None = None
        self.reused: Pair | None = None
        self.window: list[tuple[int, tuple[torch.Tensor, ...]]] = []
        self.shadow: tuple[torch.Tensor, ...] | None = None


def _sample(output) -> torch.Tensor:
    return output[0] if isinstance(output, tuple) else getattr(output, "sample", output)


def _scaled(output, factor: float):
    if isinstance(output, torch.Tensor):
        return output * factor
    if isinstance(output, tuple):
        return (output[0] * factor, *output[1:])
    return type(output)(sample=output.sample * factor)


class _OutputHook(ModelHook):
    """On the transformer. Sampling: multiplies the output of a reused step by φ. Calibration: after each stock call,
    measures every candidate reuse (c, t): its error, its gains, and (a second, block-skipping call) its φ."""

    _is_stateful = True

    def __init__(self, state_manager: StateManager, config: ERTACacheConfig | None = None,
                 calibration: ERTACalibration | None = None):
        super().__init__()
        self.state_manager = state_manager
        self.config = config
        self.calibration = calibration
        self._sums: dict[Pair, list[float]] = {}  # calibration: Σ⟨v, ṽ⟩, Σ⟨ṽ, ṽ⟩ over branches
        self._errors: dict[Pair, list[float]] = {}

    def new_forward(self, module, *args, **kwargs):
        output = self.fn_ref.original_forward(*args, **kwargs)  # type: ignore[misc]  # diffusers types it as None
        if self.calibration is not None:
            self._measure(args, kwargs, output)
            return output
        state = cast(_State, self.state_manager.get_state())
        config = self.config
        if config is not None and config.adjust_timesteps and state.reused is not None:
            return _scaled(output, config.calibration.phi.get(state.reused, 1.0))
        return output

    @torch.compiler.disable
    def _measure(self, args, kwargs, output) -> None:
        assert self.calibration is not None
        calib = self.calibration
        state = cast(_State, self.state_manager.get_state())
        branch = self.state_manager.context.name
        t = self.state_manager.context.step_index
        if t is None or state.base is None:
            raise NotApplicable("ERTACache calibration needs a pipeline that gives each call its step index")
        r_t = state.base
        v_t = _sample(output).detach().float()
        for c, r_c in state.window:
            gains = tuple(channel_gain(a, b) for a, b in zip(r_t, r_c))
            self._errors.setdefault((c, t), []).append(rel_l1(r_c[0], r_t[0]))
            calib.gains.setdefault(branch, {})[(c, t)] = tuple(g.cpu() for g in gains)
            state.shadow = tuple(g.to(b.dtype) * b for g, b in zip(gains, r_c))
            try:
                v_s = _sample(self.fn_ref.original_forward(*args, **kwargs)).detach().float()  # type: ignore[misc]
            finally:
                state.shadow = None
            sums = self._sums.setdefault((c, t), [0.0, 0.0])
            sums[0] += float((v_t * v_s).sum())
            sums[1] += float((v_s * v_s).sum())
        state.base = state.delta[0] = r_t
        state.window = [(c, r) for c, r in state.window if t - c < calib.max_gap] + [(t, r_t)]
        calib.errors = {pair: sum(e) / len(e) for pair, e in self._errors.items()}
        calib.phi = {pair: (num / den if den > 0 else 1.0) for pair, (num, den) in self._sums.items()}

    def reset_state(self, module):
        self.state_manager.reset()
        return module


def _install(transformer: torch.nn.Module, config: ERTACacheConfig | None,
             calibration: ERTACalibration | None = None) -> StateManager:
    manager = StateManager(_State)  # type: ignore[arg-type]  # diffusers annotates the class as an instance
    plan = None if config is None else ertacache_schedule(
        config.calibration.errors, config.calibration.steps, config.threshold, config.calibration.max_gap)

    def decide(s: _State, args, kwargs) -> bool:
        if s.shadow is not None:  # calibration: this call measures a reuse
            s.delta[0] = s.shadow
            return False
        s.reused = None
        step = step_of(manager, s)
        s.calls += 1
        cached = None if plan is None or step >= len(plan) else plan[step]
        if cached is None or s.base is None:
            return True
        assert config is not None
        s.reused = pair = (cached, step)
        gains = config.calibration.gains.get(manager.context.name, {}).get(pair) if config.rectify else None
        s.delta[0] = s.base if gains is None else tuple(g.to(r.device, r.dtype) * r for g, r in zip(gains, s.base))
        return False

    def after_run(s: _State, outs: tuple) -> None:
        s.base = s.delta[0]

    install_stack(transformer, _RUN, manager, lambda run_id: decide, after_run)
    HookRegistry.check_if_exists_or_initialize(transformer).register_hook(
        _OutputHook(manager, config, calibration), _OUT)
    return manager


def apply_ertacache(transformer: torch.nn.Module, config: ERTACacheConfig) -> StateManager:
    """Install ERTACache's schedule, rectification and timestep adjustment on ``transformer`` (the block stack as one
    run, and a hook on the transformer's output); each CFG branch keeps its own residual."""
    return _install(transformer, config)


def remove_ertacache(transformer: torch.nn.Module) -> None:
    remove_hook(transformer, _OUT)
    remove_stack(transformer, _RUN)


def calibrate_ertacache(transformer: torch.nn.Module, steps: int, generate, max_gap: int | None = None
                        ) -> ERTACalibration:
    """Measure ERTACache's calibration on one stock generation of ``steps`` steps (``generate()`` runs it). Each call
    also runs the transformer once more per candidate reuse, with its blocks skipped (cheap), to measure φ."""
    calibration = ERTACalibration(steps=steps, max_gap=max_gap or default_max_gap(steps))
    _install(transformer, None, calibration)
    try:
        generate()
    finally:
        remove_ertacache(transformer)
    if not calibration.errors:
        raise NotApplicable(f"ERTACache calibration measured no reuse (a {steps}-step generation)")
    return calibration


# --- the bench adapter ----------------------------------------------------------------------------
def _calibrate(ctx):
    calibration = calibrate_ertacache(ctx.model.pipe.transformer, ctx.settings.steps,
                                      lambda: ctx.run_calibration(None))
    ctx.calibration["ertacache"] = calibration
    ctx.calibration["ertacache_pairs"] = len(calibration.errors)


def _apply(ctx, p):
    calibration = ctx.calibration["ertacache"]
    if calibration.steps != ctx.settings.steps:
        raise NotApplicable(f"calibrated for {calibration.steps} steps, this run has {ctx.settings.steps}")
    apply_ertacache(ctx.model.pipe.transformer, ERTACacheConfig(threshold=p["threshold"], calibration=calibration))


def _remove(ctx):
    remove_ertacache(ctx.model.pipe.transformer)


METHODS = (
    Method("ertacache", "ertacache", {"threshold": 0.2},
           tuple({"threshold": t} for t in (0.1, 0.15, 0.2, 0.3, 0.45, 0.7)),
           _apply, _remove, calibrate=_calibrate,
           note="schedule, gains and step scales calibrated on the calibration prompt", color="#c5b0d5",
           calibration_generations=1),
)
