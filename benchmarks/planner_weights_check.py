"""How the planner weighs each step's reuse error, checked on real generations: plans of the standard budgets
under cost variants, scored by PSNR against stock sampling on held-out prompts.

A variant ``pPqQ`` plans with the cost Σ_t |σ_{t+1} − σ_t|^Q · e(s(t), t)^P (the planner's is p1q0.5 since this
check; it was p1q0 before); ``gG`` after it multiplies step t's weight by σ_t^G (G > 0: the early steps, where
the sample is noisiest, weigh more; G < 0: the late ones); ``fF`` after that makes the last F steps compute in
full (the planner's is 1). ``calibrated`` is the profile's calibrated plans.

    python benchmarks/planner_weights_check.py --model tiny --profile src/profiling_dit/assets/profiles/tiny-wan.json \\
        --prompts benchmarks/prompts-tiny-held-out.txt --count 2 --seeds 1 \\
        --variants p1q0,calibrated,p2q0.5,p1q0.5,p2q1 --out benchmarks/results/planner-weights-check/tiny-held-out.json
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import numpy as np


def _install(variant: str, planner) -> int:
    """Make ``planner.StalenessModel`` plan with a variant's cost (``calibrated``: the planner's own); returns the
    variant's count of final full steps."""
    model = planner.StalenessModel
    if not hasattr(model, "_check_saved"):
        model._check_saved = (model.error_matrix, model.weights)
    error_matrix, _ = model._check_saved
    if variant == "calibrated":
        model.error_matrix, model.weights = model._check_saved
        return 1
    found = re.fullmatch(r"p([0-9.]+)q([0-9.]+)(?:g(-?[0-9.]+))?(?:f([0-9]+))?", variant)
    if found is None:
        raise SystemExit(f"variant {variant!r}: give pPqQ[gG][fF] (e.g. p1q0.5, p1q0.5g-0.5f2) or calibrated")
    p, q, g = float(found[1]), float(found[2]), float(found[3] or 0)

    def weights(self, steps, noise_power=0.0):  # the variant's g in place of the planner's noise_power
        w = self.sigma_weights(steps) ** q
        levels = self.noise_levels(steps)
        if g and levels is not None:
            w = w * np.maximum(levels[:-1], 1e-3) ** g
        return w

    model.error_matrix = lambda self, size, steps: error_matrix(self, size, steps) ** p
    model.weights = weights
    return int(found[4] or 1)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="tiny")
    ap.add_argument("--profile", required=True)
    ap.add_argument("--prompts", required=True, help="a file of prompts, one a line")
    ap.add_argument("--count", type=int, default=2, help="the first COUNT prompts of the file")
    ap.add_argument("--seeds", default="1")
    ap.add_argument("--variants", default="p1q0,calibrated,p1q0.5")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)

    import torch

    import profiling_dit as pdit
    from profiling_dit._io import atomic_write_text
    from profiling_dit.caching import planner
    from profiling_dit.metrics import psnr

    torch.set_num_threads(args.threads)
    model = pdit.load_pipeline(args.model, device="cpu")
    profile = pdit.load_profile(args.profile)
    run = profile.run
    prompts = [line.strip() for line in Path(args.prompts).read_text().splitlines() if line.strip()][: args.count]
    seeds = [int(s) for s in args.seeds.split(",")]
    variants = args.variants.split(",")
    scores: dict[str, list[float]] = {}
    for prompt in prompts:
        for seed in seeds:
            gen = pdit.GenerationSettings(prompt=prompt, steps=run.steps, height=run.height, width=run.width,
                                          frames=run.frames, guidance=run.guidance, seed=seed,
                                          negative_prompt=run.negative_prompt)
            reference = pdit.generate(model, gen).frames
            for variant in variants:
                final = _install(variant, planner)
                for budget in planner.STANDARD_BUDGETS:
                    plan = pdit.make_plan(profile, run.steps, budget=budget, calibrated=variant == "calibrated",
                                          final_full_steps=final)
                    frames = pdit.generate_cached(model, gen, {"transformer": plan})[0].frames
                    scores.setdefault(f"{variant}|{budget:g}", []).append(min(60.0, psnr(reference, frames)))
            print(f"{prompt!r} seed {seed}: done", flush=True)
    table = {v: [float(np.mean(scores[f"{v}|{b:g}"])) for b in planner.STANDARD_BUDGETS] for v in variants}
    out = {"command": "python benchmarks/planner_weights_check.py " + " ".join(argv or []), "model": args.model,
           "profile": args.profile, "prompts": prompts, "seeds": seeds, "budgets": list(planner.STANDARD_BUDGETS),
           "mean_psnr": table, "cases": scores}
    atomic_write_text(Path(args.out), json.dumps(out, indent=1))
    for v, row in table.items():
        print(f"{v:11s}", " ".join(f"{x:5.1f}" for x in row), f"mean {np.mean(row):.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(__import__("sys").argv[1:]))
