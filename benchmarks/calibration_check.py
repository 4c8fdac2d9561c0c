"""Do calibrated plans carry over? Calibrate a profile's plans at a reduced size and/or on several prompts, then
score every budget's plan at the profiled size on held-out prompts and seeds (PSNR against stock sampling).

A variant is SCALE/PROMPTS: calibrate at SCALE of the profiled height, width and frames, scored on the profile's
first PROMPTS prompts; `shipped` scores the plans the profile already holds. Each variant writes its own JSON
(the calibrated profile beside it), so variants can run in separate processes; `--summarize` puts them in a table.

    python benchmarks/calibration_check.py --model tiny-deep \\
        --profile src/profiling_dit/assets/profiles/tiny-wan-deep.json --variant 0.5/2 \\
        --out benchmarks/results/calibration-check/deep-0.5-2.json
    python benchmarks/calibration_check.py --summarize benchmarks/results/calibration-check/*.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path


def _evaluate(model, profile, prompts, seeds, steps, log) -> dict:
    import profiling_dit as pdit
    from profiling_dit.metrics import psnr

    run = profile.run
    cases = {}
    for prompt in prompts:
        for seed in seeds:
            gen = pdit.GenerationSettings(prompt=prompt, steps=steps, height=run.height, width=run.width,
                                          frames=run.frames, guidance=run.guidance, seed=seed,
                                          negative_prompt=run.negative_prompt)
            reference = pdit.generate(model, gen).frames
            for entry in profile.plans:
                frames = pdit.generate_cached(model, gen, {"transformer": entry.plan})[0].frames
                value = min(60.0, psnr(reference, frames))  # identical frames count as 60 dB, as in the bench
                cases.setdefault(f"{entry.budget:g}", []).append(value)
            log(f"{prompt!r} seed {seed}: done")
    return cases


def run_variant(args) -> int:
    import dataclasses

    import torch

    import profiling_dit as pdit
    from profiling_dit._io import atomic_write_text
    from profiling_dit.caching.calibrate import calibrate, calibration_cost

    torch.set_num_threads(args.threads)
    model = pdit.load_pipeline(args.model, device="cpu")
    profile = pdit.load_profile(args.profile)
    out = Path(args.out)
    log = print
    calibration: dict = {"variant": args.variant}
    if args.variant != "shipped":
        scale_text, count_text = args.variant.split("/")
        scale, count = float(scale_text), int(count_text)
        bare = dataclasses.replace(profile, plans=())
        t0 = time.perf_counter()
        profile = calibrate(model, bare, max_generations=args.generations, scale=scale,
                            prompts=profile.run.prompts[:count])
        calibration.update(seconds=time.perf_counter() - t0, scale=scale, **calibration_cost(profile))
        profile.save(out.with_suffix(".profile.json"), overwrite=True, pictures=False)
    prompts = [p for p in Path(args.prompts).read_text().splitlines() if p.strip()]
    seeds = [int(s) for s in args.seeds.split(",")]
    cases = _evaluate(model, profile, prompts, seeds, profile.run.steps, log)
    shares = {f"{e.budget:g}": e.plan.computed_share for e in profile.plans}
    full = {f"{e.budget:g}": list(e.plan.full_steps) for e in profile.plans}
    result = {"model": args.model, "profile": args.profile, "prompts": prompts, "seeds": seeds,
              "calibration": calibration, "budgets": {
                  b: {"computed_share": shares[b], "full_steps": full[b], "psnr": values,
                      "mean_psnr": statistics.fmean(values), "spread": statistics.pstdev(values)}
                  for b, values in cases.items()},
              "threads": args.threads}
    atomic_write_text(out, json.dumps(result, indent=1, default=list) + "\n")
    log(f"wrote {out}")
    return 0


def summarize(paths: list[str]) -> int:
    results = [json.loads(Path(p).read_text()) for p in paths]
    budgets = sorted({b for r in results for b in r["budgets"]}, key=float)
    names = []
    for r in results:
        c = r["calibration"]
        names.append(c["variant"] if c["variant"] == "shipped" else
                     f"{c['variant']} ({c['generations']} gens at {'x'.join(map(str, c['size']))})")
    print(f"model {results[0]['model']}; mean PSNR dB (share) on {len(results[0]['prompts'])} prompts x "
          f"{len(results[0]['seeds'])} seeds; ± the per-case standard deviation")
    print("| budget | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    for b in budgets:
        cells = []
        for r in results:
            v = r["budgets"].get(b)
            cells.append("–" if v is None else f"{v['mean_psnr']:.2f} ± {v['spread']:.2f} ({v['computed_share']:.3f})")
        print(f"| {b} | " + " | ".join(cells) + " |")
    means = [statistics.fmean(r["budgets"][b]["mean_psnr"] for b in budgets if b in r["budgets"]) for r in results]
    print("| mean | " + " | ".join(f"{m:.2f}" for m in means) + " |")
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="tiny")
    ap.add_argument("--profile")
    ap.add_argument("--variant", default="0.5/2", help="SCALE/PROMPTS, or shipped")
    ap.add_argument("--generations", type=int, default=200)
    ap.add_argument("--prompts", default="benchmarks/prompts-tiny-held-out.txt")
    ap.add_argument("--seeds", default="1,2")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out")
    ap.add_argument("--summarize", nargs="+")
    args = ap.parse_args(argv)
    if args.summarize:
        return summarize(args.summarize)
    if not args.profile or not args.out:
        ap.error("--profile and --out are needed (or --summarize)")
    return run_variant(args)


if __name__ == "__main__":
    raise SystemExit(main())
