"""What several commands show or do the same way: notes, loading under a spinner, progress, relaunching under
torch's launcher. The checks and the runs themselves are library functions (``profiling_dit.preflight``,
``profiling_dit.pipeline.parallel``)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.progress import Progress


def console(quiet: bool = False):
    """A console on stderr (``quiet``: one that prints nothing: the other ranks of a multi-process run)."""
    import io

    from rich.console import Console

    if quiet:
        return Console(file=io.StringIO())
    probe = Console(stderr=True)  # logs and pipes get 160 columns, not 80: tables stay unwrapped
    return probe if probe.is_terminal else Console(stderr=True, width=max(probe.width, 160))


def leave(parallel) -> None:
    """End this rank of a context-parallel run once its outputs are written: wait for every rank, leave the process
    group, and exit at once. Exiting through the interpreter's shutdown instead let gloo's worker threads free
    tensors after Python had gone, and the rank aborted ("terminate called without an active exception", exit -6)
    now and then after a finished run."""
    import os
    import sys

    parallel.finish()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def note(con, text: str, kind: str = "Warning") -> None:
    from ._errors import cli_message

    con.print(f"[yellow]{kind}:[/] {cli_message(text)}", highlight=False)


def start(source, settings_list, run: dict, notes=()):
    """Join a context-parallel run if asked, print the notes, load the pipeline under a spinner. Returns
    (console, loaded model, ParallelRun or None)."""
    from profiling_dit.pipeline.loading import load_pipeline
    from profiling_dit.pipeline.parallel import start_parallel

    parallel = start_parallel(source, settings_list, run.get("context_parallel"), run["device"])
    con = console(quiet=parallel is not None and not parallel.main)
    quiet_libraries()
    for text in notes:
        note(con, text)
    with con.status(f"Loading {source.requested}…"):
        loaded = load_pipeline(source, device=parallel.device if parallel else run["device"], dtype=run["dtype"])
    if source.meta.get("trained") is False:
        note(con, source.meta.get("description", "this model is untrained"), "Note")
    return con, loaded, parallel


def quiet_libraries() -> None:
    """The CLI shows its own progress; silence the libraries' bars and info logs."""
    import warnings

    import diffusers.utils.logging as dlog
    import transformers.utils.logging as tlog

    dlog.set_verbosity_error()
    dlog.disable_progress_bar()
    tlog.set_verbosity_error()
    tlog.disable_progress_bar()
    warnings.filterwarnings("ignore", category=FutureWarning)


def show_warnings_as_notes() -> None:
    """Each warning (the library's: a profile without a staleness table, a plan made for another step count) as one
    ``Warning:`` line on stderr, once per message, instead of Python's two lines with a file name."""
    import warnings

    shown: set[str] = set()

    def show(message, category, filename, lineno, file=None, line=None):
        text = str(message)
        if text not in shown:
            shown.add(text)
            note(console(), text, "Warning" if issubclass(category, UserWarning) else category.__name__)

    warnings.showwarning = show


class progress:
    """A progress display: a bar on a terminal; otherwise a line at every tenth of the work (logs, CI, pipes).
    Use as a context manager; call ``update(done, note="")``, or pass ``step`` as an ``on_step(i, total)``."""

    def __init__(self, con, label: str, total: int):
        self.console, self.label, self.total = con, label, max(1, total)
        self._bar: Progress | None = None
        self._next = 0

    def __enter__(self):
        self._t0 = time.perf_counter()
        if self.console.is_terminal:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._bar = Progress(TextColumn(self.label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                                 TimeRemainingColumn(), TextColumn("{task.description}"), console=self.console)
            self._bar.__enter__()
            self._task = self._bar.add_task("", total=self.total)
        return self

    def update(self, done: int, note: str = "") -> None:
        if self._bar is not None:
            self._bar.update(self._task, completed=done, description=note)
            return
        if done >= self._next or done == self.total:
            self._next = done + max(1, self.total // 10)
            elapsed = time.perf_counter() - self._t0
            self.console.print(f"{self.label}: {done}/{self.total} ({elapsed:.0f} s){'  ' + note if note else ''}",
                               highlight=False, markup=False)

    def step(self, i: int, total: int) -> None:
        self.update(i + 1)

    def __exit__(self, *exc):
        if self._bar is not None:
            self._bar.__exit__(*exc)
        return False


def relaunch(run: dict, source, settings_list) -> None:
    """``--nproc N``: run this same command in N processes through torch's launcher, and exit with its code.
    Nothing is launched until the process count, and the sizes on that many processes, are checked."""
    import subprocess
    import sys

    from profiling_dit.pipeline.parallel import check_context_parallel, launcher_command
    from profiling_dit.pipeline.settings import check_device

    nproc = run.get("nproc")
    if nproc is None:
        return
    check_device(run["device"])  # before any process starts: each would refuse it, and torchrun add its traceback
    command = launcher_command(nproc, run.get("context_parallel"), [])  # the count first
    for settings in settings_list:
        check_context_parallel(source, settings, run["context_parallel"], world_size=nproc, device=run["device"])
    args, skip = [], False
    for a in sys.argv[1:]:
        if skip:
            skip = False
        elif a == "--nproc":
            skip = True
        elif not a.startswith("--nproc="):
            args.append(a)
    raise SystemExit(subprocess.call(command + args))


def wide_console():
    """stderr at least 160 columns wide: tables in logs and pipes are not wrapped at 80."""
    return console()


def print_plan(con, summary: dict, profile=None, component: str = "transformer", named: bool = False) -> None:
    """The plan as a table: one row per block (F/B as profiled, whether the plan caches it), one column per step."""
    from rich.table import Table

    if named:
        a, b = summary.get("step_range", (0, len(summary["timeline"][0])))
        con.print(f"[bold]{component}[/] runs steps {a}..{b - 1}")
    extra = f"; predicted error {summary['predicted_error']:.3g}" if summary.get("predicted_error") is not None else ""
    speed = (f"; implied transformer speedup {summary['implied_speedup']:.2f}x (from the profile's measured share of "
             "time in blocks)" if summary.get("implied_speedup") else "")
    memory = ("; each run keeps two deltas (a forecast adds the one before), twice plain reuse's cache"
              if summary.get("deltas_per_run", 1) > 1 else "")
    con.print(f"ProfilingDiT plan ({summary.get('origin') or 'by hand'}): {summary['computed_share']:.0%} of block "
              f"evaluations computed{speed}{extra} (█ compute, · reuse cached delta); full-compute steps "
              f"{summary['full_compute_steps']}{memory}", highlight=False)
    foreground = set()
    if profile is not None:
        blocks = profile.expert(component).blocks if profile.experts else profile.blocks
        foreground = set(blocks.split.foreground_blocks)
    table = Table(show_edge=False, pad_edge=False)
    table.add_column("block", justify="right")
    table.add_column("set")
    table.add_column("steps →", no_wrap=True)
    cached = set(summary["cached_blocks"])
    for b, row in enumerate(summary["timeline"]):
        table.add_row(str(b), ("F" if b in foreground else "B") + (" (cached)" if b in cached else ""), row)
    con.print(table)
