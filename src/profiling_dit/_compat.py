"""The one place that touches diffusers' hook internals (tested with diffusers 0.42.x).

Stateful hooks hold a ``StateManager``; the pipeline's ``transformer.cache_context(name, step_index=…)``
sets a ``CacheContext`` on every such manager under the transformer. We read its private
``_context`` to learn the branch ("cond"/"uncond") and step index of the current call.
"""

from __future__ import annotations

from dataclasses import dataclass

from diffusers.hooks.hooks import BaseState, StateManager


class ContextState(BaseState):
    """An empty per-branch state; we only need the manager for its context."""

    def reset(self, *args, **kwargs) -> None:
        pass


@dataclass(frozen=True)
class CallContext:
    name: str
    step: int | None

    @staticmethod
    def from_manager(manager: StateManager) -> "CallContext | None":
        ctx = getattr(manager, "_context", None)
        if ctx is None:
            return None
        return CallContext(name=ctx.name, step=getattr(ctx, "step_index", None))

