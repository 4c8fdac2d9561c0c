"""Stage two: sampling with a ProfilingDiT plan, measured (paper Sec. 3.3).

``generate_cached`` applies the caching hooks, runs the stock pipeline, removes the hooks, and
reports what the plan computed and the speedup that implies.
"""

from __future__ import annotations

from typing import Callable

from .cache import ProfilingDiTConfig, apply_profiling_dit, cache_bytes, compile_blocks, remove_profiling_dit
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


def generate_cached(model: LoadedModel, settings: GenerationSettings, config: ProfilingDiTConfig,
                    compile: bool = False,
                    on_step: Callable[[int, int], None] | None = None) -> tuple[GenerationResult, dict]:
    """Generate with ProfilingDiT caching. Returns the result and a plan report (JSON-able).

    ``compile=True`` compiles the blocks in place first (they stay compiled for later calls;
    ``cache.uncompile_blocks`` undoes it).
    """
    settings.check_for(model.arch)
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
