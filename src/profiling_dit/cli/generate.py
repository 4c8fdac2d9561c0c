"""`pdit generate`: stock sampling, or ProfilingDiT caching with --profile."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from . import _options as o
from ._errors import friendly_errors


@friendly_errors
def generate(
    prompt: o.PromptOpt,
    out: Annotated[Path, typer.Option("--out", "-o", help="Output file: .mp4, .gif, or .npy (exact uint8 frames).")],
    model: Annotated[Optional[str], typer.Option("--model", "-m", help="`tiny` (embedded), an alias from `pdit models`, a Hub id, or a local folder \\[default: the profile's model, else tiny].")] = None,
    profile: Annotated[Optional[Path], typer.Option("--profile", help="Sample with ProfilingDiT caching using this profile.")] = None,
    negative_prompt: o.NegativePromptOpt = "",
    image: o.ImageOpt = None,
    steps: o.StepsOpt = None,
    height: o.HeightOpt = None,
    width: o.WidthOpt = None,
    frames: o.FramesOpt = None,
    guidance: o.GuidanceOpt = None,
    seed: o.SeedOpt = 0,
    fps: o.FpsOpt = None,
    budget: o.BudgetOpt = None,
    speedup: o.SpeedupOpt = None,
    schedule: o.ScheduleOpt = None,
    warmup: o.WarmupOpt = None,
    interval_max: o.IntervalMaxOpt = None,
    interval_min: o.IntervalMinOpt = None,
    tau: o.TauOpt = None,
    background_share: o.BackgroundShareOpt = None,
    final_full_steps: o.FinalFullStepsOpt = None,
    reuse: o.ReuseOpt = None,
    compile: Annotated[bool, typer.Option("--compile", metavar="", help="torch.compile each block (regional).")] = False,
    compare_to: Annotated[Optional[o.CompareTo], typer.Option("--compare-to", help="Also generate stock sampling and write NAME.compare.EXT: stock | cached | difference x8.")] = None,
    device: o.DeviceOpt = "auto",
    dtype: o.DTypeOpt = o.DType.auto,
    report: o.ReportOpt = None,
    context_parallel: o.ContextParallelOpt = None,
    nproc: o.NprocOpt = None,
    force: o.ForceOpt = False,
) -> None:
    """Generate a video: stock sampling, or ProfilingDiT caching with --profile."""
    from ._common import relaunch

    if nproc is not None:
        relaunch(nproc, context_parallel)
    from profiling_dit.errors import InvalidSettingError
    from profiling_dit.pipeline.video_io import check_output_path

    from ._common import (check_device_and_memory, load, profile_and_model, run_with_progress, settings_from,
                          start_parallel)

    # Everything cheap is checked before anything heavy loads: paths first, then numbers, then files.
    out = check_output_path(out, force)
    if report is not None:
        report = check_output_path(report, force, extensions=(".json",))
    overrides = plan_options(budget, speedup, schedule, warmup, interval_max, interval_min, tau, background_share,
                             final_full_steps, reuse)
    if profile is None and (overrides or compile or compare_to):
        raise InvalidSettingError("caching options (--budget, --schedule, --compile, --compare-to, ...) need --profile")
    compare_path = None
    if compare_to is not None:
        compare_path = check_output_path(out.with_name(f"{out.stem}.compare{out.suffix}"), force)
    prof, source = profile_and_model(profile, model)
    settings = settings_from(source, prompt, negative_prompt, steps, height, width, frames, guidance, seed, fps, image)
    warnings = []
    if prof is not None:
        # validates the overrides now (a two-expert profile is planned per expert once the model is loaded)
        import warnings as _w

        with _w.catch_warnings():
            _w.simplefilter("ignore")  # the version-1 note is among the warnings shown below
            prof.config(steps=None if prof.experts else settings.steps, **overrides)
        warnings = prof.mismatch_warnings(settings.steps, settings.height, settings.width, settings.frames)
    check_device_and_memory(source, [settings], device, dtype)
    parallel = start_parallel(source, [settings], context_parallel, device)

    from profiling_dit._io import atomic_write_text
    from profiling_dit.pipeline.generation import generate as run_generation
    from profiling_dit.pipeline.generation import run_report
    from profiling_dit.pipeline.video_io import write_video

    console, loaded = load(source, parallel.device if parallel else device, dtype, warnings,
                           quiet=parallel is not None and not parallel.main)
    say = typer.echo if parallel is None or parallel.main else (lambda *a, **k: None)

    extra = {"output": str(out)}
    if prof is None:
        if parallel is not None:
            parallel.enable(loaded)
        result = run_with_progress(console, lambda cb: run_generation(loaded, settings, on_step=cb), settings.steps)
    else:
        from profiling_dit.accelerate.sampling import configs_for, generate_cached, plan_summaries

        configs = configs_for(loaded, prof, settings.steps, **overrides)
        summaries = plan_summaries(loaded, configs, settings.steps)
        for name, cfg in configs.items():
            if len(configs) > 1:
                a, b = summaries[name].get("step_range", (0, settings.steps))
                console.print(f"[bold]{name}[/] runs steps {a}..{b - 1}")
            print_plan(console, summaries[name], cfg, _foreground(prof, name))
        result, summary = run_with_progress(
            console, lambda cb: generate_cached(loaded, settings, configs, compile=compile, on_step=cb,
                                                on_installed=parallel.enable if parallel else None),
            settings.steps, "Generating (ProfilingDiT)")
        extra.update({"profile": str(profile), "profiling_dit": summary, "warnings": warnings})
    stock = None
    if compare_path is not None:  # every rank takes part in the stock run
        stock = run_with_progress(console, lambda cb: run_generation(loaded, settings, on_step=cb), settings.steps,
                                  "Generating (stock, to compare)")
    from ._common import peak_memory_bytes

    extra["peak_memory_bytes"] = peak_memory_bytes(loaded.device)
    if parallel is not None:
        extra["parallel"] = parallel.report(extra.get("profiling_dit", {}).get("cache_bytes"))
        if not parallel.main:  # rank 0 writes the outputs; the others stop here
            parallel.finish()
            return
    write_video(result.frames[0], out, fps=settings.fps)
    if stock is not None:
        from profiling_dit.bench.metrics import psnr
        from profiling_dit.pipeline.video_io import side_by_side

        write_video(side_by_side(stock.frames[0], result.frames[0]), compare_path, fps=settings.fps)
        extra["compare"] = {"output": str(compare_path), "psnr_db": psnr(stock.frames, result.frames),
                            "stock_transformer_s": stock.timings.transformer_s}
        say(f"Wrote {compare_path}: stock | cached | difference x8; PSNR of cached against stock "
                   f"{extra['compare']['psnr_db']:.2f} dB, transformer time {stock.timings.transformer_s:.1f} s "
                   f"-> {result.timings.transformer_s:.1f} s")
    t = result.timings
    if report is not None:
        atomic_write_text(report, json.dumps(run_report(loaded, settings, t, **extra), indent=2) + "\n")
    f, h, w = result.frames.shape[1:4]
    tail = ""
    if prof is not None:
        s = extra["profiling_dit"]
        tail = f"; computed {s['computed_share']:.0%} of block evaluations"
        if s["implied_speedup"] is not None:
            tail += f", implied transformer speedup {s['implied_speedup']:.2f}x"
    typer.echo(
        f"Wrote {out} ({f} frame{'s' if f != 1 else ''}, {w}x{h}) in {t.total_s:.1f} s "
        f"(transformer {t.transformer_s:.1f} s over {t.transformer_calls} calls{tail})"
        + (f"; report: {report}" if report else "")
    )
    if parallel is not None:
        parallel.finish()


def plan_options(budget, speedup, schedule, warmup, interval_max, interval_min, tau, background_share,
                 final_full_steps, reuse) -> dict:
    """The flags that choose a plan, as ``Profile.config`` arguments (the ones given)."""
    given = dict(budget=budget, speedup=speedup, schedule=schedule.value if schedule else None, warmup=warmup,
                 interval_max=interval_max, interval_min=interval_min, tau=tau, background_share=background_share,
                 final_full_steps=final_full_steps, reuse=reuse.value if reuse else None)
    return {k: v for k, v in given.items() if v is not None}


def print_plan(console, summary: dict, config, foreground=()) -> None:
    from rich.table import Table

    extra = f"; predicted error {summary['predicted_error']:.3g}" if summary.get("predicted_error") is not None else ""
    speed = (f"; implied transformer speedup {summary['implied_speedup']:.2f}x"
             if summary.get("implied_speedup") else "")
    console.print(f"ProfilingDiT plan ({summary.get('origin') or 'by hand'}): {summary['computed_share']:.0%} of "
                  f"block evaluations computed{speed}{extra} (█ compute, · reuse cached delta); full-compute steps "
                  f"{summary['full_compute_steps']}", highlight=False)
    table = Table(show_edge=False, pad_edge=False)
    table.add_column("block", justify="right")
    table.add_column("set")
    table.add_column("steps →", no_wrap=True)
    cached = set(config.cached_blocks)
    for b, row in enumerate(summary["timeline"]):
        kind = "F" if b in set(foreground) else "B"
        table.add_row(str(b), kind + (" (cached)" if b in cached else ""), row)
    console.print(table)


def _foreground(prof, component: str):
    blocks = prof.expert(component).blocks if prof.experts else prof.blocks
    return blocks.split.foreground_blocks
