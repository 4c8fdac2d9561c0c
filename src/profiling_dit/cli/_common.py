"""What several commands share: resolving the model (and the profile's), building settings from flags,
loading under a spinner, and progress bars. Nothing here that a notebook user would need."""

from __future__ import annotations

from pathlib import Path


def profile_and_model(profile: Path | None, model: str | None):
    """Load the profile (if any), resolve the model (default: the profile's, else tiny) and check, from the
    model's saved config alone, that the profile fits it. Returns (Profile or None, ModelSource)."""
    from profiling_dit.pipeline.loading import resolve_model

    if profile is None:
        return None, resolve_model(model if model is not None else "tiny")
    from profiling_dit.profile.file import Profile

    prof = Profile.load(profile)
    source = resolve_model(model if model is not None else _profile_model(prof))
    prof.check_fits(source)
    return prof, source


def _profile_model(prof) -> str:
    from profiling_dit.errors import ModelNotAvailableError
    from profiling_dit.models import MODEL_ALIASES
    from profiling_dit.pipeline.loading import _HUB_ID

    ref = prof.model.requested
    if ref.lower() in MODEL_ALIASES or _HUB_ID.match(ref) or Path(ref).is_dir():
        return ref
    raise ModelNotAvailableError(
        f"the profile was made on a local folder named {ref!r}, which is not here; pass that folder with --model")


def settings_from(source, prompt, negative_prompt, steps, height, width, frames, guidance, seed, fps, image=None):
    from profiling_dit.pipeline.settings import GenerationSettings

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
        image=str(image.expanduser()) if image is not None else None,
    ).check_for_source(source)


def check_device_and_memory(source, settings_list, device: str, dtype) -> None:
    """The device exists, the sizes fit in its memory (estimated from the configs), and float16 on a CPU
    (much slower than float32 there) is warned about; all before anything loads."""
    from rich.console import Console

    from profiling_dit.pipeline.loading import resolve_device
    from profiling_dit.pipeline.memory import check_memory

    dev = resolve_device(device)
    name = dtype.value if dtype.value != "auto" else ("bfloat16" if dev.type == "cuda" else "float32")
    for settings in settings_list:
        check_memory(source, settings, dev, name)
    if dev.type == "cpu" and name == "float16":
        Console(stderr=True).print("[yellow]Warning:[/] --dtype float16 on a CPU is much slower than float32 (CPUs "
                                   "have few half-precision kernels); use --dtype float32 or auto", highlight=False)


def load(source, device: str, dtype, warnings_: list[str] = (), quiet: bool = False):
    """Quiet the libraries, print warnings, load the pipeline under a spinner; return (console, model).
    ``quiet``: print nothing (the other ranks of a multi-process run)."""
    import io

    from rich.console import Console

    from profiling_dit.pipeline.loading import load_pipeline

    quiet_libraries()
    console = Console(file=io.StringIO()) if quiet else Console(stderr=True)
    for w in warnings_:
        console.print(f"[yellow]Warning:[/] {w}", highlight=False)
    with console.status(f"Loading {source.requested}…"):
        loaded = load_pipeline(source, device=device, dtype=dtype.value)
    if source.meta.get("trained") is False:
        console.print(f"[yellow]Note:[/] {source.meta.get('description', 'this model is untrained')}", highlight=False)
    return console, loaded


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
    # the commands print this note themselves (Profile.mismatch_warnings)
    warnings.filterwarnings("ignore", message="this profile has no staleness table")


def progress(console, label: str, total: int):
    """A progress display: a bar on a terminal; otherwise a line at every tenth of the work (logs, CI, pipes).
    Use as a context manager; call ``update(done, note="")``."""
    return _Progress(console, label, total)


