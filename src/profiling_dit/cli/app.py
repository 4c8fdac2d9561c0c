"""The `pdit` typer app: one module per command, each thin (parse, show progress and tables, call the
library). Heavy imports (torch, diffusers) happen inside commands so `pdit --help` is instant."""

from __future__ import annotations

from typing import Annotated

import typer

from . import _errors
from .bench import bench
from .calibrate import calibrate
from .generate import generate
from .models import models
from .plan import plan
from .profile import profile

app = typer.Typer(
    name="pdit",
    help="ProfilingDiT: profile a video diffusion transformer once, then generate about twice as fast.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    invoke_without_command=True,
)
@app.callback()
def _root(ctx: typer.Context,
          version: Annotated[bool, typer.Option("--version", metavar="", help="Show the version and exit.")] = False,
          debug: Annotated[bool, typer.Option(
              "--debug", metavar="", help="Show the whole cause of any failure, and the library's log.")] = False,
          ) -> None:
    """ProfilingDiT: profile a video diffusion transformer once, then generate about twice as fast."""
    from ._common import show_warnings_as_notes

    show_warnings_as_notes()
    if debug:
        from ._errors import enable_debug

        enable_debug()
    if version:
        from profiling_dit import __version__

        typer.echo(f"pdit (profiling-dit) {__version__}")
        raise typer.Exit()
    if ctx.invoked_subcommand is None:
        typer.echo(ctx.get_help())
        raise typer.Exit()


app.command()(models)
app.command()(generate)
app.command()(profile)
app.command()(calibrate)
app.command()(plan)
app.command()(bench)
_errors.APP["app"] = app  # messages name the commands' flags


def main() -> None:
    """Run the app; a usage error (an unknown flag, a missing value) is one line and exit code 2, like every
    other bad input, instead of click's boxed message."""
    import sys

    from typer.exceptions import TyperException

    try:
        code = app(standalone_mode=False)
    except typer.Abort:
        typer.echo("Interrupted.", err=True)
        sys.exit(130)
    except TyperException as e:  # usage errors: unknown flag, bad value, missing option
        ctx = getattr(e, "ctx", None)
        hint = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
        typer.echo(f"Error: {e.format_message()}{hint}", err=True)
        sys.exit(getattr(e, "exit_code", 2) or 2)
    sys.exit(code if isinstance(code, int) else 0)
