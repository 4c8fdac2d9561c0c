"""DiCache (Bu et al., "DiCache: Let Diffusion Model Determine Its Own Cache", arXiv 2508.17356; reference code
github.com/Bujiazi/DiCache), on the shared run-skipping hooks.

Runtime-adaptive, no calibration. Two runs: the *probe* (the first ``probe_depth`` blocks) computes on every step;
the rest of the stack is one run that is skipped or computed.

- When: after the warm-up, the probe's output is compared with its output at the previous call (relative L1) and
  the changes are summed; while the sum stays below ``threshold`` the rest of the stack is skipped, otherwise it
  computes (from the probe's output, so the probe is not run twice) and the sum restarts.
- How (the paper's dynamic cache trajectory alignment): the last two computed steps' whole-stack residuals R₁, R₂
  (output of the last block − input of the first) and probe residuals P₁, P₂ are kept. On a skipped step with
  probe residual P, γ = mean |P − P₁| / mean |P₂ − P₁|, clipped to [1, 2], and the stack's output is
  input + R₁ + γ (R₂ − R₁); with one computed step so far, input + R₂. The probe's own output is not used beyond
  measuring γ, as in the reference code.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from diffusers.hooks.hooks import StateManager

from ...models import arch_for, block_stream_inputs
from ._stack import StackState, install_stack, mean_abs, rel_l1, remove_stack, step_of
from .base import Method

_RUN = "pdit_dicache_run"
GAMMA_RANGE = (1.0, 2.0)  # the reference clips the alignment coefficient to this range


@dataclass(frozen=True)
class DiCacheConfig:
    """DiCache's settings.

    Args:
        threshold: the summed relative L1 change of the probe's output at which the stack computes again (the
            reference's ``rel_l1_thresh``; larger skips more).
        warmup_steps: the first steps, which always compute (the reference: ``ret_ratio`` 0.2 of the steps).
        probe_depth: how many leading blocks form the probe (the reference uses 1).

    Example::

        apply_dicache(pipe.transformer, DiCacheConfig(threshold=0.1, warmup_steps=4))
        video = pipe(prompt, num_inference_steps=20).frames[0]
        remove_dicache(pipe.transformer)
    """

    threshold: float
    warmup_steps: int = 1
    probe_depth: int = 1

    def __post_init__(self):
        if not self.threshold >= 0:
            raise ValueError(f"DiCache threshold must be >= 0, got {self.threshold}")
        if self.warmup_steps < 0:
            raise ValueError(f"warmup_steps must be >= 0, got {self.warmup_steps}")
        if self.probe_depth < 1:
            raise ValueError(f"probe_depth must be at least 1, got {self.probe_depth}")


class _State(StackState):
    """Per CFG branch: this call's stack input, the probe's output now and at the previous call, the summed change,
    and the last two computed steps' whole-stack and probe residuals (one tensor per stream)."""

    def __init__(self):
        super().__init__()
        self.stack_in: tuple[torch.Tensor, ...] = ()
        self.probe_out: tuple[torch.Tensor, ...] = ()
        self.prev_probe: torch.Tensor | None = None
        self.accumulated = 0.0
        self.phase = 0  # which run is running: 0 the probe, 1 the rest
        self.residuals: list[tuple[torch.Tensor, ...]] = []  # whole-stack, last two computed steps, oldest first
        self.probe_residuals: list[tuple[torch.Tensor, ...]] = []
        self.gammas: list[float] = []  # per skipped call with two residuals: the alignment coefficient used


def alignment_gamma(probe_now: torch.Tensor, probe_old: torch.Tensor, probe_new: torch.Tensor) -> float:
    """γ = mean |P − P₁| / mean |P₂ − P₁|, clipped to ``GAMMA_RANGE`` (P₁ older, P₂ newer computed step)."""
    span = mean_abs(probe_new - probe_old)
    gamma = mean_abs(probe_now - probe_old) / span if span > 0 else GAMMA_RANGE[0]
    return min(max(gamma, GAMMA_RANGE[0]), GAMMA_RANGE[1])


