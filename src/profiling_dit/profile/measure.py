"""Stage one: run full denoising with observing hooks and build a profile (paper Sec. 3.2).

``profile_model(pipe, prompts, settings)`` is the one call; ``measure_prompt`` and ``build_profile`` are its
two halves, for callers that want the per-prompt measurements too.


For each prompt: one stock generation with (a) every block's self-attention processor wrapped to
record ā (Eq. 5) on the profiled branch and steps, (b) the transformer's outputs combined into the
guided noise prediction, whose consecutive L1 distances are recorded, and whose PCA frames at
``mask_step`` are segmented into a foreground mask. Then R_attn (Eq. 6) per block and step, the
F/B split (Eq. 7) and a suggested schedule (Eq. 15). The model's output is unchanged (tested).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .._progress import step_progress
from ..environment import device_info, library_versions
from ..errors import InvalidSettingError
from ..pipeline.generation import GenerationSettings, generate
from ..pipeline.loading import LoadedModel, as_model
from .attention import AttentionRecorder, attention_capture
from .file import KIND, SCHEMA_VERSION, Profile, model_identity
from .scoring import r_attn, score_order, split_blocks, suggest_schedule
from .segmentation import PcaOtsuSegmenter, load_user_masks, pca_rgb, to_token_grid
from .settings import DEFAULT_BACKGROUND_SHARE, ProfileSettings  # noqa: F401  (re-exported)
from .staleness import StalenessRecorder, greedy_order, set_errors, staleness_capture


def token_grid(model: LoadedModel, gen: GenerationSettings) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    """(latent grid F', Hl, Wl) and (token grid F', Hl/ph, Wl/pw) for these settings."""
    pipe: Any = model.pipe
    sf_t = getattr(pipe, "vae_scale_factor_temporal", model.arch.frame_multiple)
    sf_s = getattr(pipe, "vae_scale_factor_spatial", 8)
    if model.arch.vae_spatial_from_config is not None:
        sf_s = model.arch.vae_spatial_from_config(dict(pipe.vae.config))
    latent = ((gen.frames - 1) // sf_t + 1, gen.height // sf_s, gen.width // sf_s)
    pt, ph, pw = model.arch.patch_from_config(dict(pipe.transformer.config))
    return latent, (latent[0] // pt, latent[1] // ph, latent[2] // pw)


@dataclass
class PromptMeasurement:
    prompt: str
    steps: list[int]
    r_attn: np.ndarray  # (blocks, profiled steps)
    l1: dict[int, float]
    rel_l1: dict[int, float]
    token_mask: np.ndarray  # (F', H', W') bool
    pca_frames: np.ndarray  # (F', Hl, Wl, 3)
    latent_mask: np.ndarray  # mask shown on the PCA frames
    wall_s: float
    transformer_s: float
    frames: np.ndarray | None = None  # the generated video (T, H, W, 3) uint8, for evaluation
    # two-expert pipelines (Wan2.2): rows [start, stop) of r_attn and steps [start, stop) per expert
    expert_blocks: dict | None = None
    expert_steps: dict | None = None
    staleness: StalenessRecorder | None = None  # the StalenessRecorder of this run
    sigmas: list | None = None  # the scheduler's noise levels over the run (S + 1), when it has them


def _expert_blocks(model: LoadedModel) -> dict[str, tuple[int, int]]:
    """Each expert's block rows, numbered across the experts: ``{component: (first, stop)}``."""
    out, n = {}, 0
    for name in model.experts:
        size = len(model.arch.blocks(getattr(model.pipe, name)))
        out[name] = (n, n + size)
        n += size
    return out


