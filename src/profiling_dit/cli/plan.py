"""`pdit plan`: the plan a profile gives, without generating anything (a dry run)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from . import _options as o
from ._errors import friendly_errors


@friendly_errors
def plan(
    profile: Annotated[Path, typer.Option("--profile", help="The profile to plan from.")],
    steps: Annotated[Optional[int], typer.Option("--steps", help="Denoising steps \\[default: the profile's].")] = None,
    budget: o.BudgetOpt = None,
    speedup: o.SpeedupOpt = None,
    schedule: o.ScheduleOpt = None,
    warmup: o.WarmupOpt = None,
    interval_max: o.IntervalMaxOpt = None,
    interval_min: o.IntervalMinOpt = None,
    tau: o.TauOpt = None,
    background_share: o.BackgroundShareOpt = None,
    final_full_steps: o.FinalFullStepsOpt = None,
    reuse: o.ReuseOpt = None,
) -> None:
    """Print the plan a profile gives (timeline, computed share, implied speedup); nothing is generated."""
    import warnings

    from rich.console import Console

    from profiling_dit.accelerate.preview import preview
    from profiling_dit.profile.file import Profile

    from .generate import _foreground, plan_options, print_plan

    prof = Profile.load(profile)
    options = plan_options(budget, speedup, schedule, warmup, interval_max, interval_min, tau, background_share,
                           final_full_steps, reuse)
    console = Console()
    steps = steps if steps is not None else prof.run.steps
    for note in prof.mismatch_warnings(steps, prof.run.height, prof.run.width, prof.run.frames):
        console.print(f"[yellow]Note:[/] {note}", highlight=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plans = preview(prof, steps, **options)
    for name, summary in plans.items():
        if len(plans) > 1:
            a, b = summary.get("step_range", (0, steps))
            console.print(f"[bold]{name}[/] runs steps {a}..{b - 1} (estimated from the profile)")
        print_plan(console, summary, _config_of(summary), _foreground(prof, name))


def _config_of(summary: dict):
    from profiling_dit.accelerate.config import ProfilingDiTConfig

    return ProfilingDiTConfig.from_dict(summary["config"])
