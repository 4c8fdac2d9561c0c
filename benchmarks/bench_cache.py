"""ProfilingDiT caching against stock sampling, in one run, on one model (issue 4's benchmark).

Interleaves stock and cached generations (after a warm-up), takes medians, and reports:
transformer-time and end-to-end speedup, the computed share of block evaluations, the share of
transformer time spent in blocks (measured with per-block timers in an extra stock run), the
speedup that share implies, and PSNR/SSIM of the cached frames against the stock frames.

    python benchmarks/bench_cache.py --profile profiles/tiny-wan.json --out benchmarks/results/cache-tiny-cpu
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", required=True)
    ap.add_argument("--model", default=None, help="default: the profile's model")
    ap.add_argument("--prompt", action="append", default=None)
    ap.add_argument("--frames", type=int, default=17)
    ap.add_argument("--height", type=int, default=128)
    ap.add_argument("--width", type=int, default=128)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--guidance", type=float, default=5.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--out", required=True, help="output stem: writes STEM.json and STEM.md")
    args = ap.parse_args(argv)

    from profiling_dit.accelerate.hooks import ProfilingDiTConfig
    from profiling_dit.environment import device_info, library_versions
    from profiling_dit.pipeline.generation import GenerationSettings, generate
    from profiling_dit.pipeline.loading import load_pipeline, resolve_model
    from profiling_dit.bench.metrics import psnr, ssim
    from profiling_dit.accelerate.plan import implied_speedup
    from profiling_dit.profile.file import check_profile_fits, load_profile, profile_model_ref
    from profiling_dit.accelerate.sampling import generate_cached
    from profiling_dit.pipeline.timing import attach_block_timers, detach_block_timers
    from profiling_dit._io import atomic_write_text

    prof = load_profile(args.profile)
    model = load_pipeline(resolve_model(args.model or profile_model_ref(prof)), device=args.device)
    check_profile_fits(prof, model.pipe.transformer, model.arch)
    prompts = args.prompt or ["a red circle moving right over grass", "a blue square moving left over sand"]
    config = ProfilingDiTConfig.from_profile(prof, steps=args.steps)
    gens = [GenerationSettings(prompt=p, steps=args.steps, height=args.height, width=args.width, frames=args.frames,
                               guidance=args.guidance, seed=args.seed) for p in prompts]

    # Warm-up (allocator, kernels, caches), not measured.
    generate(model, GenerationSettings(prompt=prompts[0], steps=2, height=args.height, width=args.width,
                                       frames=args.frames, guidance=args.guidance))

    # Share of transformer time inside the blocks, from one stock run with per-block timers.
    blocks = model.arch.blocks(model.pipe.transformer)
    timers = attach_block_timers(blocks, model.device)
    try:
        timed = generate(model, gens[0])
    finally:
        detach_block_timers(blocks)
    block_share = sum(h.total_s for h in timers) / timed.timings.transformer_s

    rows = []
    for gen in gens:
        stock_runs, cached_runs = [], []
        for _ in range(args.repeats):
            stock_runs.append(generate(model, gen))
            cached_runs.append(generate_cached(model, gen, config))
        stock_tr = statistics.median(r.timings.transformer_s for r in stock_runs)
        stock_total = statistics.median(r.timings.total_s for r in stock_runs)
        cached_tr = statistics.median(r.timings.transformer_s for r, _ in cached_runs)
        cached_total = statistics.median(r.timings.total_s for r, _ in cached_runs)
        summary = cached_runs[0][1]
        ref, test = stock_runs[0].frames, cached_runs[0][0].frames
        implied = implied_speedup(block_share, summary["computed_share"])
        rows.append({
            "prompt": gen.prompts[0],
            "stock_transformer_s": stock_tr, "cached_transformer_s": cached_tr,
            "stock_total_s": stock_total, "cached_total_s": cached_total,
            "transformer_speedup": stock_tr / cached_tr, "total_speedup": stock_total / cached_total,
            "computed_share": summary["computed_share"], "implied_speedup": implied,
            "measured_over_implied": (stock_tr / cached_tr) / implied,
            "psnr_db": psnr(ref, test), "ssim": ssim(ref, test),
            "cache_bytes": summary["cache_bytes"],
            "stock_deterministic": bool(np.array_equal(stock_runs[0].frames, stock_runs[-1].frames)),
        })

    result = {
        "command": "python " + " ".join([sys.argv[0], *(argv or sys.argv[1:])]),
        "settings": {k: v for k, v in vars(args).items() if k != "out"} | {"prompts": prompts},
        "config": config.to_dict(),
        "plan": {"full_compute_steps": summary["full_compute_steps"], "timeline": summary["timeline"]},
        "block_time_share": block_share,
        "rows": rows,
        "environment": {**device_info(model.device), "versions": library_versions()},
        "created": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    stem = Path(args.out)
    atomic_write_text(stem.with_suffix(".json"), json.dumps(result, indent=2) + "\n")
    atomic_write_text(stem.with_suffix(".md"), to_markdown(result) + "\n")
    print(to_markdown(result))
    return 0


def _device(env: dict) -> str:
    if env.get("gpu"):
        return env["gpu"]
    return f"{env.get('cpu')}, {env.get('torch_threads')} torch threads"


def to_markdown(result: dict) -> str:
    s = result["settings"]
    head = (f"{s['frames']} frames, {s['height']}x{s['width']}, {s['steps']} steps, guidance {s['guidance']}, "
            f"median of {s['repeats']}; blocks take {result['block_time_share']:.1%} of transformer time; "
            f"device: {_device(result['environment'])}")
    lines = [head, "",
             "| prompt | stock transformer s | cached transformer s | transformer speedup | computed share | "
             "implied speedup | measured / implied | end-to-end speedup | PSNR dB | SSIM |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in result["rows"]:
        lines.append(
            f"| {r['prompt']} | {r['stock_transformer_s']:.2f} | {r['cached_transformer_s']:.2f} | "
            f"{r['transformer_speedup']:.2f}x | {r['computed_share']:.3f} | {r['implied_speedup']:.2f}x | "
            f"{r['measured_over_implied']:.2f} | {r['total_speedup']:.2f}x | {r['psnr_db']:.2f} | {r['ssim']:.4f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