def measure_prompt(model: LoadedModel, gen: GenerationSettings, ps: ProfileSettings, segmenter=None,
                   user_masks: str | Path | None = None,
                   on_step: Callable[[int, int], None] | None = None) -> PromptMeasurement:
    """One profiled generation for one prompt."""
    model = as_model(model)
    ps.check_for_model(model, gen)
    latent_grid, grid = token_grid(model, gen)
    expert_blocks = _expert_blocks(model)
    n_blocks = max(b for _, b in expert_blocks.values())
    steps = list(range(0, gen.steps, ps.every))
    mask_step = gen.steps - 1 if ps.mask_step is None else ps.mask_step
    masks_from_user = None
    if user_masks is not None:  # validate before the expensive run
        masks_from_user = load_user_masks(user_masks, grid, model.arch.frame_multiple)
    cfg_mode = model.cfg_mode(gen)
    group = _sharding_group(model)
    recorder = AttentionRecorder(
        num_blocks=n_blocks, branch=ps.branch, steps_to_record=set(steps),
        guidance=gen.guidance if cfg_mode else None, chunk_size=ps.chunk_size,
        query_stride=ps.query_stride, keep_prediction_steps={mask_step}, batched_cfg=cfg_mode == "batched",
        group=group,
    )
    stale: StalenessRecorder | None = None
    if ps.staleness:
        stale = StalenessRecorder(n_blocks, expert_blocks, gen.guidance if cfg_mode else None, cfg_mode == "batched",
                                  ps.max_gap(gen.steps), ps.staleness_tokens, group=group)
        recorder.staleness = stale
    t0 = time.perf_counter()
    with contextlib.ExitStack() as stack:
        for name, (first, _) in expert_blocks.items():
            stack.enter_context(attention_capture(getattr(model.pipe, name), model.arch, recorder, block_offset=first))
            if stale is not None:
                stack.enter_context(staleness_capture(getattr(model.pipe, name), model.arch, stale, block_offset=first))
        result = generate(model, gen, on_step=on_step)
    wall = time.perf_counter() - t0
    sigmas = getattr(getattr(model.pipe, "scheduler", None), "sigmas", None)
    sigmas = [float(x) for x in sigmas][:gen.steps + 1] if sigmas is not None and len(sigmas) > gen.steps else None

    pred = model.arch.prediction_on_grid(recorder.kept_predictions[mask_step], grid)  # (C, F', H', W')
    rgb = pca_rgb(pred)
    if masks_from_user is not None:
        tmask = masks_from_user
        shown = tmask
    else:
        seg = segmenter or PcaOtsuSegmenter()
        shown = seg(rgb)
        tmask = to_token_grid(shown, grid)
    matrix = np.full((n_blocks, len(steps)), np.nan)
    for (b, s), abar in recorder.abar.items():
        matrix[b, steps.index(s)] = r_attn(abar.numpy(), tmask, ps.attn_threshold)
    return PromptMeasurement(
        prompt=gen.prompts[0], steps=steps, r_attn=matrix, l1=recorder.l1, rel_l1=recorder.rel_l1,
        token_mask=tmask, pca_frames=rgb, latent_mask=shown, wall_s=wall,
        transformer_s=result.timings.transformer_s, frames=result.frames[0],
        expert_blocks=expert_blocks, expert_steps=model.expert_step_ranges(gen.steps),
        staleness=stale, sigmas=sigmas,
    )


def _sharding_group(model):
    """The ranks sharing the sequence when diffusers' context parallelism is on (None otherwise)."""
    from .._compat import parallel_config_of
    from ..pipeline.parallel import parallel_group

    return parallel_group() if parallel_config_of(model.pipe.transformer) is not None else None


