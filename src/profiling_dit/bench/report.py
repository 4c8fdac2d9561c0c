"""Benchmark results for people: one summary row per method × setting, a Markdown table, a speed–quality
plot, and all of it written as one set."""

from __future__ import annotations

import json
import math
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from .lead import compare_with_peers, lead_lines

# A case whose frames equal stock sampling's has infinite PSNR; it counts as this in a mean over cases. Finite PSNRs,
# above it or not, count as measured.
PSNR_IDENTICAL_DB = 60.0
# What must match, case by case, for two settings to count as the same plan (bit-identical frames give equal values).
SAME_PLAN_KEYS = ("computed_share", "psnr", "ssim", "temporal_error", "motion_ratio")
# A measured speedup this much above 1 / computed share (the most skipping blocks can give) is flagged.
SPEEDUP_BOUND_TOLERANCE = 1.05


def summarize(runs: list[dict]) -> list[dict]:
    """One row per method × setting: means over prompts × seeds (PSNR: identical cases, whose PSNR is infinite, count
    as ``PSNR_IDENTICAL_DB``; finite ones as measured), with flags for settings that skipped nothing and for measured
    speedups above what their computed share allows. Settings of one family that ran the same plan are folded into
    the first (``fold_same_plans``)."""
    groups: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for r in runs:
        groups[(r["method"], r["setting"])].append(r)
    out = []
    for (method, setting), rows in groups.items():
        ok = [r for r in rows if r["status"] == "ok"]
        if not ok:
            out.append({"method": method, "setting": setting, "status": rows[0]["status"],
                        "reason": rows[0].get("reason")})
            continue
        row: dict[str, Any] = {"method": method, "setting": setting, "status": "ok", "cases": len(ok)}
        for key in ("transformer_speedup", "wall_speedup", "computed_share", "ssim", "temporal_error",
                    "motion_ratio", "transformer_s", "wall_s"):
            row[key] = float(np.mean([r[key] for r in ok]))
        if all(r.get("lpips") is not None for r in ok):
            row["lpips"] = float(np.mean([r["lpips"] for r in ok]))
        psnrs = [r["psnr"] for r in ok]
        row["identical_cases"] = sum(math.isinf(v) for v in psnrs)
        row["psnr"] = (float("inf") if row["identical_cases"] == len(ok)
                       else float(np.mean([PSNR_IDENTICAL_DB if math.isinf(v) else v for v in psnrs])))
        judged = [r["judge_passed"] for r in ok if r.get("judge_passed") is not None]
        row["judge_passed"], row["judge_cases"] = sum(judged), len(judged)
        flags = []
        if method != "baseline" and row["computed_share"] >= 0.999:
            flags.append("skipped nothing at this setting")
        if method != "baseline" and row["computed_share"] > 0:
            bound = 1.0 / row["computed_share"]
            if row["transformer_speedup"] > bound * SPEEDUP_BOUND_TOLERANCE:
                flags.append(f"measured speedup above the {bound:.2f}x its computed share allows: timing noise")
        if 0 < row["identical_cases"] < len(ok):
            flags.append(f"{row['identical_cases']} of {len(ok)} cases identical to stock (counted as "
                         f"{PSNR_IDENTICAL_DB:.0f} dB)")
        if flags:
            row["flag"] = "; ".join(flags)
        out.append(row)
    return fold_same_plans(out, runs)


def _case_results(rows: list[dict]) -> tuple | None:
    """A setting's results case by case (sorted by prompt and seed), or None when a case did not run."""
    if any(r["status"] != "ok" for r in rows):
        return None
    # repr: NaN equals NaN and an identical case's inf equals inf
    return tuple(sorted((r["prompt"], r["seed"], *(repr(float(r[k])) for k in SAME_PLAN_KEYS)) for r in rows))


def fold_same_plans(summary: list[dict], runs: list[dict]) -> list[dict]:
    """Mark settings of one method family whose every case gave the same results as an earlier setting's (the same
    computed share, PSNR, SSIM and temporal measures on every prompt and seed: the same plan, e.g. the paper's
    inverse and average schedules when the profile suggests T_max = T_min): the later row gets ``same_plan_as``
    (shown once, under the first) and the first lists them in ``same_plan``. Baseline rows are never folded."""
    from .methods import family

    cases: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for r in runs:
        cases[(r["method"], r["setting"])].append(r)
    first: dict[tuple[str, tuple], dict] = {}
    for row in summary:
        if row["status"] != "ok" or row["method"] == "baseline":
            continue
        key = _case_results(cases[(row["method"], row["setting"])])
        if key is None:
            continue
        kept = first.setdefault((family(row["method"]), key), row)
        if kept is not row:
            row["same_plan_as"] = f"{kept['method']} ({kept['setting']})"
            kept.setdefault("same_plan", []).append(f"{row['method']} ({row['setting']})")
    return summary


