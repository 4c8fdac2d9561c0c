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
    from profiling_dit.pipeline.generation import GenerationSettings

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
    ).check_for(source.arch)


def load(source, device: str, dtype, warnings_: list[str] = ()):
    """Quiet the libraries, print warnings, load the pipeline under a spinner; return (console, model)."""
    from rich.console import Console

    from profiling_dit.pipeline.loading import load_pipeline

    quiet_libraries()
    console = Console(stderr=True)
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


def run_with_progress(console, fn, total_steps: int, label: str = "Denoising"):
    """Run ``fn(on_step)`` under a progress bar of ``total_steps``; ``on_step(i, total)`` marks step i done."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    with Progress(
        TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn(),
        console=console, transient=False,
    ) as progress:
        task = progress.add_task("denoise", total=total_steps)
        return fn(lambda i, total: progress.update(task, completed=i + 1))
