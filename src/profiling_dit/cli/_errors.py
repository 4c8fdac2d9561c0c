"""Known exceptions become one line on stderr and exit code 2; no traceback for user errors.

Library messages name parameters in backquotes (`interval_max`); here they become the command's flags
(--interval-max), so a notebook user reads parameter names and a shell user reads flags.
"""

from __future__ import annotations

import functools
import re
import sys

import typer

from profiling_dit.errors import PditError

USER_ERROR_EXIT = 2

# library parameter name -> CLI flag, where the flag is not simply --name-with-dashes
_SPECIAL = {"prompts": "--prompts", "sam2_config": "--sam2-config"}
PARAMS = {
    "prompt", "negative_prompt", "image", "steps", "height", "width", "frames", "guidance", "seed", "fps", "model",
    "device", "dtype", "force", "warmup", "interval_max", "interval_min", "final_full_steps", "tau",
    "background_share", "schedule", "reuse", "every", "chunk_size", "query_stride", "attn_threshold", "mask_step",
    "masks", "sam2", "sam2_config", "prompts", "seeds", "methods", "repeats", "budget", "speedup", "budgets",
    "calibrate", "staleness_tokens", "lpips_weights",
}


def flag(name: str) -> str:
    return _SPECIAL.get(name, "--" + name.replace("_", "-"))


def cli_message(message: str) -> str:
    """`param` → --param for the library's parameters that are flags here; other backquotes stay."""
    return re.sub(r"`([a-z_0-9]+)`", lambda m: flag(m.group(1)) if m.group(1) in PARAMS else m.group(0), message)


def fail(message: str) -> None:
    typer.echo(f"Error: {cli_message(message)}", err=True)
    raise typer.Exit(USER_ERROR_EXIT)


def friendly_errors(fn):
    """Decorator for commands: ``PditError`` (and a few OS errors) → one line, exit 2."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except PditError as e:
            fail(str(e))
        except PermissionError as e:
            fail(f"permission denied: {e.filename or e}")
        except KeyboardInterrupt:
            typer.echo("Interrupted.", err=True)
            sys.exit(130)

    return wrapper
