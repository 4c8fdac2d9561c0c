"""How far ours leads (or trails) the other methods in a bench: for every peer point, whether ours has a point of
no more than its computed share (plus a tolerance) with a higher PSNR, what share ours needs for the same PSNR
(``compute_ratio``: ours' share over the peer's; 0.8 means ours needs 20% less compute at equal quality), and
whether ours' own curve inverts (a larger budget scoring lower) by more than its case-to-case spread."""

from __future__ import annotations

import math
import statistics
from collections import defaultdict

OURS = "profiling-dit"
# Ours with less calibration than the profile holds, each compared with the peers as ours is: the plans from the
# profile alone, and its measurements lightly calibrated.
OURS_VARIANTS = ("profiling-dit-profile-alone", "profiling-dit-light")
# Peer points compared: computed shares in this range (outside it a curve is mostly extrapolated).
SHARE_RANGE = (0.25, 0.8)
# Ours may spend this much more computed share than the peer point it is compared with.
SHARE_TOLERANCE = 0.03
# Methods that are not peers: stock sampling, and variants of ours.
NOT_PEERS = ("baseline",)


def _points(summary: list[dict], method_ok, shown_once: bool = True) -> list[dict]:
    """The rows compared: finite PSNR and something skipped; with ``shown_once``, a plan another setting of the
    family ran too only once (ours' variants keep every point of their own, whichever ran the plan first)."""
    return [r for r in summary if r["status"] == "ok" and not (shown_once and r.get("same_plan_as"))
            and method_ok(r["method"]) and math.isfinite(r["psnr"]) and r["computed_share"] < 0.999]


def _share_for(curve: list[tuple[float, float]], quality: float) -> float | None:
    """The least share at which a curve of (share, PSNR) points reaches ``quality``, interpolating linearly between
    its upper envelope's points (the best PSNR at each share or below); None when it never does."""
    best, envelope = -math.inf, []
    for share, psnr in sorted(curve):
        if psnr > best:
            best = psnr
            envelope.append((share, psnr))
    if not envelope or envelope[-1][1] < quality:
        return None
    if envelope[0][1] >= quality:
        return envelope[0][0]
    for (s0, q0), (s1, q1) in zip(envelope, envelope[1:]):
        if q1 >= quality:
            return s0 + (s1 - s0) * (quality - q0) / (q1 - q0)
    return None  # not reached (guarded above)


def compare_with_peers(results: dict, ours: str = OURS) -> dict:
    """Ours against every peer point of a bench's results (``results["summary"]`` and ``results["runs"]``).

    Returns ``{"points": [...], "losses": [...], "frontier": {...}, "inversions": [...]}``: each peer point in
    ``SHARE_RANGE`` with ``beaten`` (ours has a point of share at most the peer's + ``SHARE_TOLERANCE`` with higher
    PSNR), ``gap_db`` (ours' best PSNR within that share minus the peer's) and ``compute_ratio`` (ours' share for the
    peer's PSNR, interpolated on ours' curve, over the peer's share; None when ours never reaches it); ``losses``
    the points not beaten; ``frontier`` the ratio's median and worst over the peers' Pareto frontier (the points no
    other peer point beats at once on share and PSNR: the best peer at each quality); ``inversions`` the pairs of
    ours' consecutive budgets where the larger scores lower, with the per-case standard deviation of the paired
    difference and whether the drop exceeds it. Empty when the bench has no curve of ours or no peer."""
    from .methods import family  # the adapters import torch: only when a lead is computed

    summary = results.get("summary", [])
    ours_rows = sorted(_points(summary, lambda m: m == ours, shown_once=False), key=lambda r: r["computed_share"])
    ours_family = family(ours)
    peers = _points(summary, lambda m: m not in NOT_PEERS and family(m) != ours_family)
    if not ours_rows or not peers:
        return {}
    curve = [(r["computed_share"], r["psnr"]) for r in ours_rows]
    lo, hi = SHARE_RANGE
    points = []
    for p in sorted(peers, key=lambda r: (r["method"], r["computed_share"])):
        share, quality = p["computed_share"], p["psnr"]
        if not lo <= share <= hi:
            continue
        within = [q for s, q in curve if s <= share + SHARE_TOLERANCE]
        best = max(within) if within else None
        needed = _share_for(curve, quality)
        points.append({"method": p["method"], "setting": p["setting"], "computed_share": share, "psnr": quality,
                       "beaten": best is not None and best > quality,
                       "gap_db": None if best is None else best - quality,
                       "ours_share_at_equal_psnr": needed,
                       "compute_ratio": None if needed is None else needed / share})
    frontier = [p for p in points if not any(
        q is not p and q["computed_share"] <= p["computed_share"] and q["psnr"] >= p["psnr"]
        and (q["computed_share"], q["psnr"]) != (p["computed_share"], p["psnr"]) for q in points)]
    ratios = [p["compute_ratio"] for p in frontier if p["compute_ratio"] is not None]
    return {"ours": ours, "share_range": list(SHARE_RANGE), "share_tolerance": SHARE_TOLERANCE, "points": points,
            "losses": [p for p in points if not p["beaten"]],
            "frontier": {"points": [f"{p['method']} ({p['setting']})" for p in frontier],
                         "median_ratio": statistics.median(ratios) if ratios else None,
                         "worst_ratio": max(ratios) if ratios else None,
                         "unreached": sum(p["compute_ratio"] is None for p in frontier)},
            "inversions": _inversions(results.get("runs", []), ours_rows, ours)}


