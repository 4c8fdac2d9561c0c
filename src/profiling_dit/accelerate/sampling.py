"""Stage two on a whole pipeline: ``apply(pipe, profile)`` / ``remove(pipe)`` install and remove the caching
hooks on every transformer of a pipeline (both experts of Wan2.2 A14B), and ``generate_cached`` runs one
measured generation with them and reports what the plan computed and the speedup that implies.
"""

from __future__ import annotations

from typing import Callable

from ..errors import ProfileError
from ..pipeline.generation import GenerationResult, GenerationSettings, generate
from ..pipeline.loading import LoadedModel, as_model, expert_step_ranges
from .hooks import (ProfilingDiTConfig, applied_config, apply_profiling_dit, cache_bytes, compile_blocks, is_applied,
                    remove_profiling_dit)
from .plan import estimate_block_time_share, implied_speedup
from .preview import plan_summary


def configs_for(pipe, profile, steps: int | None = None, **overrides) -> dict[str, ProfilingDiTConfig]:
    """One ``ProfilingDiTConfig`` per transformer of the pipeline, from a profile that fits it.

    Args:
        pipe: a pipeline or ``LoadedModel``.
        profile: a ``Profile`` (or a path to one).
        steps: plan for this many steps; ``None``: as profiled. Either way a call of another step count maps
            the plan to its own count when it runs.
        **overrides: ``Profile.config`` arguments: ``budget`` (share of block evaluations to compute) or
            ``speedup``; ``schedule="paper"`` (or ``"inverse"``, ``"average"``) for the paper's schedule, with
            ``warmup``, ``interval_max``, ``interval_min``, ``reuse``; ``tau``, ``background_share``,
            ``final_full_steps``. Default: the planner at budget 0.5 (the paper's schedule for a version-1 profile).

    For a two-expert pipeline each expert's schedule was suggested over the steps it ran when profiled; with
    ``steps`` it is rescaled to the steps it runs in a ``steps``-step call.
    """
    from ..profile.file import as_profile

    model = as_model(pipe)
    profile = as_profile(profile)
    profile.check_fits(model)
    if len(model.experts) == 1:
        return {"transformer": profile.config(steps=steps, **overrides)}
    ranges = expert_step_ranges(model.pipe, steps) if steps is not None else None
    return {name: profile.config(steps=None if ranges is None else ranges[name][1] - ranges[name][0],
                                 component=name, **overrides)
            for name in model.experts}


def apply(pipe, profile, *, steps: int | None = None, **overrides) -> dict[str, ProfilingDiTConfig]:
    """Install ProfilingDiT caching on every transformer of a pipeline (in place); returns the configs.

    Args:
        pipe: a supported diffusers pipeline (or a ``LoadedModel``); a two-expert pipeline gets one plan per
            expert, over the steps it runs.
        profile: a ``Profile`` that fits this model (checked), or the path of one.
        steps, **overrides: see ``configs_for`` (``budget=0.4``, ``speedup=2.0``, ``schedule="paper"``, ...).
            Without ``steps``, a call whose ``num_inference_steps`` differs from the profiled count gets the plan
            mapped to its own count, with one warning.

    Example:
        ```python
        >>> import profiling_dit as pdit
        >>> pdit.apply(pipe, pdit.Profile.load("wan21.json"))
        >>> video = pipe("a cat surfing a wave", num_inference_steps=30).frames[0]
        >>> pdit.remove(pipe)
        ```
    """
    model = as_model(pipe)
    configs = configs_for(model, profile, steps, **overrides) if not _all_configs(profile) else dict(profile)
    install(model, configs)
    return configs


def install(model, configs: dict[str, ProfilingDiTConfig], compile: bool = False) -> None:
    """Install given configs (one per transformer component) on a pipeline, with the per-call step count
    and, for two experts, the per-call step ranges."""
    model = as_model(model)
    if set(configs) != set(model.experts):
        raise ProfileError(f"this pipeline runs {', '.join(model.experts)}: give one config for each")
    pipe = model.pipe
    two = len(model.experts) > 1
    done = []
    try:
        for name, config in configs.items():
            transformer = getattr(pipe, name)
            if compile:
                compile_blocks(transformer)
            apply_profiling_dit(
                transformer, config, steps_provider=lambda: getattr(pipe, "num_timesteps", None),
                step_range=(lambda n, name=name: expert_step_ranges(pipe, n)[name]) if two else None)
            done.append(transformer)
    except BaseException:
        for transformer in done:
            remove_profiling_dit(transformer)
        raise


