"""LeMiCa (Gao et al., "LeMiCa: Lexicographic Minimax Path Caching for Efficient Diffusion-Based Video
Generation", NeurIPS 2025, arXiv 2511.00090; project github.com/UnicomAI/LeMiCa), on the shared run-skipping hooks.

Static. The steps are the nodes of a graph; an edge i → j (i < j) means: compute the whole stack at steps i and j
and reuse step i's whole-stack residual on the steps between. Each edge's weight is its *global* error: the L1
distance between the final output of a generation that caches only that segment and stock sampling's, measured
once on a calibration generation (``calibrate_lemica``). A schedule with a budget of B full steps is a path from the
first step to the last through B nodes; LeMiCa takes the path whose edge weights, sorted from largest down, are
lexicographically smallest: the lowest worst-case edge error first, then the second worst, and so on
(``lemica_schedule``, exact by dynamic programming).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from diffusers.hooks import HookRegistry, ModelHook
from diffusers.hooks.hooks import StateManager

from ..._compat import remove_hook
from ...caching.planner import minimax_path, segments
from ._stack import StackState, install_stack, remove_stack, step_of
from .base import Method, NotApplicable

_RUN = "pdit_lemica_run"
_PROBE = "pdit_lemica_final_output"


@dataclass(frozen=True)
class LeMiCaConfig:
    """A LeMiCa schedule.

    Args:
        full_steps: the steps that compute the whole stack (the path's nodes); the others reuse the residual of the
            last full step before them. Must hold the first and the last step.
        num_inference_steps: the call's step count.

    Example::

        run = lambda: pipe(prompt, num_inference_steps=20, guidance_scale=5.0)
        weights = calibrate_lemica(pipe.transformer, 20, default_max_gap(20), run, guidance=5.0)
        apply_lemica(pipe.transformer, LeMiCaConfig(lemica_schedule(weights, 20, 10), 20))
        video = pipe(prompt, num_inference_steps=20, guidance_scale=5.0).frames[0]
        remove_lemica(pipe.transformer)
    """

    full_steps: tuple[int, ...]
    num_inference_steps: int

    def __post_init__(self):
        steps = self.num_inference_steps
        if steps < 1:
            raise ValueError(f"num_inference_steps must be at least 1, got {steps}")
        if list(self.full_steps) != sorted(set(self.full_steps)) or not all(0 <= s < steps for s in self.full_steps):
            raise ValueError(f"full_steps must be distinct, sorted steps in [0, {steps}), got {self.full_steps}")
        if self.full_steps[:1] != (0,) or self.full_steps[-1:] != (steps - 1,):
            raise ValueError(f"full_steps must hold the first and the last step, got {self.full_steps}")


class _State(StackState):
    pass


def apply_lemica(transformer: torch.nn.Module, config: LeMiCaConfig) -> StateManager:
    """Install a LeMiCa schedule on ``transformer``'s block stack (one run; each CFG branch keeps its own residual)."""
    full = set(config.full_steps)
    manager = StateManager(_State)  # type: ignore[arg-type]  # diffusers annotates the class as an instance

    def decide(s: _State, args, kwargs) -> bool:
        step = step_of(manager, s)
        s.calls += 1
        return step in full or step >= config.num_inference_steps

    install_stack(transformer, _RUN, manager, lambda run_id: decide)
    return manager


def remove_lemica(transformer: torch.nn.Module) -> None:
    remove_stack(transformer, _RUN)


# --- the schedule: lexicographic minimax path -----------------------------------------------------
def lemica_schedule(weights: dict[tuple[int, int], float], steps: int, full_steps: int) -> tuple[int, ...]:
    """The path 0 → steps−1 through exactly ``full_steps`` nodes whose edge weights, sorted in descending order, are
    lexicographically smallest. ``weights[(i, j)]`` is edge i → j's error; an edge of consecutive steps (nothing
    reused) weighs 0 unless given; a missing edge does not exist. Exact (``caching.planner.minimax_path``)."""
    return minimax_path(weights, steps, full_steps)


def default_max_gap(steps: int, smallest_share: float = 0.2) -> int:
    """The shortest longest segment that still lets a schedule compute only ``smallest_share`` of the steps."""
    nodes = max(2, round(smallest_share * steps))
    return max(2, math.ceil((steps - 1) / (nodes - 1)))


# --- calibration: each segment's global error -------------------------------------------------------
class _FinalOutput(ModelHook):
    """On the transformer: keeps each branch's input and output at the last step, and the step's sigma, so the final
    latent an Euler step would give (x − σ·v, with guidance) can be compared between generations."""

    _is_stateful = True

    def __init__(self, state_manager: StateManager, steps: int):
        super().__init__()
        self.state_manager = state_manager
        self.steps = steps
        self.last: dict[str, tuple[torch.Tensor, torch.Tensor, float]] = {}
        self._x: torch.Tensor | None = None

    def pre_forward(self, module, *args, **kwargs):
        self._x = args[0] if args else kwargs["hidden_states"]
        return args, kwargs

    @torch.compiler.disable
    def post_forward(self, module, output):
        ctx = self.state_manager.context
        if ctx.step_index == self.steps - 1 and self._x is not None:
            v = output[0] if isinstance(output, tuple) else getattr(output, "sample", output)
            sigma = ctx.sigma if ctx.sigma is not None else 0.0
            self.last[ctx.name] = (self._x.detach().float().cpu(), v.detach().float().cpu(), float(sigma))
        return output

    def reset_state(self, module):
        return module


def final_latent(last: dict[str, tuple[torch.Tensor, torch.Tensor, float]], guidance: float) -> torch.Tensor:
    """x − σ·v at the last step, v guided as the pipeline guides it (uncond + g·(cond − uncond))."""
    x, v, sigma = last["cond"] if "cond" in last else next(iter(last.values()))
    if "uncond" in last and "cond" in last:
        v = last["uncond"][1] + guidance * (v - last["uncond"][1])
    return x - sigma * v


def calibrate_lemica(transformer: torch.nn.Module, steps: int, max_gap: int, generate, guidance: float = 1.0,
                     on_segment=None) -> dict[tuple[int, int], float]:
    """Each segment's global error: one stock generation, then one generation per segment i → j (``segments``)
    that reuses step i's residual on the steps between; the weight is the mean |difference| of their final latents.
    ``generate()`` runs one generation of ``steps`` steps (the same prompt and seed every time)."""
    manager = StateManager(_State)  # type: ignore[arg-type]
    probe = _FinalOutput(manager, steps)
    HookRegistry.check_if_exists_or_initialize(transformer).register_hook(probe, _PROBE)
    try:
        generate()
        if not probe.last:
            raise NotApplicable("LeMiCa calibration saw no transformer call at the last step")
        stock = final_latent(probe.last, guidance)
        weights = {}
        for i, j in segments(steps, max_gap):
            probe.last = {}
            apply_lemica(transformer, LeMiCaConfig(tuple(s for s in range(steps) if not i < s < j), steps))
            try:
                generate()
            finally:
                remove_lemica(transformer)
            weights[(i, j)] = float((final_latent(probe.last, guidance) - stock).abs().mean())
            if on_segment is not None:
                on_segment(i, j)
    finally:
        remove_hook(transformer, _PROBE)
    return weights


# --- the bench adapter ----------------------------------------------------------------------------
def _calibrate(ctx):
    steps = ctx.settings.steps
    if steps < 3:
        raise NotApplicable(f"LeMiCa needs at least 3 steps to reuse anything, got {steps}")
    max_gap = default_max_gap(steps)
    weights = calibrate_lemica(ctx.model.pipe.transformer, steps, max_gap, lambda: ctx.run_calibration(None),
                               guidance=ctx.settings.guidance)
    ctx.calibration["lemica_max_gap"] = max_gap
    ctx.calibration["lemica_generations"] = len(weights) + 1
    ctx.calibration["lemica_weights"] = [[i, j, w] for (i, j), w in sorted(weights.items())]


def _apply(ctx, p):
    steps = ctx.settings.steps
    weights = {(int(i), int(j)): w for i, j, w in ctx.calibration["lemica_weights"]}
    full = min(steps, max(2, round(p["budget"] * steps)))
    try:
        schedule = lemica_schedule(weights, steps, full)
    except ValueError as e:
        raise NotApplicable(str(e)) from None
    apply_lemica(ctx.model.pipe.transformer, LeMiCaConfig(schedule, steps))


def _remove(ctx):
    remove_lemica(ctx.model.pipe.transformer)


METHODS = (
    Method("lemica", "lemica", {"budget": 0.5}, tuple({"budget": b} for b in (0.2, 0.3, 0.4, 0.5, 0.6, 0.8)),
           _apply, _remove, calibrate=_calibrate,
           note="segment errors calibrated on the calibration prompt: one generation per segment, about 5 per step "
                "(93 at 20 steps); only when named in --methods",
           in_default_run=False, color="#98df8a",
           calibration_generations=lambda ctx: ctx.calibration["lemica_generations"]),
)
