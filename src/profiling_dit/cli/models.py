"""`pdit models`: the aliases and the supported transformer classes."""

from __future__ import annotations

import typer

from ._errors import friendly_errors


@friendly_errors
def models() -> None:
    """List model aliases and the supported transformer classes."""
    import sys

    from profiling_dit.models import MODEL_ALIASES, supported_class_names

    rows = [(a.name, a.repo_id or "embedded (in the package)", a.transformer_class, a.description)
            for a in MODEL_ALIASES.values()]
    if not sys.stdout.isatty():  # piped: whole values, one alias a line, tab-separated
        typer.echo("alias\tsource\ttransformer\tdescription")
        for row in rows:
            typer.echo("\t".join(row))
        return
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(title="Model aliases (--model)")
    for col in ("alias", "source", "transformer", "description"):
        table.add_column(col, overflow="fold")
    for row in rows:
        table.add_row(*row)
    console.print(table)
    console.print("Supported transformer classes: " + ", ".join(supported_class_names()))
    console.print("Also accepted: any Hub id (owner/name) or local folder saved with `pipe.save_pretrained(DIR)`.")