def remove(pipe) -> None:
    """Remove ProfilingDiT caching from every transformer of a pipeline (a no-op where there is none)."""
    model = as_model(pipe)
    for name in model.experts:
        remove_profiling_dit(getattr(model.pipe, name))


def applied(pipe) -> dict[str, ProfilingDiTConfig]:
    """The configs installed on the pipeline's transformers (empty when none)."""
    model = as_model(pipe)
    return {name: applied_config(getattr(model.pipe, name)) for name in model.experts
            if is_applied(getattr(model.pipe, name))}


def _all_configs(x) -> bool:
    return isinstance(x, dict) and bool(x) and all(isinstance(v, ProfilingDiTConfig) for v in x.values())


def plan_summaries(pipe, configs: dict[str, ProfilingDiTConfig], steps: int) -> dict[str, dict]:
    """``plan_summary`` per transformer of a pipeline, over the steps each runs in a ``steps``-step call."""
    model = as_model(pipe)
    ranges = expert_step_ranges(model.pipe, steps)
    return {name: plan_summary(cfg, steps, ranges[name] if len(ranges) > 1 else None) for name, cfg in configs.items()}


def generate_cached(model, settings: GenerationSettings, configs, *, compile: bool = False,
                    on_step: Callable[[int, int], None] | None = None,
                    on_installed: Callable[[LoadedModel], None] | None = None) -> tuple[GenerationResult, dict]:
    """Generate once with ProfilingDiT caching; the hooks are removed afterwards. Returns the result and a
    plan report (JSON-able): the plan, the computed share of block evaluations, the estimated share of
    transformer time spent in blocks and the speedup that implies, and the delta cache's size.

    Args:
        model: a ``LoadedModel`` or a pipeline.
        settings: what to generate.
        configs: a ``ProfilingDiTConfig`` (one transformer), ``{component: config}`` (``configs_for``), or a
            ``Profile`` (configs made for ``settings.steps``).
        compile: ``torch.compile`` each block first (they stay compiled; ``uncompile_blocks`` undoes it).
        on_step: ``on_step(step_index, total_steps)`` after each step.
        on_installed: called with the model once the hooks are in place, before generating (context
            parallelism is enabled there: ProfilingDiT's hooks must be installed first).
    """
    model = as_model(model)
    settings.check_for(model.arch)
    if isinstance(configs, ProfilingDiTConfig):
        configs = {"transformer": configs}
    elif not _all_configs(configs):
        configs = configs_for(model, configs, settings.steps)
    if set(configs) != set(model.experts):
        raise ProfileError(f"this pipeline runs {', '.join(model.experts)}: give one config for each "
                           "(`profiling_dit.accelerate.configs_for`)")
    seen_cache: dict[str, dict[str, int]] = {}

    def _on_step(i, total):
        if i == total - 1:  # the pipeline resets the cache when it returns; read its size now
            for name in configs:
                seen_cache[name] = cache_bytes(getattr(model.pipe, name))
        if on_step is not None:
            on_step(i, total)

    install(model, configs, compile=compile)
    try:
        if on_installed is not None:
            on_installed(model)
        result = generate(model, settings, on_step=_on_step)
    finally:
        remove(model)
    summaries = plan_summaries(model, configs, settings.steps)
    if len(configs) > 1:
        done = sum(p["computed_block_evaluations"] for p in summaries.values())
        total = sum(p["total_block_evaluations"] for p in summaries.values())
        return result, {"experts": summaries, "computed_share": done / total if total else 1.0,
                        "computed_block_evaluations": done, "total_block_evaluations": total,
                        "implied_speedup": None, "cache_bytes": seen_cache, "compiled": compile}
    config = configs["transformer"]
    summary = summaries["transformer"]
    plan = config.plan(settings.steps)
    calls_per_step = max(1, result.timings.transformer_calls // settings.steps)
    counts = [int(plan[i // calls_per_step].sum()) for i in range(result.timings.transformer_calls)]
    share = estimate_block_time_share(result.timings.call_s, counts, config.num_blocks)
    summary.update({
        "block_time_share_estimate": share,
        "implied_speedup": implied_speedup(share, summary["computed_share"]) if share is not None else None,
        "cache_bytes": seen_cache.get("transformer", {}),
        "compiled": compile,
    })
    return result, summary
