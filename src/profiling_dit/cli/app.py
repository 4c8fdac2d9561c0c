"""The `pdit` typer app. Heavy imports (torch, diffusers) happen inside commands so `--help` is instant."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

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
    from profiling_dit.loading import resolve_device
    from profiling_dit.video_io import check_output_path

    # Everything cheap is checked before any weights load.
    caching_flags = (warmup, interval_max, interval_min, tau, background_share, final_full_steps, schedule, reuse)
    config = None
    if profile is None and (any(v is not None for v in caching_flags) or compile):
        raise InvalidSettingError("caching options (--warmup, --tau, --compile, ...) need --profile")
    prof, source = _profile_and_model(profile, model)
    settings = _settings(source, prompt, negative_prompt, steps, height, width, frames, guidance, seed, fps, image)
    warnings = []
    if prof is not None:
        from profiling_dit.cache import ProfilingDiTConfig

        overrides = dict(tau=tau, background_share=background_share, warmup=warmup, interval_max=interval_max,
                         interval_min=interval_min, final_full_steps=final_full_steps,
                         schedule=schedule.value if schedule else None, reuse=reuse.value if reuse else None)
        if "experts" in prof:  # two experts: each is planned over its steps, known once the model is loaded
            ProfilingDiTConfig.from_profile(prof, steps=None, **overrides)  # validates the overrides early
            config = "experts"
        else:
            config = ProfilingDiTConfig.from_profile(prof, steps=settings.steps, **overrides)
        warnings = _profile_mismatch_warnings(prof, settings)
    out = check_output_path(out, force)
    if report is not None:
        report = check_output_path(report, force, extensions=(".json",))
    resolve_device(device)


    from profiling_dit._io import atomic_write_text
    from profiling_dit.generation import generate as run_generation
    from profiling_dit.generation import run_report
    from profiling_dit.video_io import write_video

    console, loaded = _load(source, device, dtype, warnings, prof, profile)

    extra = {"output": str(out)}
    if config is None:
        result = _run_with_progress(console, lambda cb: run_generation(loaded, settings, on_step=cb), settings.steps)
    else:
        from profiling_dit.sampling import expert_configs, generate_cached, plan_summary

        if config == "experts":
            config = expert_configs(loaded, prof, settings.steps, **overrides)
            for name, cfg in config.items():
                console.print(f"[bold]{name}[/] runs steps {cfg.step_range[0]}..{cfg.step_range[1] - 1}")
                _print_plan(console, plan_summary(cfg, settings.steps), cfg)
        else:
            _print_plan(console, plan_summary(config, settings.steps), config)
        result, summary = _run_with_progress(
            console, lambda cb: generate_cached(loaded, settings, config, compile=compile, on_step=cb),
            settings.steps, "Sampling (cached)")
        extra.update({"profile": str(profile), "profiling_dit": summary, "warnings": warnings})
    write_video(result.frames[0], out, fps=settings.fps)
    t = result.timings
    if report is not None:
        atomic_write_text(report, json.dumps(run_report(loaded, settings, t, **extra), indent=2) + "\n")
    f, h, w = result.frames.shape[1:4]
    tail = ""
    if config is not None:
        s = extra["profiling_dit"]
        tail = f"; computed {s['computed_share']:.0%} of block evaluations"
        if s["implied_speedup"] is not None:
            tail += f", implied transformer speedup {s['implied_speedup']:.2f}x"
    typer.echo(
        f"Wrote {out} ({f} frames, {w}x{h}) in {t.total_s:.1f} s "
        f"(transformer {t.transformer_s:.1f} s over {t.transformer_calls} calls{tail})"
        + (f"; report: {report}" if report else "")
    )


def _profile_mismatch_warnings(prof: dict, settings) -> list[str]:
    run = prof["run"]
    out = []
    if settings.steps != run["steps"]:
        out.append(f"the profile was made with {run['steps']} steps, not {settings.steps}: warm-up and intervals "
                   f"are rescaled by {settings.steps}/{run['steps']}")
    size = (settings.frames, settings.height, settings.width)
    if size != (run["frames"], run["height"], run["width"]):
        out.append(f"the profile was made at {run['frames']}x{run['height']}x{run['width']} (frames x H x W), not "
                   f"{size[0]}x{size[1]}x{size[2]}; the block split is used as it is")
    return out


def _print_plan(console, summary: dict, config) -> None:
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


@app.command()
@friendly_errors
def profile(
    prompt: Annotated[list[str], typer.Option("--prompt", "-p", help="Prompt; repeat for several (one profile).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Profile JSON; pictures go beside it.")],
    model: o.ModelOpt = "tiny",
    negative_prompt: o.NegativePromptOpt = "",
    image: o.ImageOpt = None,
    steps: o.StepsOpt = None,
    height: o.HeightOpt = None,
    width: o.WidthOpt = None,
    frames: o.FramesOpt = None,
    guidance: o.GuidanceOpt = None,
    seed: o.SeedOpt = 0,
    every: Annotated[int, typer.Option("--every", help="Measure attention every K-th step.")] = 1,
    chunk_size: Annotated[int, typer.Option("--chunk-size", help="Queries per chunk for attention scores.")] = 1024,
    query_stride: Annotated[int, typer.Option("--query-stride", help="Use every s-th query (long sequences).")] = 1,
    attn_threshold: Annotated[float, typer.Option("--attn-threshold", help="κ: high attention is ā > κ/N.")] = 1.0,
    mask_step: Annotated[Optional[int], typer.Option("--mask-step", help="Step whose prediction is segmented [default: last].")] = None,
    tau: Annotated[Optional[float], typer.Option("--tau", help="Split threshold τ on block R_attn (Eq. 7).")] = None,
    background_share: Annotated[Optional[float], typer.Option("--background-share", help="Target share of background blocks [default: 0.75 when no --tau].")] = None,
    sam2: Annotated[Optional[str], typer.Option("--sam2", help="SAM2 checkpoint: .safetensors path or Hub id.")] = None,
    sam2_config: Annotated[Optional[str], typer.Option("--sam2-config", help="SAM2 config: tiny, small, base_plus, large, or a config path.")] = None,
    masks: Annotated[Optional[Path], typer.Option("--masks", help="Your own foreground masks (.npy, frames x H x W).")] = None,
    device: o.DeviceOpt = "auto",
    dtype: o.DTypeOpt = o.DType.auto,
    force: o.ForceOpt = False,
) -> None:
    """Profile which blocks attend to the foreground; write the profile JSON and its pictures."""
    from profiling_dit.errors import InvalidSettingError
    from profiling_dit.loading import resolve_device, resolve_model
    from profiling_dit.profiling import ProfileSettings
    from profiling_dit.video_io import check_output_path

    if sam2 is not None and masks is not None:
        raise InvalidSettingError("give --sam2 or --masks, not both")
    source = resolve_model(model)
    gens = [_settings(source, p, negative_prompt, steps, height, width, frames, guidance, seed, None, image)
            for p in prompt]
    ps = ProfileSettings(every=every, chunk_size=chunk_size, query_stride=query_stride, attn_threshold=attn_threshold,
                         mask_step=mask_step, tau=tau, background_share=background_share)
    ps.check_for(gens[0])
    out = check_output_path(out, force, extensions=(".json",))
    stem = out.with_suffix("")
    for suffix in (".heatmap.png", ".l1.png", ".masks.png"):
        check_output_path(Path(f"{stem}{suffix}"), force, extensions=(".png",))
    if sam2 is not None:
        from profiling_dit.segmentation import resolve_sam2_checkpoint

        resolve_sam2_checkpoint(sam2)
    if masks is not None:
        if not masks.is_file():
            raise InvalidSettingError(f"masks file {str(masks)!r} does not exist")
    resolve_device(device)


    from profiling_dit.profiling import build_profile, measure_prompt, write_profile
    from profiling_dit.segmentation import PcaOtsuSegmenter, Sam2Segmenter

    console, loaded = _load(source, device, dtype)
    if masks is not None:
        segmenter, seg_info = None, {"name": "user-masks", "detail": str(masks)}
    elif sam2 is not None:
        with console.status("Loading SAM2…"):
            segmenter = Sam2Segmenter(sam2, sam2_config, device=str(loaded.device))
        seg_info = {"name": segmenter.info.name, "detail": segmenter.info.detail}
    else:
        segmenter = PcaOtsuSegmenter()
        seg_info = {"name": segmenter.info.name, "detail": segmenter.info.detail}
        console.print("[yellow]Warning:[/] no --sam2 checkpoint; using the fallback segmenter "
                      f"'{segmenter.info.name}' (recorded in the profile)")
    measurements = []
    for i, gen in enumerate(gens):
        label = f"Profiling {i + 1}/{len(gens)}"
        measurements.append(_run_with_progress(
            console, lambda cb, gen=gen: measure_prompt(loaded, gen, ps, segmenter, masks, on_step=cb), gen.steps, label))
    prof = build_profile(loaded, gens, ps, measurements, seg_info)
    pics = write_profile(prof, out, measurements)
    sp = prof["split"]
    typer.echo(f"Wrote {out}: {len(sp['foreground_blocks'])} foreground / {len(sp['background_blocks'])} background "
               f"blocks (tau={sp['tau']:.3f}); schedule warm-up {prof['schedule']['warmup']}, "
               f"T_max {prof['schedule']['interval_max']}, T_min {prof['schedule']['interval_min']}; "
               f"pictures: {', '.join(str(p) for p in pics.values())}")
    if min(prof["foreground_share"]) == 0:
        console.print("[yellow]Warning:[/] the foreground mask is empty for at least one prompt, so R_attn is 0 there; "
                      "try --sam2, --masks, or another --mask-step")


@app.command()
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
    from profiling_dit.loading import resolve_device
    from profiling_dit.peers import METHODS

    if list_methods:
        for m in METHODS.values():
            typer.echo(f"{m.name:26s} {m.family:14s} default {m.default or '-'}  {m.note}")
        return
    prof, source = _profile_and_model(profile, model)
    ppath = Path(prompts).expanduser()
    prompt_list = ([line.strip() for line in ppath.read_text().splitlines() if line.strip()]
                   if ppath.is_file() else [prompts])
    try:
        seed_list = tuple(int(x) for x in seeds.split(",") if x.strip())
    except ValueError:
        raise InvalidSettingError(f"--seeds must be comma-separated integers, got {seeds!r}") from None
    method_list = tuple(m.strip() for m in methods.split(",") if m.strip()) if methods else tuple(METHODS)
    gen0 = _settings(source, prompt_list[0] if prompt_list else "", "", steps, height, width, frames, guidance, 0, None,
                     image)
    from profiling_dit.bench import BenchSettings

    bs = BenchSettings(prompts=tuple(prompt_list), seeds=seed_list, methods=method_list, sweep=sweep, repeats=repeats,
                       steps=gen0.steps, height=gen0.height, width=gen0.width, frames=gen0.frames,
                       guidance=gen0.guidance, image=gen0.image)
    for p in prompt_list:
        bs.generation(p, 0)  # validates every prompt before anything runs
    out = out.expanduser()
    if out.exists() and not out.is_dir():
        raise OutputPathError(f"{str(out)!r} is a file; --out takes a folder")
    names = ("results.json", "results.md", "pareto.png")
    if not force and any((out / n).exists() for n in names):
        raise OutputPathError(f"{str(out)!r} already holds results; pass --force to overwrite them")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputPathError(f"cannot create {str(out)!r}: {e.strerror or e}") from None
    resolve_device(device)

    import shlex
    import sys

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from profiling_dit._io import atomic_write_text
    from profiling_dit.bench import pareto_plot, plan_runs, run_bench, to_markdown
    from profiling_dit.environment import device_info, library_versions

    console, loaded = _load(source, device, dtype, (), prof, profile)
    with Progress(TextColumn("Benchmark"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  TextColumn("{task.description}"), console=console) as progress:
        task = progress.add_task("", total=plan_runs(bs))
        results = run_bench(loaded, prof, bs,
                            on_progress=lambda i, n, what: progress.update(task, completed=i, description=what))
    command = "pdit " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    results.update({"command": command, "model": source.requested, "profile": str(profile) if profile else None,
                    "environment": {**device_info(loaded.device), "versions": library_versions()}})
    atomic_write_text(out / "results.json", json.dumps(results, indent=2, default=str) + "\n")
    md = to_markdown(results, command)
    atomic_write_text(out / "results.md", md + "\n")
    pareto_plot(results, out / "pareto.png")
    _print_bench_table(console, results)
    typer.echo(f"Wrote {out / 'results.json'}, {out / 'results.md'}, {out / 'pareto.png'}")


def _print_bench_table(console, results: dict) -> None:
    from rich.table import Table

    from profiling_dit.bench import _fmt

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
    from rich.console import Console

    wide = Console(stderr=True, width=max(console.width, 132))  # logs default to 80 columns
    wide.print(table)
    for i, note in enumerate(notes, 1):
        wide.print(f"  {i}. {note}", markup=False, highlight=False)


def _profile_and_model(profile: Path | None, model: str | None):
    """Load the profile (if any), resolve the model (default: the profile's, else tiny) and check, from the
    model's saved config alone, that the profile fits it. Returns (profile dict or None, ModelSource)."""
    from profiling_dit.loading import resolve_model

    if profile is None:
        return None, resolve_model(model or "tiny")
    from profiling_dit.profile_file import check_profile_fits, load_profile, profile_model_ref

    prof = load_profile(profile)
    source = resolve_model(model or profile_model_ref(prof))
    check_profile_fits(prof, None, source=f"profile {str(profile)!r}", model_source=source)
    return prof, source


def _load(source, device: str, dtype, warnings: list[str] = (), prof: dict | None = None,
          profile: Path | None = None):
    """Quiet the libraries, print warnings, load the pipeline under a spinner, check the profile against the
    loaded transformer; return (console, model)."""
    from rich.console import Console

    from profiling_dit.loading import load_pipeline

    _quiet_libraries()
    console = Console(stderr=True)
    for w in warnings:
        console.print(f"[yellow]Warning:[/] {w}")
    with console.status(f"Loading {source.requested}…"):
        loaded = load_pipeline(source, device=device, dtype=dtype.value)
    if source.meta.get("trained") is False:
        console.print(f"[yellow]Note:[/] {source.meta.get('description', 'this model is untrained')}")
    if prof is not None:
        from profiling_dit.profile_file import check_profile_fits

        check_profile_fits(prof, loaded.pipe.transformer, loaded.arch, source=f"profile {str(profile)!r}")
    return console, loaded


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


def _settings(source, prompt, negative_prompt, steps, height, width, frames, guidance, seed, fps, image=None):
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
        image=str(image.expanduser()) if image is not None else None,
    ).check_for(source.arch)


def _run_with_progress(console, fn, total_steps: int, label: str = "Denoising"):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    with Progress(
        TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn(),
        console=console, transient=False,
    ) as progress:
        task = progress.add_task("denoise", total=total_steps)
        return fn(lambda i, total: progress.update(task, completed=i + 1))


def main() -> None:
    app()
