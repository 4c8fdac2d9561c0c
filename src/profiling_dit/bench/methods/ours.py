"""ProfilingDiT and the paper's method and ablations, as bench adapters over ``profiling_dit.caching``.

- ``profiling-dit``: the planner's plans (calibrated ones where the profile holds them) at a budget of
  computed share; the sweep covers the standard budgets, 0.3 to 0.75.
- ``profiling-dit-profile-alone``: the same budgets planned from the profile's measurements alone (its calibrated
  plans left out): what a profile costs without calibration.
- ``profiling-dit-paper``: the method as published, the paper's stepwise schedule with the profile's
  suggested warm-up and intervals and its F/B split (sweep: background shares).
- ablations of the paper (Table 3: reuse the foreground blocks; Table 4: inverse and average gap schedules).
"""

from __future__ import annotations

from ...caching.planner import STANDARD_BUDGETS as BUDGETS
from .base import Method, NotApplicable


def _check(ctx):
    if ctx.profile is None:
        raise NotApplicable("needs a profile")


def _check_planned(ctx):
    _check(ctx)
    if ctx.profile.blocks.staleness is None:
        raise NotApplicable("the profile has no staleness table (schema version 1); profile the model again")


def _apply_factory(**fixed):
    def apply(ctx, params):
        from ...caching.policy import make_plans
        from ...caching.sampling import install
        from ...errors import BudgetOutOfReachError

        try:
            plans = make_plans(ctx.model, ctx.profile, ctx.settings.steps, **fixed, **params)
        except BudgetOutOfReachError as e:  # few steps: the first and last steps alone exceed this budget
            raise NotApplicable(f"out of reach at {ctx.settings.steps} steps (the lowest budget a plan meets there "
                                f"is {e.lowest:g})") from None
        install(ctx.model, plans)
    return apply


def _profile_runs(ctx) -> int:
    """The profiling runs a profile took: one denoising per profiling prompt."""
    return len(ctx.profile.run.prompts)


def _calibrated_cost(ctx) -> int:
    from ...caching.calibrate import calibration_cost

    return _profile_runs(ctx) + calibration_cost(ctx.profile).get("generations", 0)


def _remove(ctx):
    from ...caching.sampling import remove

    remove(ctx.model)


PAPER_SWEEP = tuple({"background_share": s} for s in (0.5, 0.75, 0.9))

METHODS = (
    Method("profiling-dit", "profiling-dit", {"budget": 0.5}, tuple({"budget": b} for b in BUDGETS), _apply_factory(),
           _remove,
           _check_planned, note="ours: planned (or calibrated) cached blocks and full steps at a computed-share budget",
           multi_expert=True, color="#d62728", calibration_generations=_calibrated_cost),
    Method("profiling-dit-profile-alone", "profiling-dit", {"budget": 0.5}, tuple({"budget": b} for b in BUDGETS),
           _apply_factory(calibrated=False), _remove, _check_planned,
           note="ours from the profile alone: the planner's plans, the profile's calibrated plans left out",
           multi_expert=True, color="#8c2d04", calibration_generations=_profile_runs),
    Method("profiling-dit-paper", "profiling-dit", {}, PAPER_SWEEP, _apply_factory(schedule="paper"), _remove, _check,
           note="the paper's method: background blocks, stepwise schedule from the profile", multi_expert=True,
           color="#ff9896", calibration_generations=_profile_runs),
    Method("profiling-dit-foreground", "profiling-dit", {}, PAPER_SWEEP,
           _apply_factory(schedule="paper", reuse="foreground"), _remove, _check,
           note="ablation (paper Table 3): reuse the foreground blocks instead",
           multi_expert=True, color="#c49c94", calibration_generations=_profile_runs),
    Method("profiling-dit-inverse", "profiling-dit", {}, PAPER_SWEEP, _apply_factory(schedule="inverse"), _remove,
           _check, note="ablation (paper Table 4): gaps grow from T_min to T_max",
           multi_expert=True, color="#f7b6d2", calibration_generations=_profile_runs),
    Method("profiling-dit-average", "profiling-dit", {}, PAPER_SWEEP, _apply_factory(schedule="average"), _remove,
           _check, note="ablation (paper Table 4): constant gap",
           multi_expert=True, color="#dbdb8d", calibration_generations=_profile_runs),
)
