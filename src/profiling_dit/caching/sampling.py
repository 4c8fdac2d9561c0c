"""Stage two on a whole pipeline: ``apply(pipe, profile)`` / ``remove(pipe)`` install and remove the caching
hooks on every transformer of a pipeline (both experts of Wan2.2 A14B), ``install(pipe, plans)`` installs given
plans, and ``generate_cached`` runs one measured generation with them and reports what the plans computed and
the speedup that implies.
"""

from __future__ import annotations

import functools
import logging
from typing import Callable, cast

from ..errors import InvalidSettingError
from ..pipeline.generation import GenerationResult, GenerationSettings, generate
from ..pipeline.loading import LoadedModel, as_model, expert_step_ranges
from ..plan import Plan, implied_speedup
from ..profile.file import Profile, as_profile
from .hooks import applied_plan, apply_profiling_dit, cache_bytes, compile_blocks, is_applied, remove_profiling_dit
from .policy import make_plan, make_plans
from .preview import plan_summary
from .schedules import estimate_block_time_share

logger = logging.getLogger(__name__)


def apply(pipe, profile: Profile, *, steps: int | None = None, **options) -> dict[str, Plan]:
    """Install ProfilingDiT caching on every transformer of a pipeline (in place); returns the plans.

    Args:
        pipe: a supported diffusers pipeline (or a ``LoadedModel``); a two-expert pipeline gets one plan per
            expert, over the steps it runs.
        profile: a ``Profile`` that fits this model (checked), or the path of one.
        steps: plan for this many steps [default: as profiled]. A call with another ``num_inference_steps`` is
            planned again for its own count when it runs (one warning).
        **options: ``make_plan`` options: ``budget=0.4``, ``speedup=2.0``, ``schedule="paper"``, ...

    Example:
        ```python
        >>> import profiling_dit as pdit
        >>> pdit.apply(pipe, pdit.Profile.load("wan21.json"), budget=0.5)
        >>> video = pipe("a cat surfing a wave", num_inference_steps=30).frames[0]
        >>> pdit.remove(pipe)
        ```
    """
    model = as_model(pipe)
    profile = as_profile(profile)
    plans = make_plans(model, profile, steps, **options)
    replan: dict[str, Callable[[int], Plan]] = {
        name: functools.partial(make_plan, profile, component=name if len(plans) > 1 else None, **options)
        for name in plans}
    install(model, plans, replan=replan)
    return plans


def install(model, plans: dict[str, Plan], *, compile: bool = False,
            replan: dict[str, Callable[[int], Plan]] | None = None) -> None:
    """Install given plans (one per transformer component, ``{"transformer": plan}`` for one) on a pipeline,
    with the per-call step count and, for two experts, the per-call step ranges.

    Args:
        model: a pipeline or ``LoadedModel``.
        plans: ``{component: Plan}`` for every transformer the pipeline runs.
        compile: ``torch.compile`` each block first (they stay compiled; ``uncompile_blocks`` undoes it).
        replan: ``{component: steps -> Plan}``, the plan for a call of another step count (else mapped).
    """
    model = as_model(model)
    if not isinstance(plans, dict) or any(not isinstance(p, Plan) for p in plans.values()):
        raise InvalidSettingError("`plans` must be a dict of profiling_dit.Plan, one per transformer component")
    if set(plans) != set(model.experts):
        raise InvalidSettingError(f"this pipeline runs {', '.join(model.experts)}: give one plan for each")
    pipe = model.pipe
    two = len(model.experts) > 1
    done = []
    try:
        for name, plan in plans.items():
            transformer = getattr(pipe, name)
            if compile:
                compile_blocks(transformer)
            step_range: Callable[[int], tuple[int, int]] | None = (
                (lambda n, name=name: expert_step_ranges(pipe, n)[name]) if two else None)
            apply_profiling_dit(
                transformer, plan, steps_provider=lambda: getattr(pipe, "num_timesteps", None),
                step_range=step_range, replan=(replan or {}).get(name))
            done.append(transformer)
            logger.info("ProfilingDiT on %s: %s, %d blocks cached, %.0f%% of block evaluations computed", name,
                        plan.origin or "a plan by hand", len(plan.cached_blocks), 100 * plan.computed_share)
    except BaseException:
        for transformer in done:
            remove_profiling_dit(transformer)
        raise


