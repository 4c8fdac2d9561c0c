"""`pdit bench`: ProfilingDiT against stock sampling and other caching methods, side by side."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from . import _options as o
from ._errors import friendly_errors


@friendly_errors
def bench(
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Output folder: results.json, results.md, pareto.png.")] = None,
    model: Annotated[Optional[str], typer.Option("--model", "-m", help="Model \\[default: the profile's, else tiny].")] = None,
    profile: Annotated[Optional[Path], typer.Option("--profile", help="Profile for the profiling-dit methods.")] = None,
    prompts: Annotated[str, typer.Option("--prompts", help="A text file (one prompt a line) or a prompt.")] = "a red circle moving right over grass",
    seeds: Annotated[str, typer.Option("--seeds", help="Comma-separated seeds.")] = "0",
    methods: Annotated[Optional[str], typer.Option("--methods", help="Comma-separated methods \\[default: all; see `pdit bench --list`].")] = None,
    sweep: Annotated[bool, typer.Option("--sweep", metavar="", help="Run each method at several settings (speed-quality curves).")] = False,
    repeats: Annotated[int, typer.Option("--repeats", help="Timed repeats per run (median).")] = 1,
    steps: o.StepsOpt = None,
    height: o.HeightOpt = None,
    width: o.WidthOpt = None,
    frames: o.FramesOpt = None,
    guidance: o.GuidanceOpt = None,
    image: o.ImageOpt = None,
    lpips_weights: Annotated[Optional[Path], typer.Option("--lpips-weights", help="LPIPS weights (.safetensors of torchmetrics' AlexNet LPIPS) \\[default: $PDIT_LPIPS_WEIGHTS, else no LPIPS column].")] = None,
    device: o.DeviceOpt = "auto",
    dtype: o.DTypeOpt = o.DType.auto,
    force: o.ForceOpt = False,
    list_methods: Annotated[bool, typer.Option("--list", metavar="", help="List the methods and exit.")] = False,
) -> None:
    """Benchmark ProfilingDiT against stock sampling and other caching methods, side by side."""
    from profiling_dit.errors import InvalidSettingError, OutputPathError

    from ._common import check_device_and_memory, load, profile_and_model, progress, settings_from

    if list_methods:
        _list_methods()
        return
    if out is None:
        raise InvalidSettingError("--out is missing: give the folder for results.json, results.md and pareto.png")
    from profiling_dit.bench.methods import METHODS

    prof, source = profile_and_model(profile, model)
    prompt_list = _prompts(prompts)
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
                       guidance=gen0.guidance, image=gen0.image,
                       lpips_weights=str(lpips_weights.expanduser()) if lpips_weights else None)
    for p in prompt_list:
        bs.generation(p, 0)  # validates every prompt before anything runs
    if lpips_weights is not None and not (lpips_weights.expanduser().is_file()
                                          and lpips_weights.suffix == ".safetensors"):
        raise InvalidSettingError(f"--lpips-weights {str(lpips_weights)!r} must be an existing .safetensors file")
    out = out.expanduser()
    if out.exists() and not out.is_dir():
        raise OutputPathError(f"{str(out)!r} is a file; --out takes a folder")
    if not force and (out / "results.json").exists():  # the set's anchor; a plot or table alone is a leftover
        raise OutputPathError(f"{str(out)!r} already holds results; pass --force to overwrite them")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputPathError(f"cannot create {str(out)!r}: {e.strerror or e}") from None
    check_device_and_memory(source, [bs.generation(p, 0) for p in prompt_list], device, dtype)

    import shlex
    import sys

    from profiling_dit.bench.report import write_results
    from profiling_dit.bench.runner import plan_runs, run_bench
    from profiling_dit.embedded.synthetic import prompt_judge
    from profiling_dit.environment import device_info, library_versions

    console, loaded = load(source, device, dtype)
    if repeats == 1:
        console.print("[yellow]Warning:[/] --repeats 1: each speedup is one timing on this machine; give --repeats 3 "
                      "or more for medians", highlight=False)
    with progress(console, "Benchmarking", plan_runs(bs)) as bar:
        results = run_bench(loaded, prof, bs, judge=prompt_judge, on_progress=lambda i, n, what: bar.update(i, what))
    command = "pdit " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    results.update({"command": command, "model": source.ref, "profile": str(profile) if profile else None,
                    "environment": {**device_info(loaded.device), "versions": library_versions()}})
    paths = write_results(results, out, command)
    print_bench_table(console, results)
    typer.echo(f"Wrote {', '.join(str(p) for p in paths.values())}")


def print_bench_table(console, results: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    from profiling_dit.bench.report import HEADERS, header_lines, table

    wide = Console(stderr=True, width=max(console.width, 160))  # logs default to 80 columns
    t = Table(title="pdit bench: against stock sampling", caption=" ".join(header_lines(results)), caption_justify="left")
    for col in HEADERS:
        t.add_column(col, no_wrap=col in ("method", "setting"), overflow="fold")
    for row in table(results):
        t.add_row(*row)
    wide.print(t)


def _list_methods() -> None:
    import sys

    from profiling_dit.bench.methods import METHODS, label

    rows = [(m.name, m.family, label(m.default), ", ".join(label(p) for p in m.sweep), m.note) for m in METHODS.values()]
    headers = ("method", "family", "default setting", "--sweep settings", "note")
    if not sys.stdout.isatty():
        typer.echo("\t".join(headers))
        for row in rows:
            typer.echo("\t".join(row))
        return
    from rich.console import Console
    from rich.table import Table

    t = Table(title="Methods of pdit bench (--methods)")
    for h in headers:
        t.add_column(h, overflow="fold")
    for row in rows:
        t.add_row(*row)
    Console().print(t)


def _prompts(value: str) -> list[str]:
    """--prompts: a text file of prompts (one a line), or else the prompt itself."""
    from profiling_dit.errors import InvalidSettingError

    try:
        path = Path(value).expanduser()
        is_file = path.is_file()
    except (OSError, ValueError):  # too long for a file name, a NUL byte, ...: a prompt
        return [value]
    if not is_file:
        return [value]
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise InvalidSettingError(f"--prompts {str(path)!r} cannot be read as a text file ({e})") from None
    return [line.strip() for line in text.splitlines() if line.strip()]
