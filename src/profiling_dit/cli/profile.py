"""`pdit profile`: stage one, one profiled run per prompt, to a profile JSON and its pictures."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from profiling_dit.profile.settings import DEFAULT_BACKGROUND_SHARE, ProfileSettings

from . import _options as o
from ._calibration import calibration_options, check_calibration_options, run_calibration
from ._errors import friendly_errors

PICTURE_SUFFIXES = (".heatmap.png", ".l1.png", ".masks.png")

# How to measure: ``ProfileSettings`` fields of the same names, with its defaults.
_DEFAULT = ProfileSettings()
measure_options = o.option_group(
    "measure",
    every=(Annotated[int, typer.Option("--every", help="Measure attention every K-th step.")], _DEFAULT.every),
    chunk_size=(Annotated[int, typer.Option("--chunk-size", help="Queries per chunk for attention scores.")],
                _DEFAULT.chunk_size),
    query_stride=(Annotated[int, typer.Option("--query-stride", help="Use every s-th query (long sequences).")],
                  _DEFAULT.query_stride),
    attn_threshold=(Annotated[float, typer.Option("--attn-threshold", help="κ: high attention is ā > κ/N.")],
                    _DEFAULT.attn_threshold),
    mask_step=(Annotated[Optional[int], typer.Option(
        "--mask-step", help="Step whose prediction is segmented \\[default: last].")], _DEFAULT.mask_step),
    tau=(Annotated[Optional[float], typer.Option("--tau", help="Split threshold τ on block R_attn (Eq. 7).")],
         _DEFAULT.tau),
    background_share=(Annotated[Optional[float], typer.Option(
        "--background-share", help="Target share of background blocks \\[default: "
                                   f"{DEFAULT_BACKGROUND_SHARE:g} when no --tau].")], _DEFAULT.background_share),
    staleness_tokens=(Annotated[int, typer.Option(
        "--staleness-tokens", help="Video tokens the staleness table is measured on.")], _DEFAULT.staleness_tokens),
    set_ranking=(Annotated[o.SetRanking, typer.Option(
        "--set-ranking", help="How the planner's cached sets grow: r_attn (lowest R_attn first, the paper's) or "
                              "staleness (the block adding the least measured reuse error first).")],
                 _DEFAULT.set_ranking),
)

# Where the foreground comes from: a SAM2 checkpoint (and config), your masks, or the documented fallback.
foreground_options = o.option_group(
    "foreground",
    sam2=(Annotated[Optional[str], typer.Option("--sam2", help="SAM2 checkpoint: .safetensors path or Hub id.")], None),
    sam2_config=(Annotated[Optional[str], typer.Option(
        "--sam2-config", help="SAM2 config: tiny, small, base_plus, large, or a config path.")], None),
    masks=(Annotated[Optional[Path], typer.Option(
        "--masks", help="Your own foreground masks (.npy, frames x H x W).")], None),
)


@friendly_errors
@o.size_options("size")
@o.run_options("run")
@measure_options
@foreground_options
@calibration_options
def profile(
    prompt: Annotated[list[str], typer.Option("--prompt", "-p", help="Prompt; repeat for several (one profile).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Profile JSON; pictures go beside it.")],
    model: o.ModelOpt = "tiny",
    negative_prompt: o.NegativePromptOpt = "",
    seed: o.SeedOpt = 0,
    force: o.ForceOpt = False,
    *, size: dict, run: dict, measure: dict, foreground: dict, calibration: dict,
) -> None:
    """Profile which blocks attend to the foreground; write the profile JSON and its pictures."""
    from profiling_dit import preflight
    from profiling_dit.caching.calibrate import check_calibration
    from profiling_dit.pipeline.loading import resolve_model
    from profiling_dit.pipeline.video_io import check_output_path
    from profiling_dit.profile.settings import ProfileSettings

    from ._common import leave, relaunch, start

    out = check_output_path(out, force, extensions=(".json",))
    for suffix in PICTURE_SUFFIXES:  # pictures without their profile (an interrupted run's) are overwritten
        check_output_path(Path(f"{out.with_suffix('')}{suffix}"), True, extensions=(".png",))
    source = resolve_model(model)
    gens = [preflight.settings_for(source, prompt=p, negative_prompt=negative_prompt, seed=seed, **size)
            for p in prompt]
    relaunch(run, source, gens)
    settings = ProfileSettings(**measure)
    settings.check_for_source(source, gens[0])
    calibrate = check_calibration_options(calibration, len(prompt), run)
    preflight.check_segmentation(source, gens[0], **foreground)
    notes = preflight.prompt_notes(source, prompt)
    notes += preflight.check_resources(source, gens, run["device"], run["dtype"])
    con, loaded, parallel = start(source, gens, run, notes)
    if parallel is not None:
        parallel.enable(loaded)
    if calibrate and len(loaded.experts) > 1:  # each expert takes its own candidates: checked before profiling
        check_calibration(calibrate["max_generations"], calibrate["budgets"], len(prompt), len(loaded.experts))
    result = _measure(con, loaded, prompt, settings, gens[0], **foreground)
    if calibrate:
        result.save(out, overwrite=force)  # the measured profile is kept whatever calibration does
        result = run_calibration(con, loaded, result, **calibrate)
    if parallel is not None and not parallel.main:  # rank 0 writes the profile
        leave(parallel)
    result.save(out, overwrite=force or bool(calibrate))  # calibration saved the measured profile there already
    summary(con, out, result)
    if parallel is not None:
        leave(parallel)


def _measure(con, loaded, prompts, settings, g, sam2=None, sam2_config=None, masks=None):
    from profiling_dit.profile.measure import profile_model

    from ._common import note, progress

    segmenter = None
    if sam2 is not None:
        from profiling_dit.profile.segmentation import Sam2Segmenter

        with con.status("Loading SAM2…"):
            segmenter = Sam2Segmenter(sam2, sam2_config, device=str(loaded.device))
    elif masks is None:
        note(con, "no --sam2 checkpoint; using the fallback segmenter 'pca-otsu' (recorded in the profile)")
    with progress(con, "Profiling", g.steps * len(prompts)) as bar:
        return profile_model(loaded, prompts, settings, steps=g.steps, height=g.height, width=g.width,
                             frames=g.frames, guidance=g.guidance, seed=g.seed, negative_prompt=g.negative_prompt,
                             image=g.image, segmenter=segmenter, masks=masks, on_step=bar.step)


def summary(con, out: Path, profile) -> None:
    """What was written and found, the default plan, the calibrated plans, and the next command."""
    from profiling_dit.caching.calibrate import calibration_cost
    from profiling_dit.caching.preview import preview
    from profiling_dit.errors import PditError

    from ._common import note

    pics = [p.name for p in (Path(f"{out.with_suffix('')}{s}") for s in PICTURE_SUFFIXES) if p.exists()]
    sp = profile.split
    typer.echo(f"Wrote {out} and its pictures ({', '.join(pics)}).")
    typer.echo(f"Found: foreground blocks {list(sp.foreground_blocks)} (R_attn >= tau {sp.tau:.3f}), background "
               f"{list(sp.background_blocks)}; the paper's schedule: warm-up {profile.schedule.warmup}, T_max "
               f"{profile.schedule.interval_max}, T_min {profile.schedule.interval_min}.")
    if profile.blocks.staleness is not None:
        try:
            default = next(iter(preview(profile).values()))
        except PditError as e:  # e.g. too few steps for the default budget
            typer.echo(f"Default plan: none ({e})")
        else:
            speed = f", implied speedup {default['implied_speedup']:.2f}x" if default.get("implied_speedup") else ""
            typer.echo(f"Default plan ({default['origin']}): {len(default['cached_blocks'])} blocks cached, full steps "
                       f"{default['full_compute_steps']}, {default['computed_share']:.0%} of block evaluations{speed}.")
    for entry in profile.plans:
        psnr = f"{entry.calibration_psnr_db:.1f} dB" if entry.calibration_psnr_db is not None else "identical frames"
        on = f"the mean over {entry.calibration_prompts} prompts" if entry.calibration_prompts > 1 else "one prompt"
        who = f", {entry.component}" if profile.experts else ""
        typer.echo(f"  calibrated, budget {entry.budget:g}{who}: {len(entry.plan.cached_blocks)} blocks cached, full "
                   f"steps {list(entry.plan.full_steps)}, {psnr} against stock sampling ({on}, {entry.generations} "
                   f"generation{'s' if entry.generations != 1 else ''})")
    cost = calibration_cost(profile)
    if cost:
        f, h, w = cost["size"]
        at = ("the profiled size" if cost["size"] == cost["profiled_size"] else
              f"{cost['pixel_share']:.0%} of the profiled size's pixels")
        typer.echo(f"Calibrating the plans in it took {cost['generations']} generations of {cost['steps']} steps at "
                   f"{f}x{h}x{w} (frames x height x width; {at})"
                   + (f", {cost['segment_generations']} of them measuring segment errors."
                      if cost["segment_generations"] else "."))
    typer.echo(f"Next: pdit plan --profile {out}   then   pdit generate --profile {out} --prompt \"...\" "
               "--out video.mp4 [--budget 0.5]")
    if min(profile.foreground_share) == 0:
        note(con, "the foreground mask is empty for at least one prompt, so R_attn is 0 there; try --sam2, --masks, "
                  "or another --mask-step")
