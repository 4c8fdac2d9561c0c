"""The light calibration beside ours calibrated and from the profile alone, on each held-out set: the light bench
(``bench-…-light``, run after the light calibration changed) against the full bench of the same set. Prints the
PSNR at the budgets it calibrates, then its lead over the full bench's peer points (its rows in place of the full
bench's older light rows).

    python benchmarks/light_check.py
"""

from __future__ import annotations

import json
from pathlib import Path

from profiling_dit.bench.lead import compare_with_peers, lead_lines
from profiling_dit.bench.methods.ours import LIGHT_BUDGETS

RESULTS = Path(__file__).resolve().parent / "results"
SETS = [("8 blocks, set 1", "bench-tiny-held-out"), ("8 blocks, set 2", "bench-tiny-held-out-2"),
        ("20 blocks, set 1", "bench-tiny-deep-held-out"), ("20 blocks, set 2", "bench-tiny-deep-held-out-2")]
LIGHT = "profiling-dit-light"


def _psnr(results: dict, method: str) -> dict[str, float]:
    return {r["setting"]: r["psnr"] for r in results["summary"] if r["method"] == method and r["status"] == "ok"}


def _with_light(full: dict, light: dict) -> dict:
    """The full bench with the light bench's rows of ours lightly calibrated in place of its own."""
    return {**full, **{key: [r for r in full[key] if r["method"] != LIGHT] + [r for r in light[key]
                                                                              if r["method"] == LIGHT]
                       for key in ("summary", "runs")}}


def main() -> int:
    rows = ["| held-out prompts | budget | ours calibrated, PSNR dB | from the profile alone | lightly calibrated "
            "(10 generations) | light − profile alone |", "|---|---|---|---|---|---|"]
    leads = []
    for name, folder in SETS:
        full = json.loads((RESULTS / folder / "results.json").read_text())
        light = json.loads((RESULTS / f"{folder}-light" / "results.json").read_text())
        cal, alone, lit = _psnr(full, "profiling-dit"), _psnr(full, "profiling-dit-profile-alone"), _psnr(light, LIGHT)
        for b in LIGHT_BUDGETS:
            k = f"budget={b:g}"
            rows.append(f"| {name} | {b:g} | {cal[k]:.2f} | {alone[k]:.2f} | {lit[k]:.2f} | {lit[k] - alone[k]:+.2f} |")
        leads.append(f"{name}: " + " ".join(lead_lines(compare_with_peers(_with_light(full, light), LIGHT))))
    print("\n".join(rows) + "\n\n" + "\n\n".join(leads))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
