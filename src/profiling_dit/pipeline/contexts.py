"""Cache contexts for a pipeline that calls its transformer outside any (Kandinsky 5).

Caching and profiling tell the CFG branches (and each branch's steps) apart by the ``transformer.cache_context(name)``
the pipeline enters around each call. A pipeline whose ``PipelineSpec.call_contexts`` is set enters none; pdit then
names each call itself, just before the transformer runs (a forward pre-hook, which runs before every diffusers hook
on the module): the first call at a timestep is ``call_contexts[0]`` (``"cond"``), the next one at the same timestep
``call_contexts[1]`` (``"uncond"``), as the pipeline orders its branches. A new timestep starts again from the first,
and so does a new generation: the pipeline resets its transformer's stateful hooks when a call ends, ours included
(a one-step generation ends on the timestep the next one starts on).
"""

from __future__ import annotations

import contextlib

import torch
from diffusers.hooks import HookRegistry, ModelHook

_NAMER = "_pdit_call_namer"  # the transformer attribute holding its namer (installed once)
_RESET_HOOK = "pdit_call_namer_reset"


class _CallNamer:
    def __init__(self, names: tuple[str, ...]):
        self.names = names
        self.timestep: float | None = None
        self.calls_at_timestep = 0
        self.open: contextlib.AbstractContextManager | None = None

    @torch.compiler.disable
    def before(self, module, args, kwargs):
        self.after(module, args, kwargs, None)  # a call that raised left its context open
        t = kwargs.get("timestep")
        value = float(t.reshape(-1)[0]) if isinstance(t, torch.Tensor) and t.numel() else None
        if value != self.timestep:
            self.timestep, self.calls_at_timestep = value, 0
        name = self.names[min(self.calls_at_timestep, len(self.names) - 1)]
        self.calls_at_timestep += 1
        self.open = module.cache_context(name)
        self.open.__enter__()

    @torch.compiler.disable
    def after(self, module, args, kwargs, output):
        if self.open is not None:
            self.open.__exit__(None, None, None)
            self.open = None

    def reset(self) -> None:
        self.timestep, self.calls_at_timestep = None, 0


class _ResetHook(ModelHook):
    """A stateful hook that only resets the namer, when the pipeline resets the transformer's hooks after a call."""

    _is_stateful = True

    def __init__(self, namer: _CallNamer):
        super().__init__()
        self.namer = namer

    def reset_state(self, module):
        self.namer.reset()
        return module


def name_calls(transformer: torch.nn.Module, names: tuple[str, ...]) -> None:
    """Name each call of ``transformer`` (``names`` in order at each timestep), once per transformer; a no-op for
    ``names`` empty (the pipeline names its calls)."""
    if not names or _NAMER in transformer.__dict__:
        return
    namer = _CallNamer(tuple(names))
    transformer.register_forward_pre_hook(namer.before, with_kwargs=True)
    transformer.register_forward_hook(namer.after, with_kwargs=True, always_call=True)
    HookRegistry.check_if_exists_or_initialize(transformer).register_hook(_ResetHook(namer), _RESET_HOOK)
    transformer.__dict__[_NAMER] = namer
