"""``pdit bench``: caching methods side by side against stock sampling, in one run.

For every prompt × seed, the baseline (stock sampling) runs first; every method and setting then
runs on the same prompt and seed, and is compared with the baseline's frames: PSNR and SSIM
(scikit-image), a temporal error and motion ratio (frame-to-frame changes against the baseline's),
for prompts of the synthetic generator's form ("a red circle moving left over grass") whether the
video passes its judge (right colour, direction and background: quality against ground truth, not
against the baseline), and speed (median over repeats after a warm-up; transformer time and wall time; speedup). The
*computed share* counts the self-attention evaluations that really ran (a counting wrapper around
each block's self-attention processor) against the baseline's: a method whose share is 1 skipped
nothing and is flagged, never silently reported as a speed point.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from .errors import InvalidSettingError
from .generation import GenerationSettings, generate
from .loading import LoadedModel
from .metrics import LPIPS_UNAVAILABLE, motion_ratio, psnr, ssim, temporal_error
from .peers import METHODS, NotApplicable, RunContext, label
from .synthetic import judge, scene_from_prompt


@dataclass(frozen=True)
class BenchSettings:
    prompts: tuple[str, ...]
    seeds: tuple[int, ...] = (0,)
    methods: tuple[str, ...] = tuple(METHODS)
    sweep: bool = False
    repeats: int = 1
    steps: int = 20
    height: int = 128
    width: int = 128
    frames: int = 17
    guidance: float = 5.0
    image: str | None = None  # first frame, for image-to-video models

    def __post_init__(self):
        unknown = [m for m in self.methods if m not in METHODS]
        if unknown:
            raise InvalidSettingError(f"unknown method(s) {', '.join(unknown)}; choose from {', '.join(METHODS)}")
        if not self.prompts:
            raise InvalidSettingError("--prompts is empty")
        if not self.seeds:
            raise InvalidSettingError("--seeds is empty")
        if self.repeats < 1:
            raise InvalidSettingError("--repeats must be >= 1")
        # the baseline runs first: every other method is compared with its frames and times
        object.__setattr__(self, "methods", ("baseline", *[m for m in self.methods if m != "baseline"]))

    def generation(self, prompt: str, seed: int) -> GenerationSettings:
        return GenerationSettings(prompt=prompt, seed=seed, steps=self.steps, height=self.height, width=self.width,
                                  frames=self.frames, guidance=self.guidance, image=self.image)


class _CountingProcessor:
    def __init__(self, inner, counter: list):
        self.inner, self.counter = inner, counter

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def __call__(self, *args, **kwargs):
        self.counter[0] += 1
        return self.inner(*args, **kwargs)


class count_self_attention:
    """Count the self-attention evaluations that really run (installed before any caching method)."""

    def __init__(self, model: LoadedModel):
        self.model, self.counter, self._orig = model, [0], []

    def __enter__(self):
        for name in self.model.experts:
            for block in self.model.arch.blocks(getattr(self.model.pipe, name)):
                attn = getattr(block, self.model.arch.self_attention)
                self._orig.append((attn, attn.processor))
                attn.set_processor(_CountingProcessor(attn.processor, self.counter))
        return self.counter

    def __exit__(self, *exc):
        for attn, proc in self._orig:
            attn.set_processor(proc)
        return False


def plan_runs(bs: BenchSettings) -> int:
    per_case = sum(len(METHODS[m].settings(bs.sweep)) * bs.repeats for m in bs.methods)
    calibrations = sum(1 for m in bs.methods if METHODS[m].calibrate is not None)
    return per_case * len(bs.prompts) * len(bs.seeds) + calibrations + 1


def run_bench(model: LoadedModel, profile: dict | None, bs: BenchSettings,
              on_progress: Callable[[int, int, str], None] | None = None) -> dict:
    """Run every method × setting × prompt × seed; return the results dict (see ``to_markdown``)."""
    total = plan_runs(bs)
    done = [0]

    def tick(what: str):
        done[0] += 1
        if on_progress:
            on_progress(done[0], total, what)

    first = bs.generation(bs.prompts[0], bs.seeds[0])
    generate(model, GenerationSettings(prompt=first.prompts[0], steps=2, height=bs.height, width=bs.width,
                                       frames=bs.frames, guidance=bs.guidance, image=bs.image))  # warm-up
    tick("warm-up")
    calib_ctx: dict[str, RunContext] = {}
    not_applicable: dict[str, str] = {}
    runs: list[dict] = []

    for prompt in bs.prompts:
        for seed in bs.seeds:
            gen = bs.generation(prompt, seed)
            scene = scene_from_prompt(prompt)
            ref = None
            base_tr = base_wall = base_count = None
            for name in bs.methods:
                method = METHODS[name]
                ctx = RunContext(model, gen, profile, lambda on_last, g=gen: _calibration_run(model, g, on_last))
                if name not in calib_ctx and name not in not_applicable:
                    try:
                        if len(model.experts) > 1 and not method.multi_expert:
                            raise NotApplicable(f"applies to one transformer; this pipeline has experts "
                                                f"{', '.join(model.experts)}")
                        method.check(ctx)
                        if method.calibrate is not None:
                            cctx = RunContext(model, first, profile,
                                              lambda on_last: _calibration_run(model, first, on_last))
                            method.calibrate(cctx)
                            tick(f"{name}: calibration")
                            calib_ctx[name] = cctx
                        else:
                            calib_ctx[name] = ctx
                    except NotApplicable as e:
                        not_applicable[name] = str(e)
                if name in not_applicable:
                    for _ in range(len(method.settings(bs.sweep)) * bs.repeats):
                        tick(f"{name}: not applicable")
                    continue
                ctx.calibration = calib_ctx[name].calibration
                for params in method.settings(bs.sweep):
                    row = {"method": name, "setting": label(params), "params": params, "prompt": prompt, "seed": seed}
                    try:
                        times, walls, counts, frames = [], [], [], None
                        for _ in range(bs.repeats):
                            method.apply(ctx, params)
                            try:
                                with count_self_attention(model) as counter:
                                    result = generate(model, gen)
                            finally:
                                method.remove(ctx)
                            times.append(result.timings.transformer_s)
                            walls.append(result.timings.total_s)
                            counts.append(counter[0])
                            frames = result.frames if frames is None else frames
                            tick(f"{name} {label(params)}")
                    except NotApplicable as e:
                        row.update(status="not applicable", reason=str(e))
                        runs.append(row)
                        continue
                    except Exception as e:  # a peer that breaks is reported, never dropped
                        row.update(status="failed", reason=f"{type(e).__name__}: {str(e).splitlines()[0][:200]}")
                        runs.append(row)
                        continue
                    tr, wall, count = statistics.median(times), statistics.median(walls), statistics.median(counts)
                    if name == "baseline":
                        ref, base_tr, base_wall, base_count = frames, tr, wall, count
                    row.update(
                        status="ok", transformer_s=tr, wall_s=wall,
                        transformer_speedup=base_tr / tr, wall_speedup=base_wall / wall,
                        computed_share=count / base_count if base_count else float("nan"),
                        psnr=psnr(ref, frames), ssim=ssim(ref, frames),
                        temporal_error=temporal_error(ref[0], frames[0]), motion_ratio=motion_ratio(ref[0], frames[0]),
                        judge_passed=None if scene is None else bool(judge(frames[0], scene).passed),
                    )
                    runs.append(row)
    return {
        "settings": asdict(bs),
        "runs": runs,
        "summary": summarize(runs, bs),
        "not_applicable": not_applicable,
        "calibration": {k: {kk: (list(vv) if isinstance(vv, tuple) else vv) for kk, vv in v.calibration.items()}
                        for k, v in calib_ctx.items() if v.calibration},
        "lpips": LPIPS_UNAVAILABLE,
    }


def _calibration_run(model: LoadedModel, gen: GenerationSettings, on_last: Callable | None) -> None:
    def on_step(i, total):
        if i == total - 1 and on_last is not None:
            on_last()
    generate(model, gen, on_step=on_step)


def summarize(runs: list[dict], bs: BenchSettings) -> list[dict]:
    """One row per method × setting: means over prompts × seeds."""
    groups: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for r in runs:
        groups[(r["method"], r["setting"])].append(r)
    out = []
    for (method, setting), rows in groups.items():
        ok = [r for r in rows if r["status"] == "ok"]
        if not ok:
            out.append({"method": method, "setting": setting, "status": rows[0]["status"], "reason": rows[0].get("reason")})
            continue

        def mean(key, ok=ok):
            vals = [r[key] for r in ok]
            return float("inf") if any(math.isinf(v) for v in vals) else float(np.mean(vals))

        row = {"method": method, "setting": setting, "status": "ok", "cases": len(ok)}
        for key in ("transformer_speedup", "wall_speedup", "computed_share", "psnr", "ssim", "temporal_error",
                    "motion_ratio", "transformer_s", "wall_s"):
            row[key] = mean(key)
        judged = [r["judge_passed"] for r in ok if r.get("judge_passed") is not None]
        row["judge_passed"], row["judge_cases"] = sum(judged), len(judged)
        if method != "baseline" and row["computed_share"] >= 0.999:
            row["flag"] = "skipped nothing at this setting"
        out.append(row)
    return out


def _fmt(v, spec):
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    if isinstance(v, float) and math.isinf(v):
        return "∞"
    return format(v, spec)


def _judged(row: dict) -> str:
    """'passed/judged' for the synthetic judge, '–' when no prompt was of the generator's form."""
    return f"{row['judge_passed']}/{row['judge_cases']}" if row.get("judge_cases") else "–"


