"""TeaCache (Liu et al., "Timestep Embedding Tells: It's Time to Cache"), as diffusers hooks, and its bench
adapter (no official diffusers version exists).

At each step the relative L1 change of the first block's modulation input (Wan: the projected
timestep embedding ``temb``) is rescaled by a polynomial fitted to the model, and accumulated. While
the accumulated value stays below ``threshold`` the whole block stack is skipped and its cached
residual (h_out(last) − h_in(first)) is added; otherwise the stack computes, the residual is
refreshed and the accumulator resets. The first and last steps always compute.

The polynomial maps the modulation input's change to the stack output's change. Published
coefficients belong to other models, so ``fit_teacache_polynomial`` fits it from a calibration
run of the model being benchmarked (``calibrate_teacache``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from diffusers.hooks import HookRegistry, ModelHook
from diffusers.hooks.hooks import BaseState, StateManager

from ..._compat import branch_states, remove_hook
from ...models import arch_for, block_stream_inputs
from .base import Method, NotApplicable

_HEAD = "pdit_teacache_head"
_BODY = "pdit_teacache_body"


@dataclass(frozen=True)
class TeaCacheConfig:
    """Args: threshold (accumulated rescaled relative L1 budget), coefficients (highest power first),
    num_inference_steps (the first and last step always compute)."""

    threshold: float
    coefficients: tuple[float, ...]
    num_inference_steps: int


class _State(BaseState):
    def __init__(self):
        self.prev_mod: torch.Tensor | None = None
        self.accumulated = 0.0
        self.skip = False
        self.h_in: torch.Tensor | None = None
        self.residual: torch.Tensor | None = None
        self.calls = 0
        # calibration records: (relative change of the modulation input, of the stack output)
        self.prev_out: torch.Tensor | None = None
        self.pairs: list[tuple[float, float]] = []
        self.pending_x: float | None = None

    def reset(self, *args, **kwargs):
        self.__init__()


def _rel_l1(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().mean() / b.abs().mean().clamp_min(1e-12))


class _Head(ModelHook):
    _is_stateful = True

    def __init__(self, manager, config: TeaCacheConfig | None, calibrate: bool, n_blocks: int, n_streams: int = 1):
        super().__init__()
        self.n_streams = n_streams
        self.state_manager = manager
        self.config = config
        self.calibrate = calibrate
        self.n_blocks = n_blocks

    @torch.compiler.disable
    def _decide(self, temb: torch.Tensor) -> _State:
        s: _State = self.state_manager.get_state()
        ctx = self.state_manager.context
        step = ctx.step_index if getattr(ctx, "step_index", None) is not None else s.calls
        steps = self.config.num_inference_steps if self.config else None
        mod = temb.detach().float()
        if self.calibrate:
            s.pending_x = None if s.prev_mod is None else _rel_l1(mod, s.prev_mod)
            s.skip = False
        elif s.prev_mod is None or s.residual is None or step == 0 or (steps and step >= steps - 1):
            s.skip, s.accumulated = False, 0.0
        else:
            s.accumulated += float(np.polyval(self.config.coefficients, _rel_l1(mod, s.prev_mod)))
            s.skip = s.accumulated < self.config.threshold
            if not s.skip:
                s.accumulated = 0.0
        s.prev_mod = mod
        s.calls += 1
        return s

    def new_forward(self, module, hidden_states, encoder_hidden_states, temb, *args, **kwargs):
        # Wan, HunyuanVideo and CogVideoX blocks all take (hidden_states, encoder_hidden_states, temb, ...).
        s = self._decide(temb)
        streams = (hidden_states, encoder_hidden_states)[:self.n_streams]
        if s.skip:
            out = tuple(x + r for x, r in zip(streams, s.residual))
            return out[0] if self.n_streams == 1 else out
        s.h_in = streams
        return self.fn_ref.original_forward(hidden_states, encoder_hidden_states, temb, *args, **kwargs)

    def reset_state(self, module):
        self.state_manager.reset()
        return module


class _Body(ModelHook):
    _is_stateful = True

    def __init__(self, manager, is_last: bool, streams: tuple[str, ...] = ("hidden_states",)):
        super().__init__()
        self.state_manager = manager
        self.is_last = is_last
        self.streams = streams

    def new_forward(self, module, *args, **kwargs):
        s: _State = self.state_manager.get_state()
        if s.skip:
            ins = block_stream_inputs(self.streams, args, kwargs)
            return ins[0] if len(ins) == 1 else ins
        out = self.fn_ref.original_forward(*args, **kwargs)
        if self.is_last:
            outs = (out,) if len(self.streams) == 1 else tuple(out)
            s.residual = tuple(o - x for o, x in zip(outs, s.h_in))
            if s.pending_x is not None and s.prev_out is not None:
                s.pairs.append((s.pending_x, _rel_l1(outs[0].detach().float(), s.prev_out)))
            s.prev_out = outs[0].detach().float()
        return out

    def reset_state(self, module):
        self.state_manager.reset()
        return module


def apply_teacache(transformer: torch.nn.Module, config: TeaCacheConfig | None, calibrate: bool = False):
    """Install TeaCache (or, with ``calibrate=True``, hooks that only record calibration pairs)."""
    arch = arch_for(transformer)
    blocks = arch.blocks(transformer)
    manager = StateManager(_State)
    HookRegistry.check_if_exists_or_initialize(blocks[0]).register_hook(
        _Head(manager, config, calibrate, len(blocks), len(arch.block_streams)), _HEAD)
    last = len(blocks) - 1
    if last == 0:
        raise ValueError("TeaCache needs at least two blocks")
    for i, block in enumerate(blocks[1:], start=1):
        HookRegistry.check_if_exists_or_initialize(block).register_hook(
            _Body(manager, i == last, arch.block_streams), _BODY)
    HookRegistry.check_if_exists_or_initialize(transformer).invalidate_child_registries_cache()
    transformer._pdit_teacache_manager = manager
    return manager


def remove_teacache(transformer: torch.nn.Module) -> None:
    blocks = arch_for(transformer).blocks(transformer)
    remove_hook(blocks[0], _HEAD)
    for block in blocks[1:]:
        remove_hook(block, _BODY)
    HookRegistry.check_if_exists_or_initialize(transformer).invalidate_child_registries_cache()
    transformer.__dict__.pop("_pdit_teacache_manager", None)


def fit_teacache_polynomial(pairs: list[tuple[float, float]], degree: int = 2) -> tuple[float, ...]:
    """Least-squares polynomial y ≈ p(x) over calibration pairs (highest power first)."""
    if len(pairs) < degree + 2:
        raise ValueError(f"need at least {degree + 2} calibration pairs, got {len(pairs)}")
    x, y = np.array(pairs, dtype=float).T
    return tuple(float(c) for c in np.polyfit(x, y, degree))


# --- the bench adapter ----------------------------------------------------------------------------
def _teacache_calibrate(ctx):
    transformer = ctx.model.pipe.transformer
    manager = apply_teacache(transformer, None, calibrate=True)
    pairs: list[tuple[float, float]] = []

    def grab():
        for state in branch_states(manager).values():
            pairs.extend(state.pairs)

    try:
        ctx.run_calibration(grab)
    finally:
        remove_teacache(transformer)
    # quadratic as TeaCache publishes; fewer calibration pairs (short runs) get a lower degree
    degree = min(2, len(pairs) - 2)
    if degree < 1:
        raise NotApplicable(f"TeaCache calibration got {len(pairs)} step pairs; it needs at least 3 (use more steps)")
    ctx.calibration["teacache_coefficients"] = fit_teacache_polynomial(pairs, degree)
    ctx.calibration["teacache_pairs"] = len(pairs)


def _teacache_apply(ctx, p):
    apply_teacache(ctx.model.pipe.transformer, TeaCacheConfig(
        threshold=p["threshold"], coefficients=ctx.calibration["teacache_coefficients"],
        num_inference_steps=ctx.settings.steps))


def _teacache_remove(ctx):
    remove_teacache(ctx.model.pipe.transformer)



METHODS = (
    Method("teacache", "teacache", {"threshold": 0.2}, tuple({"threshold": t} for t in (0.1, 0.2, 0.4, 0.8)),
           _teacache_apply, _teacache_remove, calibrate=_teacache_calibrate,
           note="rescaling polynomial fitted on the benchmarked model"),
)
