"""The one place that touches diffusers' private internals (tested with diffusers 0.42.x).

- A stateful hook holds a ``StateManager``; the pipeline's ``transformer.cache_context(name, …)`` sets a
  ``CacheContext`` on every such manager under the transformer. We read the manager's private
  ``_context`` (the public ``context`` property raises when none is set) and its per-branch states
  (``_state_cache``).
- A module's hooks live in its private ``_diffusers_hook`` registry; we look hooks up there.
- diffusers' guiders name the CFG branches ``pred_cond`` and ``pred_uncond`` (their private ``_input_predictions``);
  a call context of either name is read as ``cond`` or ``uncond``.

- Context parallelism: a transformer's ``_parallel_config`` says whether ``enable_parallelism`` was applied;
  and diffusers divides by ``torch.accelerator.device_count()`` when it builds the device mesh, which is 0
  on a CPU: ``accelerator_count_at_least_one`` makes it 1 there, for that call only (CPU runs only).
- LPIPS: torchmetrics builds its network in the private ``_LPIPS`` class; we build it without pretrained
  weights (no download) and load the weights from a safetensors file.

A test (``tests/test_layout.py``) checks that no other library module reads a diffusers attribute whose
name starts with an underscore.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Literal

import torch
from diffusers.hooks.hooks import BaseState, StateManager


class ContextState(BaseState):
    """An empty per-branch state; we only need the manager for its context."""

    def reset(self, *args, **kwargs) -> None:
        pass


# diffusers' guiders name a pipeline's branches by the predictions they make (HunyuanVideo 1.5 enters
# ``cache_context("pred_cond")``): the branches pdit's caches and profiler know
GUIDER_BRANCHES = {"pred_cond": "cond", "pred_uncond": "uncond"}


@dataclass(frozen=True)
class CallContext:
    """The branch ("cond", "uncond", "cond_uncond") and, where the pipeline gives them, the step index and
    step count of the current transformer call."""

    name: str
    step: int | None
    num_steps: int | None = None

    @staticmethod
    def from_manager(manager: StateManager) -> "CallContext | None":
        ctx = getattr(manager, "_context", None)
        if ctx is None:
            return None
        return CallContext(name=GUIDER_BRANCHES.get(ctx.name, ctx.name), step=getattr(ctx, "step_index", None),
                           num_steps=getattr(ctx, "num_inference_steps", None))


def branch_states(manager: StateManager) -> dict[str, BaseState]:
    """The per-branch states a manager holds now (empty after the pipeline resets its hooks)."""
    return dict(getattr(manager, "_state_cache", {}))


def get_hook(module: torch.nn.Module, name: str):
    """The hook registered on ``module`` under ``name``, or None (without creating a registry)."""
    registry = getattr(module, "_diffusers_hook", None)
    return None if registry is None else registry.get_hook(name)


def remove_hook(module: torch.nn.Module, name: str) -> None:
    """Remove the hook ``name`` from ``module`` if it has one (without creating a registry)."""
    registry = getattr(module, "_diffusers_hook", None)
    if registry is not None and registry.get_hook(name) is not None:
        registry.remove_hook(name, recurse=False)


def lpips_network(net: Literal["alex", "vgg", "squeeze"] = "alex"):
    """torchmetrics' LPIPS network with random weights and no download (load real ones into it)."""
    from torchmetrics.functional.image.lpips import _LPIPS

    return _LPIPS(pretrained=False, net=net, pnet_rand=True, use_dropout=True, eval_mode=True)


def parallel_config_of(module: torch.nn.Module):
    """The parallel config ``enable_parallelism`` recorded on a model, or None."""
    return getattr(module, "_parallel_config", None)


@contextlib.contextmanager
def accelerator_count_at_least_one():
    """On a machine without an accelerator, ``torch.accelerator.device_count()`` reads 1 inside the block (diffusers
    computes ``rank % device_count()`` when it builds the context-parallel mesh). Elsewhere: unchanged."""
    accel = getattr(torch, "accelerator", None)
    if accel is None or accel.device_count() > 0:
        yield
        return
    original = accel.device_count
    accel.device_count = lambda: 1
    try:
        yield
    finally:
        accel.device_count = original
