"""From a profile to a ``Plan``: the plan policy of stage two.

``make_plan(profile, steps, budget=...)`` is the planner's plan for a budget of computed share (the calibrated
one where the profile holds it); ``make_plan(profile, steps, schedule="paper")`` is the paper's schedule with the
profile's suggested warm-up, intervals and F/B split. ``make_plans(model, profile, steps)`` gives one plan per
transformer of a pipeline (both experts of Wan2.2 A14B), each over the steps it runs.
"""

from __future__ import annotations

import dataclasses
import logging
import warnings

from .._validate import check_int
from ..errors import BudgetOutOfReachError, InvalidSettingError, ProfileError
from ..pipeline.settings import MAX_STEPS
from ..plan import Plan, map_full_steps
from ..profile.file import BlockProfile, Profile, as_profile, finite_or_none
from .schedules import PAPER_SCHEDULES, REUSE_CHOICES, SCHEDULE_NAMES, paper_plan, rescale_paper_knobs

logger = logging.getLogger(__name__)
V1_NOTE = ("this profile has no staleness table (made by profiling-dit 0.1, schema version 1): using the paper's "
           "schedule; profile the model again for planned plans")


def make_plan(profile, steps: int | None = None, component: str | None = None, *, budget: float | None = None,
              speedup: float | None = None, schedule: str | None = None, tau: float | None = None,
              background_share: float | None = None, warmup: int | None = None, interval_max: int | None = None,
              interval_min: int | None = None, reuse: str | None = None,
              final_full_steps: int | None = None, calibrated: bool = True) -> Plan:
    """The plan a profile gives for a ``steps``-step call of one transformer.

    Args:
        profile: a ``Profile`` (or the path of one).
        steps: the step count to plan for (for one expert of a two-expert pipeline, that expert's own steps).
            ``None``: as profiled.
        component: which expert of a two-expert profile (``"transformer"`` or ``"transformer_2"``).
        budget: the largest share of block evaluations to compute, in (0, 1]: the plan calibrated for this budget
            (at this step count, else mapped from another) when the profile holds one, else the planner's.
        speedup: instead of ``budget``, a transformer speedup to aim at, through the share of transformer time the
            profile measured in blocks.
        schedule: ``"paper"`` (the paper's stepwise schedule with the profile's warm-up, intervals and F/B split),
            or its ablations ``"inverse"`` and ``"average"``. Default: the planner at budget 0.5 when the profile
            has a staleness table (schema version 2), else the paper's schedule. Giving ``warmup``, an interval or
            ``reuse`` selects the paper's schedule too.
        tau, background_share: re-split the block scores (the paper's schedule: its background set; the planner:
            the size of the cached set it may use).
        warmup, interval_max, interval_min: the paper's schedule, for this step count [default: the profile's,
            rescaled to ``steps``].
        reuse: the paper's schedule: ``"background"`` (the method) or ``"foreground"`` (its ablation, Table 3).
        final_full_steps: the last steps that always compute fully [default: 1].

    Example:
        ```python
        >>> import profiling_dit as pdit
        >>> plan = pdit.make_plan(pdit.Profile.load(pdit.shipped_profile("tiny")), steps=30, budget=0.4)
        >>> plan.computed_share <= 0.4
        True
        ```
    """
    profile = as_profile(profile)
    if schedule is not None and schedule not in PAPER_SCHEDULES:
        raise InvalidSettingError(f"`schedule` must be one of {', '.join(SCHEDULE_NAMES)}, got {schedule!r}")
    if steps is not None:
        check_int("steps", steps, 1, MAX_STEPS)
    component, blocks, num_blocks, profiled = _block_profile(profile, component)
    n = steps if steps is not None else max(1, profiled)
    if final_full_steps is not None:  # the last steps computed in full: fewer than the call's steps
        check_int("final_full_steps", final_full_steps, 0, n - 1)
    split = _resplit(blocks, tau, background_share)
    knobs: dict = {k: v for k, v in dict(warmup=warmup, interval_max=interval_max, interval_min=interval_min,
                                         reuse=reuse).items() if v is not None}
    if knobs and (budget is not None or speedup is not None):
        raise InvalidSettingError(f"{', '.join(f'`{k}`' for k in sorted(knobs))} apply to the paper's schedule, and "
                                  "`budget` and `speedup` to the planner's plans: give one or the other")
    if schedule is None and not knobs and (budget is not None or speedup is not None or blocks.staleness is not None):
        stored = profile if calibrated else dataclasses.replace(profile, plans=())  # plans from the measurements
        plan = _planned(stored, component, blocks, num_blocks, n, budget, speedup, split, final_full_steps)
        logger.debug("%s, %d steps: %s", component, n, (plan.origin, plan.cached_blocks, plan.full_steps))
        return plan
    if budget is not None or speedup is not None:
        raise InvalidSettingError("`budget` and `speedup` choose a planned plan; leave `schedule` out with them")
    if schedule is None and not knobs:  # the one place this is decided, so the one place it is said
        warnings.warn(V1_NOTE, stacklevel=2)
    return _paper(blocks, num_blocks, n, max(1, profiled), schedule or "paper", split, final_full_steps, **knobs)


