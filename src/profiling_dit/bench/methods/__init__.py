"""The caching methods ``pdit bench`` compares, one module per family: ours and the paper's ablations
(``ours``), diffusers' own caches (``diffusers_caches``), TeaCache (``teacache``, our hooks), cache-dit
(``cachedit``, optional extra). Each is a ``Method`` adapter (``base``)."""

from __future__ import annotations

from . import cachedit, diffusers_caches, ours, teacache
from .base import Method, NotApplicable, RunContext, label, noop

METHODS: dict[str, Method] = {m.name: m for m in (
    Method("baseline", "baseline", {}, ({},), noop, noop, multi_expert=True),
    *ours.METHODS,
    *diffusers_caches.METHODS,
    *teacache.METHODS,
    *cachedit.METHODS,
)}

DEFAULT_METHODS = tuple(METHODS)

__all__ = ["METHODS", "DEFAULT_METHODS", "Method", "NotApplicable", "RunContext", "label"]
