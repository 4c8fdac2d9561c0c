"""The unconditional CFG branch on its own, cheaper schedule (FasterCache's observation) against one schedule for
both branches, at equal computed share, on real generations of held-out prompts.

For each budget b the base runs the profile's plan for b on both branches. A variant runs the plan for b + d on one
branch and the plan for b − d on the other (the mean share stays b): ``uncond cheaper`` gives the unconditional
branch the smaller budget, ``cond cheaper`` the conditional one (the control). The plans are the profile's (its
calibrated ones where it holds them). Only plans that cache the same blocks are paired (the hooks' runs are the
same for both branches); the branch schedule is installed by this script, not by the library. Scored by PSNR
against stock sampling, mean over the prompts.

    python benchmarks/branch_check.py --model tiny --prompts benchmarks/prompts-tiny-held-out.txt --count 2 \\
        --seeds 1 --budgets 0.35,0.45,0.55 --offsets 0.1 --out benchmarks/results/branch-check/tiny-held-out.json
"""

from __future__ import annotations

import argparse
import contextlib
import json
from pathlib import Path


@contextlib.contextmanager
def branch_plans(model, plans: dict):
    """Install ProfilingDiT with one plan per CFG branch (``{"cond": plan, "uncond": plan}``, the same cached
    blocks) on the model's transformer; removed after."""
    from profiling_dit.caching import hooks

    cond, uncond = plans["cond"], plans["uncond"]
    if cond.cached_blocks != uncond.cached_blocks:
        raise ValueError("the branches' plans must cache the same blocks")
    caches = {name: hooks._PlanCache(plan) for name, plan in plans.items()}
    tracker = hooks._StepTrackerHook.pre_forward
    decision = hooks._plan_decision

    def pre_forward(self, module, *args, **kwargs):
        out = tracker(self, module, *args, **kwargs)
        self.state_manager.get_state().branch = hooks.CallContext.from_manager(self.state_manager).name
        return out

    def branch_decision(_plans, block):
        def decide(state, args, kwargs):
            return bool(caches[state.branch].get(state.num_steps)[state.step, block])
        return decide

    hooks._StepTrackerHook.pre_forward, hooks._plan_decision = pre_forward, branch_decision
    try:
        hooks.apply_profiling_dit(model.pipe.transformer, cond)
        yield
    finally:
        hooks.remove_profiling_dit(model.pipe.transformer)
        hooks._StepTrackerHook.pre_forward, hooks._plan_decision = tracker, decision


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="tiny")
    ap.add_argument("--prompts", required=True)
    ap.add_argument("--count", type=int, default=2)
    ap.add_argument("--seeds", default="1")
    ap.add_argument("--budgets", default="0.35,0.45,0.55")
    ap.add_argument("--offsets", default="0.1")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)

    from _held_out import held_out_cases

    import profiling_dit as pdit
    from profiling_dit._io import atomic_write_text
    from profiling_dit.metrics import psnr
    from profiling_dit.pipeline.generation import generate

    model, profile, prompts, cases, stock = held_out_cases(args.model, args.prompts, args.count, args.seeds,
                                                           args.threads)
    run = profile.run

    def score(cond, uncond) -> float:
        values = []
        for ref, g in zip(stock, cases):
            with branch_plans(model, {"cond": cond, "uncond": uncond}):
                values.append(psnr(ref, generate(model, g).frames))
        return float(sum(values) / len(values))

    def plan(budget):
        return pdit.make_plan(profile, run.steps, budget=round(budget, 4))

    rows = []
    for b in (float(x) for x in args.budgets.split(",")):
        base = plan(b)
        row = {"budget": b, "share": base.computed_share, "base_psnr": score(base, base), "variants": []}
        for d in (float(x) for x in args.offsets.split(",")):
            high, low = plan(b + d), plan(b - d)
            if high.cached_blocks != low.cached_blocks:
                row["variants"].append({"offset": d, "skipped": "the two plans cache different blocks"})
                continue
            for name, cond, uncond in (("uncond cheaper", high, low), ("cond cheaper", low, high)):
                row["variants"].append({"offset": d, "variant": name, "cond_share": cond.computed_share,
                                        "uncond_share": uncond.computed_share, "psnr": score(cond, uncond)})
        rows.append(row)
        print(json.dumps(row), flush=True)
        atomic_write_text(Path(args.out), json.dumps({"model": args.model, "prompts": prompts, "seeds": args.seeds,
                                                      "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
