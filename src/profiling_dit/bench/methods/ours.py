"""ProfilingDiT and the paper's method and ablations, as bench adapters over ``profiling_dit.caching``.

- ``profiling-dit``: the planner's plans (calibrated ones where the profile holds them) at a budget of
  computed share; the sweep covers the standard budgets, 0.3 to 0.75.
- ``profiling-dit-profile-alone``: the same budgets planned from the profile's measurements alone (its calibrated
  plans left out): what a profile costs without calibration.
- ``profiling-dit-light``: the profile's measurements calibrated lightly before the first run, as a user with little
  time would (``calibrate`` with ``LIGHT_GENERATIONS`` generations on the profile's first prompt, for
  ``LIGHT_BUDGETS``; no segment search); the other budgets planned from the measurements.
- ``profiling-dit-paper``: the method as published, the paper's stepwise schedule with the profile's
  suggested warm-up and intervals and its F/B split (sweep: background shares).
- ablations of the paper (Table 3: reuse the foreground blocks; Table 4: inverse and average gap schedules).
"""

from __future__ import annotations

import dataclasses

from ...caching.planner import STANDARD_BUDGETS as BUDGETS
from .base import Method, NotApplicable

# the light calibration: about 10 generations, on the profile's first prompt, for the default budget and its
# neighbours: a stock run and three candidates a budget (the planner's plan and its first two variants)
LIGHT_GENERATIONS = 10
LIGHT_BUDGETS = (0.4, 0.5, 0.6)


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
            plans = make_plans(ctx.model, _light_profile(ctx), ctx.settings.steps, **fixed, **params)
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


def _light_calibrate(ctx):
    """Calibrate the profile's measurements (its calibrated plans left out) with ``LIGHT_GENERATIONS`` generations
    on its first prompt; the plans go into the context's calibration record (JSON), read back by ``apply``."""
    from ...caching.calibrate import calibrate
    from ...caching.planner import lowest_plan

    if ctx.profile.experts:
        raise NotApplicable("the light calibration runs on one transformer here")
    measured = dataclasses.replace(ctx.profile, plans=())
    blocks, run = measured.blocks, measured.run
    low = lowest_plan(blocks.staleness, measured.model.num_blocks, run.steps).computed_share
    budgets = [b for b in LIGHT_BUDGETS if b >= low - 1e-9]  # few steps: those a plan can meet
    if not budgets:
        raise NotApplicable(f"no light-calibration budget is reachable at {run.steps} steps (lowest {low:.2f})")
    calibrated = calibrate(ctx.model, measured, budgets=budgets, max_generations=LIGHT_GENERATIONS,
                           prompts=run.prompts[:1], segment_search=False, progress=False)
    ctx.calibration["light_plans"] = [
        {"budget": p.budget, "cached_blocks": list(p.plan.cached_blocks), "full_steps": list(p.plan.full_steps),
         "calibration_psnr_db": p.calibration_psnr_db, "generations": p.generations} for p in calibrated.plans]
    ctx.calibration["light_generations"] = sum(p.generations for p in calibrated.plans) + 1  # + its stock run


def _light_profile(ctx):
    """The profile a run plans from: the context's profile, or for the light calibration its measurements with the
    plans that calibration made."""
    from ...plan import Plan
    from ...profile.file import CalibratedPlan

    light = ctx.calibration.get("light_plans")
    if light is None:
        return ctx.profile
    n, steps = ctx.profile.model.num_blocks, ctx.profile.run.steps
    plans = tuple(CalibratedPlan(component="transformer", budget=p["budget"], plan=Plan(
        num_blocks=n, steps=steps, cached_blocks=tuple(p["cached_blocks"]), full_steps=tuple(p["full_steps"])),
        calibration_psnr_db=p["calibration_psnr_db"], generations=p["generations"]) for p in light)
    return dataclasses.replace(ctx.profile, plans=plans)


def _light_cost(ctx) -> int:
    return _profile_runs(ctx) + ctx.calibration.get("light_generations", 0)


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
    Method("profiling-dit-light", "profiling-dit", {"budget": 0.5}, tuple({"budget": b} for b in BUDGETS),
           _apply_factory(), _remove, _check_planned, calibrate=_light_calibrate,
           note=f"ours lightly calibrated: {LIGHT_GENERATIONS} generations on the profile's first prompt for budgets "
                f"{', '.join(f'{b:g}' for b in LIGHT_BUDGETS)}, the others planned from the profile",
           multi_expert=False, color="#fc8d59", calibration_generations=_light_cost, in_default_run=False),
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