def _fmt(v, spec):
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    if isinstance(v, float) and math.isinf(v):
        return "∞"
    return format(v, spec)


def _judged(row: dict) -> str:
    """'passed/judged' for the judge, '–' when no prompt could be judged."""
    return f"{row['judge_passed']}/{row['judge_cases']}" if row.get("judge_cases") else "–"


def _note(row: dict) -> str:
    notes = [row["flag"]] if row.get("flag") else []
    if row.get("same_plan"):
        notes.append(f"same plan as {', '.join(row['same_plan'])} (shown once)")
    return "; ".join(notes)


HEADERS = ("method", "setting", "transformer speedup", "wall speedup", "computed share", "PSNR dB", "SSIM", "LPIPS",
           "temporal error", "motion ratio", "judge", "note")


def table(results: dict) -> list[tuple[str, ...]]:
    """The summary as rows of text cells, in ``HEADERS`` order (Markdown and the terminal show the same)."""
    rows = []
    for r in results["summary"]:
        if r.get("same_plan_as"):
            continue  # shown once, in the row of the setting it equals
        if r["status"] != "ok":
            rows.append((r["method"], r["setting"], *["–"] * 9, f"{r['status']}: {r.get('reason')}"))
            continue
        rows.append((r["method"], r["setting"], _fmt(r["transformer_speedup"], ".2f") + "x",
                     _fmt(r["wall_speedup"], ".2f") + "x", _fmt(r["computed_share"], ".3f"), _fmt(r["psnr"], ".2f"),
                     _fmt(r["ssim"], ".4f"), _fmt(r.get("lpips"), ".4f"), _fmt(r["temporal_error"], ".4f"),
                     _fmt(r["motion_ratio"], ".3f"), _judged(r), _note(r)))
    for name, reason in results["not_applicable"].items():
        rows.append((name, "–", *["–"] * 9, f"not applicable: {reason}"))
    return rows


def header_lines(results: dict) -> list[str]:
    s = results["settings"]
    repeats = s["repeats"]
    lines = [f"{len(s['prompts'])} prompt(s) × {len(s['seeds'])} seed(s); {s['frames']} frames, "
             f"{s['height']}x{s['width']}, {s['steps']} steps, guidance {s['guidance']}; "
             + (f"median of {repeats} repeats" if repeats > 1 else "one timed run each (no repeats: speedups are "
                "single timings)") + " after a warm-up. Speedups against stock sampling of the same prompt and seed; "
             "quality against its frames (identical frames, whose PSNR is infinite, count as "
             f"{PSNR_IDENTICAL_DB:.0f} dB in a mean; finite PSNRs as measured; settings of one family that ran the "
             "same plan are shown once). "
             f"LPIPS: {results['lpips']}."]
    return lines


def to_markdown(results: dict, command: str | None = None) -> str:
    lines = []
    if command:
        lines += [f"Command: `{command}`", ""]
    lines += [*header_lines(results), "", "| " + " | ".join(HEADERS) + " |", "|" + "---|" * len(HEADERS)]
    lines += ["| " + " | ".join(row) + " |" for row in table(results)]
    lead = lead_lines(results["lead"] if "lead" in results else compare_with_peers(results))
    if lead:
        lines += ["", *lead]
    for name, variant in results.get("variant_leads", {}).items():
        if variant:
            lines += ["", f"**{name}** (ours with less calibration) against the same peers:", *lead_lines(variant)]
    lines += cost_lines(results)
    return "\n".join(lines)


def cost_lines(results: dict) -> list[str]:
    """Each method's calibration cost in generations (nothing for results made before it was recorded)."""
    costs = results.get("calibration_generations")
    if not costs:
        return []
    return ["", "Calibration cost, in generations of the benchmarked model before a method's first run (profiling "
                "runs included; 0: none): " + ", ".join(f"{name} {n}" for name, n in costs.items()) + "."]


_SHORT = {"budget": "", "background_share": "bg ", "threshold": "t ", "cache_interval": "every ", "skip_range": "skip ",
          "max_skip_steps": None}


