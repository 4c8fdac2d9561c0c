"""Plain (stock) sampling with a diffusers pipeline, timed, returning exact uint8 frames (what to generate is
``settings.GenerationSettings``).

Caching methods are applied to ``pipe.transformer`` before calling ``generate``; this module only
runs the stock pipeline and measures it.
"""

from __future__ import annotations

import contextlib
import inspect
import itertools
import time
from dataclasses import asdict, dataclass, field
from typing import Callable

import numpy as np
import torch

from ..errors import InvalidSettingError
from .loading import LoadedModel, as_model
from .settings import MAX_FRAMES, MAX_SIDE, MAX_STEPS, GenerationSettings  # noqa: F401  (re-exported)
from .timing import attach_block_timers, attach_timer, detach_block_timers, detach_timer, sync


@dataclass
class Timings:
    total_s: float = 0.0
    encode_s: float = 0.0
    denoise_s: float = 0.0
    decode_s: float = 0.0
    transformer_s: float = 0.0
    transformer_calls: int = 0
    step_s: list[float] = field(default_factory=list)
    call_s: list[float] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class GenerationResult:
    frames: np.ndarray  # uint8, (batch, T, H, W, 3)
    timings: Timings


def _load_image(path: str, width: int, height: int):
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            return im.convert("RGB").resize((width, height))
    except (UnidentifiedImageError, OSError) as e:
        raise InvalidSettingError(f"`image` {path} is not a readable image ({e}); give a PNG or JPEG") from None


def call_parameters(pipe) -> set[str]:
    """The arguments the pipeline's ``__call__`` takes (HunyuanVideo 1.5's takes no text length, no step callback)."""
    return set(inspect.signature(type(pipe).__call__).parameters)


def pipeline_kwargs(model: LoadedModel, settings: GenerationSettings) -> dict:
    """The pipeline call's arguments, per the registry's pipeline spec (guidance kind, image input) and what the
    pipeline takes."""
    spec = model.pipeline_spec
    if spec.needs_image and settings.image is None:
        raise InvalidSettingError(
            f"{type(model.pipe).__name__} is image-to-video: give the first frame as `image` (a PNG or JPEG path)")
    if settings.image is not None and not spec.needs_image:
        raise InvalidSettingError(f"`image` is for image-to-video models; {type(model.pipe).__name__} is text-to-video")
    kwargs = dict(
        prompt=list(settings.prompts),
        height=settings.height,
        width=settings.width,
        num_frames=settings.frames,
        num_inference_steps=settings.steps,
        output_type="np",
    )
    if spec.guidance_from == "call":
        kwargs["guidance_scale"] = settings.guidance
    if "max_sequence_length" in call_parameters(model.pipe):
        kwargs["max_sequence_length"] = model.max_sequence_length
    if spec.pass_negative_prompt:
        kwargs["negative_prompt"] = [settings.negative_prompt] * len(settings.prompts)
    if settings.image is not None:  # an image-to-video pipeline (checked above)
        kwargs["image"] = _load_image(settings.image, settings.width, settings.height)
    return kwargs


@contextlib.contextmanager
def guider_scale(model: LoadedModel, settings: GenerationSettings):
    """For a pipeline whose ``guider`` component holds the guidance scale (``PipelineSpec.guidance_from``): the
    settings' scale on it for the call (1, guidance off, where the settings turn it off), then its own again."""
    guider = getattr(model.pipe, "guider", None) if model.pipeline_spec.guidance_from == "guider" else None
    if guider is None:
        yield
        return
    config = getattr(guider, "config", {})
    if (config.get("start", 0.0), config.get("stop", 1.0)) != (0.0, 1.0):
        raise InvalidSettingError(f"the pipeline's guider runs guidance on part of the steps only (start "
                                  f"{config.get('start')}, stop {config.get('stop')}), and a plan needs each branch on "
                                  "every step; save the pipeline with a guider that guides every step")
    model.pipe.guider = guider.new(guidance_scale=settings.guidance if settings.uses_cfg else 1.0)  # as diffusers says
    try:
        yield
    finally:
        model.pipe.guider = guider


def frames_to_uint8(video: np.ndarray) -> np.ndarray:
    """Float frames in [0, 1] (the pipeline's ``np`` output) to exact uint8."""
    return np.clip(np.round(np.asarray(video, dtype=np.float64) * 255.0), 0, 255).astype(np.uint8)


