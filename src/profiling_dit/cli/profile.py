"""`pdit profile`: stage one, one profiled run per prompt, to a profile JSON and its pictures."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from . import _options as o
from ._errors import friendly_errors

PICTURE_SUFFIXES = (".heatmap.png", ".l1.png", ".masks.png")


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
    calibrate: Annotated[int, typer.Option("--calibrate", help="Refine the plans of --budgets with at most N generations on the first prompt (0: no calibration).")] = 0,
    budgets: Annotated[str, typer.Option("--budgets", help="Comma-separated budgets (computed shares) to calibrate.")] = "0.35,0.4,0.45,0.5,0.55,0.6,0.65,0.7,0.75",
    staleness_tokens: Annotated[int, typer.Option("--staleness-tokens", help="Video tokens the staleness table is measured on.")] = 1024,
    device: o.DeviceOpt = "auto",
    dtype: o.DTypeOpt = o.DType.auto,
    force: o.ForceOpt = False,
) -> None:
    """Profile which blocks attend to the foreground; write the profile JSON and its pictures."""
    from profiling_dit.errors import InvalidSettingError
    from profiling_dit.pipeline.loading import resolve_device, resolve_model
    from profiling_dit.pipeline.video_io import check_output_path
    from profiling_dit.profile.measure import ProfileSettings

    from ._common import load, run_with_progress, settings_from

    if sam2 is not None and masks is not None:
        raise InvalidSettingError("give --sam2 or --masks, not both")
    source = resolve_model(model)
    gens = [settings_from(source, p, negative_prompt, steps, height, width, frames, guidance, seed, None, image)
            for p in prompt]
    ps = ProfileSettings(every=every, chunk_size=chunk_size, query_stride=query_stride, attn_threshold=attn_threshold,
                         mask_step=mask_step, tau=tau, background_share=background_share,
                         staleness_tokens=staleness_tokens)
    try:
        budget_list = tuple(float(x) for x in budgets.split(",") if x.strip())
    except ValueError:
        raise InvalidSettingError(f"--budgets must be comma-separated numbers, got {budgets!r}") from None
    if calibrate < 0 or (calibrate and (not budget_list or any(not 0 < b < 1 for b in budget_list))):
        raise InvalidSettingError("--calibrate takes a number of generations >= 0, and --budgets shares in (0, 1)")
    if calibrate and calibrate < 1 + 2 * len(budget_list):
        raise InvalidSettingError(f"--calibrate {calibrate} is too few for {len(budget_list)} budgets: give at least "
                                  f"{1 + 2 * len(budget_list)} (one stock run, two candidates a budget)")
    ps.check_for(gens[0])
    out = check_output_path(out, force, extensions=(".json",))
    stem = out.with_suffix("")
    for suffix in PICTURE_SUFFIXES:
        check_output_path(Path(f"{stem}{suffix}"), force, extensions=(".png",))
    if sam2 is not None:
        from profiling_dit.profile.segmentation import resolve_sam2_checkpoint

        resolve_sam2_checkpoint(sam2)
    if masks is not None and not masks.is_file():
        raise InvalidSettingError(f"masks file {str(masks)!r} does not exist")
    resolve_device(device)

    from profiling_dit.profile.measure import profile_model

    console, loaded = load(source, device, dtype)
    segmenter = None
    if sam2 is not None:
        from profiling_dit.profile.segmentation import Sam2Segmenter

        with console.status("Loading SAM2…"):
            segmenter = Sam2Segmenter(sam2, sam2_config, device=str(loaded.device))
    elif masks is None:
        console.print("[yellow]Warning:[/] no --sam2 checkpoint; using the fallback segmenter 'pca-otsu' "
                      "(recorded in the profile)")
    g = gens[0]
    prof = run_with_progress(
        console, lambda cb: profile_model(loaded, prompt, ps, steps=g.steps, height=g.height, width=g.width,
                                          frames=g.frames, guidance=g.guidance, seed=seed,
                                          negative_prompt=negative_prompt, image=g.image, segmenter=segmenter,
                                          masks=masks, on_step=cb),
        sum(x.steps for x in gens), "Profiling")
    if calibrate:
        from profiling_dit.profile.calibrate import calibrate as run_calibration

        prof = run_with_progress(
            console, lambda cb: run_calibration(loaded, prof, budget_list, calibrate,
                                                on_generation=lambda i, n, what: cb(i - 1, n)),
            calibrate, "Calibrating")
    prof.save(out)
    pics = [Path(f"{stem}{s}") for s in PICTURE_SUFFIXES if Path(f"{stem}{s}").exists()]
    sp = prof.split
    typer.echo(f"Wrote {out}: {len(sp.foreground_blocks)} foreground / {len(sp.background_blocks)} background "
               f"blocks (tau={sp.tau:.3f}); schedule warm-up {prof.schedule.warmup}, "
               f"T_max {prof.schedule.interval_max}, T_min {prof.schedule.interval_min}; "
               f"pictures: {', '.join(str(p) for p in pics)}")
    for plan in prof.plans:
        typer.echo(f"  budget {plan.budget:g}: {len(plan.cached_blocks)} blocks cached, full steps "
                   f"{list(plan.full_steps)}, {plan.calibration_psnr_db:.1f} dB against stock on the first prompt "
                   f"({plan.generations} generations)")
    typer.echo(f"Next: pdit generate --profile {out} --prompt \"...\" --out video.mp4   (or: pdit plan --profile {out})")
    if min(prof.foreground_share) == 0:
        console.print("[yellow]Warning:[/] the foreground mask is empty for at least one prompt, so R_attn is 0 there; "
                      "try --sam2, --masks, or another --mask-step")
