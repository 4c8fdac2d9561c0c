"""Plain (stock) sampling with a diffusers pipeline, timed, returning exact uint8 frames.

Caching methods are applied to ``pipe.transformer`` before calling ``generate``; this module only
runs the stock pipeline and measures it.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from typing import Callable

import numpy as np
import torch

from ..errors import InvalidSettingError
from ..models import ArchitectureSpec
from .loading import LoadedModel, as_model
from .timing import attach_timer, detach_timer, sync

MAX_STEPS = 1000
MAX_SIDE = 4096
MAX_FRAMES = 1025


@dataclass(frozen=True)
class GenerationSettings:
    """What to generate. Validated on construction; ``check_for(arch)`` adds the model's size rules.

    Args:
        prompt: one prompt, or a tuple of prompts for a batch.
        negative_prompt: the unconditional prompt used by classifier-free guidance.
        steps: number of denoising steps.
        height, width, frames: video size in pixels and frames.
        guidance: classifier-free guidance scale; ``<= 1`` disables CFG (one transformer call a step).
        seed: seeds the initial noise (drawn on the CPU, so the same seed gives the same noise anywhere).
        fps: frames per second of the written video.
        image: path of the first frame, for image-to-video pipelines (PNG/JPEG/WebP).
    """

    prompt: str | tuple[str, ...]
    negative_prompt: str = ""
    steps: int = 20
    height: int = 128
    width: int = 128
    frames: int = 17
    guidance: float = 5.0
    seed: int = 0
    fps: int = 16
    image: str | None = None

    def __post_init__(self):
        prompts = (self.prompt,) if isinstance(self.prompt, str) else tuple(self.prompt)
        if not prompts or any(not isinstance(p, str) or not p.strip() for p in prompts):
            raise InvalidSettingError("`prompt` is empty; give a text prompt such as \"a red ball\"")
        if not isinstance(self.prompt, str):
            object.__setattr__(self, "prompt", prompts)
        _check_int("steps", self.steps, 1, MAX_STEPS)
        _check_int("height", self.height, 1, MAX_SIDE)
        _check_int("width", self.width, 1, MAX_SIDE)
        _check_int("frames", self.frames, 1, MAX_FRAMES)
        _check_int("seed", self.seed, 0, 2**63 - 1)
        _check_int("fps", self.fps, 1, 240)
        if (isinstance(self.guidance, bool) or not isinstance(self.guidance, (int, float))
                or not math.isfinite(self.guidance) or not 0 <= self.guidance <= 100):
            raise InvalidSettingError(f"`guidance` must be a number in [0, 100], got {self.guidance!r}")
        if not isinstance(self.negative_prompt, str):
            raise InvalidSettingError(f"`negative_prompt` must be a string, got {type(self.negative_prompt).__name__}")
        if self.image is not None:
            from pathlib import Path

            if not Path(self.image).is_file():
                raise InvalidSettingError(f"`image` {self.image}: no such file; give a PNG or JPEG of the first frame")

    @property
    def prompts(self) -> tuple[str, ...]:
        return (self.prompt,) if isinstance(self.prompt, str) else self.prompt

    @property
    def uses_cfg(self) -> bool:
        return self.guidance > 1.0

    def check_for(self, arch: ArchitectureSpec) -> "GenerationSettings":
        """Check the size rules of the model family; return self for chaining."""
        k = arch.frame_multiple
        if (self.frames - 1) % k != 0:
            lo = (self.frames - 1) // k * k + 1
            raise InvalidSettingError(
                f"`frames` {self.frames} is not allowed for {arch.name}: frames must be {k}k+1 "
                f"(e.g. {lo} or {lo + k})"
            )
        m = arch.spatial_multiple
        for name, value in (("`height`", self.height), ("`width`", self.width)):
            if value % m != 0:
                raise InvalidSettingError(
                    f"{name} {value} is not allowed for {arch.name}: it must be a multiple of {m} "
                    f"(e.g. {max(m, value // m * m)} or {value // m * m + m})"
                )
        return self

    def to_dict(self) -> dict:
        d = asdict(self)
        d["prompt"] = list(self.prompts) if not isinstance(self.prompt, str) else self.prompt
        return d


def _check_int(name: str, value, lo: int, hi: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise InvalidSettingError(f"`{name}` must be an integer in [{lo}, {hi}], got {value!r}")


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


def pipeline_kwargs(model: LoadedModel, settings: GenerationSettings) -> dict:
    """The pipeline call's arguments, per the registry's pipeline spec (guidance kind, image input)."""
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
        guidance_scale=settings.guidance,
        output_type="np",
        max_sequence_length=model.max_sequence_length,
    )
    if spec.pass_negative_prompt:
        kwargs["negative_prompt"] = [settings.negative_prompt] * len(settings.prompts)
    if spec.needs_image:
        kwargs["image"] = _load_image(settings.image, settings.width, settings.height)
    return kwargs


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
    timers = [attach_timer(t, device) for t in experts]
    try:
        generator = torch.Generator("cpu").manual_seed(settings.seed)
        sync(device)
        t0 = time.perf_counter()
        with torch.inference_mode():
            out = pipe(**kwargs, generator=generator, callback_on_step_end=_callback)
        sync(device)
        t1 = time.perf_counter()
    finally:
        for t in experts:
            detach_timer(t)

    calls = sorted(c for timer in timers for c in timer.calls)
    first_call = calls[0][0] if calls else t0
    starts = [first_call] + step_ends[:-1]
    timings = Timings(
        total_s=t1 - t0,
        encode_s=first_call - t0,
        denoise_s=(step_ends[-1] - first_call) if step_ends else 0.0,
        decode_s=(t1 - step_ends[-1]) if step_ends else 0.0,
        transformer_s=sum(timer.total_s for timer in timers),
        transformer_calls=len(calls),
        step_s=[end - start for start, end in zip(starts, step_ends)],
        call_s=[end - start for start, end in calls],
    )
    return GenerationResult(frames=frames_to_uint8(out.frames), timings=timings)


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