class _Progress:
    def __init__(self, console, label: str, total: int):
        self.console, self.label, self.total = console, label, max(1, total)
        self._bar = None
        self._next = 0

    def __enter__(self):
        import time

        self._t0 = time.perf_counter()
        if self.console.is_terminal:
            from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                                       TimeRemainingColumn)

            self._bar = Progress(TextColumn(self.label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                                 TimeRemainingColumn(), TextColumn("{task.description}"), console=self.console)
            self._bar.__enter__()
            self._task = self._bar.add_task("", total=self.total)
        return self

    def update(self, done: int, note: str = "") -> None:
        import time

        if self._bar is not None:
            self._bar.update(self._task, completed=done, description=note)
            return
        if done >= self._next or done == self.total:
            self._next = done + max(1, self.total // 10)
            elapsed = time.perf_counter() - self._t0
            self.console.print(f"{self.label}: {done}/{self.total} ({elapsed:.0f} s){'  ' + note if note else ''}",
                               highlight=False, markup=False)

    def __exit__(self, *exc):
        if self._bar is not None:
            self._bar.__exit__(*exc)
        return False


def run_with_progress(console, fn, total_steps: int, label: str = "Generating"):
    """Run ``fn(on_step)`` under a progress display of ``total_steps``; ``on_step(i, total)`` marks step i done."""
    with progress(console, label, total_steps) as p:
        return fn(lambda i, total: p.update(i + 1))


class ParallelRun:
    """This process's part in a context-parallel run (``--context-parallel`` under torchrun)."""

    def __init__(self, mode: str, device, world_size: int, rank: int):
        self.mode, self.device, self.world_size, self.rank = mode, device, world_size, rank
        self.main = rank == 0

    def enable(self, model) -> None:
        from profiling_dit.pipeline.parallel import enable_context_parallel

        enable_context_parallel(model, self.mode)

    def report(self, cache_bytes) -> dict:
        """The run's parallel settings, with every rank's delta-cache size (gathered on every rank)."""
        import torch.distributed as dist

        mine = {"cache_bytes": cache_bytes, "peak_memory_bytes": peak_memory_bytes(self.device)}
        ranks = [None] * self.world_size
        dist.all_gather_object(ranks, mine)
        return {"mode": self.mode, "world_size": self.world_size,
                "cache_bytes_per_rank": [r["cache_bytes"] for r in ranks],
                "peak_memory_bytes_per_rank": [r["peak_memory_bytes"] for r in ranks]}

    def finish(self) -> None:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.barrier()
            dist.destroy_process_group()


def start_parallel(source, settings_list, mode, device: str):
    """With ``--context-parallel``: check the launch and sizes (every rank, the same checks), then join the
    process group. None without it."""
    if mode is None:
        return None
    from profiling_dit.pipeline.parallel import check_context_parallel, distributed_env, init_distributed

    for settings in settings_list:
        world = check_context_parallel(source, settings, mode.value, device=device)
    dev = init_distributed(device)
    return ParallelRun(mode.value, dev, world, distributed_env().rank)


def relaunch(nproc: int, mode) -> None:
    """``--nproc N``: run this same command in N processes through torch's launcher, and exit with its code."""
    import subprocess
    import sys

    from profiling_dit.errors import InvalidSettingError
    from profiling_dit.pipeline.parallel import distributed_env

    if distributed_env() is not None:
        raise InvalidSettingError("--nproc starts the processes itself; leave it out under torchrun")
    if mode is None:
        raise InvalidSettingError("--nproc goes with --context-parallel ulysses|ring")
    if nproc < 2:
        raise InvalidSettingError(f"--nproc must be at least 2, got {nproc}")
    args, skip = [], False
    for a in sys.argv[1:]:
        if skip:
            skip = False
            continue
        if a == "--nproc":
            skip = True
            continue
        if a.startswith("--nproc="):
            continue
        args.append(a)
    code = subprocess.call([sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(nproc),
                            "-m", "profiling_dit.cli", *args])
    raise SystemExit(code)


def peak_memory_bytes(device) -> int:
    """This process's peak memory so far: the GPU's allocations on CUDA, the resident set on a CPU."""
    import resource

    import torch

    if getattr(device, "type", str(device)) == "cuda":
        return int(torch.cuda.max_memory_allocated(device))
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024
