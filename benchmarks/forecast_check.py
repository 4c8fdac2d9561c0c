"""Does forecasting a skipped step's delta beat plain reuse? The plans of a profile for each budget, run as they are
(plain reuse of the last full step's delta), with forecast pairs fitted from the same profile's staleness table
(``caching/forecast.py``, ``from_profile``), and with pairs fitted on generations of the profile's own prompts and
seed (``fit_forecast``: one generation a prompt and plan; never a scored case), on the same prompts and seeds,
scored by PSNR against stock sampling. ``--planner`` also runs the planner's plans (the profile without its
calibrated plans: what the profile alone gives).

    python benchmarks/forecast_check.py --model tiny --prompts benchmarks/prompts-tiny-held-out.txt --seeds 1 \\
        --out benchmarks/results/forecast-check-tiny
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shlex
import sys
import time
from pathlib import Path

VARIANTS = ("plain", "from the profile", "fitted on generations", "segments fitted on generations")


def _cases(pdit, profile, prompts, seeds):
    for prompt in prompts:
        for seed in seeds:
            yield prompt, seed, pdit.GenerationSettings(prompt=prompt, seed=seed, steps=profile.run.steps,
                                                        height=profile.run.height, width=profile.run.width,
                                                        frames=profile.run.frames, guidance=profile.run.guidance)


def _variants(pdit, model, profile, budgets, planner: bool, variants):
    from profiling_dit.caching.forecast import fit_forecast, from_profile

    calibration = [pdit.GenerationSettings(prompt=p, seed=profile.run.seed, steps=profile.run.steps,
                                           height=profile.run.height, width=profile.run.width,
                                           frames=profile.run.frames, guidance=profile.run.guidance)
                   for p in profile.run.prompts]
    sources = [("calibrated", profile)] + ([("planner", dataclasses.replace(profile, plans=()))] if planner else [])
    for source, prof in sources:
        for budget in budgets:
            plain = pdit.make_plan(prof, budget=budget)
            made = {"plain": lambda: plain,
                    "from the profile": lambda: from_profile(plain, prof.blocks.staleness),
                    "fitted on generations": lambda: fit_forecast(model, plain, calibration),
                    "segments fitted on generations": lambda: fit_forecast(model, plain, calibration,
                                                                           target="segment")}
            for variant in variants:
                yield source, budget, variant, made[variant]()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="tiny")
    ap.add_argument("--profile", default=None, help="default: the model's shipped profile")
    ap.add_argument("--prompts", required=True)
    ap.add_argument("--seeds", default="1")
    ap.add_argument("--budgets", default="0.25,0.3,0.35,0.4,0.45,0.5,0.55,0.6,0.65,0.7,0.75,0.8")
    ap.add_argument("--planner", action="store_true", help="also the planner's plans (no calibrated ones)")
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)

    import numpy as np

    import profiling_dit as pdit
    from profiling_dit.metrics import psnr

    profile = pdit.Profile.load(args.profile or pdit.shipped_profile(args.model))
    model = pdit.load_pipeline(args.model, device="cpu")
    prompts = [p.strip() for p in Path(args.prompts).read_text().splitlines() if p.strip()]
    seeds = [int(s) for s in args.seeds.split(",")]
    budgets = [float(b) for b in args.budgets.split(",")]
    cases = list(_cases(pdit, profile, prompts, seeds))
    stock = {(p, s): pdit.generate(model, g).frames for p, s, g in cases}
    rows = []
    t0 = time.perf_counter()
    variants = [v.strip() for v in args.variants.split(",")]
    for source, budget, variant, plan in _variants(pdit, model, profile, budgets, args.planner, variants):
        scores = []
        for p, s, g in cases:
            result, _ = pdit.generate_cached(model, g, {"transformer": plan})
            scores.append(psnr(stock[(p, s)], result.frames))
        rows.append({"plans": source, "budget": budget, "variant": variant, "computed_share": plan.computed_share,
                     "psnr": float(np.mean(scores)), "per_case": scores, "full_steps": list(plan.full_steps),
                     "forecast": [list(p) for p in plan.forecast] if plan.forecast else None})
        print(f"{source:10s} {budget:.2f} {variant:31s} share {plan.computed_share:.3f} "
              f"PSNR {rows[-1]['psnr']:.2f} ({time.perf_counter() - t0:.0f} s)", flush=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps({
        "command": "python benchmarks/forecast_check.py " + shlex.join(sys.argv[1:] if argv is None else argv),
        "model": args.model, "prompts": prompts, "seeds": seeds, "rows": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
