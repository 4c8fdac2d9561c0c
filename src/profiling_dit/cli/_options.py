"""Option types shared by several commands."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer


class DType(str, Enum):
    auto = "auto"
    float32 = "float32"
    bfloat16 = "bfloat16"
    float16 = "float16"


ModelOpt = Annotated[
    str, typer.Option("--model", "-m", help="`tiny` (embedded), an alias from `pdit models`, a Hub id, or a local folder.")
]
PromptOpt = Annotated[str, typer.Option("--prompt", "-p", help="Text prompt.")]
NegativePromptOpt = Annotated[str, typer.Option("--negative-prompt", help="Negative prompt for guidance.")]
StepsOpt = Annotated[Optional[int], typer.Option("--steps", help="Denoising steps [default: the model's].")]
HeightOpt = Annotated[Optional[int], typer.Option("--height", help="Height in pixels [default: the model's].")]
WidthOpt = Annotated[Optional[int], typer.Option("--width", help="Width in pixels [default: the model's].")]
FramesOpt = Annotated[Optional[int], typer.Option("--frames", help="Number of frames (Wan: 4k+1) [default: the model's].")]
ImageOpt = Annotated[Optional[Path], typer.Option("--image", help="First frame (PNG/JPEG), for image-to-video models.")]
GuidanceOpt = Annotated[Optional[float], typer.Option("--guidance", help="CFG scale; <= 1 turns guidance off [default: the model's].")]
SeedOpt = Annotated[int, typer.Option("--seed", help="Seed of the initial noise.")]
FpsOpt = Annotated[Optional[int], typer.Option("--fps", help="Frames per second of the video file [default: the model's].")]
DeviceOpt = Annotated[str, typer.Option("--device", help="auto (cuda, then mps, then cpu), cpu, cuda, cuda:N, mps.")]
DTypeOpt = Annotated[DType, typer.Option("--dtype", help="auto: bfloat16 on CUDA, float32 elsewhere.")]
ForceOpt = Annotated[bool, typer.Option("--force", help="Overwrite existing output files.")]
ReportOpt = Annotated[Optional[Path], typer.Option("--report", help="Write a JSON run report here.")]


class Schedule(str, Enum):
    stepwise = "stepwise"
    inverse = "inverse"
    average = "average"


class Reuse(str, Enum):
    background = "background"
    foreground = "foreground"
