"""`pdit plan`: the plan a profile gives, without generating anything (a dry run)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from . import _options as o
from ._errors import friendly_errors


@friendly_errors
@o.plan_options("options")
def plan(
    profile_path: Annotated[Path, typer.Option("--profile", help="The profile to plan from.")],
    steps: Annotated[Optional[int], typer.Option("--steps", help="Denoising steps \\[default: the profile's].")] = None,
    *, options: dict,
) -> None:
    """Print the plan a profile gives (timeline, computed share, implied speedup); nothing is generated."""
    from rich.console import Console

    from profiling_dit.caching.policy import mismatch_notes
    from profiling_dit.caching.preview import preview
    from profiling_dit.profile.file import Profile

    from ._common import note, print_plan

    profile = Profile.load(profile_path)
    con = Console()
    steps = steps if steps is not None else profile.run.steps
    for text in mismatch_notes(profile, steps, profile.run.height, profile.run.width, profile.run.frames):
        note(con, text, "Note")
    plans = preview(profile, steps, **options)
    for name, summary in plans.items():
        if len(plans) > 1:
            con.print(f"(the step where {name} takes over is estimated from the profile)")
        print_plan(con, summary, profile, name, len(plans) > 1)