def _point_label(row: dict) -> str:
    parts = []
    for key, value in (row.get("params") or {}).items():
        prefix = _SHORT.get(key, f"{key} ")
        if prefix is not None:
            parts.append(f"{prefix}{value:g}" if isinstance(value, float) else f"{prefix}{value}")
    return ", ".join(parts)


def pareto_plot(results: dict, path: Path) -> Path:
    """Quality against cost, one line per method: PSNR against the computed share of block evaluations (left:
    the cost that does not depend on the machine) and against the measured transformer speedup (right).
    Each point is labelled with its setting; colours are fixed per method."""
    from .._plotting import pyplot, save_figure
    from .methods import color as method_color

    plt = pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 5.2), sharey=True)
    rows = [r for r in results["summary"]
            if r["status"] == "ok" and r["method"] != "baseline" and not r.get("same_plan_as")]
    params = {(r["method"], r["setting"]): r.get("params") for r in results.get("runs", [])}
    finite = [r["psnr"] for r in rows if math.isfinite(r["psnr"])]
    cap = (max(finite) + 3) if finite else 60.0
    by_method: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        by_method[r["method"]].append({**r, "params": params.get((r["method"], r["setting"]))})
    for method, pts in sorted(by_method.items(), key=lambda kv: kv[0] != "profiling-dit"):
        color = method_color(method)
        ours = method == "profiling-dit"
        for ax, key in ((left, "computed_share"), (right, "transformer_speedup")):
            pts.sort(key=lambda r: r[key])
            xs = [r[key] for r in pts]
            ys = [min(r["psnr"], cap) for r in pts]
            ax.plot(xs, ys, "-o" if ours else "--s", color=color, label=method, lw=2.2 if ours else 1,
                    ms=5 if ours else 4,
                    zorder=3 if ours else 2)
            for x, y, r in zip(xs, ys, pts):
                text = _point_label(r)
                if text:
                    ax.annotate(text, (x, y), textcoords="offset points", xytext=(3, 3), fontsize=6, color=color)
    left.set_xlabel("computed share of block evaluations (lower is cheaper)")
    right.set_xlabel("transformer-time speedup over stock sampling (measured; noisy on a shared CPU)")
    left.set_ylabel(f"PSNR against stock frames, dB (identical capped at {cap:.0f})")
    left.invert_xaxis()
    right.axvline(1.0, color="gray", lw=0.8)
    for ax in (left, right):
        ax.grid(alpha=0.3)
    s = results.get("settings", {})
    fig.suptitle(f"Quality against cost per caching method (up and right is better); {len(s.get('prompts', []))} "
                 f"prompt(s) x {len(s.get('seeds', []))} seed(s), {s.get('steps')} steps", fontsize=10)
    handles, labels = left.get_legend_handles_labels()
    if labels:  # a bench of the baseline alone has no curve to name
        fig.legend(handles, labels, loc="lower center", ncol=min(6, len(labels)), fontsize=7, frameon=False)
    fig.tight_layout(rect=(0, 0.08, 1, 0.95))
    return save_figure(fig, path)


RESULT_FILES = ("results.json", "results.md", "pareto.png")


def check_results_folder(folder: Path, force: bool = False) -> Path:
    """``folder`` (one ``_io.check_output_folder`` has shown to take files) holds no results, unless ``force``."""
    from ..errors import OutputPathError

    if not force and (folder / "results.json").exists():  # the set's anchor; a plot or table alone is a leftover
        raise OutputPathError(f"{str(folder)!r} already holds results; pass `force` to overwrite them")
    return folder


def write_results(results: dict, folder: str | Path, command: str | None = None,
                  overwrite: bool = True) -> dict[str, Path]:
    """Write ``results.json``, ``results.md`` and ``pareto.png`` into ``folder`` as one set (staged in a
    temporary folder and moved into place together, the JSON last; without ``overwrite`` results that appeared
    meanwhile are left alone: ``FileExistsError``)."""
    from .._io import atomic_set, remove_stale_sets

    folder = Path(folder)
    remove_stale_sets(folder)
    with atomic_set(folder, overwrite) as stage:
        pareto_plot(results, stage("pareto.png"))
        stage("results.md").write_text(to_markdown(results, command) + "\n", encoding="utf-8")
        stage("results.json").write_text(json.dumps(results, indent=2, default=str) + "\n", encoding="utf-8")
    return {name: folder / name for name in RESULT_FILES}