def _decisions(manager: StateManager, config: DiCacheConfig, streams: tuple[str, ...]):
    def probe(s: _State, args, kwargs) -> bool:
        s.phase = 0
        s.stack_in = tuple(x.detach() for x in block_stream_inputs(streams, args, kwargs))
        return True

    def rest(s: _State, args, kwargs) -> bool:
        s.phase = 1
        step = step_of(manager, s)
        probe_out = block_stream_inputs(streams, args, kwargs)
        compute = True
        if step >= config.warmup_steps and s.prev_probe is not None and s.residuals:
            s.accumulated += rel_l1(probe_out[0], s.prev_probe)
            if s.accumulated < config.threshold:
                compute = False
            else:
                s.accumulated = 0.0
        s.prev_probe = probe_out[0].detach()
        if not compute:
            # the skipped run adds its delta to the probe's output: make that the aligned whole-stack residual
            probe_res = tuple(p - x for p, x in zip(probe_out, s.stack_in))
            if len(s.residuals) >= 2:
                gamma = alignment_gamma(probe_res[0], s.probe_residuals[0][0], s.probe_residuals[1][0])
                s.gammas.append(gamma)
                aligned = tuple(r1 + gamma * (r2 - r1) for r1, r2 in zip(*s.residuals))
            else:
                aligned = s.residuals[-1]
            s.delta[1] = tuple(a - p for a, p in zip(aligned, probe_res))
        s.calls += 1
        return compute

    return lambda run_id: probe if run_id == 0 else rest


def _record(s: _State, outs: tuple) -> None:
    """After a run computed: the probe's output (run 0), or the step's whole-stack and probe residuals (run 1)."""
    if s.phase == 0:
        s.probe_out = tuple(o.detach() for o in outs)
        return
    s.residuals = (s.residuals + [tuple(o.detach() - x for o, x in zip(outs, s.stack_in))])[-2:]
    s.probe_residuals = (s.probe_residuals + [tuple(p - x for p, x in zip(s.probe_out, s.stack_in))])[-2:]


def apply_dicache(transformer: torch.nn.Module, config: DiCacheConfig) -> StateManager:
    """Install DiCache on ``transformer``'s blocks (a probe run that always computes and a run of the rest that the
    probe decides); each CFG branch keeps its own state. Returns the state manager."""
    def runs(n: int) -> list[tuple[int, int]]:
        if n <= config.probe_depth:
            raise ValueError(f"DiCache needs more blocks than its probe ({config.probe_depth}); the model has {n}")
        return [(0, config.probe_depth - 1), (config.probe_depth, n - 1)]

    manager = StateManager(_State)  # type: ignore[arg-type]  # diffusers annotates the class as an instance
    streams = arch_for(transformer).block_streams
    install_stack(transformer, _RUN, manager, _decisions(manager, config, streams), _record, runs=runs)
    return manager


def remove_dicache(transformer: torch.nn.Module) -> None:
    remove_stack(transformer, _RUN)


# --- the bench adapter ----------------------------------------------------------------------------
WARMUP_SHARE = 0.2  # the reference's ret_ratio


def _apply(ctx, p):
    warmup = round(p.get("warmup", WARMUP_SHARE) * ctx.settings.steps)
    apply_dicache(ctx.model.pipe.transformer, DiCacheConfig(threshold=p["threshold"], warmup_steps=warmup))


def _remove(ctx):
    remove_dicache(ctx.model.pipe.transformer)


METHODS = (
    Method("dicache", "dicache", {"threshold": 0.4},
           (*({"threshold": t} for t in (0.1, 0.2, 0.4, 0.8, 1.6)), {"threshold": 3.2, "warmup": 0.1}),
           _apply, _remove, note="probe: the first block; warm-up 20% of the steps as published (10% at the most "
                                 "aggressive setting)", color="#aec7e8"),
)
