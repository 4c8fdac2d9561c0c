"""The calibration flags, shared by `pdit profile --calibrate` and `pdit calibrate`."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from . import _options as o

# Refining the plans with real generations (``profiling_dit.calibrate``).
calibration_options = o.option_group(
    "calibration",
    calibrate=(Annotated[int, typer.Option(
        "--calibrate", help="Refine the plans of --budgets with at most N generations, scored on every prompt (0: "
                            "no calibration; at least 1 + 2 per budget, for each prompt). With enough (1 + 4 per "
                            "budget and prompt, and one per segment: 93 at 20 steps), a segment search comes first.")],
        0),
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

    generations = options.get("calibrate", 0)
    if not generations:
        return {}
    budgets = check_calibration(generations, o.parse_list("budgets", options.get("budgets"), float)
                                or STANDARD_BUDGETS, prompts)
    scale = check_number("calibration_scale", options["calibration_scale"], 0, 1, lo_open=True)
    if run.get("context_parallel") is not None:
        raise InvalidSettingError("`calibrate` runs in one process; profile with `context_parallel`, then calibrate "
                                  "without it (or on one GPU)")
    return {"budgets": budgets, "max_generations": generations, "scale": scale}


def run_calibration(con, loaded, prof, **options):
    from profiling_dit.caching.calibrate import calibrate

    from ._common import progress

    with progress(con, "Calibrating", options["max_generations"]) as bar:
        return calibrate(loaded, prof, **options, on_generation=lambda i, n, what: bar.update(i, what))