def _inversions(runs: list[dict], rows: list[dict], ours: str) -> list[dict]:
    per_case: dict[str, dict[tuple, float]] = defaultdict(dict)
    for r in runs:
        if r.get("method") == ours and r.get("status") == "ok" and r.get("psnr") is not None:
            per_case[r["setting"]][(r["prompt"], r["seed"])] = min(float(r["psnr"]), 60.0)
    found = []
    for a, b in zip(rows, rows[1:]):
        if b["psnr"] >= a["psnr"]:
            continue
        cases = sorted(set(per_case[a["setting"]]) & set(per_case[b["setting"]]))
        diffs = [per_case[b["setting"]][c] - per_case[a["setting"]][c] for c in cases]
        spread = statistics.pstdev(diffs) if len(diffs) > 1 else 0.0
        drop = a["psnr"] - b["psnr"]
        found.append({"from": a["setting"], "to": b["setting"], "drop_db": drop, "per_case_spread_db": spread,
                      "cases_lower": sum(d < 0 for d in diffs), "cases": len(diffs), "larger_than_spread":
                          drop > spread})
    return found


def lead_lines(lead: dict) -> list[str]:
    """The comparison in a few Markdown lines (nothing when there is none)."""
    if not lead:
        return []
    lo, hi = lead["share_range"]
    n, losses = len(lead["points"]), lead["losses"]
    lines = [f"Ours against the peers' {n} points with computed share in [{lo:g}, {hi:g}]: "
             + (f"ours has a point of no more than their share + {lead['share_tolerance']:g} with higher PSNR for "
                "every one." if not losses else
                f"ours beats {n - len(losses)}; it loses to "
                + "; ".join(f"{p['method']} ({p['setting']}, share {p['computed_share']:.3f}: "
                            + ("no point of ours that cheap" if p["gap_db"] is None else
                               f"{-p['gap_db']:.2f} dB behind") + ")" for p in losses) + ".")]
    f = lead["frontier"]
    if f["median_ratio"] is not None:
        lines.append(f"Compute at equal quality against the best peer (its Pareto frontier: {', '.join(f['points'])}):"
                     f" ours needs {f['median_ratio']:.2f}x its computed share at the median point, "
                     f"{f['worst_ratio']:.2f}x at the worst" + (f"; {f['unreached']} frontier point(s) above ours' "
                                                                  "best PSNR" if f["unreached"] else "") + ".")
    inv = lead["inversions"]
    lines.append("Ours' curve: " + ("no inversion." if not inv else "; ".join(
        f"{i['from']} → {i['to']} drops {i['drop_db']:.2f} dB ({i['cases_lower']} of {i['cases']} cases lower; "
        f"per-case spread {i['per_case_spread_db']:.2f} dB{', larger than it' if i['larger_than_spread'] else ''})"
        for i in inv) + "."))
    return lines
