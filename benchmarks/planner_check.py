"""Which staleness proxy ranks plans the way real generations do (the planner's cost, chosen by measurement).

On the embedded model: a profile of the two profiling prompts gives the staleness table; then plans of
several kinds (the planner's under four proxy variants, random full-step sets, smaller cached sets, a
MagCache-like plan, the paper's schedule) at computed shares 0.4, 0.5 and 0.6 run on held-out prompts,
and PSNR against stock sampling is compared with each proxy's predicted error (Spearman rank correlation,
within each share, and the PSNR of the plan each proxy picks).

    python benchmarks/planner_check.py --out benchmarks/results/planner-check.json
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np

VARIANTS = {  # name: (weights, relative)
    "sigma-weighted absolute": ("sigma", False),
    "uniform absolute": ("uniform", False),
    "sigma-weighted relative": ("sigma", True),
    "uniform relative": ("uniform", True),
}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--prompts", type=int, default=4, help="held-out prompts (seed 0)")
    ap.add_argument("--random", type=int, default=3, help="random plans per share")
    args = ap.parse_args(argv)

    import profiling_dit as pdit
    from profiling_dit._io import atomic_write_text
    from profiling_dit.caching.planner import (StalenessModel, _place_full_steps, full_step_count, plan_cost,
                                                  segment_costs)
    from profiling_dit.metrics import psnr
    from profiling_dit.embedded.synthetic import split_scenes

    t0 = time.time()
    model = pdit.load_pipeline("tiny", device="cpu")
    steps, n = 20, 8
    profile = pdit.profile_model(model, ["a red circle moving right over grass", "a blue square moving left over sand"])
    sm = StalenessModel(profile.blocks.staleness, n)
    held = split_scenes()[1]
    prompts = [held[i * len(held) // args.prompts].prompt for i in range(args.prompts)]
    gens = [pdit.GenerationSettings(prompt=p, steps=steps) for p in prompts]
    stock = [pdit.generate(model, g).frames for g in gens]

    def cost_inputs(variant, k):
        kind, relative = VARIANTS[variant]
        err = sm.error_matrix(k, steps)
        if relative:
            scale = np.array([np.nan if v is None else v for v in profile.blocks.staleness.set_of(k).scale], float)
            err = err / scale[None, :]
        w = sm.sigma_weights(steps) if kind == "sigma" else np.ones(steps)
        return err, w

    def predicted(variant, k, full):
        return plan_cost(*cost_inputs(variant, k), full)

    def planned(variant, k, share):
        placed = _place_full_steps(segment_costs(*cost_inputs(variant, k)), full_step_count(share, steps, n, k), 1)
        return None if placed is None else placed[1]

    rng = np.random.default_rng(0)
    plans = []  # (label, share target, k, full steps)
    for share in (0.4, 0.5, 0.6):
        for v in VARIANTS:
            plans.append((f"planner: {v}", share, n, planned(v, n, share)))
        for k in (6, 4):
            f = planned("sigma-weighted absolute", k, share)
            if f is not None:
                plans.append((f"planner, {k} blocks cached", share, k, f))
        reuse = math.ceil((1 - share) * steps)
        for i in range(args.random):
            middle = rng.choice(np.arange(1, steps - 1), size=steps - reuse - 2, replace=False)
            plans.append((f"random {i}", share, n, tuple(sorted({0, steps - 1, *map(int, middle)}))))
    # MagCache-like: every block cached, full steps 0..2 then every other step (share 0.6)
    plans.append(("warm-up 3, every 2nd step", 0.6, n, tuple(sorted({0, 1, 2, *range(4, steps, 2), steps - 1}))))
    rows, measured = [], {}
    order = profile.blocks.staleness.order
    for label, share, k, full in plans:
        if full is None:
            continue
        key = (k, tuple(full))
        if key not in measured:  # the same plan under two labels runs once
            config = {"transformer": pdit.Plan(num_blocks=n, steps=steps, cached_blocks=tuple(order[:k]),
                                               full_steps=full)}
            values = [psnr(ref, pdit.generate_cached(model, g, config)[0].frames) for g, ref in zip(gens, stock)]
            measured[key] = (values, config["transformer"].computed_share)
        values, plan_share = measured[key]
        rows.append({"plan": label, "target_share": share, "computed_share": plan_share, "cached": k,
                     "full_steps": list(full), "psnr_db": float(np.mean(values)), "psnr_per_prompt": values,
                     "predicted": {v: predicted(v, k, set(full)) for v in VARIANTS}})
        print(f"{label:40s} share {plan_share:.3f} k {k} PSNR {np.mean(values):.2f}", flush=True)

    def spearman(a, b):
        ra, rb = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
        return float(np.corrcoef(ra, rb)[0, 1])

    summary = {}
    for v in VARIANTS:
        per_share = {}
        for share in (0.4, 0.5, 0.6):
            group = list({(r["cached"], tuple(r["full_steps"])): r for r in rows if r["target_share"] == share}.values())
            per_share[str(share)] = spearman([r["predicted"][v] for r in group], [-r["psnr_db"] for r in group])
        summary[v] = {"spearman_within_share": per_share,
                      "mean_spearman": float(np.mean(list(per_share.values()))),
                      "psnr_of_its_plans": {str(s): next(r["psnr_db"] for r in rows if r["plan"] == f"planner: {v}"
                                                         and r["target_share"] == s) for s in (0.4, 0.5, 0.6)}}
    result = {"command": "python benchmarks/planner_check.py " + " ".join(argv or []), "prompts": prompts,
              "rows": rows, "summary": summary, "seconds": time.time() - t0}
    atomic_write_text(Path(args.out), json.dumps(result, indent=1) + "\n")
    print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
