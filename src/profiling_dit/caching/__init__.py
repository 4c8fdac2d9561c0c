"""Stage two, sampling faster (paper Sec. 3.3): from a profile to a ``Plan`` (``policy``: the paper's schedule,
``planner``: plans for a budget, ``calibrate``: plans refined with real generations), and the caching hooks that
run a plan on a transformer (``hooks``, over the run-skipping mechanism in ``runs``) or a whole pipeline
(``sampling``: ``apply``, ``remove``, ``generate_cached``). Names import lazily."""

_LAZY = {
    "make_plan": "policy", "make_plans": "policy", "mismatch_notes": "policy",
    "plan_for_budget": "planner", "calibrate": "calibrate", "paper_plan": "schedules",
    "apply_profiling_dit": "hooks", "remove_profiling_dit": "hooks", "profiling_dit_enabled": "hooks",
    "compile_blocks": "hooks", "uncompile_blocks": "hooks", "cache_bytes": "hooks",
    "apply": "sampling", "remove": "sampling", "install": "sampling", "applied": "sampling",
    "generate_cached": "sampling", "plan_summary": "preview", "preview": "preview",
}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = list(_LAZY)