def _resplit(blocks: BlockProfile, tau: float | None, background_share: float | None) -> list[int] | None:
    """The background blocks of the profile's scores re-split at ``tau`` or ``background_share`` (None: neither)."""
    from ..profile.scoring import split_blocks

    if tau is None and background_share is None:
        return None
    return split_blocks(blocks.block_scores, tau=tau, background_share=background_share)[2]


def _paper(blocks: BlockProfile, num_blocks: int, n: int, profiled: int, name: str, split, final_full_steps,
           warmup: int | None = None, interval_max: int | None = None, interval_min: int | None = None,
           reuse: str | None = None) -> Plan:
    """The paper's schedule (or its ablation ``name``) for ``n`` steps, its knobs rescaled from the profiled run."""
    if reuse is not None and reuse not in REUSE_CHOICES:
        raise InvalidSettingError(f"`reuse` must be one of {', '.join(REUSE_CHOICES)}, got {reuse!r}")
    background = tuple(split if split is not None else blocks.split.background_blocks)
    cached = background if reuse != "foreground" else tuple(b for b in range(num_blocks) if b not in background)
    s = blocks.schedule
    w, imax, imin = rescale_paper_knobs(n, profiled, s.warmup, s.interval_max, s.interval_min)
    w, imax, imin = (warmup if warmup is not None else w, interval_max if interval_max is not None else imax,
                     interval_min if interval_min is not None else imin)
    if warmup is not None and warmup >= n:
        raise InvalidSettingError(f"`warmup` {warmup} must be shorter than `steps` ({n}); lower it")
    return paper_plan(num_blocks, n, cached, warmup=w, interval_max=imax, interval_min=imin,
                      final_full_steps=1 if final_full_steps is None else final_full_steps,
                      schedule=PAPER_SCHEDULES[name],
                      origin="the paper's schedule" if name == "paper" else f"the paper's {name} ablation")


def _block_profile(profile: Profile, component: str | None) -> tuple[str, BlockProfile, int, int]:
    """(component, its block profile, its block count, the steps it ran when profiled)."""
    if profile.experts and component is None:
        component = profile.components[0]
    if component is None or (not profile.experts and component == "transformer"):
        return "transformer", profile.blocks, profile.model.num_blocks, profile.run.steps
    entry = profile.expert(component)
    return component, entry.blocks, entry.num_blocks, entry.step_range[1] - entry.step_range[0]


