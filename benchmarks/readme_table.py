"""The compact views of a `pdit bench` results.json that the README and docs/results.md show: every row
(method, setting, computed share, PSNR, SSIM, judge, measured transformer speedup; results.md has every column),
or with --headline ours' points each beside the best other method's point at no more computed share (+0.03),
then the lead (bench/lead.py).

    python benchmarks/readme_table.py benchmarks/results/bench-tiny-held-out/results.json [--headline]
"""

from __future__ import annotations

import json
import math
import sys


def table(results: dict) -> str:
    rows = ["| method | setting | computed share | PSNR dB | SSIM | judge | measured transformer speedup |",
            "|---|---|---|---|---|---|---|"]
    for r in results["summary"]:
        if r["status"] != "ok" or r["method"] == "baseline":
            continue
        psnr = "∞" if math.isinf(r["psnr"]) else f"{r['psnr']:.2f}"
        name = f"**{r['method']}**" if r["method"] == "profiling-dit" else r["method"]
        judged = f"{r['judge_passed']}/{r['judge_cases']}" if r.get("judge_cases") else "–"
        rows.append(f"| {name} | {r['setting']} | {r['computed_share']:.3f} | {psnr} | {r['ssim']:.3f} | {judged} | "
                    f"{r['transformer_speedup']:.2f}x |")
    for name, reason in results["not_applicable"].items():
        rows.append(f"| {name} | – | – | – | – | – | not applicable: {reason.split(';')[0]} |")
    return "\n".join(rows)


def _judged(r: dict) -> str:
    return f" ({r['judge_passed']}/{r['judge_cases']})" if r.get("judge_cases") else ""


def headline(results: dict) -> str:
    from profiling_dit.bench.lead import SHARE_TOLERANCE, compare_with_peers, lead_lines

    rows = [r for r in results["summary"] if r["status"] == "ok" and not r.get("same_plan_as")]
    ours = sorted((r for r in rows if r["method"] == "profiling-dit"), key=lambda r: r["computed_share"])
    peers = [r for r in rows if r["method"] not in ("baseline",) and not r["method"].startswith("profiling-dit")
             and r["computed_share"] < 0.999]
    out = ["| ours: budget | share computed | PSNR dB (judge) | the best other method at no more share (+0.03) | its "
           "share | PSNR dB (judge) |", "|---|---|---|---|---|---|"]
    for r in ours:
        near = [p for p in peers if p["computed_share"] <= r["computed_share"] + SHARE_TOLERANCE]
        best = max(near, key=lambda p: p["psnr"]) if near else None
        theirs = ("none that cheap", "–", "–") if best is None else (
            f"{best['method']}, {best['setting']}", f"{best['computed_share']:.3f}",
            f"{best['psnr']:.2f}{_judged(best)}")
        mark = "**" if best is None or r["psnr"] > best["psnr"] else ""
        out.append(f"| {r['setting'].split('=')[-1]} | {r['computed_share']:.3f} | {mark}{r['psnr']:.2f}{mark}"
                   f"{_judged(r)} | " + " | ".join(theirs) + " |")
    return "\n".join(out + [""] + lead_lines(compare_with_peers(results)))


if __name__ == "__main__":
    with open(sys.argv[1]) as f:
        data = json.load(f)
    print(headline(data) if "--headline" in sys.argv[2:] else table(data))
