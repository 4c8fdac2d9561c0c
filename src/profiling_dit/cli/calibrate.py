"""`pdit calibrate`: refine the plans of a profile made earlier with real generations (for instance one profiled
over several processes, since calibration runs in one)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from . import _options as o
from ._calibration import calibration_options, check_calibration_options, run_calibration
from ._errors import friendly_errors


@friendly_errors
@o.run_options("run")
@calibration_options
def calibrate(
    profile_path: Annotated[Path, typer.Option("--profile", help="The profile whose plans to calibrate.")],
    out: Annotated[Path, typer.Option(
        "--out", "-o", help="Profile JSON to write (the --profile itself with --force); pictures go beside it.")],
    model: o.OptionalModelOpt = None,
    force: o.ForceOpt = False,
    *, run: dict, calibration: dict,
) -> None:
    """Calibrate a profile's plans with real generations on its prompts; write the profile with them."""
    from profiling_dit import preflight
    from profiling_dit.errors import InvalidSettingError
    from profiling_dit.pipeline.video_io import check_output_path
    from profiling_dit.profile.file import Profile

    from ._common import start
    from .profile import summary

    if not calibration.get("max_generations") and calibration.get("old_calibrate") is None:
        raise InvalidSettingError("give `max_generations`: the most generations calibration may take (at least 1 + 2 "
                                  "per budget, for each of the profile's prompts)")
    out = check_output_path(out, force, extensions=(".json",))
    profile = Profile.load(profile_path)
    _, source = preflight.resolve(profile, model)
    options = check_calibration_options(calibration, len(profile.run.prompts), run)
    con, loaded, _ = start(source, [], run)
    calibrated = run_calibration(con, loaded, profile, **options)
    calibrated.save(out, overwrite=force)
    summary(con, out, calibrated)
