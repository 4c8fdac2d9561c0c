"""EasyCache (Zhou et al., "Less is Enough: Training-Free Video Diffusion Acceleration via Runtime-Adaptive
Caching", arXiv 2507.02860; reference code github.com/H-EmbodVis/EasyCache), on the shared run-skipping hooks.

Runtime-adaptive, no calibration. On every computed step after the first, the *transformation rate*
k = mean |Δ output| / mean |Δ input| is measured between this computed step and the previous one (input: the
hidden states entering the block stack; output: those leaving it). On a later step, the stack's output change is
estimated from its input change since the previous call, k · mean |Δ input| / mean |last output|, and the
estimates are summed; while the sum stays below ``threshold`` the stack is skipped and its last residual
(output − input of the last computed step, the "transformation vector") is added to the new input. When it reaches
the threshold the stack computes, k is measured again, and the sum restarts. The first ``warmup_steps`` steps
and the last step always compute.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from diffusers.hooks.hooks import StateManager

from ._stack import StackState, install_stack, mean_abs, remove_stack, step_of
from .base import Method

_RUN = "pdit_easycache_run"


@dataclass(frozen=True)
class EasyCacheConfig:
    """EasyCache's settings.

    Args:
        threshold: the summed estimate of the relative output change at which the stack computes again (the
            reference code's ``thresh``; larger skips more).
        num_inference_steps: the call's step count (its last step always computes).
        warmup_steps: the first steps, which always compute (the reference uses 10 of 50).

    Example::

        apply_easycache(pipe.transformer, EasyCacheConfig(threshold=0.1, num_inference_steps=20, warmup_steps=4))
        video = pipe(prompt, num_inference_steps=20).frames[0]
        remove_easycache(pipe.transformer)
    """

    threshold: float
    num_inference_steps: int
    warmup_steps: int = 1

    def __post_init__(self):
        if not self.threshold >= 0:
            raise ValueError(f"EasyCache threshold must be >= 0, got {self.threshold}")
        if self.num_inference_steps < 1:
            raise ValueError(f"num_inference_steps must be at least 1, got {self.num_inference_steps}")
        if not 0 <= self.warmup_steps <= self.num_inference_steps:
            raise ValueError(f"warmup_steps must be in [0, num_inference_steps], got {self.warmup_steps}")


class _State(StackState):
    """Per CFG branch: the previous call's input, the last computed step's input and output, k, and the sum."""

    def __init__(self):
        super().__init__()
        self.prev_in: torch.Tensor | None = None
        self.computed_in: torch.Tensor | None = None  # input of the step now computing, then of the last computed
        self.last_in: torch.Tensor | None = None
        self.last_out: torch.Tensor | None = None
        self.rate: float | None = None  # k
        self.accumulated = 0.0
        self.estimates: list[float] = []  # per call: the summed estimate (nan where the step was bound to compute)


def refresh_decision(manager: StateManager, bound: Callable[[int], bool], threshold: float):
    """EasyCache's per-call decision: compute on the steps ``bound`` says, and until k is known; elsewhere sum the
    estimated output change since the last computed step and compute once it reaches ``threshold``."""
    def decide(s: _State, args, kwargs) -> bool:
        step = step_of(manager, s)
        x = args[0].detach() if args else kwargs["hidden_states"].detach()
        if bound(step) or s.rate is None or s.prev_in is None or s.last_out is None:
            compute, s.accumulated = True, 0.0
            s.estimates.append(float("nan"))
        else:
            s.accumulated += s.rate * mean_abs(x - s.prev_in) / max(mean_abs(s.last_out), 1e-12)
            s.estimates.append(s.accumulated)
            compute = s.accumulated >= threshold
            if compute:
                s.accumulated = 0.0
        s.prev_in = x
        if compute:
            s.computed_in = x
        s.calls += 1
        return compute

    return decide


def _measure_rate(s: _State, outs: tuple) -> None:
    """After the stack computed: k from this and the previous computed step."""
    out = outs[0].detach()
    if s.last_out is not None and s.last_in is not None and s.computed_in is not None:
        change_in = mean_abs(s.computed_in - s.last_in)
        if change_in > 0:
            s.rate = mean_abs(out - s.last_out) / change_in
    s.last_in, s.last_out = s.computed_in, out


def apply_easycache(transformer: torch.nn.Module, config: EasyCacheConfig) -> StateManager:
    """Install EasyCache on ``transformer``'s block stack (one run of the shared run-skipping hooks); each CFG branch
    keeps its own state. Returns the state manager."""
    manager = StateManager(_State)  # type: ignore[arg-type]  # diffusers annotates the class as an instance
    def bound(step: int) -> bool:  # the warm-up and the last step always compute
        return step < config.warmup_steps or step >= config.num_inference_steps - 1

    install_stack(transformer, _RUN, manager, lambda run_id: refresh_decision(manager, bound, config.threshold),
                  _measure_rate)
    return manager


def remove_easycache(transformer: torch.nn.Module) -> None:
    remove_stack(transformer, _RUN)


# --- the bench adapter ----------------------------------------------------------------------------
# The reference computes the first 10 of 50 steps; the bench scales that share to its step count.
WARMUP_SHARE = 0.2


def _apply(ctx, p):
    steps = ctx.settings.steps
    warmup = round(p.get("warmup", WARMUP_SHARE) * steps)
    apply_easycache(ctx.model.pipe.transformer, EasyCacheConfig(
        threshold=p["threshold"], num_inference_steps=steps, warmup_steps=warmup))


def _remove(ctx):
    remove_easycache(ctx.model.pipe.transformer)


METHODS = (
    Method("easycache", "easycache", {"threshold": 0.4},
           (*({"threshold": t} for t in (0.1, 0.2, 0.4, 0.8, 1.6)), {"threshold": 4.0, "warmup": 0.1}),
           _apply, _remove, note="runtime-adaptive, no calibration; warm-up 20% of the steps as published (10% at the "
                                 "most aggressive setting)", color="#e377c2"),
)
