"""`pdit bench`: ProfilingDiT against stock sampling and other caching methods, side by side."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from . import _options as o
from ._errors import friendly_errors


@friendly_errors
def bench(
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder: results.json, results.md, pareto.png.")],
    model: Annotated[Optional[str], typer.Option("--model", "-m", help="Model [default: the profile's, else tiny].")] = None,
    profile: Annotated[Optional[Path], typer.Option("--profile", help="Profile for the profiling-dit methods.")] = None,
    prompts: Annotated[str, typer.Option("--prompts", help="A text file (one prompt a line) or a prompt.")] = "a red circle moving right over grass",
    seeds: Annotated[str, typer.Option("--seeds", help="Comma-separated seeds.")] = "0",
    methods: Annotated[Optional[str], typer.Option("--methods", help="Comma-separated methods [default: all; see `pdit bench --list`].")] = None,
    sweep: Annotated[bool, typer.Option("--sweep", help="Run each method at several settings (speed-quality curves).")] = False,
    repeats: Annotated[int, typer.Option("--repeats", help="Timed repeats per run (median).")] = 1,
    steps: o.StepsOpt = None,
    height: o.HeightOpt = None,
    width: o.WidthOpt = None,
    frames: o.FramesOpt = None,
    guidance: o.GuidanceOpt = None,
    image: o.ImageOpt = None,
    device: o.DeviceOpt = "auto",
    dtype: o.DTypeOpt = o.DType.auto,
    force: o.ForceOpt = False,
    list_methods: Annotated[bool, typer.Option("--list", help="List the methods and exit.")] = False,
) -> None:
    """Benchmark ProfilingDiT against stock sampling and other caching methods, side by side."""
    from profiling_dit.errors import InvalidSettingError, OutputPathError
    from profiling_dit.pipeline.loading import resolve_device

    from ._common import load, profile_and_model, settings_from

    if list_methods:
        from profiling_dit.bench.methods import METHODS

        for m in METHODS.values():
            typer.echo(f"{m.name:26s} {m.family:14s} default {m.default or '-'}  {m.note}")
        return
    from profiling_dit.bench.methods import METHODS

    prof, source = profile_and_model(profile, model)
    ppath = Path(prompts).expanduser()
    prompt_list = ([line.strip() for line in ppath.read_text().splitlines() if line.strip()]
                   if ppath.is_file() else [prompts])
    try:
        seed_list = tuple(int(x) for x in seeds.split(",") if x.strip())
    except ValueError:
        raise InvalidSettingError(f"--seeds must be comma-separated integers, got {seeds!r}") from None
    method_list = tuple(m.strip() for m in methods.split(",") if m.strip()) if methods else tuple(METHODS)
    gen0 = settings_from(source, prompt_list[0] if prompt_list else "", "", steps, height, width, frames, guidance, 0,
                         None, image)
    from profiling_dit.bench.runner import BenchSettings

    bs = BenchSettings(prompts=tuple(prompt_list), seeds=seed_list, methods=method_list, sweep=sweep, repeats=repeats,
                       steps=gen0.steps, height=gen0.height, width=gen0.width, frames=gen0.frames,
                       guidance=gen0.guidance, image=gen0.image)
    for p in prompt_list:
        bs.generation(p, 0)  # validates every prompt before anything runs
    out = out.expanduser()
    if out.exists() and not out.is_dir():
        raise OutputPathError(f"{str(out)!r} is a file; --out takes a folder")
    from profiling_dit.bench.report import RESULT_FILES

    if not force and any((out / n).exists() for n in RESULT_FILES):
        raise OutputPathError(f"{str(out)!r} already holds results; pass --force to overwrite them")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputPathError(f"cannot create {str(out)!r}: {e.strerror or e}") from None
    resolve_device(device)

    import shlex
    import sys

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from profiling_dit.bench.report import write_results
    from profiling_dit.bench.runner import plan_runs, run_bench
    from profiling_dit.embedded.synthetic import prompt_judge
    from profiling_dit.environment import device_info, library_versions

    console, loaded = load(source, device, dtype)
    with Progress(TextColumn("Benchmark"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  TextColumn("{task.description}"), console=console) as progress:
        task = progress.add_task("", total=plan_runs(bs))
        results = run_bench(loaded, prof, bs, judge=prompt_judge,
                            on_progress=lambda i, n, what: progress.update(task, completed=i, description=what))
    command = "pdit " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    results.update({"command": command, "model": source.ref, "profile": str(profile) if profile else None,
                    "environment": {**device_info(loaded.device), "versions": library_versions()}})
    paths = write_results(results, out, command)
    print_bench_table(console, results)
    typer.echo(f"Wrote {', '.join(str(p) for p in paths.values())}")


def print_bench_table(console, results: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    from profiling_dit.bench.report import _fmt

    table = Table(title="pdit bench: against stock sampling (transformer speedup, wall speedup, computed "
                        "self-attention share, PSNR dB, SSIM, temporal error)")
    for col in ("method", "setting", "tr.", "wall", "comp.", "PSNR", "SSIM", "temp.", "!"):
        table.add_column(col, no_wrap=col in ("method", "setting"))
    notes = []
    for r in results["summary"]:
        if r["status"] != "ok":
            notes.append(f"{r['method']} ({r['setting']}): {r['status']}: {r.get('reason')}")
            table.add_row(r["method"], r["setting"], *["–"] * 6, str(len(notes)))
            continue
        flag = ""
        if r.get("flag"):
            notes.append(f"{r['method']} ({r['setting']}): {r['flag']}")
            flag = str(len(notes))
        table.add_row(r["method"], r["setting"], _fmt(r["transformer_speedup"], ".2f") + "x",
                      _fmt(r["wall_speedup"], ".2f") + "x", _fmt(r["computed_share"], ".3f"),
                      _fmt(r["psnr"], ".2f"), _fmt(r["ssim"], ".4f"), _fmt(r["temporal_error"], ".4f"), flag)
    for name, reason in results["not_applicable"].items():
        notes.append(f"{name}: not applicable: {reason}")
        table.add_row(name, "–", *["–"] * 6, str(len(notes)))
    wide = Console(stderr=True, width=max(console.width, 132))  # logs default to 80 columns
    wide.print(table)
    for i, note in enumerate(notes, 1):
        wide.print(f"  {i}. {note}", markup=False, highlight=False)
