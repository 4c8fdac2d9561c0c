"""What the forecasting peers (HiCache, FoCa, Spectrum) share: the whole block stack as one run of the shared
run-skipping hooks (``caching.runs``) on a schedule known before sampling. On a full step the stack computes and the
method observes its *feature*: the stack's delta (output of the last block − input of the first, the feature
TaylorSeer's forecasts sum to) or its output (the last block's hidden state). On every other step the method
forecasts the feature from what it observed and the run adds it; a forecast output is added as its difference from
this step's input, so the stack returns the forecast itself.

A feature is a tuple with one tensor per stream the blocks carry (Wan: the video stream; HunyuanVideo and
CogVideoX blocks also return the text stream); every forecast here is linear in the observed features and applies
the same weights to each stream.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Literal, Sequence

import torch
from diffusers.hooks.hooks import StateManager

from ...models import arch_for, block_stream_inputs
from ._stack import StackState, install_stack, remove_stack, step_of
from .base import NotApplicable

Feature = tuple[torch.Tensor, ...]


class HistoryState(StackState):
    """Per CFG branch: this call's step and stack input, the full steps observed and their features (oldest first,
    as many as the method keeps), and the method's own tensors (``memo``)."""

    def __init__(self):
        super().__init__()
        self.step = -1
        self.stack_in: Feature = ()
        self.steps: list[int] = []
        self.features: list[Feature] = []
        self.memo: dict[str, Any] = {}
        self.forecast_steps: list[int] = []  # the steps forecast, in order (for tests and reports)


def keep_last(count: int | None) -> Callable[[HistoryState, int, Feature], None]:
    """The default observation: append the full step and its feature, keeping the last ``count`` (all for None)."""
    def observe(s: HistoryState, step: int, feature: Feature) -> None:
        s.steps.append(step)
        s.features.append(feature)
        if count is not None and len(s.steps) > count:
            del s.steps[:-count], s.features[:-count]

    return observe


@dataclass(frozen=True)
class Forecaster:
    """One method on a static schedule: the steps that compute, the forecast of the feature at a step from the
    branch's state, what a full step records (``observe``), and which feature is forecast."""

    full_steps: frozenset[int]
    forecast: Callable[[HistoryState, int], Feature]
    observe: Callable[[HistoryState, int, Feature], None] = field(default_factory=lambda: keep_last(None))
    target: Literal["delta", "output"] = "delta"


def combine(weights: Sequence[float], features: Sequence[Feature]) -> Feature:
    """Σᵢ wᵢ·fᵢ per stream, summed in float32 and returned in the features' dtype."""
    out = []
    for stream in zip(*features):
        total = torch.zeros_like(stream[0], dtype=torch.float32)
        for w, x in zip(weights, stream):
            if w != 0.0:
                total.add_(x.float(), alpha=float(w))
        out.append(total.to(stream[0].dtype))
    return tuple(out)


def _hooks(manager: StateManager, forecaster: Forecaster, streams: tuple[str, ...]):
    def decide(s: HistoryState, args, kwargs) -> bool:
        s.step = step_of(manager, s)
        s.calls += 1
        s.stack_in = tuple(x.detach() for x in block_stream_inputs(streams, args, kwargs))
        if s.step in forecaster.full_steps or not s.steps:
            return True
        feature = forecaster.forecast(s, s.step)
        s.forecast_steps.append(s.step)
        if forecaster.target == "output":
            feature = tuple(f - x for f, x in zip(feature, s.stack_in))
        s.delta[0] = feature  # the skipped run adds this to its input
        return False

    def after_run(s: HistoryState, outs: tuple) -> None:
        feature = s.delta[0] if forecaster.target == "delta" else tuple(o.detach() for o in outs)
        forecaster.observe(s, s.step, feature)

    return decide, after_run


def install_forecaster(transformer: torch.nn.Module, name: str, forecaster: Forecaster) -> StateManager:
    """Install a forecasting method, hooks named ``name``, on ``transformer``'s block stack; each CFG branch keeps
    its own state. Returns the state manager."""
    if forecaster.target not in ("delta", "output"):
        raise ValueError(f"the forecast target must be 'delta' or 'output', got {forecaster.target!r}")
    manager = StateManager(HistoryState)  # type: ignore[arg-type]  # diffusers annotates the class as an instance
    decide, after_run = _hooks(manager, forecaster, arch_for(transformer).block_streams)
    install_stack(transformer, name, manager, lambda run_id: decide, after_run)
    return manager


def remove_forecaster(transformer: torch.nn.Module, name: str) -> None:
    remove_stack(transformer, name)


# The interval sweep of the peers on an interval schedule (HiCache, FoCa): intervals 2 to 6, and interval 2 after a
# 10-step warm-up for their least aggressive setting.
INTERVAL_SWEEP: tuple[dict, ...] = (*({"interval": i} for i in (2, 3, 4, 5, 6)), {"interval": 2, "warmup": 10})


def check_interval_schedule(method: str, steps: int, interval: int, warmup: int) -> None:
    """The checks of an interval schedule's knobs (``interval_schedule``), naming the method in the message."""
    if steps < 1:
        raise ValueError(f"num_inference_steps must be at least 1, got {steps}")
    if interval < 1:
        raise ValueError(f"{method} interval must be at least 1, got {interval}")
    if warmup < 1:
        raise ValueError(f"warmup must be at least 1 (step 0 computes), got {warmup}")


def interval_schedule(steps: int, interval: int, warmup: int) -> tuple[int, ...]:
    """The full steps of TaylorSeer's reference code (``cal_type``), which HiCache and FoCa keep: every step before
    ``warmup`` (its ``first_enhance``), then every ``interval``-th step from the last of them."""
    return tuple(t for t in range(steps) if t < warmup or (t - warmup + 1) % interval == 0)


def one_transformer(ctx) -> None:
    """The bench's check: the block-stack forecast is made for one transformer, not per expert."""
    if len(ctx.model.experts) > 1:
        raise NotApplicable("one transformer only: the block-stack forecast is not made per expert")
