"""Skip a run of consecutive blocks and add its cached residual: the one mechanism under ProfilingDiT's hooks
and our TeaCache.

A run is blocks k..j. When it computes, its first block keeps h_in(k) and its last block stores the run's
delta h_out(j) − h_in(k), one per stream the blocks carry (HunyuanVideo and CogVideoX blocks take and return
video and text streams). When it is skipped, its first block returns h_in(k) + delta and the other blocks
pass their input through. Whether a run computes is asked once, at its first block, of the method's
``decide(state, args, kwargs)``; a run with no delta yet always computes.

A method that forecasts (``forecast(state) -> (a, b)``) has a skipped run add a·Δ_s + b·Δ_s′, Δ_s and Δ_s′ its
last two computed deltas (kept both with ``keep_previous``); (1, 0) adds Δ_s exactly as plain reuse. With ``fit``
(calibration) a run that would be skipped computes all the same, and ``fit(state, run, true delta, Δ_s, Δ_s′)``
says which (a, b) it adds instead of its true output: the trajectory stays the forecasting one, and what the
forecast should have been is measured on it.
"""

from __future__ import annotations

from typing import Any, Callable, TypeVar

import torch
from diffusers.hooks import HookRegistry, ModelHook
from diffusers.hooks.hooks import BaseState, StateManager

from .._compat import remove_hook
from ..models import block_stream_inputs


class RunState(BaseState):
    """Per CFG branch: each run's input (while it computes), its delta, and whether it is skipped now."""

    def __init__(self):
        self.h_in: dict[int, tuple[torch.Tensor, ...]] = {}
        self.delta: dict[int, tuple[torch.Tensor, ...]] = {}
        self.previous: dict[int, tuple[torch.Tensor, ...]] = {}  # the delta before, when the method forecasts
        self.skip: dict[int, bool] = {}
        self.fitting: dict[int, bool] = {}  # computing a step the run would skip, to fit what a skip adds

    def reset(self, *args, **kwargs):
        self.__init__()  # type: ignore[misc]  # a subclass's fields too (their __init__ take no arguments)

    def cache_bytes(self) -> int:
        return sum(t.numel() * t.element_size() for kept in (self.delta, self.previous) for deltas in kept.values()
                   for t in deltas)


# the state class of a method's StateManager, which its callbacks receive
S = TypeVar("S", bound=RunState)
# decide(state, block args, block kwargs) -> True when the run computes
Decide = Callable[[S, tuple, dict], bool]
# after_run(state, run outputs): called when a run has computed, after its delta is stored
AfterRun = Callable[[S, tuple], None]
# forecast(state) -> (a, b): a skipped run adds a·Δ_s + b·Δ_s′ ((1, 0): Δ_s, plain reuse)
Forecast = Callable[[S], tuple[float, float]]
# fit(state, run id, true delta, Δ_s, Δ_s′ or None) -> (a, b) added instead of the true output (calibration)
Fit = Callable[[S, int, tuple, tuple, "tuple | None"], tuple[float, float]]
PLAIN = (1.0, 0.0)


def combined(a: float, b: float, delta: tuple, previous: tuple | None) -> tuple:
    """a·Δ_s + b·Δ_s′ per stream; Δ_s itself, untouched, for (1, 0)."""
    if (a, b) == PLAIN:
        return delta
    if b == 0.0 or previous is None:
        return tuple(a * d for d in delta)
    return tuple(a * d + b * p for d, p in zip(delta, previous))


