"""Plans as people read them, without a pipeline: the timeline, the computed share, the cached blocks, the
predicted error and the speedup they imply (``pdit plan``, run reports). Light: no diffusers import."""

from __future__ import annotations

from .config import ProfilingDiTConfig
from .plan import computed_share, implied_speedup, timeline


def plan_summary(config: ProfilingDiTConfig, steps: int, step_range: tuple[int, int] | None = None) -> dict:
    """The plan over the steps this config's transformer runs (all steps, or ``step_range``), as JSON."""
    a, b = step_range or config.step_range or (0, steps)
    plan = config.plan(steps, (a, b))[a:b]
    summary = {
        "config": config.to_dict(),
        "origin": config.origin,
        "cached_blocks": list(config.cached_blocks),
        "predicted_error": config.predicted_error,
        "full_compute_steps": [s for s, f in enumerate(config.full_step_mask(steps, (a, b))) if f and a <= s < b],
        "timeline": timeline(plan),
        "computed_share": computed_share(plan),
        "computed_block_evaluations": int(plan.sum()),
        "total_block_evaluations": int(plan.size),
    }
    if (a, b) != (0, steps):
        summary["step_range"] = [a, b]
    return summary


def preview(profile, steps: int | None = None, **kwargs) -> dict[str, dict]:
    """The plan(s) a profile gives for a ``steps``-step call, per transformer component, without loading the
    model: ``plan_summary`` plus the implied speedup (through the profile's measured share of transformer
    time in blocks, when it has one).

    ``kwargs`` are ``Profile.config`` arguments (``budget``, ``speedup``, ``schedule``, ...). For two experts,
    the step where the second takes over is estimated from the profiled run (scaled to ``steps``); the
    pipeline decides it exactly at run time.
    """
    from ..profile.file import as_profile

    profile = as_profile(profile)
    steps = profile.run.steps if steps is None else steps
    beta = profile.run.block_time_share
    out = {}
    if not profile.experts:
        ranges = {"transformer": (0, steps)}
    else:
        first, second = sorted(profile.experts, key=lambda e: e.step_range[0])
        k = min(steps - 1, max(1, int(round(first.step_range[1] * steps / profile.run.steps))))
        ranges = {first.component: (0, k), second.component: (k, steps)}
    for name, (a, b) in ranges.items():
        config = profile.config(steps=b - a, component=name, **kwargs) if profile.experts else \
            profile.config(steps=steps, **kwargs)
        summary = plan_summary(config, steps, (a, b) if profile.experts else None)
        summary["implied_speedup"] = implied_speedup(beta, summary["computed_share"]) if beta else None
        summary["block_time_share"] = beta
        out[name] = summary
    return out
