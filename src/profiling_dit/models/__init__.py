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
from typing import TYPE_CHECKING, Callable, Sequence

if TYPE_CHECKING:
    import torch

from ..errors import UnsupportedModelError
from . import cogvideox, hunyuan, hunyuan15, kandinsky, ltx, ltx2, skyreels, wan
from .spec import ArchitectureSpec, Family, JointQK, ModelAlias, PipelineSpec
from .wan import TINY_MODEL_DIR

FAMILIES: tuple[Family, ...] = (wan.FAMILY, hunyuan.FAMILY, cogvideox.FAMILY, ltx.FAMILY, skyreels.FAMILY,
                                kandinsky.FAMILY, hunyuan15.FAMILY, ltx2.FAMILY)

# where a user whose model is not supported reads how to add it
ADDING_A_MODEL = "docs/adding-a-model.md"


def _diffusers_class(name: str) -> type:
    import diffusers

    return getattr(diffusers, name)


# class name -> (() -> class, spec); diffusers classes resolve on first use, specs are plain data
_ARCH_FACTORIES: dict[str, tuple[Callable[[], type], ArchitectureSpec]] = {
    f.transformer_class: (functools.partial(_diffusers_class, f.transformer_class), f.architecture) for f in FAMILIES
}

PIPELINES: dict[str, PipelineSpec] = {name: spec for f in FAMILIES for name, spec in f.pipelines.items()}

MODEL_ALIASES: dict[str, ModelAlias] = {a.name: a for f in FAMILIES for a in f.aliases}

# pipeline class -> why pdit does not run it (a pipeline of a supported transformer that the recipe does not fit)
REFUSED_PIPELINES: dict[str, str] = {name: why for f in FAMILIES for name, why in f.refused_pipelines.items()}
# components a supported pipeline loads from one of diffusers' pipeline modules, as (library, class)
MODULE_COMPONENTS: frozenset[tuple[str, str]] = frozenset(c for spec in PIPELINES.values()
                                                          for c in spec.module_components)


def register_architecture(transformer_class: type, spec: ArchitectureSpec) -> None:
    """Add support for a transformer class (e.g. your own model, or a test double)."""
    _ARCH_FACTORIES[transformer_class.__name__] = (lambda: transformer_class, spec)


def architectures() -> dict[type, ArchitectureSpec]:
    """All supported transformer classes and their specs."""
    return {resolve(): spec for resolve, spec in _ARCH_FACTORIES.values()}


def supported_class_names() -> list[str]:
    return sorted(_ARCH_FACTORIES)


def _unsupported_transformer(class_name: str) -> UnsupportedModelError:
    return UnsupportedModelError(
        f"transformer class {class_name!r} is not supported (pdit runs {', '.join(supported_class_names())}); a "
        f"model family is added as one registry entry: see {ADDING_A_MODEL}")


def arch_for_class_name(class_name: str) -> ArchitectureSpec:
    """Look up by the ``_class_name`` recorded in a saved config."""
    if class_name not in _ARCH_FACTORIES:
        raise _unsupported_transformer(class_name)
    return _ARCH_FACTORIES[class_name][1]


def arch_for(transformer: torch.nn.Module) -> ArchitectureSpec:
    """The spec for a loaded transformer, matched on its class (subclasses included)."""
    for cls, spec in architectures().items():
        if isinstance(transformer, cls):
            return spec
    raise _unsupported_transformer(type(transformer).__name__)


def pipeline_spec_for(class_names: Sequence[str], transformer_class: str) -> PipelineSpec:
    """The spec of a pipeline class, given its name and its parents' (nearest first) and its transformer's class
    name. A class pdit does not run fails in one line: the reason it is refused, or the pipelines pdit runs that
    transformer in and where to read how to add one."""
    for name in class_names:
        if name in REFUSED_PIPELINES:
            raise UnsupportedModelError(f"{class_names[0]} ({transformer_class}) is not supported: "
                                        f"{REFUSED_PIPELINES[name]}")
        if name in PIPELINES:
            return PIPELINES[name]
    known = sorted(p for f in FAMILIES if f.transformer_class == transformer_class for p in f.pipelines)
    runs = f"pdit runs {transformer_class} in {', '.join(known)}" if known else \
        f"pdit runs {', '.join(sorted(PIPELINES))}"
    raise UnsupportedModelError(f"pipeline class {class_names[0]!r} is not supported ({runs}); a pipeline is added as "
                                f"a registry entry: see {ADDING_A_MODEL}")


def pipeline_spec(pipe) -> PipelineSpec:
    """The spec of a loaded pipeline (its class or a parent class); a class pdit does not run fails in one line."""
    names = [cls.__name__ for cls in type(pipe).__mro__]
    return pipeline_spec_for(names, type(getattr(pipe, "transformer", None)).__name__)


def block_stream_inputs(streams: tuple[str, ...], args: tuple, kwargs: dict) -> tuple:
    """The stream tensors of one block call (``ArchitectureSpec.block_streams``): by name, or else
    positionally in that order."""
    return tuple(kwargs[name] if name in kwargs else args[i] for i, name in enumerate(streams))


__all__ = [
    "ArchitectureSpec", "Family", "JointQK", "ModelAlias", "PipelineSpec", "FAMILIES", "PIPELINES", "MODEL_ALIASES",
    "REFUSED_PIPELINES", "MODULE_COMPONENTS", "ADDING_A_MODEL", "TINY_MODEL_DIR", "register_architecture",
    "architectures",
    "supported_class_names", "arch_for_class_name", "arch_for", "pipeline_spec_for", "pipeline_spec",
    "block_stream_inputs",
]
