"""What to generate, validated before anything heavy loads (no torch, no diffusers)."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from .._validate import check_int, check_number
from ..errors import InvalidSettingError
from ..models.wan import EMBEDDED_DEFAULTS

if TYPE_CHECKING:
    from ..models import ArchitectureSpec

MAX_STEPS = 1000
MAX_SIDE = 4096
MAX_FRAMES = 1025
DEVICE_NAME = re.compile(r"^(auto|(cpu|cuda|mps)(:\d{1,3})?)$")


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
    steps: int = EMBEDDED_DEFAULTS["steps"]
    height: int = EMBEDDED_DEFAULTS["height"]
    width: int = EMBEDDED_DEFAULTS["width"]
    frames: int = EMBEDDED_DEFAULTS["frames"]
    guidance: float = EMBEDDED_DEFAULTS["guidance"]
    seed: int = 0
    fps: int = EMBEDDED_DEFAULTS["fps"]
    image: str | None = None

    def __post_init__(self):
        prompts = (self.prompt,) if isinstance(self.prompt, str) else tuple(self.prompt)
        if not prompts or any(not isinstance(p, str) or not p.strip() for p in prompts):
            raise InvalidSettingError("`prompt` is empty; give a text prompt such as \"a red ball\"")
        if not isinstance(self.prompt, str):
            object.__setattr__(self, "prompt", prompts)
        check_int("steps", self.steps, 1, MAX_STEPS)
        check_int("height", self.height, 1, MAX_SIDE)
        check_int("width", self.width, 1, MAX_SIDE)
        check_int("frames", self.frames, 1, MAX_FRAMES)
        check_int("seed", self.seed, 0, 2**63 - 1)
        check_int("fps", self.fps, 1, 240)
        check_number("guidance", self.guidance, 0, 100)
        if not isinstance(self.negative_prompt, str):
            raise InvalidSettingError(f"`negative_prompt` must be a string, got {type(self.negative_prompt).__name__}")
        if self.image is not None:
            from pathlib import Path

            try:
                exists = Path(self.image).is_file()
            except OSError:
                exists = False
            if not exists:
                raise InvalidSettingError(f"`image` {str(self.image)[:120]!r}: no such file; give a PNG or JPEG of the "
                                          "first frame")
            check_image(self.image)

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

    def check_for_source(self, source) -> "GenerationSettings":
        """``check_for`` plus what the model's saved configs tell before loading: whether it takes a first frame."""
        self.check_for(source.arch)
        from .memory import check_positions

        check_positions(source, self)
        needs = source.needs_image
        if needs is True and self.image is None:
            raise InvalidSettingError(f"{source.pipeline_class} is image-to-video: give the first frame as `image` "
                                      "(a PNG or JPEG path)")
        if needs is False and self.image is not None:
            raise InvalidSettingError(f"`image` is for image-to-video models; {source.pipeline_class} is text-to-video")
        return self

    def to_dict(self) -> dict:
        d = asdict(self)
        d["prompt"] = list(self.prompts) if not isinstance(self.prompt, str) else self.prompt
        return d


def check_image(path) -> tuple[int, int]:
    """An image file's (width, height), read from its header only: a PNG, JPEG or WebP of at most ``MAX_SIDE`` pixels
    a side (a header that claims more is refused before anything decodes it)."""
    from PIL import Image, UnidentifiedImageError

    shown = repr(str(path)[:120])
    try:
        with Image.open(path) as im:
            fmt, size = im.format, im.size
    except Image.DecompressionBombError:
        raise InvalidSettingError(f"`image` {shown} claims more pixels than any first frame; give a PNG or JPEG of at "
                                  f"most {MAX_SIDE} pixels a side") from None
    except (UnidentifiedImageError, OSError, ValueError) as e:
        raise InvalidSettingError(f"`image` {shown} is not a readable image ({type(e).__name__}); give a PNG or "
                                  "JPEG") from None
    if fmt not in ("PNG", "JPEG", "WEBP"):
        raise InvalidSettingError(f"`image` {shown} is a {fmt} image; give a PNG, JPEG or WebP")
    if max(size) > MAX_SIDE or min(size) < 1:
        raise InvalidSettingError(f"`image` {shown} is {size[0]}x{size[1]}; give one of at most {MAX_SIDE} pixels a "
                                  "side")
    return size


def check_device(device) -> str:
    """``device`` as a lower-case name of the form ``resolve_device`` takes (auto, cpu, cuda, cuda:N, mps), checked
    without torch so a run can refuse it before anything loads: an empty one is an error, never read as auto."""
    name = device if isinstance(device, str) else str(device)
    if not name.strip():
        raise InvalidSettingError("`device` is empty; use auto, cpu, cuda, cuda:N or mps")
    if not DEVICE_NAME.match(name.lower()):
        raise InvalidSettingError(f"unknown `device` {name[:40]!r}; use auto, cpu, cuda, cuda:N or mps")
    return name.lower()
