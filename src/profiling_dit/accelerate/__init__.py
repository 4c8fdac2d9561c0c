"""Stage two, sampling faster (paper Sec. 3.3): the step x block plan (``plan``), the caching hooks on a
transformer (``hooks``: ``ProfilingDiTConfig``, ``apply_profiling_dit``), and the same on a whole pipeline
(``sampling``: ``apply``, ``remove``, ``generate_cached``). Names import lazily."""

_LAZY = {
    "ProfilingDiTConfig": "config", "apply_profiling_dit": "hooks", "remove_profiling_dit": "hooks",
    "profiling_dit_enabled": "hooks", "compile_blocks": "hooks", "uncompile_blocks": "hooks", "cache_bytes": "hooks",
    "apply": "sampling", "remove": "sampling", "applied": "sampling", "configs_for": "sampling",
    "generate_cached": "sampling", "plan_summary": "sampling", "plan_summaries": "sampling",
}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = list(_LAZY)
