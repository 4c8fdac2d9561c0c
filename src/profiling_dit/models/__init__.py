"""What differs per model family, as data: one module per family (``wan``, ``hunyuan``, ``cogvideox``)
holding its registry entry (``FAMILY``: where the blocks are, which streams they carry, which attention
to observe and how its Q/K are formed, how tokens map to the latent grid), its pipelines and its
aliases. This module collects them and answers lookups.

Entries are keyed on the transformer *class* (resolved lazily from diffusers, so importing the registry
does not import diffusers' model zoo), never on a name prefix. ``register_architecture`` adds a class of
your own (a model of yours, or a test double).
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    import torch

from ..errors import UnsupportedModelError
from . import cogvideox, hunyuan, ltx, wan
from .spec import ArchitectureSpec, Family, JointQK, ModelAlias, PipelineSpec
from .wan import TINY_MODEL_DIR

FAMILIES: tuple[Family, ...] = (wan.FAMILY, hunyuan.FAMILY, cogvideox.FAMILY, ltx.FAMILY)


def _diffusers_class(name: str) -> type:
    import diffusers

    return getattr(diffusers, name)


# class name -> (() -> class, spec); diffusers classes resolve on first use, specs are plain data
_ARCH_FACTORIES: dict[str, tuple[Callable[[], type], ArchitectureSpec]] = {
    f.transformer_class: (functools.partial(_diffusers_class, f.transformer_class), f.architecture) for f in FAMILIES
}

PIPELINES: dict[str, PipelineSpec] = {name: spec for f in FAMILIES for name, spec in f.pipelines.items()}

MODEL_ALIASES: dict[str, ModelAlias] = {a.name: a for f in FAMILIES for a in f.aliases}


def register_architecture(transformer_class: type, spec: ArchitectureSpec) -> None:
    """Add support for a transformer class (e.g. your own model, or a test double)."""
    _ARCH_FACTORIES[transformer_class.__name__] = (lambda: transformer_class, spec)


def architectures() -> dict[type, ArchitectureSpec]:
    """All supported transformer classes and their specs."""
    return {resolve(): spec for resolve, spec in _ARCH_FACTORIES.values()}


def supported_class_names() -> list[str]:
    return sorted(_ARCH_FACTORIES)


def arch_for_class_name(class_name: str) -> ArchitectureSpec:
    """Look up by the ``_class_name`` recorded in a saved config."""
    if class_name not in _ARCH_FACTORIES:
        raise UnsupportedModelError(
            f"transformer class {class_name!r} is not supported; supported: {', '.join(supported_class_names())}")
    return _ARCH_FACTORIES[class_name][1]


def arch_for(transformer: torch.nn.Module) -> ArchitectureSpec:
    """The spec for a loaded transformer, matched on its class (subclasses included)."""
    for cls, spec in architectures().items():
        if isinstance(transformer, cls):
            return spec
    raise UnsupportedModelError(
        f"transformer class {type(transformer).__name__!r} is not supported; supported: "
        f"{', '.join(supported_class_names())}")


def pipeline_spec(pipe) -> PipelineSpec:
    """The spec of a loaded pipeline (its class or a parent class); unknown classes fail with the list."""
    for cls in type(pipe).__mro__:
        if cls.__name__ in PIPELINES:
            return PIPELINES[cls.__name__]
    raise UnsupportedModelError(
        f"pipeline class {type(pipe).__name__!r} is not supported; supported: {', '.join(sorted(PIPELINES))}")


def block_stream_inputs(streams: tuple[str, ...], args: tuple, kwargs: dict) -> tuple:
    """The stream tensors of one block call (``ArchitectureSpec.block_streams``): by name, or else
    positionally in that order."""
    return tuple(kwargs[name] if name in kwargs else args[i] for i, name in enumerate(streams))


__all__ = [
    "ArchitectureSpec", "Family", "JointQK", "ModelAlias", "PipelineSpec", "FAMILIES", "PIPELINES", "MODEL_ALIASES",
    "TINY_MODEL_DIR", "register_architecture", "architectures", "supported_class_names", "arch_for_class_name",
    "arch_for", "pipeline_spec", "block_stream_inputs",
]
