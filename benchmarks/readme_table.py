"""The compact view of a `pdit bench` results.json that the README shows: method, setting, computed share,
PSNR, SSIM, judge and the measured transformer speedup (results.md has every column).

    python benchmarks/readme_table.py benchmarks/results/bench-tiny-held-out/results.json
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


if __name__ == "__main__":
    with open(sys.argv[1]) as f:
        print(table(json.load(f)))
