"""`pdit bench`: ProfilingDiT against stock sampling and other caching methods, side by side."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from . import _options as o
from ._errors import friendly_errors

DEFAULT_PROMPT = "a red circle moving right over grass"


@friendly_errors
@o.size_options("size")
def bench(
    out: Annotated[Optional[str], typer.Option(  # a str: typer would make '' the current folder
        "--out", "-o", metavar="PATH", help="Output folder: results.json, results.md, pareto.png.")] = None,
    model: o.OptionalModelOpt = None,
    profile_path: Annotated[Optional[Path], typer.Option(
        "--profile", help="Profile for the profiling-dit methods.")] = None,
    prompts: Annotated[Optional[list[str]], typer.Option(
        "--prompts", help="A text file (one prompt a line) or a prompt; give it once \\[default: the prompt "
                          f"{DEFAULT_PROMPT!r}].")] = None,
    seeds: Annotated[Optional[list[str]], typer.Option(
        "--seeds", help="Seeds: repeat the flag or separate by commas \\[default: 0].")] = None,
    methods: Annotated[Optional[list[str]], typer.Option(
        "--methods",
        help="Methods: repeat the flag or separate by commas \\[default: all but lemica; see "
             "`pdit bench --list`].")] = None,
    sweep: Annotated[bool, typer.Option(
        "--sweep", metavar="", help="Run each method at several settings (speed-quality curves).")] = False,
    repeats: Annotated[int, typer.Option("--repeats", help="Timed repeats per run (median).")] = 1,
    lpips_weights: Annotated[Optional[Path], typer.Option(
        "--lpips-weights", help="LPIPS weights (.safetensors of torchmetrics' AlexNet LPIPS) \\[default: "
                                "$PDIT_LPIPS_WEIGHTS, else no LPIPS column].")] = None,
    device: o.DeviceOpt = "auto",
    dtype: o.DTypeOpt = "auto",
    force: o.ForceOpt = False,
    list_methods: Annotated[bool, typer.Option("--list", metavar="", help="List the methods and exit.")] = False,
    *, size: dict,
) -> None:
    """Benchmark ProfilingDiT against stock sampling and other caching methods, side by side."""
    if list_methods:
        return _list_methods()
    from profiling_dit import preflight
    from profiling_dit.bench.methods import DEFAULT_METHODS
    from profiling_dit.bench.runner import BenchSettings, check_bench_folder, read_prompts
    from profiling_dit.errors import InvalidSettingError

    if out is None:
        raise InvalidSettingError("--out is missing: give the folder for results.json, results.md and pareto.png")
    folder = check_bench_folder(out, force)  # made, written into and undone: before the model loads
    profile, source = preflight.resolve(profile_path, model)
    if prompts and len(prompts) > 1:  # typer would keep the last one without a word
        raise InvalidSettingError("--prompts is given more than once; give one file (one prompt a line) or one prompt")
    prompt_list = read_prompts(prompts[0] if prompts else DEFAULT_PROMPT)
    gen = preflight.settings_for(source, profile, prompt=prompt_list[0], **size)
    bs = BenchSettings(prompts=prompt_list, seeds=o.parse_list("seeds", seeds, int) or (0,),
                       methods=o.parse_list("methods", methods) or DEFAULT_METHODS, sweep=sweep, repeats=repeats,
                       steps=gen.steps, height=gen.height, width=gen.width, frames=gen.frames, guidance=gen.guidance,
                       image=gen.image, lpips_weights=str(lpips_weights.expanduser()) if lpips_weights else None)
    notes = preflight.prompt_notes(source, prompt_list)
    notes += preflight.check_resources(source, [bs.generation(p, 0) for p in prompt_list], device, dtype.value)
    if repeats == 1:
        notes.append("`repeats` 1: each speedup is one timing on this machine; give 3 or more for medians")
    _run(source, profile, profile_path, bs, folder, notes, device, dtype.value, force)


def _run(source, profile, profile_path, bs, out: Path, notes, device: str, dtype: str, force: bool) -> None:
    import shlex
    import sys

    from profiling_dit.bench.report import write_results
    from profiling_dit.bench.runner import judge_for, plan_runs, run_bench
    from profiling_dit.environment import device_info, library_versions

    from ._common import progress, start

    con, loaded, _ = start(source, [], {"device": device, "dtype": dtype}, notes)
    with progress(con, "Benchmarking", plan_runs(bs)) as bar:
        results = run_bench(loaded, profile, bs, judge=judge_for(source),
                            on_progress=lambda i, n, what: bar.update(i, what))
    command = "pdit " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    results.update({"command": command, "model": source.ref, "profile": str(profile_path) if profile_path else None,
                    "environment": {**device_info(loaded.device), "versions": library_versions()}})
    paths = write_results(results, out, command, overwrite=force)
    print_bench_table(results)
    typer.echo(f"Wrote {', '.join(str(p) for p in paths.values())}")


def print_bench_table(results: dict) -> None:
    from rich.table import Table

    from profiling_dit.bench.lead import lead_lines
    from profiling_dit.bench.report import HEADERS, header_lines, table

    from ._common import wide_console

    t = Table(title="pdit bench: against stock sampling", caption=" ".join(header_lines(results)),
              caption_justify="left")
    for col in HEADERS:
        t.add_column(col, no_wrap=col in ("method", "setting"), overflow="fold")
    for row in table(results):
        t.add_row(*row)
    wide_console().print(t)
    for line in lead_lines(results.get("lead") or {}):
        typer.echo(line)


def _list_methods() -> None:
    import sys

    from profiling_dit.bench.methods import METHODS, label

    rows = [(m.name, m.family, label(m.default), ", ".join(label(p) for p in m.sweep), m.note)
            for m in METHODS.values()]
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
