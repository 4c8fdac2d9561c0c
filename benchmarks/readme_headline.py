"""The README's headline, generated from the results files so no number in it is kept by hand: one row per bench
of ours against every other method on held-out prompts, then one line of measured speed.

    python benchmarks/readme_headline.py           # print the block
    python benchmarks/readme_headline.py --write   # replace it in README.md, between its two markers

tests/test_readme.py checks that README.md holds exactly what this prints.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
START, END = "<!-- headline: made by benchmarks/readme_headline.py -->", "<!-- headline end -->"
# (model, which prompts, results folder, the make target that made it[, which of ours])
BENCHES = [
    ("8 blocks", "held-out set 1", "bench-tiny-held-out", "make bench-peers"),
    ("8 blocks", "held-out set 2", "bench-tiny-held-out-2", "make bench-peers"),
    ("20 blocks", "held-out set 1", "bench-tiny-deep-held-out", "make bench-peers-deep"),
    ("20 blocks", "held-out set 2", "bench-tiny-deep-held-out-2", "make bench-peers-deep"),
    ("8 blocks, from the profile alone", "held-out set 1", "bench-tiny-held-out", "make bench-peers",
     "profiling-dit-profile-alone"),
    ("20 blocks, from the profile alone", "held-out set 1", "bench-tiny-deep-held-out", "make bench-peers-deep",
     "profiling-dit-profile-alone"),
]
SHARE = 0.5  # the share the table shows ours and the best other method at


def _at_share(results: dict, tolerance: float, name: str) -> tuple[dict, dict | None]:
    """Ours' (``name``'s) point at ``SHARE``, and the best other method's point at no more than ``SHARE`` +
    tolerance."""
    rows = [r for r in results["summary"] if r["status"] == "ok" and (r["method"] == name or not r.get("same_plan_as"))]
    ours = min((r for r in rows if r["method"] == name), key=lambda r: abs(r["computed_share"] - SHARE))
    peers = [r for r in rows if r["method"] != "baseline" and not r["method"].startswith("profiling-dit")
             and r["computed_share"] <= SHARE + tolerance]
    return ours, max(peers, key=lambda r: r["psnr"], default=None)


def bench_row(model: str, prompts: str, folder: str, target: str, name: str = "profiling-dit") -> str:
    results = json.loads((RESULTS / folder / "results.json").read_text())
    lead = results["lead"] if name == "profiling-dit" else results["variant_leads"][name]
    ours, best = _at_share(results, lead["share_tolerance"], name)
    peer = "–" if best is None else f"{best['psnr']:.1f} ({best['method']}, {best['setting']})"
    n, lost = len(lead["points"]), len(lead["losses"])
    frontier = lead["frontier"]
    ratio = "–" if frontier["median_ratio"] is None else (
        f"{frontier['median_ratio']:.2f} ({frontier['worst_ratio']:.2f})")
    methods = len([m for m in results["settings"]["methods"] if m != "baseline" and not m.startswith("profiling-dit")])
    cases = len(results["settings"]["prompts"]) * len(results["settings"]["seeds"])
    return (f"| {model} | {prompts}, {cases} cases, {methods} other methods (`{target}`) | {ours['psnr']:.1f} | {peer} "
            f"| {n - lost} of {n} | {ratio} |")


def speed_line() -> str:
    cpu = json.loads((RESULTS / "cache-tiny-cpu.json").read_text())
    rows = cpu["rows"]
    share = rows[0]["computed_share"]
    t = sorted(r["transformer_speedup"] for r in rows)
    e = sorted(r["total_speedup"] for r in rows)
    gpu = json.loads((RESULTS / "gpu-h100-wan2.1-1.3b-random-480p81f.json").read_text())
    a = gpu["args"]
    return (f"Speed at share {share:.2f}: the 8-block model's transformer ran {t[0]:.2f}–{t[-1]:.2f}× faster than "
            f"stock sampling, {e[0]:.2f}–{e[-1]:.2f}× end to end (2 CPU cores, medians of "
            f"{cpu['settings']['repeats']}, "
            f"`make bench`). On one H100 the Wan2.1-1.3B transformer with random weights ({a['frames']} × "
            f"{a['height']} × {a['width']}, {a['steps']} steps, the paper's schedule at share "
            f"{gpu['cached']['computed_share']:.2f}, `benchmarks/gpu_wan_1_3b.py`, an earlier version of the code) "
            f"ran {gpu['cached']['transformer_speedup']:.2f}× faster, "
            f"{gpu['cached_compiled']['speedup_vs_stock_eager']:.2f}× with `--compile`.")


def headline() -> str:
    head = [START,
            f"| model | prompts the profile never saw | ours at share {SHARE:g}: PSNR dB | the best other method at "
            "no more share: PSNR dB | other methods' points (shares 0.25–0.8) ours matches or beats | ours' compute "
            "at equal quality over the best other method's: median (worst) |",
            "|---|---|---|---|---|---|"]
    return "\n".join(head + [bench_row(*b) for b in BENCHES] + ["", speed_line(), END])


def replace_block(text: str, block: str) -> str:
    before, rest = text.split(START, 1)
    _, after = rest.split(END, 1)
    return before + block + after


if __name__ == "__main__":
    block = headline()
    if "--write" in sys.argv[1:]:
        readme = ROOT / "README.md"
        readme.write_text(replace_block(readme.read_text(), block))
    else:
        print(block)
