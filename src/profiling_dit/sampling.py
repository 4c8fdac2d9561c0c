"""Stage two: sampling with a ProfilingDiT plan, measured (paper Sec. 3.3).

``generate_cached`` applies the caching hooks, runs the stock pipeline, removes the hooks, and
reports what the plan computed and the speedup that implies.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

from .cache import ProfilingDiTConfig, apply_profiling_dit, cache_bytes, compile_blocks, remove_profiling_dit
from .errors import ProfileError
from .generation import GenerationResult, GenerationSettings, generate
from .loading import LoadedModel
from .plan import computed_share, estimate_block_time_share, implied_speedup, timeline


def plan_summary(config: ProfilingDiTConfig, steps: int) -> dict:
    plan = config.plan(steps)
    return {
        "config": config.to_dict(),
        "full_compute_steps": [s for s, f in enumerate(config.full_steps(steps)) if f],
        "timeline": timeline(plan),
        "computed_share": computed_share(plan),
        "computed_block_evaluations": int(plan.sum()),
        "total_block_evaluations": int(plan.size),
    }


def expert_configs(model: LoadedModel, profile: dict, steps: int, **kwargs) -> dict[str, ProfilingDiTConfig]:
    """One config per expert of a two-expert pipeline (Wan2.2 A14B), from a profile's ``experts``.

    Each expert's schedule was suggested over its own steps; it is rescaled by the ratio of the
    expert's step counts (now / when profiled), and planned over the steps it runs now.
    ``kwargs`` are ``ProfilingDiTConfig.from_profile`` overrides, applied to every expert.
    """
    from .profile_file import check_expert_fits

    ranges = model.expert_step_ranges(steps)
    entries = {e["component"]: e for e in profile.get("experts", [])}
    if set(entries) != set(ranges):
        raise ProfileError(
            f"the model runs experts {', '.join(ranges)} but the profile has block profiles for "
            f"{', '.join(entries) or 'one transformer only'}; profile this model with `pdit profile`")
    out = {}
    for name, (a, b) in ranges.items():
        entry = entries[name]
        check_expert_fits(entry, getattr(model.pipe, name), model.arch)
        pa, pb = entry["step_range"]
        sub = {**profile, "split": entry["split"], "schedule": entry["schedule"], "block_scores": entry["block_scores"],
               "model": {**profile["model"], "num_blocks": entry["num_blocks"]}, "run": {**profile["run"], "steps": pb - pa}}
        cfg = ProfilingDiTConfig.from_profile(sub, steps=(b - a) if (b - a) != (pb - pa) else None, **kwargs)
        out[name] = dataclasses.replace(cfg, step_range=(a, b), num_inference_steps=steps)
    return out


def generate_cached(model: LoadedModel, settings: GenerationSettings,
                    config: ProfilingDiTConfig | dict[str, ProfilingDiTConfig],
                    compile: bool = False,
                    on_step: Callable[[int, int], None] | None = None) -> tuple[GenerationResult, dict]:
    """Generate with ProfilingDiT caching. Returns the result and a plan report (JSON-able).

    ``compile=True`` compiles the blocks in place first (they stay compiled for later calls;
    ``cache.uncompile_blocks`` undoes it). For a two-expert pipeline pass ``{component: config}``
    (``expert_configs``); the report then has one plan per expert.
    """
    settings.check_for(model.arch)
    if isinstance(config, dict) or len(model.experts) > 1:
        return _generate_cached_experts(model, settings, config, compile, on_step)
    transformer = model.pipe.transformer
    if compile:
        compile_blocks(transformer)
    seen_cache: dict[str, int] = {}

    def _on_step(i, total):
        if i == total - 1:  # the pipeline resets the cache when it returns; read its size now
            seen_cache.update(cache_bytes(transformer))
        if on_step is not None:
            on_step(i, total)

    apply_profiling_dit(transformer, config)
    try:
        result = generate(model, settings, on_step=_on_step)
    finally:
        remove_profiling_dit(transformer)
    summary = plan_summary(config, settings.steps)
    plan = config.plan(settings.steps)
    calls_per_step = max(1, result.timings.transformer_calls // settings.steps)
    counts = [int(plan[i // calls_per_step].sum()) for i in range(result.timings.transformer_calls)]
    share = estimate_block_time_share(result.timings.call_s, counts, config.num_blocks)
    summary.update({
        "block_time_share_estimate": share,
        "implied_speedup": implied_speedup(share, summary["computed_share"]) if share is not None else None,
        "cache_bytes": seen_cache,
        "compiled": compile,
    })
    return result, summary


def _generate_cached_experts(model, settings, configs, compile, on_step):
    if not isinstance(configs, dict) or set(configs) != set(model.experts):
        raise ProfileError(f"this pipeline has experts {', '.join(model.experts)}: give one config per expert "
                           "(profiling_dit.sampling.expert_configs)")
    experts = {name: getattr(model.pipe, name) for name in configs}
    seen_cache: dict[str, dict[str, int]] = {}

    def _on_step(i, total):
        if i == total - 1:
            for name, tr in experts.items():
                seen_cache[name] = cache_bytes(tr)
        if on_step is not None:
            on_step(i, total)

    applied = []
    try:
        for name, tr in experts.items():
            if compile:
                compile_blocks(tr)
            apply_profiling_dit(tr, configs[name])
            applied.append(tr)
        result = generate(model, settings, on_step=_on_step)
    finally:
        for tr in applied:
            remove_profiling_dit(tr)
    per_expert, done, total = {}, 0, 0
    for name, cfg in configs.items():
        a, b = cfg.step_range or (0, settings.steps)
        plan = cfg.plan(settings.steps)[a:b]
        done += int(plan.sum())
        total += int(plan.size)
        per_expert[name] = {**plan_summary(cfg, settings.steps), "step_range": [a, b],
                            "timeline": timeline(plan), "computed_share": computed_share(plan),
                            "computed_block_evaluations": int(plan.sum()), "total_block_evaluations": int(plan.size)}
    summary = {"experts": per_expert, "computed_share": done / total if total else 1.0,
               "computed_block_evaluations": done, "total_block_evaluations": total,
               "implied_speedup": None, "cache_bytes": seen_cache, "compiled": compile}
    return result, summary
