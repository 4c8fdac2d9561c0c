"""`pdit models`: the aliases and the supported transformer classes."""

from __future__ import annotations

from ._errors import friendly_errors


@friendly_errors
def models() -> None:
    """List model aliases and the supported transformer classes."""
    from rich.console import Console
    from rich.table import Table

    from profiling_dit.models import MODEL_ALIASES, supported_class_names

    console = Console()
    table = Table(title="Model aliases (--model)")
    table.add_column("alias")
    table.add_column("source")
    table.add_column("transformer")
    table.add_column("description")
    for alias in MODEL_ALIASES.values():
        table.add_row(alias.name, alias.repo_id or str(alias.folder), alias.transformer_class, alias.description)
    console.print(table)
    console.print("Supported transformer classes: " + ", ".join(supported_class_names()))
    console.print("Also accepted: any Hub id (owner/name) or local folder saved with `pipe.save_pretrained(DIR)`.")
