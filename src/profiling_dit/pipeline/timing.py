"""Wall-clock timing of the transformer inside a stock pipeline, via a diffusers hook.

On CUDA the hook synchronises before reading the clock, so the times are the GPU's, not the
launch queue's.
"""

from __future__ import annotations

import time

import torch
from diffusers.hooks import HookRegistry, ModelHook

_TIMER_HOOK = "pdit_transformer_timer"


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


class TransformerTimerHook(ModelHook):
    """Records (start, end) of every forward call of the module it is attached to."""

    def __init__(self, device: torch.device):
        super().__init__()
        self.device = device
        self.calls: list[tuple[float, float]] = []
        self._start = 0.0

    def pre_forward(self, module, *args, **kwargs):
        _sync(self.device)
        self._start = time.perf_counter()
        return args, kwargs

    def post_forward(self, module, output):
        _sync(self.device)
        self.calls.append((self._start, time.perf_counter()))
        return output

    @property
    def total_s(self) -> float:
        return sum(end - start for start, end in self.calls)


def attach_timer(transformer: torch.nn.Module, device: torch.device) -> TransformerTimerHook:
    hook = TransformerTimerHook(device)
    HookRegistry.check_if_exists_or_initialize(transformer).register_hook(hook, _TIMER_HOOK)
    return hook


def detach_timer(transformer: torch.nn.Module) -> None:
    HookRegistry.check_if_exists_or_initialize(transformer).remove_hook(_TIMER_HOOK, recurse=False)


def sync(device: torch.device) -> None:
    _sync(device)


_BLOCK_TIMER_HOOK = "pdit_block_timer"


def attach_block_timers(blocks, device: torch.device) -> list[TransformerTimerHook]:
    """Time every call of each block (with a device sync around it: for measuring, not for speed)."""
    hooks = []
    for block in blocks:
        hook = TransformerTimerHook(device)
        HookRegistry.check_if_exists_or_initialize(block).register_hook(hook, _BLOCK_TIMER_HOOK)
        hooks.append(hook)
    return hooks


def detach_block_timers(blocks) -> None:
    for block in blocks:
        HookRegistry.check_if_exists_or_initialize(block).remove_hook(_BLOCK_TIMER_HOOK, recurse=False)
