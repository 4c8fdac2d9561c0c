"""Stage one, profiling (paper Sec. 3.2): capture the attention each video token receives (``attention``),
segment the foreground (``segmentation``), score blocks and suggest a schedule (``scoring``), all in one
call (``measure.profile_model``), into a typed, validated ``Profile`` (``file``) with pictures (``plots``).

Names import lazily, so reading a profile does not import diffusers.
"""

_LAZY = {"Profile": "file", "shipped_profile": "file", "ProfileSettings": "settings", "profile_model": "measure"}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = list(_LAZY)
