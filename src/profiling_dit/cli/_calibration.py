"""The calibration flags, shared by `pdit profile --generations N` and `pdit calibrate`."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from . import _options as o

# Refining the plans with real generations (``profiling_dit.calibrate``).
calibration_options = o.option_group(
    "calibration",
    max_generations=(Annotated[int, typer.Option(
        "--generations", help="Calibrate: refine the plans of --budgets with at most N generations, scored on every "
                              "prompt (0: no calibration; at least 1 + 2 per budget, for each prompt). With enough (1 "
                              "+ 4 per budget and prompt, and one per segment: 93 at 20 steps), a segment search "
                              "comes first.")], 0),
    # the old spelling, still taken (with a note): `--calibrate N` named the command for a count of generations
    old_calibrate=(Annotated[Optional[int], typer.Option("--calibrate", hidden=True)], None),
    budgets=(Annotated[Optional[list[str]], typer.Option(
        "--budgets", help="Budgets (computed shares) to calibrate: repeat the flag or separate by commas \\[default: "
                          "0.25, 0.3, ... 0.8].")], None),
    calibration_scale=(Annotated[float, typer.Option(
        "--calibration-scale", help="Calibrate at this share of the height, width and frames (0.5: an eighth of the "
                                    "tokens, cheaper, but its plans carried over worse on the embedded models).")],
                          1.0),
)



def check_calibration_options(options: dict, prompts: int, run: dict) -> dict:
    """``calibrate``'s arguments from the calibration flags, checked before anything loads ({} without calibration)."""
    from profiling_dit._validate import check_number
    from profiling_dit.caching.calibrate import check_calibration
    from profiling_dit.caching.planner import STANDARD_BUDGETS
    from profiling_dit.errors import InvalidSettingError

    generations = options.get("max_generations", 0)
    if options.get("old_calibrate") is not None:
        from ._common import console, note

        if generations:
            raise InvalidSettingError("give `max_generations` once: --calibrate is its old spelling")
        generations = options["old_calibrate"]
        note(console(), f"--calibrate {generations} is now spelled --generations {generations}", "Note")
    if not generations:
        return {}
    budgets = check_calibration(generations, o.parse_list("budgets", options.get("budgets"), float)
                                or STANDARD_BUDGETS, prompts)
    scale = check_number("calibration_scale", options["calibration_scale"], 0, 1, lo_open=True)
    if run.get("context_parallel") is not None:
        raise InvalidSettingError("calibration (`max_generations`) runs in one process; profile with "
                                  "`context_parallel`, then calibrate without it (or on one GPU)")
    return {"budgets": budgets, "max_generations": generations, "scale": scale}


def run_calibration(con, loaded, profile, **options):
    from profiling_dit.caching.calibrate import calibrate

    from ._common import progress

    with progress(con, "Calibrating", options["max_generations"]) as bar:
        return calibrate(loaded, profile, **options, on_generation=lambda i, n, what: bar.update(i, what))
