"""cache-dit's DBCache at its defaults, when the optional extra is installed
(``pip install 'profiling-dit[cache-dit]'``)."""

from __future__ import annotations

from .base import Method, NotApplicable


def _cachedit_check(ctx):
    try:
        import cache_dit  # noqa: F401
    except ImportError:
        raise NotApplicable("cache-dit is not installed (pip install 'profiling-dit[cache-dit]')") from None


def _cachedit_apply(ctx, p):
    import cache_dit

    cache_dit.enable_cache(ctx.model.pipe, **p)


def _cachedit_remove(ctx):
    import cache_dit

    cache_dit.disable_cache(ctx.model.pipe)



METHODS = (
    Method("cache-dit", "cache-dit", {}, ({},), _cachedit_apply, _cachedit_remove, _cachedit_check,
           note="DBCache at its defaults", color="#7f7f7f"),
)