def profile_model(pipe, prompts, settings: ProfileSettings | None = None, *, steps: int | None = None,
                  height: int | None = None, width: int | None = None, frames: int | None = None,
                  guidance: float | None = None, seed: int = 0, negative_prompt: str = "", image: str | None = None,
                  segmenter=None, masks: str | Path | None = None, model_ref: str | None = None,
                  on_step: Callable[[int, int], None] | None = None, progress: bool = True) -> Profile:
    """Stage one in one call: a profiled stock generation per prompt, then R_attn per block and step, the
    F/B block split and a suggested schedule, as a ``Profile``.

    Args:
        pipe: a supported diffusers pipeline (or a ``LoadedModel``). Its output is not changed.
        prompts: one prompt or a list; one profile is made from all of them (per-prompt matrices and their mean).
        settings: how to measure (``ProfileSettings``: ``every``, ``chunk_size``, ``query_stride``, ...).
        steps, height, width, frames, guidance: the generation to profile (default: the model's; the embedded
            model's are 20 steps at 17 x 128 x 128).
        seed, negative_prompt, image: as for generation (``image``: the first frame, image-to-video models).
        segmenter: turns PCA frames of the noise prediction into foreground masks (``Sam2Segmenter``);
            default: the documented fallback ``PcaOtsuSegmenter``, recorded in the profile.
        masks: your own foreground masks instead (a ``.npy`` of shape (frames, height, width)).
        model_ref: how the profile names the model (default: its alias, Hub id, or folder name).
        on_step: called as ``on_step(i, total)`` after denoising step i (counted over all prompts, from 0).
        progress: without ``on_step``, show a progress bar (tqdm).

    Example:
        ```python
        >>> import profiling_dit as pdit
        >>> profile = pdit.profile_model(pipe, ["a red circle moving right over grass"],
        ...                              pdit.ProfileSettings(every=5))
        >>> profile.save("wan21.json")
        ```
    """
    model = as_model(pipe, model_ref)
    settings = settings or ProfileSettings()
    if not isinstance(settings, ProfileSettings):
        raise InvalidSettingError(f"`settings` must be a ProfileSettings, got {type(settings).__name__}")
    prompts = [prompts] if isinstance(prompts, str) else list(prompts)
    if not prompts:
        raise InvalidSettingError("`prompts` is empty; give at least one prompt")
    if segmenter is not None and masks is not None:
        raise InvalidSettingError("give `segmenter` or `masks`, not both")
    src = model.source

    def pick(value, key):
        return value if value is not None else src.default(key)

    gens = [GenerationSettings(prompt=p, negative_prompt=negative_prompt, steps=pick(steps, "steps"),
                               height=pick(height, "height"), width=pick(width, "width"),
                               frames=pick(frames, "frames"), guidance=pick(guidance, "guidance"), seed=seed,
                               image=image).check_for(model.arch) for p in prompts]
    settings.check_for_model(model, gens[0])
    segmenter, seg_info = _segmenter_info(segmenter, masks)
    measurements = _measure_prompts(model, gens, settings, segmenter, masks, on_step, progress)
    share = None
    if settings.time_blocks:
        from ..pipeline.generation import block_time_share

        share = block_time_share(model, dataclasses.replace(gens[0], steps=2))
    return build_profile(model, gens, settings, measurements, seg_info, block_time_share=share)


def _segmenter_info(segmenter, masks: str | Path | None) -> tuple[Any, dict]:
    """The segmenter to use (the default one when none is given; none with the caller's masks) and how the profile
    names it."""
    if masks is not None:
        return segmenter, {"name": "user-masks", "detail": f"masks file {Path(masks).name}"}
    segmenter = segmenter or PcaOtsuSegmenter()
    info = getattr(segmenter, "info", None)
    return segmenter, {"name": getattr(info, "name", type(segmenter).__name__),
                       "detail": getattr(info, "detail", "a segmenter given by the caller")}


def _measure_prompts(model: LoadedModel, gens: list[GenerationSettings], settings: ProfileSettings, segmenter,
                     masks: str | Path | None, on_step: Callable[[int, int], None] | None,
                     progress: bool) -> list[PromptMeasurement]:
    """``measure_prompt`` for each generation, its steps counted over all of them for ``on_step`` (or a bar)."""
    total = sum(g.steps for g in gens)
    measurements = []
    with step_progress(on_step, total, "Profiling", progress) as on_step:
        for i, gen in enumerate(gens):
            offset = sum(g.steps for g in gens[:i])
            step_cb = None if on_step is None else (lambda s, n, offset=offset: on_step(offset + s, total))
            measurements.append(measure_prompt(model, gen, settings, segmenter, masks, on_step=step_cb))
    return measurements


