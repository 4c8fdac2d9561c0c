"""What calibration gains by trying the planner's cost variants as candidates, from two runs of
``planner_weights_check.py`` on the same variants: one on a profiling prompt (what calibration sees), one on held-out
prompts. For each budget the variant that scored best on the profiling prompt is chosen (the earlier of the
variants on a tie, the planner's own first), and its held-out score is set beside the planner's.

    python benchmarks/candidates_check.py benchmarks/results/planner-weights-check/tiny-profile-prompt.json \\
        benchmarks/results/planner-weights-check/tiny-held-out-structure.json [--among p1q0.5,p1q0.5g-0.5,p1q0.5f2] \
        [--budgets 0.4,0.5,0.6]

``--among`` chooses among these variants only, the planner's first (calibration's candidates in its order);
``--budgets``: the budgets shown.
"""

from __future__ import annotations

import argparse
import json

import numpy as np


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("profiling")
    ap.add_argument("held_out")
    ap.add_argument("--among", default="", help="the variants to choose among, the planner's first (default: all)")
    ap.add_argument("--budgets", default="", help="the budgets to show (default: all)")
    args = ap.parse_args(argv)
    seen, held = (json.load(open(f)) for f in (args.profiling, args.held_out))
    variants = args.among.split(",") if args.among else list(held["mean_psnr"])
    if any(v not in seen["mean_psnr"] or v not in held["mean_psnr"] for v in variants):
        raise SystemExit(f"both runs must have the variants {variants}")
    budgets = held["budgets"]
    shown = [float(b) for b in args.budgets.split(",")] if args.budgets else budgets
    rows = ["| budget | " + " | ".join(f"{v}, held-out" for v in variants) + " | chosen on the profiling prompt "
            "| held-out: chosen − planner |", "|---" * (len(variants) + 3) + "|"]
    gains = []
    for i, b in enumerate(budgets):
        if not any(abs(b - x) < 1e-9 for x in shown):
            continue
        pick = max(variants, key=lambda v: (seen["mean_psnr"][v][i], -variants.index(v)))
        gain = held["mean_psnr"][pick][i] - held["mean_psnr"][variants[0]][i]
        gains.append(gain)
        cells = " | ".join(f"{held['mean_psnr'][v][i]:.2f}" for v in variants)
        rows.append(f"| {b:g} | {cells} | {pick} | {gain:+.2f} |")
    print("\n".join(rows))
    print(f"\nmean gain {np.mean(gains):+.2f} dB over {len(gains)} budgets (best {max(gains):+.2f}, worst "
          f"{min(gains):+.2f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
