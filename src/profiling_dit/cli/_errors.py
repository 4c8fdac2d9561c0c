"""Known exceptions become one line on stderr and exit code 2; no traceback for user errors."""

from __future__ import annotations

import functools
import sys

import typer

from profiling_dit.errors import PditError

USER_ERROR_EXIT = 2


def fail(message: str) -> None:
    typer.echo(f"Error: {message}", err=True)
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
