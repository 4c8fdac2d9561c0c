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

__all__ = [
    "__version__",
    "PditError",
    "InvalidSettingError",
    "ModelNotAvailableError",
    "OutputPathError",
    "ProfileError",
    "UnsupportedModelError",
]
