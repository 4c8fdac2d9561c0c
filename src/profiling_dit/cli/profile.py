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
    mask_step: Annotated[Optional[int], typer.Option("--mask-step", help="Step whose prediction is segmented \\[default: last].")] = None,
    tau: Annotated[Optional[float], typer.Option("--tau", help="Split threshold τ on block R_attn (Eq. 7).")] = None,
    background_share: Annotated[Optional[float], typer.Option("--background-share", help="Target share of background blocks \\[default: 0.75 when no --tau].")] = None,
    sam2: Annotated[Optional[str], typer.Option("--sam2", help="SAM2 checkpoint: .safetensors path or Hub id.")] = None,
    sam2_config: Annotated[Optional[str], typer.Option("--sam2-config", help="SAM2 config: tiny, small, base_plus, large, or a config path.")] = None,
    masks: Annotated[Optional[Path], typer.Option("--masks", help="Your own foreground masks (.npy, frames x H x W).")] = None,
    calibrate: Annotated[int, typer.Option("--calibrate", help="Refine the plans of --budgets with at most N generations on the first prompt (0: no calibration).")] = 0,
    budgets: Annotated[Optional[str], typer.Option("--budgets", help="Comma-separated budgets (computed shares) to calibrate \\[default: 0.3, 0.35, ... 0.75].")] = None,
    staleness_tokens: Annotated[int, typer.Option("--staleness-tokens", help="Video tokens the staleness table is measured on.")] = 1024,
    set_ranking: Annotated[o.SetRanking, typer.Option("--set-ranking", help="How the planner's cached sets grow: r_attn (lowest R_attn first, the paper's) or staleness (the block adding the least measured reuse error first).")] = o.SetRanking.r_attn,
    device: o.DeviceOpt = "auto",
    dtype: o.DTypeOpt = o.DType.auto,
    context_parallel: o.ContextParallelOpt = None,
    nproc: o.NprocOpt = None,
    force: o.ForceOpt = False,
) -> None:
    """Profile which blocks attend to the foreground; write the profile JSON and its pictures."""
    from ._common import relaunch

    if nproc is not None:
        relaunch(nproc, context_parallel)
    from profiling_dit.errors import InvalidSettingError
    from profiling_dit.pipeline.loading import resolve_model
    from profiling_dit.pipeline.video_io import check_output_path
    from profiling_dit.profile.settings import ProfileSettings

    from ._common import check_device_and_memory, load, run_with_progress, settings_from, start_parallel

    out = check_output_path(out, force, extensions=(".json",))
    stem = out.with_suffix("")
    for suffix in PICTURE_SUFFIXES:  # pictures without their profile (an interrupted run's) are overwritten
        check_output_path(Path(f"{stem}{suffix}"), True, extensions=(".png",))
    if sam2 is not None and masks is not None:
        raise InvalidSettingError("give --sam2 or --masks, not both")
    source = resolve_model(model)
    gens = [settings_from(source, p, negative_prompt, steps, height, width, frames, guidance, seed, None, image)
            for p in prompt]
    ps = ProfileSettings(every=every, chunk_size=chunk_size, query_stride=query_stride, attn_threshold=attn_threshold,
                         mask_step=mask_step, tau=tau, background_share=background_share,
                         staleness_tokens=staleness_tokens, set_ranking=set_ranking.value)
    from profiling_dit.accelerate.planner import STANDARD_BUDGETS

    try:
        budget_list = (tuple(float(x) for x in budgets.split(",") if x.strip()) if budgets is not None
                       else STANDARD_BUDGETS)
    except ValueError:
        raise InvalidSettingError(f"--budgets must be comma-separated numbers, got {budgets!r}") from None
    if calibrate < 0 or (calibrate and (not budget_list or any(not 0 < b < 1 for b in budget_list))):
        raise InvalidSettingError("--calibrate takes a number of generations >= 0, and --budgets shares in (0, 1)")
    if calibrate and calibrate < 1 + 2 * len(budget_list):
        raise InvalidSettingError(f"--calibrate {calibrate} is too few for {len(budget_list)} budgets: give at least "
                                  f"{1 + 2 * len(budget_list)} (one stock run, two candidates a budget)")
    ps.check_for(gens[0])
    if sam2 is not None:
        from profiling_dit.profile.segmentation import check_sam2_config, resolve_sam2_checkpoint

        check_sam2_config(sam2_config)
        resolve_sam2_checkpoint(sam2)
    elif sam2_config is not None:
        raise InvalidSettingError("--sam2-config goes with --sam2 (the checkpoint)")
    if masks is not None:
        from profiling_dit.profile.segmentation import read_user_masks

        read_user_masks(masks)
    check_device_and_memory(source, gens, device, dtype)
    if context_parallel is not None and calibrate:
        raise InvalidSettingError("--calibrate runs in one process; profile with --context-parallel, then calibrate "
                                  "without it (or on one GPU)")
    parallel = start_parallel(source, gens, context_parallel, device)

    from profiling_dit.profile.measure import profile_model

    console, loaded = load(source, parallel.device if parallel else device, dtype,
                           quiet=parallel is not None and not parallel.main)
    if parallel is not None:
        parallel.enable(loaded)
    if calibrate and len(loaded.experts) > 1:
        raise InvalidSettingError("--calibrate runs on one transformer; this pipeline has two experts (they get the "
                                  "planner's plans): leave --calibrate out")
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

        prof.save(out)  # the measured profile is kept whatever calibration does

        prof = run_with_progress(
            console, lambda cb: run_calibration(loaded, prof, budget_list, calibrate,
                                                on_generation=lambda i, n, what: cb(i - 1, n)),
            calibrate, "Calibrating")
    if parallel is not None:
        parallel.finish()
        if not parallel.main:  # rank 0 writes the profile
            return
    prof.save(out)
    pics = [Path(f"{stem}{suffix}") for suffix in PICTURE_SUFFIXES if Path(f"{stem}{suffix}").exists()]
    sp = prof.split
    typer.echo(f"Wrote {out} and its pictures ({', '.join(p.name for p in pics)}).")
    typer.echo(f"Found: foreground blocks {list(sp.foreground_blocks)} (R_attn >= tau {sp.tau:.3f}), background "
               f"{list(sp.background_blocks)}; the paper's schedule: warm-up {prof.schedule.warmup}, T_max "
               f"{prof.schedule.interval_max}, T_min {prof.schedule.interval_min}.")
    if prof.blocks.staleness is not None:
        import warnings

        from profiling_dit.accelerate.preview import preview

        from profiling_dit.errors import PditError

        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                default = next(iter(preview(prof).values()))
        except PditError as e:  # e.g. too few steps for the default budget
            typer.echo(f"Default plan: none ({e})")
        else:
            speed = f", implied speedup {default['implied_speedup']:.2f}x" if default.get("implied_speedup") else ""
            typer.echo(f"Default plan ({default['origin']}): {len(default['cached_blocks'])} blocks cached, full steps "
                       f"{default['full_compute_steps']}, {default['computed_share']:.0%} of block evaluations{speed}.")
    for plan in prof.plans:
        psnr = f"{plan.calibration_psnr_db:.1f} dB" if plan.calibration_psnr_db is not None else "identical frames"
        typer.echo(f"  calibrated, budget {plan.budget:g}: {len(plan.cached_blocks)} blocks cached, full steps "
                   f"{list(plan.full_steps)}, {psnr} against stock sampling on the first prompt "
                   f"({plan.generations} generations)")
    typer.echo(f"Next: pdit plan --profile {out}   then   pdit generate --profile {out} --prompt \"...\" "
               "--out video.mp4 [--budget 0.5]")
    if min(prof.foreground_share) == 0:
        console.print("[yellow]Warning:[/] the foreground mask is empty for at least one prompt, so R_attn is 0 there; "
                      "try --sam2, --masks, or another --mask-step")
