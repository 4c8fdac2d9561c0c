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
from typing import cast

import numpy as np
import torch
from diffusers.hooks import HookRegistry
from diffusers.hooks.hooks import StateManager

from ..._compat import branch_states
from ...caching.runs import RunState, install_runs, remove_runs
from ...models import arch_for
from .base import Method, NotApplicable

_RUN = "pdit_teacache_run"


@dataclass(frozen=True)
class TeaCacheConfig:
    """Args: threshold (accumulated rescaled relative L1 budget), coefficients (highest power first),
    num_inference_steps (the first and last step always compute)."""

    threshold: float
    coefficients: tuple[float, ...]
    num_inference_steps: int


class _State(RunState):
    """Per CFG branch: the run-skipping caches, the last modulation input, the accumulated estimate, and (when
    calibrating) the recorded pairs."""

    def __init__(self):
        super().__init__()
        self.prev_mod: torch.Tensor | None = None
        self.accumulated = 0.0
        self.calls = 0
        # calibration records: (relative change of the modulation input, of the stack output)
        self.prev_out: torch.Tensor | None = None
        self.pairs: list[tuple[float, float]] = []
        self.pending_x: float | None = None


def _rel_l1(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().mean() / b.abs().mean().clamp_min(1e-12))


def _temb(args: tuple, kwargs: dict) -> torch.Tensor:
    # Wan, HunyuanVideo and CogVideoX blocks all take (hidden_states, encoder_hidden_states, temb, ...).
    return args[2] if len(args) > 2 else kwargs["temb"]


def _decision(manager: StateManager, config: TeaCacheConfig | None, calibrate: bool):
    """Whether the whole stack computes at this call, from the change of the first block's modulation input."""

    def decide(s: _State, args, kwargs) -> bool:
        ctx = manager.context
        step = ctx.step_index if ctx.step_index is not None else s.calls
        steps = config.num_inference_steps if config else None
        mod = _temb(args, kwargs).detach().float()
        if calibrate:
            s.pending_x = None if s.prev_mod is None else _rel_l1(mod, s.prev_mod)
            compute = True
        elif s.prev_mod is None or 0 not in s.delta or step == 0 or (steps and step >= steps - 1):
            compute, s.accumulated = True, 0.0
        else:
            assert config is not None  # only calibration runs without one
            s.accumulated += float(np.polyval(config.coefficients, _rel_l1(mod, s.prev_mod)))
            compute = s.accumulated >= config.threshold
            if compute:
                s.accumulated = 0.0
        s.prev_mod = mod
        s.calls += 1
        return compute

    return torch.compiler.disable(decide)


def _record_pair(s: _State, outs: tuple) -> None:
    out = outs[0].detach().float()
    if s.pending_x is not None and s.prev_out is not None:
        s.pairs.append((s.pending_x, _rel_l1(out, s.prev_out)))
    s.prev_out = out


def apply_teacache(transformer: torch.nn.Module, config: TeaCacheConfig | None, calibrate: bool = False):
    """Install TeaCache (or, with ``calibrate=True``, hooks that compute every step and only record calibration
    pairs): the whole block stack is one run of the shared run-skipping hooks (``caching.runs``)."""
    arch = arch_for(transformer)
    blocks = arch.blocks(transformer)
    if len(blocks) < 2:
        raise ValueError("TeaCache needs at least two blocks")
    manager = StateManager(_State)  # type: ignore[arg-type]  # diffusers annotates the class as an instance
    install_runs(blocks, [(0, len(blocks) - 1)], manager, arch.block_streams, _RUN,
                 lambda run_id: _decision(manager, config, calibrate), _record_pair if calibrate else None)
    HookRegistry.check_if_exists_or_initialize(transformer).invalidate_child_registries_cache()
    transformer._pdit_teacache_manager = manager  # type: ignore[assignment]
    return manager


def remove_teacache(transformer: torch.nn.Module) -> None:
    remove_runs(arch_for(transformer).blocks(transformer), _RUN)
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
            pairs.extend(cast(_State, state).pairs)

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
           note="rescaling polynomial fitted on the benchmarked model", color="#ff7f0e",
           calibration_generations=1),
)