def remove(pipe) -> None:
    """Remove ProfilingDiT caching from every transformer of a pipeline (a no-op where there is none)."""
    model = as_model(pipe)
    for name in model.experts:
        remove_profiling_dit(getattr(model.pipe, name))


def applied(pipe) -> dict[str, Plan]:
    """The plans installed on the pipeline's transformers (empty when none)."""
    model = as_model(pipe)
    return {name: cast(Plan, applied_plan(getattr(model.pipe, name)))  # an applied transformer has its plan
            for name in model.experts if is_applied(getattr(model.pipe, name))}


def plan_summaries(plans: dict[str, Plan], steps: int) -> dict[str, dict]:
    """``plan_summary`` per transformer, over the steps each runs in a ``steps``-step call."""
    return {name: plan_summary(plan, steps) for name, plan in plans.items()}


def generate_cached(model, settings: GenerationSettings, plans: dict[str, Plan], *, compile: bool = False,
                    on_step: Callable[[int, int], None] | None = None,
                    on_installed: Callable[[LoadedModel], None] | None = None) -> tuple[GenerationResult, dict]:
    """Generate once with ProfilingDiT caching; the hooks are removed afterwards. Returns the result and a
    plan report (JSON-able): the plan, the computed share of block evaluations, the estimated share of
    transformer time spent in blocks and the speedup that implies, and the delta cache's size.

    Args:
        model: a ``LoadedModel`` or a pipeline.
        settings: what to generate.
        plans: ``{component: Plan}`` (``make_plans(model, profile, settings.steps)``), made for ``settings.steps``.
        compile: ``torch.compile`` each block first (they stay compiled; ``uncompile_blocks`` undoes it).
        on_step: ``on_step(step_index, total_steps)`` after each step.
        on_installed: called with the model once the hooks are in place, before generating (context
            parallelism is enabled there: ProfilingDiT's hooks must be installed first).
    """
    model = as_model(model)
    settings.check_for(model.arch)
    if len(plans) == 1 and "transformer" in plans and plans["transformer"].steps != settings.steps:
        plans = {"transformer": plans["transformer"].for_steps(settings.steps)}
    seen_cache: dict[str, dict[str, int]] = {}

    def _on_step(i, total):
        if i == total - 1:  # the pipeline resets the cache when it returns; read its size now
            for name in plans:
                seen_cache[name] = cache_bytes(getattr(model.pipe, name))
        if on_step is not None:
            on_step(i, total)

    install(model, plans, compile=compile)
    try:
        if on_installed is not None:
            on_installed(model)
        result = generate(model, settings, on_step=_on_step)
    finally:
        remove(model)
    summaries = plan_summaries(plans, settings.steps)
    if len(plans) > 1:
        done = sum(p["computed_block_evaluations"] for p in summaries.values())
        total = sum(p["total_block_evaluations"] for p in summaries.values())
        return result, {"experts": summaries, "computed_share": done / total if total else 1.0,
                        "computed_block_evaluations": done, "total_block_evaluations": total,
                        "implied_speedup": None, "cache_bytes": seen_cache, "compiled": compile}
    plan = plans["transformer"]
    summary = summaries["transformer"]
    mask = plan.mask()
    calls_per_step = max(1, result.timings.transformer_calls // settings.steps)
    counts = [int(mask[min(i // calls_per_step, plan.steps - 1)].sum())
              for i in range(result.timings.transformer_calls)]
    share = estimate_block_time_share(result.timings.call_s, counts, plan.num_blocks)
    summary.update({
        "block_time_share_estimate": share,
        "implied_speedup": implied_speedup(share, summary["computed_share"]) if share is not None else None,
        "cache_bytes": seen_cache.get("transformer", {}),
        "compiled": compile,
    })
    return result, summary