def build_profile(model, gens: list[GenerationSettings], ps: ProfileSettings,
                  measurements: list[PromptMeasurement], segmenter_info: dict,
                  block_time_share: float | None = None) -> Profile:
    """Aggregate per-prompt measurements into a ``Profile``.

    Two-expert pipelines (Wan2.2 A14B) get ``experts``, one block profile per expert (its blocks, over the
    steps it runs); the top-level block profile is the first expert's.
    """
    model = as_model(model)
    l1_steps = sorted(measurements[0].l1)
    l1_mean = [float(np.mean([m.l1[s] for m in measurements])) for s in l1_steps]
    rel_mean = [float(np.mean([m.rel_l1[s] for m in measurements])) for s in l1_steps]
    m0 = measurements[0]
    blocks_of, steps_of = m0.expert_blocks or {}, m0.expert_steps or {}  # measure_prompt sets both
    sections = {name: _block_profile(measurements, blocks_of[name], steps_of[name], dict(zip(l1_steps, rel_mean)),
                                     ps, name)
                for name in blocks_of}
    first = sections[model.experts[0]]
    data = {
        "schema_version": SCHEMA_VERSION,
        "kind": KIND,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "model": {"requested": model.source.ref, **model_identity(model.pipe.transformer, model.arch)},
        "run": _run_section(model, gens, ps, measurements, block_time_share),
        "segmenter": segmenter_info,
        "r_attn": first["r_attn"],
        "block_scores": first["block_scores"],
        "foreground_share": [float(m.token_mask.mean()) for m in measurements],
        "masks": [m.token_mask.astype(int).tolist() for m in measurements],
        "l1": {"steps": l1_steps, "mean": l1_mean, "relative_mean": rel_mean,
               "per_prompt": [[m.l1[s] for s in l1_steps] for m in measurements]},
        "split": first["split"],
        "schedule": first["schedule"],
        **({"staleness": first["staleness"]} if "staleness" in first else {}),
        "versions": library_versions(),
        "pictures": {},
    }
    if len(sections) > 1:
        data["experts"] = [
            {"component": name, **model_identity(getattr(model.pipe, name), model.arch),
             "step_range": list(steps_of[name]), **sec}
            for name, sec in sections.items()]
    profile = Profile.from_dict(data, "the measured profile")
    return dataclasses.replace(profile, views={"pca_frames": m0.pca_frames, "mask": m0.latent_mask})


def _run_section(model: LoadedModel, gens: list[GenerationSettings], ps: ProfileSettings,
                 measurements: list[PromptMeasurement], block_time_share: float | None) -> dict:
    """The profile's ``run``: what was generated and measured, how, where, and how long it took."""
    gen0 = gens[0]
    latent_grid, grid = token_grid(model, gen0)
    sched: Any = getattr(model.pipe, "scheduler", None)
    return {
        "prompts": [g.prompts[0] for g in gens],
        "negative_prompt": gen0.negative_prompt,
        "seed": gen0.seed, "steps": gen0.steps, "height": gen0.height, "width": gen0.width,
        "frames": gen0.frames, "guidance": gen0.guidance,
        "scheduler": {"class": type(sched).__name__, "config": _jsonable(dict(sched.config))},
        "dtype": str(model.dtype).replace("torch.", ""),
        "device": device_info(model.device),
        "latent_grid": list(latent_grid), "token_grid": list(grid),
        "profiled_steps": measurements[0].steps,
        "mask_step": gen0.steps - 1 if ps.mask_step is None else ps.mask_step,
        "settings": asdict(ps),
        "wall_s": [m.wall_s for m in measurements],
        "transformer_s": [m.transformer_s for m in measurements],
        "block_time_share": block_time_share,
    }


