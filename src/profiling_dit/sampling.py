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
    """The plan over the steps this config's transformer runs (all steps, or its ``step_range``)."""
    a, b = config.step_range or (0, steps)
    plan = config.plan(steps)[a:b]
    summary = {
        "config": config.to_dict(),
        "full_compute_steps": [s for s, f in enumerate(config.full_steps(steps)) if f and a <= s < b],
        "timeline": timeline(plan),
        "computed_share": computed_share(plan),
        "computed_block_evaluations": int(plan.sum()),
        "total_block_evaluations": int(plan.size),
    }
    if config.step_range is not None:
        summary["step_range"] = [a, b]
    return summary


def _run_cached(model: LoadedModel, settings: GenerationSettings, configs: dict[str, ProfilingDiTConfig],
                compile: bool, on_step) -> tuple[GenerationResult, dict[str, dict[str, int]]]:
    """Apply a config to each named transformer, generate, remove; also the cache size per transformer."""
    transformers = {name: getattr(model.pipe, name) for name in configs}
    seen_cache: dict[str, dict[str, int]] = {}

    def _on_step(i, total):
        if i == total - 1:  # the pipeline resets the cache when it returns; read its size now
            for name, tr in transformers.items():
                seen_cache[name] = cache_bytes(tr)
        if on_step is not None:
            on_step(i, total)

    applied = []
    try:
        for name, tr in transformers.items():
            if compile:
                compile_blocks(tr)
            apply_profiling_dit(tr, configs[name])
            applied.append(tr)
        result = generate(model, settings, on_step=_on_step)
    finally:
        for tr in applied:
            remove_profiling_dit(tr)
    return result, seen_cache


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
    result, seen_cache = _run_cached(model, settings, {"transformer": config}, compile, on_step)
    summary = plan_summary(config, settings.steps)
    plan = config.plan(settings.steps)
    calls_per_step = max(1, result.timings.transformer_calls // settings.steps)
    counts = [int(plan[i // calls_per_step].sum()) for i in range(result.timings.transformer_calls)]
    share = estimate_block_time_share(result.timings.call_s, counts, config.num_blocks)
    summary.update({
        "block_time_share_estimate": share,
        "implied_speedup": implied_speedup(share, summary["computed_share"]) if share is not None else None,
        "cache_bytes": seen_cache["transformer"],
        "compiled": compile,
    })
    return result, summary


def _generate_cached_experts(model, settings, configs, compile, on_step):
    if not isinstance(configs, dict) or set(configs) != set(model.experts):
        raise ProfileError(f"this pipeline has experts {', '.join(model.experts)}: give one config per expert "
                           "(profiling_dit.sampling.expert_configs)")
    result, seen_cache = _run_cached(model, settings, configs, compile, on_step)
    per_expert = {name: plan_summary(cfg, settings.steps) for name, cfg in configs.items()}
    done = sum(p["computed_block_evaluations"] for p in per_expert.values())
    total = sum(p["total_block_evaluations"] for p in per_expert.values())
    summary = {"experts": per_expert, "computed_share": done / total if total else 1.0,
               "computed_block_evaluations": done, "total_block_evaluations": total,
               "implied_speedup": None, "cache_bytes": seen_cache, "compiled": compile}
    return result, summary
