"""`pdit generate`: stock sampling, or ProfilingDiT caching with --profile."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from . import _options as o
from ._errors import friendly_errors


@friendly_errors
@o.size_options("size")
@o.plan_options("plan_options")
@o.run_options("run")
def generate(
    prompt: o.PromptOpt,
    out: Annotated[Path, typer.Option("--out", "-o", help="Output file: .mp4, .gif, or .npy (exact uint8 frames).")],
    model: o.OptionalModelOpt = None,
    profile_path: o.ProfileOpt = None,
    negative_prompt: o.NegativePromptOpt = "",
    seed: o.SeedOpt = 0,
    fps: o.FpsOpt = None,
    compile: Annotated[bool, typer.Option(
        "--compile", metavar="", help="torch.compile each block (regional).")] = False,
    compare_to: Annotated[Optional[o.CompareTo], typer.Option(
        "--compare-to", help="Also generate stock sampling and write NAME.compare.EXT: stock | cached | difference x8, "
                             "labelled.")] = None,
    report: o.ReportOpt = None,
    force: o.ForceOpt = False,
    *, size: dict, plan_options: dict, run: dict,
) -> None:
    """Generate a video: stock sampling, or ProfilingDiT caching with --profile."""
    from profiling_dit import preflight
    from profiling_dit.caching import make_plans
    from profiling_dit.errors import InvalidSettingError
    from profiling_dit.pipeline.video_io import check_output_path

    from ._common import leave, relaunch, start

    # Everything cheap is checked before anything heavy loads: paths first, then numbers, then files.
    out = check_output_path(out, force)
    report = check_output_path(report, force, extensions=(".json",)) if report is not None else None
    compare = check_output_path(out.with_name(f"{out.stem}.compare{out.suffix}"), force) if compare_to else None
    if profile_path is None and (plan_options or compile or compare_to):
        raise InvalidSettingError("caching options (--budget, --schedule, --compile, --compare-to, ...) need --profile")
    profile, source = preflight.resolve(profile_path, model)
    settings = preflight.settings_for(source, profile, prompt=prompt, negative_prompt=negative_prompt, seed=seed,
                                      fps=fps, **size)
    relaunch(run, source, [settings])
    plans, notes = preflight.plans_for(profile, settings, plan_options) if profile is not None else (None, [])
    notes += preflight.prompt_notes(source, settings.prompts)
    notes += preflight.check_resources(source, [settings], run["device"], run["dtype"])
    con, loaded, parallel = start(source, [settings], run, notes)
    if profile is not None and plans is None:  # two experts: planned over the loaded pipeline's step ranges
        plans = make_plans(loaded, profile, settings.steps, **plan_options)
    result, extra = _sample(con, loaded, settings, profile, plans, compile, parallel)
    if compare is not None:  # every rank takes part in the stock run
        extra["compare"] = _stock(con, loaded, settings)
    extra.update(output=str(out), profile=str(profile_path) if profile_path else None, warnings=notes)
    if parallel is not None:
        extra["parallel"] = parallel.report(extra.get("profiling_dit", {}).get("cache_bytes"))
        if not parallel.main:  # rank 0 writes the outputs
            leave(parallel)
    _write(loaded, settings, result, extra, out, compare, report, force)
    if parallel is not None:
        leave(parallel)


def _sample(con, loaded, settings, profile, plans: dict | None, compile: bool, parallel):
    """Stock sampling (no plans), or cached sampling on ``{component: Plan}``; prints the plan. Returns the result
    and the report's extra fields."""
    from profiling_dit.caching import generate_cached, plan_summary
    from profiling_dit.pipeline.generation import generate
    from profiling_dit.pipeline.parallel import peak_memory_bytes

    from ._common import print_plan, progress

    if plans is None:
        if parallel is not None:
            parallel.enable(loaded)
        with progress(con, "Generating", settings.steps) as bar:
            result = generate(loaded, settings, on_step=bar.step)
        return result, {"peak_memory_bytes": peak_memory_bytes(loaded.device)}
    for name, plan in plans.items():
        print_plan(con, plan_summary(plan), profile, name, len(plans) > 1)
    with progress(con, "Generating (ProfilingDiT)", settings.steps) as bar:
        result, summary = generate_cached(loaded, settings, plans, compile=compile, on_step=bar.step,
                                          on_installed=parallel.enable if parallel else None)
    return result, {"profiling_dit": summary, "peak_memory_bytes": peak_memory_bytes(loaded.device)}


def _stock(con, loaded, settings) -> dict:
    from profiling_dit.pipeline.generation import generate

    from ._common import progress

    with progress(con, "Generating (stock, to compare)", settings.steps) as bar:
        stock = generate(loaded, settings, on_step=bar.step)
    return {"frames": stock.frames, "stock_transformer_s": stock.timings.transformer_s}


def _write(loaded, settings, result, extra: dict, out: Path, compare: Path | None, report: Path | None,
           force: bool) -> None:
    """The video, the labelled comparison and the report, then one line that says what was written."""
    from profiling_dit._io import atomic_write_text
    from profiling_dit.metrics import psnr
    from profiling_dit.pipeline.generation import run_report
    from profiling_dit.pipeline.video_io import side_by_side, write_video

    write_video(result.frames[0], out, fps=settings.fps, overwrite=force)
    t = result.timings
    if compare is not None:
        stock = extra["compare"].pop("frames")
        write_video(side_by_side(stock[0], result.frames[0], labels=("stock", "cached", "difference x8")), compare,
                    fps=settings.fps, overwrite=force)
        extra["compare"].update(output=str(compare), psnr_db=psnr(stock, result.frames))
        typer.echo(f"Wrote {compare}: stock | cached | difference x8; PSNR of cached against stock "
                   f"{extra['compare']['psnr_db']:.2f} dB; measured transformer time "
                   f"{extra['compare']['stock_transformer_s']:.1f} s "
                   f"(stock) -> {t.transformer_s:.1f} s (cached) on this machine")
    if report is not None:
        atomic_write_text(report, json.dumps(run_report(loaded, settings, t, **extra), indent=2) + "\n", force)
    f, h, w = result.frames.shape[1:4]
    tail = ""
    if "profiling_dit" in extra:
        s = extra["profiling_dit"]
        tail = f"; computed {s['computed_share']:.0%} of block evaluations"
        if s["implied_speedup"] is not None:
            tail += f", implied transformer speedup {s['implied_speedup']:.2f}x (estimated from this run's call times)"
    typer.echo(f"Wrote {out} ({f} frame{'s' if f != 1 else ''}, {w}x{h}) in {t.total_s:.1f} s (transformer "
               f"{t.transformer_s:.1f} s over {t.transformer_calls} calls{tail})"
               + (f"; report: {report}" if report else ""))
