"""What the whole-stack peers (EasyCache, DiCache, LeMiCa, ERTACache) share: the block stack as runs of the shared
run-skipping hooks (``caching.runs``), the step a call belongs to, and the relative L1 distance they all measure."""

from __future__ import annotations

from typing import Callable

import torch
from diffusers.hooks import HookRegistry
from diffusers.hooks.hooks import StateManager

from ...caching.runs import AfterRun, Decide, RunState, install_runs, remove_runs
from ...models import arch_for


class StackState(RunState):
    """Per CFG branch: the run caches and a call counter (the step, for callers that give no step index)."""

    def __init__(self):
        super().__init__()
        self.calls = 0


def step_of(manager: StateManager, state: StackState) -> int:
    """The denoising step of the current call: the pipeline's ``step_index``, else the branch's call count."""
    step = getattr(manager.context, "step_index", None)
    return int(step) if step is not None else state.calls


def mean_abs(x: torch.Tensor) -> float:
    return float(x.detach().float().abs().mean())


def rel_l1(a: torch.Tensor, b: torch.Tensor) -> float:
    """mean |a − b| / mean |b|: the relative change every method here thresholds."""
    a, b = a.detach().float(), b.detach().float()
    return float((a - b).abs().mean() / b.abs().mean().clamp_min(1e-12))


def install_stack(transformer: torch.nn.Module, name: str, manager: StateManager,
                  decide: Callable[[int], Decide], after_run: AfterRun | None = None,
                  runs: Callable[[int], list[tuple[int, int]]] | None = None) -> list[torch.nn.Module]:
    """Install run-skipping hooks named ``name`` on the transformer's blocks: one run of the whole stack, or the runs
    ``runs(num_blocks)`` gives. ``decide(run_id)`` is the run's decision, wrapped in ``torch.compiler.disable``
    (decisions branch on tensor values)."""
    blocks = arch_for(transformer).blocks(transformer)
    spans = runs(len(blocks)) if runs is not None else [(0, len(blocks) - 1)]
    install_runs(blocks, spans, manager, arch_for(transformer).block_streams, name,
                 lambda run_id: torch.compiler.disable(decide(run_id)), after_run)
    HookRegistry.check_if_exists_or_initialize(transformer).invalidate_child_registries_cache()
    return blocks


def remove_stack(transformer: torch.nn.Module, name: str) -> None:
    remove_runs(arch_for(transformer).blocks(transformer), name)
    HookRegistry.check_if_exists_or_initialize(transformer).invalidate_child_registries_cache()
