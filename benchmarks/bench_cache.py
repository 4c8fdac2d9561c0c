"""ProfilingDiT at a profile's own settings against stock sampling, with what bounds the speedup.

A thin caller of the library: ``pdit bench``'s runner (stock sampling, then ProfilingDiT on the same prompt
and seed, medians of repeats after a warm-up) for speed and quality, plus the share of transformer time
spent in blocks (one stock run with per-block timers), the speedup the computed share implies at that
share, the plan, and the delta cache's size.

    python benchmarks/bench_cache.py --profile src/profiling_dit/assets/profiles/tiny-wan.json --out benchmarks/results/cache-tiny-cpu
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path


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

    import profiling_dit as pdit
    from profiling_dit._io import atomic_write_text
    from profiling_dit.caching.sampling import generate_cached
    from profiling_dit.plan import implied_speedup
    from profiling_dit.bench.runner import BenchSettings, run_bench
    from profiling_dit.environment import device_info, library_versions
    from profiling_dit.pipeline.generation import block_time_share

    profile = pdit.Profile.load(args.profile)
    model = pdit.load_pipeline(args.model or profile.model.requested, device=args.device)
    profile.check_fits(model)
    prompts = args.prompt or ["a red circle moving right over grass", "a blue square moving left over sand"]
    bs = BenchSettings(prompts=tuple(prompts), seeds=(args.seed,), methods=("baseline", "profiling-dit"),
                       repeats=args.repeats, steps=args.steps, height=args.height, width=args.width,
                       frames=args.frames, guidance=args.guidance)
    results = run_bench(model, profile, bs)
    gen = bs.generation(prompts[0], args.seed)
    block_share = block_time_share(model, gen)
    plans = pdit.make_plans(model, profile, args.steps)
    _, summary = generate_cached(model, gen, plans)

    rows = []
    runs = {(r["method"], r["prompt"]): r for r in results["runs"]}
    for prompt in prompts:
        base, ours = runs[("baseline", prompt)], runs[("profiling-dit", prompt)]
        implied = implied_speedup(block_share, ours["computed_share"])
        rows.append({
            "prompt": prompt,
            "stock_transformer_s": base["transformer_s"], "cached_transformer_s": ours["transformer_s"],
            "stock_total_s": base["wall_s"], "cached_total_s": ours["wall_s"],
            "transformer_speedup": ours["transformer_speedup"], "total_speedup": ours["wall_speedup"],
            "computed_share": ours["computed_share"], "implied_speedup": implied,
            "measured_over_implied": ours["transformer_speedup"] / implied,
            "psnr_db": ours["psnr"], "ssim": ours["ssim"],
        })
    result = {
        "command": "python " + " ".join([sys.argv[0], *(argv or sys.argv[1:])]),
        "settings": {k: v for k, v in vars(args).items() if k != "out"} | {"prompts": prompts},
        "plan_made": plans["transformer"].to_dict(),
        "plan": {"full_compute_steps": summary["full_compute_steps"], "timeline": summary["timeline"]},
        "cache_bytes": summary["cache_bytes"],
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
    cache = ", ".join(f"{k} {v / 2**20:.1f} MiB" for k, v in result["cache_bytes"].items())
    head = (f"{s['frames']} frames, {s['height']}x{s['width']}, {s['steps']} steps, guidance {s['guidance']}, "
            f"median of {s['repeats']}; blocks take {result['block_time_share']:.1%} of transformer time; "
            f"full-compute steps {result['plan']['full_compute_steps']}; delta cache {cache}; "
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
