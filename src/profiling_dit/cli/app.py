"""The `pdit` typer app. Heavy imports (torch, diffusers) happen inside commands so `--help` is instant."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from . import _options as o
from ._errors import friendly_errors

app = typer.Typer(
    name="pdit",
    help="ProfilingDiT: profile a video diffusion transformer once, then generate about twice as fast.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.command()
@friendly_errors
def models() -> None:
    """List model aliases and the supported transformer classes."""
    from rich.console import Console
    from rich.table import Table

    from profiling_dit.registry import MODEL_ALIASES, TINY_MODEL_DIR, supported_class_names

    console = Console()
    table = Table(title="Model aliases (--model)")
    table.add_column("alias")
    table.add_column("source")
    table.add_column("transformer")
    table.add_column("description")
    for alias in MODEL_ALIASES.values():
        table.add_row(alias.name, alias.repo_id or str(TINY_MODEL_DIR), alias.transformer_class, alias.description)
    console.print(table)
    console.print("Supported transformer classes: " + ", ".join(supported_class_names()))
    console.print("Also accepted: any Hub id (owner/name) or local folder saved with `pipe.save_pretrained(DIR)`.")


@app.command()
@friendly_errors
def generate(
    prompt: o.PromptOpt,
    out: Annotated[Path, typer.Option("--out", "-o", help="Output file: .mp4, .gif, or .npy (exact uint8 frames).")],
    model: o.ModelOpt = "tiny",
    negative_prompt: o.NegativePromptOpt = "",
    steps: o.StepsOpt = None,
    height: o.HeightOpt = None,
    width: o.WidthOpt = None,
    frames: o.FramesOpt = None,
    guidance: o.GuidanceOpt = None,
    seed: o.SeedOpt = 0,
    fps: o.FpsOpt = None,
    device: o.DeviceOpt = "auto",
    dtype: o.DTypeOpt = o.DType.auto,
    report: o.ReportOpt = None,
    force: o.ForceOpt = False,
) -> None:
    """Generate a video (stock sampling)."""
    from profiling_dit.loading import resolve_device, resolve_model
    from profiling_dit.video_io import check_output_path

    # Everything cheap is checked before any weights load.
    source = resolve_model(model)
    settings = _settings(source, prompt, negative_prompt, steps, height, width, frames, guidance, seed, fps)
    out = check_output_path(out, force)
    if report is not None:
        report = check_output_path(report, force, extensions=(".json",))
    resolve_device(device)

    from rich.console import Console

    from profiling_dit._io import atomic_write_text
    from profiling_dit.generation import generate as run_generation
    from profiling_dit.generation import run_report
    from profiling_dit.loading import load_pipeline
    from profiling_dit.video_io import write_video

    _quiet_libraries()
    console = Console(stderr=True)
    with console.status(f"Loading {model}…"):
        loaded = load_pipeline(source, device=device, dtype=dtype.value)
    if source.meta.get("trained") is False:
        console.print(f"[yellow]Note:[/] {source.meta.get('description', 'this model is untrained')}")

    result = _run_with_progress(console, lambda cb: run_generation(loaded, settings, on_step=cb), settings.steps)
    write_video(result.frames[0], out, fps=settings.fps)
    t = result.timings
    if report is not None:
        atomic_write_text(report, json.dumps(run_report(loaded, settings, t, output=str(out)), indent=2) + "\n")
    f, h, w = result.frames.shape[1:4]
    typer.echo(
        f"Wrote {out} ({f} frames, {w}x{h}) in {t.total_s:.1f} s "
        f"(transformer {t.transformer_s:.1f} s over {t.transformer_calls} calls)"
        + (f"; report: {report}" if report else "")
    )


def _quiet_libraries() -> None:
    """The CLI shows its own progress; silence the libraries' bars and info logs."""
    import warnings

    import diffusers.utils.logging as dlog
    import transformers.utils.logging as tlog

    dlog.set_verbosity_error()
    dlog.disable_progress_bar()
    tlog.set_verbosity_error()
    tlog.disable_progress_bar()
    warnings.filterwarnings("ignore", category=FutureWarning)


def _settings(source, prompt, negative_prompt, steps, height, width, frames, guidance, seed, fps):
    from profiling_dit.generation import GenerationSettings

    def pick(value, key):
        return value if value is not None else source.default(key)

    return GenerationSettings(
        prompt=prompt,
        negative_prompt=negative_prompt,
        steps=pick(steps, "steps"),
        height=pick(height, "height"),
        width=pick(width, "width"),
        frames=pick(frames, "frames"),
        guidance=pick(guidance, "guidance"),
        seed=seed,
        fps=pick(fps, "fps"),
    ).check_for(source.arch)


def _run_with_progress(console, fn, total_steps: int):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    with Progress(
        TextColumn("Denoising"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn(),
        console=console, transient=False,
    ) as progress:
        task = progress.add_task("denoise", total=total_steps)
        return fn(lambda i, total: progress.update(task, completed=i + 1))


def main() -> None:
    app()