def _block_profile(measurements: list[PromptMeasurement], rows: tuple[int, int], step_range: tuple[int, int],
                   rel_l1: dict[int, float], ps: ProfileSettings, expert: str) -> dict:
    """R_attn, block scores, F/B split and suggested schedule of one expert (rows) over its steps."""
    a, b = step_range
    cols = [i for i, s in enumerate(measurements[0].steps) if a <= s < b]
    steps = [measurements[0].steps[i] for i in cols]
    stack = np.stack([m.r_attn[rows[0]:rows[1]][:, cols] for m in measurements])
    mean = np.nanmean(stack, axis=0) if len(measurements) > 1 else stack[0]
    mean = np.nan_to_num(mean, nan=0.0)
    scores = mean.mean(axis=1) if mean.shape[1] else np.zeros(mean.shape[0])
    share = None
    if ps.tau is None:
        share = DEFAULT_BACKGROUND_SHARE if ps.background_share is None else ps.background_share
    tau, fg, bg = split_blocks(scores, tau=ps.tau, background_share=share)
    # the schedule counts from the expert's first step; the change across the hand-over is not its own
    local = {s - a: v for s, v in rel_l1.items() if a < s < b}
    out = {
        "r_attn": {"steps": steps, "mean": _round(mean),
                   "per_prompt": [_round(np.nan_to_num(x, nan=0.0)) for x in stack]},
        "block_scores": _round(scores),
        "split": {"tau": tau, "method": "tau" if ps.tau is not None else "background_share",
                  "background_share": len(bg) / len(scores), "foreground_blocks": fg, "background_blocks": bg},
        "schedule": suggest_schedule(local, b - a),
    }
    if all(m.staleness is not None for m in measurements):
        out["staleness"] = _staleness_table(measurements, scores, step_range, ps)
    return out


def _staleness_table(measurements: list[PromptMeasurement], scores: np.ndarray, step_range: tuple[int, int],
                     ps: ProfileSettings) -> dict:
    """Per nested set of blocks (the first k of the ranking, k = 1 .. all: the k lowest-scoring blocks, or with
    ``set_ranking`` "staleness" the greedy order of ``staleness.greedy_order``), the error of reusing at step
    s + g the deltas computed at step s, counted from the expert's first step; mean over prompts."""
    a, b = step_range
    recorders = [m.staleness for m in measurements if m.staleness is not None]  # the caller checked: every prompt's
    gap = recorders[0].max_gap
    local_steps = range(a, b)
    if ps.set_ranking == "staleness":
        order = greedy_order([r.gram for r in recorders], local_steps, gap)
    else:
        order = score_order(scores)
    sets = []
    for k in range(1, len(order) + 1):
        errors, scales = [], []
        for r in recorders:
            e, sc = set_errors(r.gram, r.self_gram, order[:k], local_steps, gap)
            errors.append(e)
            scales.append(sc)
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # unmeasured cells stay NaN (None in the file)
            err = np.nanmean(np.array(errors, dtype=float), axis=0)
            sc = np.nanmean(np.array(scales, dtype=float), axis=0)
        sets.append({"size": k, "error": _sig(err), "scale": _sig(sc)})
    sigmas = measurements[0].sigmas
    return {
        "proxy": "guided-delta-l2",
        "ranking": ps.set_ranking,
        "tokens": recorders[0].tokens,
        "max_gap": gap,
        "order": order,
        "sigmas": _sig(np.array(sigmas[a:b + 1], float)) if sigmas is not None else None,
        "sets": sets,
    }


def _sig(a: np.ndarray) -> Any:
    """6 significant digits; NaN (not measured) as None."""
    a = np.asarray(a, dtype=float)
    if a.ndim == 0:
        return None if not np.isfinite(a) else float(f"{a:.6g}")
    return [_sig(x) for x in a]


def _round(a) -> list:
    return np.round(np.asarray(a, dtype=float), 6).tolist()


def _jsonable(d: dict) -> dict:
    import json

    out = {}
    for k, v in d.items():
        try:
            json.dumps(v)
            out[k] = v
        except TypeError:
            out[k] = str(v)
    return out
