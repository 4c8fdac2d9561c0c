"""Few steps: what the planner, calibration and the peers do at 4, 6 and 8 steps (the step counts of distilled and
LoRA models), on an embedded model and held-out prompts.

For each step count: the lowest budget a plan reaches with the shipped profile (made at 20 steps, its table
rescaled) and with a profile made at that step count on the same prompts; that profile calibrated at that step
count (the segment search and four candidates a budget, for every standard budget it reaches); then ``run_bench``
on held-out prompts with ours calibrated, ours from the profile alone, the peers, and in a second bench the shipped
profile's plans rescaled. Results: one bench folder per step count and ``summary.json`` / ``summary.md``.

    python benchmarks/few_steps.py --model tiny --prompts benchmarks/prompts-tiny-held-out.txt --seeds 1 \\
        --steps 4,6,8 --out benchmarks/results/few-steps-tiny
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

PEERS = ("baseline", "profiling-dit", "profiling-dit-profile-alone", "magcache", "teacache", "lemica",
         "first-block-cache", "taylorseer-blocks", "hicache")


def _lowest(profile, steps: int) -> float:
    from profiling_dit.caching.planner import lowest_plan

    return lowest_plan(profile.blocks.staleness, profile.model.num_blocks, steps).computed_share


def _rows(results: dict) -> list[dict]:
    return [r for r in results["summary"] if r.get("status") == "ok" and r["method"] != "baseline"]


def _best_peer_at(rows: list[dict], share: float) -> dict | None:
    """The peer point with the highest PSNR among those computing at most ``share`` (+ 0.005)."""
    peers = [r for r in rows if not r["method"].startswith("profiling-dit") and r["computed_share"] <= share + 0.005]
    return max(peers, key=lambda r: r["psnr"], default=None)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="tiny")
    ap.add_argument("--prompts", required=True, help="held-out prompts, one a line")
    ap.add_argument("--seeds", default="1")
    ap.add_argument("--steps", default="4,6,8")
    ap.add_argument("--methods", default=",".join(PEERS))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)

    import torch

    import profiling_dit as pdit
    from profiling_dit._io import atomic_write_text
    from profiling_dit.bench.runner import BenchSettings, read_prompts, run_bench
    from profiling_dit.caching.calibrate import calibrate, segment_count
    from profiling_dit.caching.planner import STANDARD_BUDGETS

    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    model = pdit.load_pipeline(args.model, device="cpu")
    shipped = pdit.load_profile(pdit.shipped_profile(args.model))
    run = shipped.run
    held_out = read_prompts(args.prompts)
    seeds = tuple(int(s) for s in args.seeds.split(","))
    summary: dict = {"model": args.model, "prompts": list(held_out), "seeds": list(seeds), "steps": {}}
    for steps in (int(s) for s in args.steps.split(",")):
        t0 = time.perf_counter()
        profile = pdit.profile_model(model, list(run.prompts), steps=steps, height=run.height, width=run.width,
                                     frames=run.frames, guidance=run.guidance, seed=run.seed,
                                     negative_prompt=run.negative_prompt, progress=False)
        low = _lowest(profile, steps)
        budgets = [b for b in STANDARD_BUDGETS if b >= low - 1e-9]
        segs = segment_count(steps, budgets, profile.blocks.staleness.max_gap)
        generations = segs + len(run.prompts) * (1 + 4 * len(budgets))
        calibrated = calibrate(model, profile, budgets=budgets, max_generations=generations, segment_search=True,
                               progress=False)
        calibrated.save(out / f"profile-{steps}steps.json", pictures=False, overwrite=True)
        common = dict(prompts=held_out, seeds=seeds, sweep=True, steps=steps, height=run.height, width=run.width,
                      frames=run.frames, guidance=run.guidance)
        bench = run_bench(model, calibrated, BenchSettings(methods=tuple(args.methods.split(",")), **common),
                          out=out / f"bench-{steps}steps", overwrite=True)
        rescaled = run_bench(model, shipped, BenchSettings(methods=("baseline", "profiling-dit-profile-alone"),
                                                           **common),
                             out=out / f"bench-{steps}steps-shipped-profile", overwrite=True)
        rows = _rows(bench)
        ours = {(r["method"], r["setting"]): r for r in rows if r["method"].startswith("profiling-dit")}
        from_shipped = {r["setting"]: r for r in _rows(rescaled)}
        table = []
        for b in STANDARD_BUDGETS:
            setting = f"budget={b:g}"
            cal, alone = ours.get(("profiling-dit", setting)), ours.get(("profiling-dit-profile-alone", setting))
            share = cal["computed_share"] if cal else None
            peer = _best_peer_at(rows, share) if share is not None else None
            table.append({
                "budget": b, "computed_share": share,
                "calibrated_psnr": cal["psnr"] if cal else None,
                "profile_alone_psnr": alone["psnr"] if alone else None,
                "shipped_rescaled_psnr": from_shipped[setting]["psnr"] if setting in from_shipped else None,
                "best_peer": None if peer is None else {k: peer[k] for k in ("method", "setting", "computed_share",
                                                                             "psnr")}})
        summary["steps"][str(steps)] = {
            "lowest_budget_own_profile": low, "lowest_budget_shipped_profile": _lowest(shipped, steps),
            "calibration_generations": generations, "segment_generations": segs, "budgets": table,
            "lead": bench.get("lead"), "seconds": time.perf_counter() - t0}
        atomic_write_text(out / "summary.json", json.dumps(summary, indent=1, default=str))
        atomic_write_text(out / "summary.md", to_markdown(summary))
        print(f"{steps} steps done in {time.perf_counter() - t0:.0f} s", flush=True)
    return 0


def _db(value) -> str:
    if value is None:
        return "—"
    return "identical" if math.isinf(value) else f"{value:.1f}"


def to_markdown(summary: dict) -> str:
    lines = [f"Few steps on `{summary['model']}`: PSNR (dB) against stock sampling at the same step count, mean over "
             f"{len(summary['prompts'])} held-out prompts × seeds {summary['seeds']}. Best peer: the highest PSNR "
             "among the peers' points computing at most ours' share.", ""]
    for steps, entry in summary["steps"].items():
        lines += [f"**{steps} steps**: lowest budget reached {entry['lowest_budget_own_profile']:.2f} with a profile "
                  f"made at {steps} steps, {entry['lowest_budget_shipped_profile']:.2f} with the shipped 20-step "
                  f"profile; calibration took {entry['calibration_generations']} generations "
                  f"({entry['segment_generations']} for the segment search).", "",
                  "| budget | share | ours, calibrated | ours, profile alone | shipped profile, rescaled | best peer |",
                  "|---|---|---|---|---|---|"]
        for row in entry["budgets"]:
            if row["computed_share"] is None and row["shipped_rescaled_psnr"] is None:
                lines.append(f"| {row['budget']:g} | out of reach | | | | |")
                continue
            peer = row["best_peer"]
            shown = (f"{_db(peer['psnr'])} ({peer['method']} {peer['setting']}, share {peer['computed_share']:.2f})"
                     if peer else "none at this share")
            share = f"{row['computed_share']:.2f}" if row["computed_share"] is not None else "—"
            lines.append(f"| {row['budget']:g} | {share} | {_db(row['calibrated_psnr'])} | "
                         f"{_db(row['profile_alone_psnr'])} | {_db(row['shipped_rescaled_psnr'])} | {shown} |")
        lead = entry.get("lead") or {}
        front = lead.get("frontier") or {}
        if front.get("median_ratio") is not None:
            beaten = sum(p["beaten"] for p in lead.get("points", []))
            lines += ["", f"Ours calibrated against the peers' frontier: compute at equal quality, median "
                          f"{front['median_ratio']:.2f} (worst {front['worst_ratio']:.2f}); peer points in shares "
                          f"{lead['share_range']} matched or beaten: {beaten} of {len(lead.get('points', []))}; "
                          f"inversions: {len(lead.get('inversions', []))}."]
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
