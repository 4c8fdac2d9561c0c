"""The `pdit` typer app: one module per command, each thin (parse, show progress and tables, call the
library). Heavy imports (torch, diffusers) happen inside commands so `pdit --help` is instant."""

from __future__ import annotations

import typer

from .bench import bench
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
)
app.command()(models)
app.command()(generate)
app.command()(profile)
app.command()(plan)
app.command()(bench)


def main() -> None:
    app()