def _planned(profile: Profile, component: str, blocks: BlockProfile, num_blocks: int, n: int, budget, speedup,
             split, final_full_steps) -> Plan:
    from .planner import DEFAULT_BUDGET, budget_for_speedup, full_step_count, plan_for_budget, predicted_error

    if blocks.staleness is None:
        raise ProfileError("this profile has no staleness table (made by profiling-dit 0.1, schema version "
                           f"{profile.schema_version}), so it cannot plan to a `budget`; profile the model again, "
                           "or use `schedule`='paper'")
    if budget is not None and speedup is not None:
        raise InvalidSettingError("give `budget` or `speedup`, not both")
    if speedup is not None:
        beta = profile.run.block_time_share
        if beta is None:
            raise ProfileError("this profile did not measure the share of time spent in blocks, so it cannot plan "
                               "to a `speedup`; give `budget` (a share of block evaluations) instead")
        budget = budget_for_speedup(speedup, beta)
    budget = DEFAULT_BUDGET if budget is None else budget
    if split is not None and not split:
        raise InvalidSettingError("that re-split leaves no block to cache; raise `background_share` or `tau`")
    final = 1 if final_full_steps is None else final_full_steps
    usable = [p for p in profile.plans if p.component == component and final == 1
              and (split is None or len(split) == len(p.plan.cached_blocks))]
    stored = [p for p in usable if abs(p.budget - budget) < 1e-9]
    for entry in stored:
        if entry.plan.steps == n:
            return Plan(num_blocks=num_blocks, steps=n, cached_blocks=entry.plan.cached_blocks,
                        full_steps=entry.plan.full_steps, predicted_error=entry.plan.predicted_error,
                        origin=f"calibrated for budget {budget:g} ({_count(entry.generations, 'generation')} on "
                               f"{_prompts(entry.calibration_prompts)})")
    for entry in stored:  # calibrated at another step count: mapped to this one, within the budget
        k = len(entry.plan.cached_blocks)
        count = full_step_count(budget, n, num_blocks, k)
        if count >= 2:
            full = map_full_steps(entry.plan.full_steps, entry.plan.steps, n, count)
            error = predicted_error(blocks.staleness, num_blocks, n, k, full)
            return Plan(num_blocks=num_blocks, steps=n, cached_blocks=entry.plan.cached_blocks, full_steps=full,
                        predicted_error=finite_or_none(error),
                        origin=f"calibrated for budget {budget:g} at {entry.plan.steps} steps, mapped to {n}")
    sizes = [len(split)] if split is not None else None
    try:
        return plan_for_budget(blocks.staleness, num_blocks, n, budget, final_full_steps=final, sizes=sizes)
    except BudgetOutOfReachError as e:  # a calibrated plan of a larger budget may still map to this call
        mapped = sorted(p.budget for p in usable if p.budget < e.lowest
                        and full_step_count(p.budget, n, num_blocks, len(p.plan.cached_blocks)) >= 2)
        if not mapped:
            raise
        raise BudgetOutOfReachError(
            f"no plan computes at most {budget:.0%} of the block evaluations in {n} steps; the lowest budget that can "
            f"be met is {mapped[0]:g} (the profile's plan calibrated for it, mapped to {n} steps; planned from the "
            f"measurements, {e.lowest:g}): raise `budget` to {mapped[0]:g}", lowest=mapped[0]) from None


def make_plans(model, profile, steps: int | None = None, **options) -> dict[str, Plan]:
    """One ``Plan`` per transformer of a pipeline, from a profile that fits it (checked).

    Args:
        model: a pipeline or ``LoadedModel``.
        profile: a ``Profile`` (or the path of one).
        steps: the call's step count; ``None``: as profiled (a call of another count is planned again for its own
            count when it runs, by ``apply``).
        **options: ``make_plan`` options (``budget``, ``speedup``, ``schedule``, ...).

    For a two-expert pipeline each expert's plan covers the steps it runs in a ``steps``-step call (as profiled
    without ``steps``), and carries that range.
    """
    from ..pipeline.loading import as_model, expert_step_ranges

    model = as_model(model)
    profile = as_profile(profile)
    profile.check_fits(model)
    if len(model.experts) == 1:
        return {"transformer": make_plan(profile, steps, **options)}
    total = steps if steps is not None else profile.run.steps
    ranges = expert_step_ranges(model.pipe, total)
    out = {}
    for name in model.experts:
        a, b = ranges[name]
        plan = make_plan(profile, b - a, component=name, **options)
        out[name] = dataclasses.replace(plan, step_range=(a, b))
    return out


def mismatch_notes(profile: Profile, steps: int, height: int, width: int, frames: int) -> list[str]:
    """What differs between these settings and the profiled ones, and what pdit does about it (a profile without a
    staleness table is said by ``make_plan``, which decides what to do about it)."""
    run = profile.run
    out = []
    if steps != run.steps:
        out.append(f"the profile was made with {run.steps} steps, not {steps}: the plan is made for {steps} "
                   f"steps from the profile's measurements rescaled by {steps}/{run.steps}")
    if (frames, height, width) != (run.frames, run.height, run.width):
        out.append(f"the profile was made at {run.frames}x{run.height}x{run.width} (frames x height x width), "
                   f"not {frames}x{height}x{width}; the block split is used as it is")
    return out


def _count(n: int, thing: str) -> str:
    return f"{n} {thing}{'s' if n != 1 else ''}"


def _prompts(count: int) -> str:
    return f"{count} profiling prompts" if count > 1 else "the profiling prompt"
