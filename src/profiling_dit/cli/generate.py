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
    model: Annotated[Optional[str], typer.Option("--model", "-m", help="`tiny` (embedded), an alias from `pdit models`, a Hub id, or a local folder [default: the profile's model, else tiny].")] = None,
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
    warmup: Annotated[Optional[int], typer.Option("--warmup", help="s0: steps 0..s0 compute fully [default: the profile's].")] = None,
    interval_max: Annotated[Optional[int], typer.Option("--interval-max", help="T_max: first gap between full steps [default: the profile's].")] = None,
    interval_min: Annotated[Optional[int], typer.Option("--interval-min", help="T_min: last gap between full steps [default: the profile's].")] = None,
    tau: Annotated[Optional[float], typer.Option("--tau", help="Re-split the profile's blocks at this τ.")] = None,
    background_share: Annotated[Optional[float], typer.Option("--background-share", help="Re-split: this share of blocks is background.")] = None,
    final_full_steps: Annotated[Optional[int], typer.Option("--final-full-steps", help="Always compute the last N steps fully [default: 1].")] = None,
    schedule: Annotated[Optional[o.Schedule], typer.Option("--schedule", help="Gap schedule (paper Table 4) [default: stepwise].")] = None,
    reuse: Annotated[Optional[o.Reuse], typer.Option("--reuse", help="Which blocks reuse deltas (paper Table 3) [default: background].")] = None,
    compile: Annotated[bool, typer.Option("--compile", help="torch.compile each block (regional).")] = False,
    device: o.DeviceOpt = "auto",
    dtype: o.DTypeOpt = o.DType.auto,
    report: o.ReportOpt = None,
    force: o.ForceOpt = False,
) -> None:
    """Generate a video: stock sampling, or ProfilingDiT caching with --profile."""
    from profiling_dit.errors import InvalidSettingError
    from profiling_dit.pipeline.loading import resolve_device
    from profiling_dit.pipeline.video_io import check_output_path

    from ._common import load, profile_and_model, run_with_progress, settings_from

    # Everything cheap is checked before any weights load.
    overrides = dict(tau=tau, background_share=background_share, warmup=warmup, interval_max=interval_max,
                     interval_min=interval_min, final_full_steps=final_full_steps,
                     schedule=schedule.value if schedule else None, reuse=reuse.value if reuse else None)
    if profile is None and (any(v is not None for v in overrides.values()) or compile):
        raise InvalidSettingError("caching options (--warmup, --tau, --compile, ...) need --profile")
    prof, source = profile_and_model(profile, model)
    settings = settings_from(source, prompt, negative_prompt, steps, height, width, frames, guidance, seed, fps, image)
    warnings = []
    if prof is not None:
        # validates the overrides now (a two-expert profile is planned per expert once the model is loaded)
        prof.config(steps=None if prof.experts else settings.steps, **overrides)
        warnings = prof.mismatch_warnings(settings.steps, settings.height, settings.width, settings.frames)
    out = check_output_path(out, force)
    if report is not None:
        report = check_output_path(report, force, extensions=(".json",))
    resolve_device(device)

    from profiling_dit._io import atomic_write_text
    from profiling_dit.pipeline.generation import generate as run_generation
    from profiling_dit.pipeline.generation import run_report
    from profiling_dit.pipeline.video_io import write_video

    console, loaded = load(source, device, dtype, warnings)

    extra = {"output": str(out)}
    if prof is None:
        result = run_with_progress(console, lambda cb: run_generation(loaded, settings, on_step=cb), settings.steps)
    else:
        from profiling_dit.accelerate.sampling import configs_for, generate_cached, plan_summaries

        configs = configs_for(loaded, prof, settings.steps, **overrides)
        summaries = plan_summaries(loaded, configs, settings.steps)
        for name, cfg in configs.items():
            if len(configs) > 1:
                a, b = summaries[name].get("step_range", (0, settings.steps))
                console.print(f"[bold]{name}[/] runs steps {a}..{b - 1}")
            print_plan(console, summaries[name], cfg)
        result, summary = run_with_progress(
            console, lambda cb: generate_cached(loaded, settings, configs, compile=compile, on_step=cb),
            settings.steps, "Sampling (cached)")
        extra.update({"profile": str(profile), "profiling_dit": summary, "warnings": warnings})
    write_video(result.frames[0], out, fps=settings.fps)
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
        f"Wrote {out} ({f} frames, {w}x{h}) in {t.total_s:.1f} s "
        f"(transformer {t.transformer_s:.1f} s over {t.transformer_calls} calls{tail})"
        + (f"; report: {report}" if report else "")
    )


def print_plan(console, summary: dict, config) -> None:
    from rich.table import Table

    console.print(f"ProfilingDiT plan: {summary['computed_share']:.0%} of block evaluations computed "
                  f"(█ compute, · reuse cached delta); full-compute steps {summary['full_compute_steps']}")
    table = Table(show_edge=False, pad_edge=False)
    table.add_column("block", justify="right")
    table.add_column("set")
    table.add_column("steps →", no_wrap=True)
    cached = set(config.cached_blocks)
    for b, row in enumerate(summary["timeline"]):
        kind = "B" if b in config.background_blocks else "F"
        table.add_row(str(b), kind + (" (cached)" if b in cached else ""), row)
    console.print(table)