class RunBlockHook(ModelHook):
    """On each block of a run (first, member, last)."""

    _is_stateful = True

    def __init__(self, state_manager: StateManager, run_id: int, is_first: bool, is_last: bool,
                 streams: tuple[str, ...], decide: Decide[Any] | None = None, after_run: AfterRun[Any] | None = None,
                 forecast: Forecast[Any] | None = None, keep_previous: bool = False, fit: Fit[Any] | None = None):
        super().__init__()
        self.state_manager = state_manager
        self.run_id = run_id
        self.is_first = is_first
        self.is_last = is_last
        self.streams = streams  # the block's stream arguments, also its first positional ones, in order
        self.decide = decide
        self.after_run = after_run
        self.forecast = forecast  # on the first block (it adds the delta)
        self.keep_previous = keep_previous  # on the last block (it keeps the delta before)
        self.fit = fit  # on the first block (it computes anyway) and the last (it fits what is added)

    @torch.compiler.disable
    def _coefficients(self, state: RunState) -> tuple[float, float]:
        return PLAIN if self.forecast is None else self.forecast(state)

    @torch.compiler.disable
    def _computes(self, args, kwargs) -> tuple[RunState, bool]:
        state: RunState = self.state_manager.get_state()
        if self.is_first:
            assert self.decide is not None  # a run's first block always has its decision
            compute = self.decide(state, args, kwargs) or self.run_id not in state.delta
            state.fitting[self.run_id] = not compute and self.fit is not None
            state.skip[self.run_id] = not compute and self.fit is None
        return state, not state.skip.get(self.run_id, False)

    def new_forward(self, module, *args, **kwargs):
        inputs = block_stream_inputs(self.streams, args, kwargs)
        single = len(inputs) == 1
        state, compute = self._computes(args, kwargs)
        if not compute:
            if self.is_first:
                a, b = self._coefficients(state)
                added = combined(a, b, state.delta[self.run_id], state.previous.get(self.run_id))
                inputs = tuple(x + d for x, d in zip(inputs, added))
            # other members pass through: the run's delta was already added by its first block
            return inputs[0] if single else inputs
        if self.is_first:
            state.h_in[self.run_id] = inputs
        out = self.fn_ref.original_forward(*args, **kwargs)  # type: ignore[misc]  # diffusers types it as None
        if self.is_last:
            outs = (out,) if single else tuple(out)
            h_in = state.h_in.pop(self.run_id)
            true = tuple(o - x for o, x in zip(outs, h_in))
            if state.fitting.get(self.run_id):
                assert self.fit is not None  # fitting is set only where there is one
                delta, previous = state.delta[self.run_id], state.previous.get(self.run_id)
                a, b = self.fit(state, self.run_id, true, delta, previous)
                added = combined(a, b, delta, previous)
                outs = tuple(x + d for x, d in zip(h_in, added))
                return outs[0] if single else outs
            if self.keep_previous and self.run_id in state.delta:
                state.previous[self.run_id] = state.delta[self.run_id]
            state.delta[self.run_id] = true
            if self.after_run is not None:
                self.after_run(state, outs)
        return out

    def reset_state(self, module):
        self.state_manager.reset()
        return module


def install_runs(blocks, runs: list[tuple[int, int]], state_manager: StateManager, streams: tuple[str, ...],
                 name: str, decide: Callable[[int], Decide[S]], after_run: AfterRun[S] | None = None,
                 forecast: Forecast[S] | None = None, keep_previous: bool = False, fit: Fit[S] | None = None) -> None:
    """Register a ``RunBlockHook`` named ``name`` on every block of each run (inclusive (first, last) pairs);
    ``decide(run_id)`` gives the run's decision function; ``forecast``, ``keep_previous`` and ``fit`` as in the
    module docstring."""
    for run_id, (first, last) in enumerate(runs):
        for b in range(first, last + 1):
            hook = RunBlockHook(state_manager, run_id, b == first, b == last, streams,
                                decide(run_id) if b == first else None, after_run if b == last else None,
                                forecast if b == first else None, keep_previous and b == last,
                                fit if b in (first, last) else None)
            HookRegistry.check_if_exists_or_initialize(blocks[b]).register_hook(hook, name)


def remove_runs(blocks, name: str) -> None:
    for block in blocks:
        remove_hook(block, name)
