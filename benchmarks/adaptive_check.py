"""Does a runtime refresh check improve ours' static plans? The shipped plan for a budget, plus an EasyCache-style
check on the steps the plan reuses: the block stack's relative output change is estimated as
k · mean|x − x_prev| / mean|last output| (k measured between the last two computed steps, as EasyCache does) and
summed since the last computed step; when the sum reaches ``tau`` that step computes in full too. Ours' static
plans run beside it on the same prompts and seeds, in one bench run, so the table compares both at their
measured computed share.

    python benchmarks/adaptive_check.py --model tiny --prompts benchmarks/prompts-tiny-held-out.txt --seeds 1 \\
        --out benchmarks/results/adaptive-check-tiny-held-out

``--prompts profile`` runs on the profile's own (calibration) prompts.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

BUDGETS = (0.25, 0.3, 0.35, 0.4, 0.45, 0.5)
TAUS = (0.15, 0.3, 0.6)
_RUN = "pdit_adaptive_check"


def _apply(ctx, params) -> None:
    from diffusers.hooks.hooks import StateManager

    from profiling_dit.bench.methods._stack import install_stack
    from profiling_dit.bench.methods.easycache import _measure_rate, _State, refresh_decision
    from profiling_dit.caching.policy import make_plans

    plan = make_plans(ctx.model, ctx.profile, ctx.settings.steps, budget=params["budget"])["transformer"]
    if len(plan.cached_blocks) != plan.num_blocks:
        raise SystemExit(f"this check expects plans that cache every block; budget {params['budget']} caches "
                         f"{list(plan.cached_blocks)}")
    manager = StateManager(_State)
    full = frozenset(plan.full_steps)
    install_stack(ctx.model.pipe.transformer, _RUN, manager,
                  lambda run_id: refresh_decision(manager, full.__contains__, params["tau"]), _measure_rate)


def _remove(ctx) -> None:
    from profiling_dit.bench.methods._stack import remove_stack

    remove_stack(ctx.model.pipe.transformer, _RUN)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="tiny")
    ap.add_argument("--prompts", required=True, help="a prompts file, or `profile` for the profile's own prompts")
    ap.add_argument("--seeds", default="1")
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)

    import profiling_dit as pdit
    from profiling_dit.bench import methods
    from profiling_dit.bench.methods.base import Method
    from profiling_dit.bench.report import write_results
    from profiling_dit.bench.runner import BenchSettings, read_prompts, run_bench

    profile = pdit.load_profile(pdit.shipped_profile(args.model))
    prompts = tuple(profile.run.prompts) if args.prompts == "profile" else read_prompts(args.prompts)
    methods.METHODS["adaptive"] = Method("adaptive", "adaptive", {"budget": 0.4, "tau": 0.3},
                                         tuple({"budget": b, "tau": t} for t in TAUS for b in BUDGETS),
                                         _apply, _remove)
    model = pdit.load_pipeline(args.model)
    settings = BenchSettings(prompts=prompts, seeds=tuple(int(s) for s in args.seeds.split(",")),
                             methods=("profiling-dit", "adaptive"), sweep=True)
    results = run_bench(model, profile, settings, judge=None,
                        on_progress=lambda i, n, what: print(f"{i}/{n} {what}", flush=True))
    given = sys.argv[1:] if argv is None else argv
    command = "python " + " ".join(shlex.quote(a) for a in ["benchmarks/adaptive_check.py", *given])
    paths = write_results(results, Path(args.out), command, overwrite=True)
    print(paths["results.md"].read_text(encoding="utf-8"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
