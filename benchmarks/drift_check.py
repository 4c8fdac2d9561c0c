"""Two block groups against whole-step plans at equal computed share, on real generations of held-out prompts.

For each budget, the base is ours' plan (calibrated, and from the profile alone). A variant takes one full step out
of the base (where the full steps are densest) and spends the block evaluations it frees on a second group of m
cached blocks, which compute on extra steps, each in the middle of the widest gap between the steps they compute
on; it computes at most the base's share. The groups: ``drift``, the m blocks whose deltas drift fastest (the last
of the staleness table's order); ``last``, the last m blocks (next to the output). ``control`` is the base with
that full step out and nothing in its place. Scored by PSNR against stock sampling, mean over the prompts.

    python benchmarks/drift_check.py --model tiny --prompts benchmarks/prompts-tiny-held-out.txt --count 2 \\
        --seeds 1 --budgets 0.3,0.4,0.5,0.6 --out benchmarks/results/drift-check/tiny-held-out.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def drift_variant(plan, order, m: int):
    """``plan`` with one interior full step out (the one with the narrowest gaps around it) and the last m cached
    blocks of ``order`` computing on extra steps, as many as the freed evaluations pay for (m = 0: none, the
    control); None if it cannot."""
    from profiling_dit.plan import Plan

    full = list(plan.full_steps)
    cached = set(plan.cached_blocks)
    drift = tuple(sorted([b for b in order if b in cached][-m:])) if m else ()
    if len(full) < 3 or len(drift) < m or m >= len(cached):
        return None
    i = min(range(1, len(full) - 1), key=lambda j: (full[j + 1] - full[j - 1], j))
    full.pop(i)
    if not m:
        return Plan(num_blocks=plan.num_blocks, steps=plan.steps, cached_blocks=plan.cached_blocks,
                    full_steps=tuple(full), origin=f"{plan.origin}, one full step out")
    extra: list[int] = []
    budget_evals = len(cached)  # freed by the removed full step
    while budget_evals >= m:
        steps = sorted(full + extra)
        width, j = max((steps[k + 1] - steps[k], -k) for k in range(len(steps) - 1))
        if width < 2:
            break
        extra.append(steps[-j] + width // 2)
        budget_evals -= m
    if not extra:
        return None
    return Plan(num_blocks=plan.num_blocks, steps=plan.steps, cached_blocks=plan.cached_blocks,
                full_steps=tuple(full), drift_blocks=drift, drift_steps=tuple(sorted(extra)),
                origin=f"{plan.origin}, {m} drifting blocks")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="tiny")
    ap.add_argument("--prompts", required=True)
    ap.add_argument("--count", type=int, default=2)
    ap.add_argument("--seeds", default="1")
    ap.add_argument("--budgets", default="0.3,0.4,0.5,0.6")
    ap.add_argument("--groups", default="2,4", help="sizes m of the drifting group")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)

    from _held_out import held_out_cases

    import profiling_dit as pdit
    from profiling_dit._io import atomic_write_text
    from profiling_dit.caching.sampling import generate_cached
    from profiling_dit.metrics import psnr

    model, profile, prompts, cases, stock = held_out_cases(args.model, args.prompts, args.count, args.seeds,
                                                           args.threads)
    run = profile.run
    order = list(profile.blocks.staleness.order)

    def score(plan) -> float:
        values = [psnr(ref, generate_cached(model, g, {"transformer": plan})[0].frames)
                  for ref, g in zip(stock, cases)]
        return float(sum(values) / len(values))

    rows = []
    for budget in (float(b) for b in args.budgets.split(",")):
        for calibrated in (True, False):
            base = pdit.make_plan(profile, run.steps, budget=budget, calibrated=calibrated)
            row = {"budget": budget, "base": "calibrated" if calibrated else "profile alone",
                   "base_share": base.computed_share, "base_full_steps": list(base.full_steps),
                   "cached": len(base.cached_blocks), "base_psnr": score(base), "variants": []}
            groups = [("control", [], 0)] + [(name, group, int(x)) for x in args.groups.split(",")
                                             for name, group in (("drift", order), ("last", range(base.num_blocks)))]
            for name, group, m in groups:
                variant = drift_variant(base, list(group), m)
                if variant is None:
                    continue
                row["variants"].append({"group": name, "m": m, "share": variant.computed_share,
                                        "full_steps": list(variant.full_steps),
                                        "drift_blocks": list(variant.drift_blocks),
                                        "drift_steps": list(variant.drift_steps), "psnr": score(variant)})
            rows.append(row)
            print(json.dumps({k: v for k, v in row.items() if k != "base_full_steps"}), flush=True)
            atomic_write_text(Path(args.out), json.dumps({"model": args.model, "prompts": prompts,
                                                          "seeds": args.seeds, "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
