"""Every segment's error on the finished video, against what the staleness table predicts for it.

Measure (as calibration's segment search does: every block cached, one generation per segment i → j, the mean
squared error of the video against stock sampling), then analyse: how well sums over the segment of the table's
errors rank the measured ones, and how far (in summed measured error, dB) the full steps chosen from a prediction
are from those the measured errors give, at each standard budget — the table alone under step weights
|σ_{t+1} − σ_t|^q, a per-step gain fitted on K measured segments of one prompt, and one prompt's measured errors,
each scored on every prompt.

    python benchmarks/segment_errors.py measure --model tiny \\
        --profile src/profiling_dit/assets/profiles/tiny-wan.json \\
        --out benchmarks/results/planner-weights-check/segment-errors-tiny.json \\
        "a red circle moving right over grass" "a yellow square moving left over sky" \\
        "a blue square moving left over sand"
    python benchmarks/segment_errors.py analyse --profile src/profiling_dit/assets/profiles/tiny-wan.json \\
        benchmarks/results/planner-weights-check/segment-errors-tiny.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


def measure(args) -> None:
    import torch

    import profiling_dit as pdit
    from profiling_dit._io import atomic_write_text
    from profiling_dit._progress import Counter
    from profiling_dit.caching.calibrate import _Scorer, segment_gap
    from profiling_dit.caching.planner import STANDARD_BUDGETS, segments

    torch.set_num_threads(1)
    model = pdit.load_pipeline(args.model, device="cpu")
    profile = pdit.load_profile(args.profile)
    run, steps, n = profile.run, profile.run.steps, profile.model.num_blocks
    measured = segments(steps, segment_gap(steps, STANDARD_BUDGETS, profile.blocks.staleness.max_gap))
    result: dict = {"steps": steps, "num_blocks": n, "segments": [list(s) for s in measured], "prompts": {}}
    for text in args.prompts:
        gen = pdit.GenerationSettings(prompt=text, negative_prompt=run.negative_prompt, steps=steps,
                                      height=run.height, width=run.width, frames=run.frames, guidance=run.guidance,
                                      seed=run.seed)
        scorer = _Scorer(model, [gen], Counter(1 + len(measured)), n, steps)
        errors = scorer.segment_errors(measured)
        result["prompts"][text] = [errors[s] for s in measured]
        atomic_write_text(Path(args.out), json.dumps(result))
        print(text, "done", flush=True)


def analyse(args) -> None:
    from scipy.optimize import nnls
    from scipy.stats import spearmanr

    import profiling_dit as pdit
    from profiling_dit.caching.planner import STANDARD_BUDGETS, StalenessModel, full_step_count, min_sum_path

    data = json.loads(Path(args.data).read_text())
    profile = pdit.load_profile(args.profile)
    steps, n = data["steps"], data["num_blocks"]
    model = StalenessModel(profile.blocks.staleness, n)
    E = model.error_matrix(n, steps)
    dsig = model.sigma_weights(steps)
    segs = [tuple(s) for s in data["segments"]]

    def predict(gain):  # Σ_t gain_t · e(i, t)² over the reused steps of each segment
        return {(i, j): sum(gain[t] * E[i, t] ** 2 for t in range(i + 1, j)) for i, j in segs}

    def fit(chosen, truth, knots):  # a per-step gain, piecewise linear over the knots, by relative NNLS
        basis = np.array([[np.interp(t, knots, np.eye(len(knots))[k]) for k in range(len(knots))]
                          for t in range(steps)])
        rows = [np.array([E[i, t] ** 2 if i < t < j else 0.0 for t in range(steps)]) @ basis / truth[(i, j)]
                for i, j in chosen]
        coef, _ = nnls(np.array(rows), np.ones(len(rows)))
        return basis @ coef

    def chosen(k):  # K segments: starts evenly spread, gaps 2..5 in turn
        out = []
        for m, s in enumerate(np.linspace(0, steps - 4, k).round().astype(int)):
            g = [2, 3, 4, 5][m % 4]
            while (int(s), int(s) + g) not in segs and g > 2:
                g -= 1
            out.append((int(s), int(s) + g))
        return list(dict.fromkeys(out))

    def regret(pred, truth):
        def cost(path):
            return sum(truth.get((a, c), 0.0) for a, c in zip(path, path[1:]))
        rows = []
        for b in STANDARD_BUDGETS:
            count = full_step_count(b, steps, n, n)
            rows.append(10 * np.log10(cost(min_sum_path(pred, steps, count)) / cost(min_sum_path(truth, steps, count))))
        return float(np.mean(rows))

    prompts = {t: dict(zip(segs, v)) for t, v in data["prompts"].items()}
    table = predict(np.ones(steps))
    for text, truth in prompts.items():
        keys = list(truth)
        rho = spearmanr([table[k] for k in keys], [truth[k] for k in keys]).correlation
        print(f"{text!r}: Spearman of Σ e² with the measured errors {rho:.3f}")
    candidates = {f"table, |Δσ|^{q:g}": predict(dsig ** q) for q in (0, 0.5, 1)}
    for text, truth in prompts.items():
        candidates[f"measured on {text[:20]!r}"] = truth
        for knots in (4, 5, 6):
            candidates[f"gain fit, 9 segments of {text[:20]!r}, {knots} knots"] = predict(
                fit(chosen(9), truth, np.linspace(0, steps - 1, knots)))
    print("mean over the standard budgets of the summed measured error above the measured best path, dB, scored on:",
          " | ".join(t[:20] for t in prompts))
    for name, pred in candidates.items():
        print(f"  {name:58s}", " | ".join(f"{regret(pred, truth):5.2f}" for truth in prompts.values()))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="what", required=True)
    m = sub.add_parser("measure")
    m.add_argument("--model", default="tiny")
    m.add_argument("--profile", required=True)
    m.add_argument("--out", required=True)
    m.add_argument("prompts", nargs="+")
    a = sub.add_parser("analyse")
    a.add_argument("--profile", required=True)
    a.add_argument("data")
    args = ap.parse_args(argv)
    (measure if args.what == "measure" else analyse)(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
