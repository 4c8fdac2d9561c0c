"""Plans as people read them, without a pipeline: the timeline, the computed share, the cached blocks, the
predicted error and the speedup they imply (``pdit plan``, run reports). Light: no diffusers import."""

from __future__ import annotations

import dataclasses

from ..plan import Plan, implied_speedup
from ..profile.file import as_profile
from .policy import make_plan


def plan_summary(plan: Plan, steps: int | None = None) -> dict:
    """The plan as JSON, over the steps its transformer runs (all steps, or its ``step_range`` of a ``steps``-step
    call)."""
    a, _ = plan.step_range or (0, plan.steps)
    summary = {
        "plan": plan.to_dict(),
        "origin": plan.origin,
        "cached_blocks": list(plan.cached_blocks),
        "predicted_error": plan.predicted_error,
        "full_compute_steps": [a + s for s in plan.full_steps],
        "timeline": plan.timeline(),
        "computed_share": plan.computed_share,
        "computed_block_evaluations": int(plan.mask().sum()),
        "total_block_evaluations": plan.steps * plan.num_blocks,
        # the delta cache holds this many deltas a run and CFG branch (two when a forecast adds the one before)
        "deltas_per_run": 2 if plan.keeps_two_deltas else 1,
    }
    if plan.step_range is not None:
        summary["step_range"] = list(plan.step_range)
    return summary


def preview(profile, steps: int | None = None, **options) -> dict[str, dict]:
    """The plan(s) a profile gives for a ``steps``-step call, per transformer component, without loading the
    model: ``plan_summary`` plus the implied speedup (through the profile's measured share of transformer
    time in blocks, when it has one).

    ``options`` are ``make_plan`` options (``budget``, ``speedup``, ``schedule``, ...). For two experts, the step
    where the second takes over is estimated from the profiled run (scaled to ``steps``); the pipeline decides it
    exactly at run time.
    """
    profile = as_profile(profile)
    steps = profile.run.steps if steps is None else steps
    beta = profile.run.block_time_share
    if not profile.experts:
        plans = {"transformer": make_plan(profile, steps, **options)}
    else:
        first, second = sorted(profile.experts, key=lambda e: e.step_range[0])
        k = min(steps - 1, max(1, int(round(first.step_range[1] * steps / profile.run.steps))))
        plans = {name: dataclasses.replace(make_plan(profile, b - a, name, **options), step_range=(a, b))
                 for name, (a, b) in ((first.component, (0, k)), (second.component, (k, steps)))}
    out = {}
    for name, plan in plans.items():
        summary = plan_summary(plan, steps)
        summary["implied_speedup"] = implied_speedup(beta, summary["computed_share"]) if beta else None
        summary["block_time_share"] = beta
        out[name] = summary
    return out
