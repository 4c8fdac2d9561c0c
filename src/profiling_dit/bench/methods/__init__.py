"""The caching methods ``pdit bench`` compares, one module per family: ours and the paper's ablations
(``ours``), diffusers' own caches (``diffusers_caches``), TeaCache (``teacache``, our hooks), EasyCache, DiCache,
LeMiCa and ERTACache (one module each, on the same run-skipping hooks), the forecasting peers HiCache, FoCa and
Spectrum (one module each, on the same hooks through ``_history``), cache-dit (``cachedit``, optional extra).
Each is a ``Method`` adapter (``base``); ``docs/peers.md`` says where each comes from and what differs."""

from __future__ import annotations

from . import (
    cachedit,
    dicache,
    diffusers_caches,
    easycache,
    ertacache,
    foca,
    hicache,
    lemica,
    ours,
    spectrum,
    taylorseer_blocks,
    teacache,
)
from .base import Method, NotApplicable, RunContext, label, noop

METHODS: dict[str, Method] = {m.name: m for m in (
    Method("baseline", "baseline", {}, ({},), noop, noop, multi_expert=True, color="#000000"),
    *ours.METHODS,
    *diffusers_caches.METHODS,
    *taylorseer_blocks.METHODS,
    *hicache.METHODS,
    *foca.METHODS,
    *spectrum.METHODS,
    *teacache.METHODS,
    *easycache.METHODS,
    *dicache.METHODS,
    *lemica.METHODS,
    *ertacache.METHODS,
    *cachedit.METHODS,
)}

# what a bench runs when it names no methods: all but those whose calibration alone costs many generations
DEFAULT_METHODS = tuple(name for name, m in METHODS.items() if m.in_default_run)


def family(method: str) -> str:
    """The family of a method by name (a name no longer registered, read from old results, is its own family)."""
    return METHODS[method].family if method in METHODS else method


def color(method: str) -> str:
    """A method's colour in plots (grey for a name no longer registered)."""
    return METHODS[method].color if method in METHODS else "#7f7f7f"


__all__ = ["METHODS", "DEFAULT_METHODS", "Method", "NotApplicable", "RunContext", "color", "family", "label"]
