"""Planning a call of another step count than the profile's: the planner on the rescaled staleness table
against the 20-step calibrated plan mapped to the new count (``map_full_steps``), on held-out cases.

    python benchmarks/steps_transfer_check.py --steps 30 --out benchmarks/results/steps-transfer-30.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--budgets", default="0.45,0.65")
    ap.add_argument("--prompts", default="benchmarks/prompts-tiny-held-out.txt")
    ap.add_argument("--seeds", default="1,2")
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)

    import dataclasses

    import profiling_dit as pdit
    from profiling_dit._io import atomic_write_text
    from profiling_dit.metrics import psnr

    model = pdit.load_pipeline("tiny", device="cpu")
    profile = pdit.Profile.load(pdit.shipped_profile("tiny"))
    prompts = [p.strip() for p in Path(args.prompts).read_text().splitlines() if p.strip()]
    gens = [pdit.GenerationSettings(prompt=p, steps=args.steps, seed=int(s)) for p in prompts for s in args.seeds.split(",")]
    stock = [pdit.generate(model, g).frames for g in gens]
    rows = []
    for budget in (float(b) for b in args.budgets.split(",")):
        planned = pdit.make_plan(dataclasses.replace(profile, plans=()), steps=args.steps, budget=budget)
        calibrated = pdit.make_plan(profile, steps=args.steps, budget=budget)  # the calibrated plan, mapped
        for name, config in (("planner at this step count", planned), ("calibrated plan, mapped", calibrated)):
            plans = {"transformer": config}
            values = [psnr(ref, pdit.generate_cached(model, g, plans)[0].frames) for g, ref in zip(gens, stock)]
            rows.append({"budget": budget, "plan": name, "computed_share": config.computed_share,
                         "full_steps": list(config.full_steps), "psnr_db": float(np.mean(values)),
                         "psnr_per_case": values})
            print(f"budget {budget}: {name:28s} share {rows[-1]['computed_share']:.3f} PSNR {rows[-1]['psnr_db']:.2f}",
                  flush=True)
    atomic_write_text(Path(args.out), json.dumps({"steps": args.steps, "cases": len(gens), "rows": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