def to_markdown(results: dict, command: str | None = None) -> str:
    s = results["settings"]
    lines = []
    if command:
        lines += [f"Command: `{command}`", ""]
    lines += [f"{len(s['prompts'])} prompt(s) × {len(s['seeds'])} seed(s); {s['frames']} frames, {s['height']}x{s['width']}, "
              f"{s['steps']} steps, guidance {s['guidance']}; median of {s['repeats']} repeat(s) after a warm-up. "
              "Speedups against stock sampling of the same prompt and seed; quality against its frames. "
              f"LPIPS: {results['lpips']}.", "",
              "| method | setting | transformer speedup | wall speedup | computed share | PSNR dB | SSIM | "
              "temporal error | motion ratio | judge | note |",
              "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results["summary"]:
        if r["status"] != "ok":
            lines.append(f"| {r['method']} | {r['setting']} | – | – | – | – | – | – | – | – | {r['status']}: {r.get('reason')} |")
            continue
        lines.append(
            f"| {r['method']} | {r['setting']} | {_fmt(r['transformer_speedup'], '.2f')}x | {_fmt(r['wall_speedup'], '.2f')}x"
            f" | {_fmt(r['computed_share'], '.3f')} | {_fmt(r['psnr'], '.2f')} | {_fmt(r['ssim'], '.4f')} | "
            f"{_fmt(r['temporal_error'], '.4f')} | {_fmt(r['motion_ratio'], '.3f')} | {_judged(r)} | {r.get('flag', '')} |")
    for name, reason in results["not_applicable"].items():
        lines.append(f"| {name} | – | – | – | – | – | – | – | – | – | not applicable: {reason} |")
    return "\n".join(lines)


def pareto_plot(results: dict, path: Path) -> Path:
    """Transformer-time speedup vs PSNR, one curve per method (its settings sorted by speedup)."""
    from .plots import _plt, _save

    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    rows = [r for r in results["summary"] if r["status"] == "ok" and r["method"] != "baseline"]
    finite = [r["psnr"] for r in rows if math.isfinite(r["psnr"])]
    cap = (max(finite) + 5) if finite else 60.0
    by_method: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        by_method[r["method"]].append(r)
    for method, pts in sorted(by_method.items()):
        pts.sort(key=lambda r: r["transformer_speedup"])
        xs = [r["transformer_speedup"] for r in pts]
        ys = [min(r["psnr"], cap) for r in pts]
        style = "-o" if method == "profiling-dit" else "--." if method.startswith("profiling-dit") else "-s"
        ax.plot(xs, ys, style, label=method, lw=2 if method == "profiling-dit" else 1, ms=5)
    ax.axvline(1.0, color="gray", lw=0.8)
    ax.set_xlabel("transformer-time speedup over stock sampling")
    ax.set_ylabel(f"PSNR vs stock frames (dB; identical capped at {cap:.0f})")
    ax.set_title("Speed–quality per caching method (up and right is better)", fontsize=10)
    ax.legend(fontsize=7, loc="best")
    ax.grid(alpha=0.3)
    return _save(fig, path)
