"""ProfilingDiT: profile which transformer blocks of a video DiT attend to the foreground, then
sample faster by reusing the background blocks' cached deltas.

The library never imports the CLI (typer, rich). Heavy modules import lazily.
"""

__version__ = "0.1.0"

from .errors import (  # noqa: E402
    InvalidSettingError,
    ModelNotAvailableError,
    OutputPathError,
    PditError,
    ProfileError,
    UnsupportedModelError,
)

# The public API, imported on first use so `import profiling_dit` (and `pdit --help`) stays light.
_LAZY = {
    "ProfilingDiTConfig": "cache",
    "apply_profiling_dit": "cache",
    "remove_profiling_dit": "cache",
    "profiling_dit_enabled": "cache",
    "load_profile": "profile_file",
    "load_pipeline": "loading",
    "resolve_model": "loading",
    "GenerationSettings": "generation",
    "generate": "generation",
    "ProfileSettings": "profiling",
    "generate_cached": "sampling",
}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'profiling_dit' has no attribute {name!r}")


__all__ = [
    *_LAZY,
    "__version__",
    "PditError",
    "InvalidSettingError",
    "ModelNotAvailableError",
    "OutputPathError",
    "ProfileError",
    "UnsupportedModelError",
]
