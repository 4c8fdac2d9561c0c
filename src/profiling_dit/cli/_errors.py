"""Known exceptions become one line on stderr and exit code 2; no traceback for user errors unless ``--debug``.

Library messages name parameters in backquotes (`interval_max`); here they become the command's flags
(--interval-max), so a notebook user reads parameter names and a shell user reads flags. The names are the
commands' own parameters, read from the app, so a new flag needs no entry here.
"""

from __future__ import annotations

import functools
import re
import sys

import typer

from profiling_dit.errors import PditError

USER_ERROR_EXIT = 2
# set by the root callback's --debug: failures show their whole cause chain, and the library logs at DEBUG
DEBUG = {"on": False}


# the app registers itself here (``app.py``), so this module needs no import of the commands
APP: dict = {}


@functools.lru_cache(maxsize=1)
def _flags() -> dict[str, str]:
    """Parameter name -> its long flag, over every command of the app."""
    import typer.main

    out: dict[str, str] = {}
    if "app" in APP:
        # the app has several commands: a group (typer's own click, so not `click.Group`)
        commands: dict = getattr(typer.main.get_command(APP["app"]), "commands", {})
        for command in commands.values():
            for param in command.params:
                long = [o for o in param.opts if o.startswith("--")]
                if param.name and long:
                    out.setdefault(param.name, long[0])
    return out


def flag(name: str) -> str:
    return _flags().get(name, "--" + name.replace("_", "-"))


def cli_message(message: str) -> str:
    """`param` → --param for the library's parameters that are flags here; other backquotes stay."""
    flags = _flags()
    # a profile's fields are named "field `model`": a field is not a flag
    return re.sub(r"(?<!field )`([a-z_0-9]+)`", lambda m: flags.get(m.group(1), m.group(0)), message)


def fail(message: str) -> None:
    typer.echo(f"Error: {cli_message(message)}", err=True)
    raise typer.Exit(USER_ERROR_EXIT)


def os_message(e: OSError) -> str:
    """One line for an operating-system error: what failed, on which file (a full disk, a permission, ...)."""
    what = e.strerror or type(e).__name__
    files = [str(f) for f in (e.filename, e.filename2) if f]
    if isinstance(e, FileExistsError) and files:  # a run without --force lost a race for its output
        return (f"{files[0]!r} appeared while this run worked (another run wrote it); it was left as it is: give "
                "another name, or --force to overwrite")
    return f"{what}: {' -> '.join(repr(f) for f in files)}" if files else f"{what} ({e})"


def enable_debug() -> None:
    """--debug: the library's log (``logging``, logger ``profiling_dit``) on stderr at DEBUG, and whole tracebacks."""
    import logging

    DEBUG["on"] = True
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s: %(message)s"))
    logger = logging.getLogger("profiling_dit")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)


def friendly_errors(fn):
    """Decorator for commands: ``PditError`` (and a few OS errors) → one line, exit 2; with --debug the whole
    traceback, causes included, comes first."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (PditError, OSError) as e:  # OSError: a full disk, a folder gone, no permission: the machine's
            if DEBUG["on"]:
                import traceback

                traceback.print_exception(e, file=sys.stderr)
            fail(str(e) if isinstance(e, PditError) else os_message(e))
        except KeyboardInterrupt:
            typer.echo("Interrupted.", err=True)
            sys.exit(130)

    return wrapper