def generate(
    model,
    settings: GenerationSettings,
    on_step: Callable[[int, int], None] | None = None,
) -> GenerationResult:
    """Run the (possibly cached) pipeline once and time it.

    Args:
        model: a ``LoadedModel`` from ``load_pipeline``, or a supported diffusers pipeline.
        settings: validated settings; the model family's size rules are checked here too.
        on_step: called as ``on_step(step_index, total_steps)`` after each denoising step (progress bars).

    Returns:
        ``GenerationResult`` with uint8 frames of shape (batch, T, H, W, 3) and ``Timings``.
    """
    model = as_model(model)
    settings.check_for(model.arch)
    kwargs = pipeline_kwargs(model, settings)
    pipe = model.pipe
    device = model.device
    step_ends: list[float] = []

    def _callback(_pipe, step_index, _t, callback_kwargs):
        sync(device)
        step_ends.append(time.perf_counter())
        if on_step is not None:
            on_step(step_index, settings.steps)
        return {}

    experts = [getattr(pipe, name) for name in model.experts]
    steps: contextlib.AbstractContextManager = contextlib.nullcontext()
    if "callback_on_step_end" in call_parameters(pipe):
        kwargs["callback_on_step_end"] = _callback
    else:  # a step ends with its last transformer call: one, or one per CFG branch
        per_step = 2 if model.cfg_mode(settings) == "separate" else 1
        steps = _step_ends(experts, per_step, lambda i: _callback(pipe, i, None, {}))
    timers = [attach_timer(t, device) for t in experts]
    try:
        generator = torch.Generator("cpu").manual_seed(settings.seed)
        sync(device)
        t0 = time.perf_counter()
        with torch.inference_mode(), guider_scale(model, settings), steps:
            out = pipe(**kwargs, generator=generator)
        sync(device)
        t1 = time.perf_counter()
    finally:
        for t in experts:
            detach_timer(t)

    calls = sorted(c for timer in timers for c in timer.calls)
    timings = _timings(t0, t1, calls, step_ends, sum(timer.total_s for timer in timers))
    return GenerationResult(frames=frames_to_uint8(out.frames), timings=timings)


@contextlib.contextmanager
def _step_ends(experts: list[torch.nn.Module], calls_per_step: int, step_end: Callable[[int], None]):
    """For a pipeline that takes no step callback: ``step_end(i)`` after step i's last transformer call."""
    calls = itertools.count(1)

    def after(_module, _args, _output):
        n = next(calls)
        if n % calls_per_step == 0:
            step_end(n // calls_per_step - 1)

    handles = [t.register_forward_hook(after) for t in experts]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def _timings(t0: float, t1: float, calls: list[tuple[float, float]], step_ends: list[float],
             transformer_s: float) -> Timings:
    first_call = calls[0][0] if calls else t0
    starts = [first_call] + step_ends[:-1]
    return Timings(
        total_s=t1 - t0,
        encode_s=first_call - t0,
        denoise_s=(step_ends[-1] - first_call) if step_ends else 0.0,
        decode_s=(t1 - step_ends[-1]) if step_ends else 0.0,
        transformer_s=transformer_s,
        transformer_calls=len(calls),
        step_s=[end - start for start, end in zip(starts, step_ends)],
        call_s=[end - start for start, end in calls],
    )


def run_report(model: LoadedModel, settings: GenerationSettings, timings: Timings, **extra) -> dict:
    """Everything needed to reproduce and compare a run, as a JSON-able dict."""
    from ..environment import device_info, library_versions

    report = {
        "kind": "pdit-run-report",
        "model": {
            "requested": model.source.ref,
            "transformer_class": type(model.pipe.transformer).__name__,
            "num_blocks": len(model.arch.blocks(model.pipe.transformer)),
            "trained": model.source.meta.get("trained"),
        },
        "settings": settings.to_dict(),
        "max_sequence_length": model.max_sequence_length,
        "dtype": str(model.dtype).replace("torch.", ""),
        "environment": {**device_info(model.device), "versions": library_versions()},
        "timings": timings.to_dict(),
    }
    report.update(extra)
    return report


def block_time_share(model, settings) -> float:
    """Share of transformer time spent inside its blocks, from one stock generation with a timer (and a device
    sync) around every block: what the computed share of block evaluations can speed up at most."""
    model = as_model(model)
    blocks = [b for name in model.experts for b in model.arch.blocks(getattr(model.pipe, name))]
    timers = attach_block_timers(blocks, model.device)
    try:
        timed = generate(model, settings)
    finally:
        detach_block_timers(blocks)
    return min(1.0, sum(h.total_s for h in timers) / timed.timings.transformer_s)
