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
    paper = "paper"
    inverse = "inverse"
    average = "average"


class Reuse(str, Enum):
    background = "background"
    foreground = "foreground"


BudgetOpt = Annotated[Optional[float], typer.Option(
    "--budget", help="Share of block evaluations to compute, in (0, 1]: the planner's plan (calibrated where the "
                     "profile holds one) [default: 0.5 with a planning profile].")]
SpeedupOpt = Annotated[Optional[float], typer.Option(
    "--speedup", help="Instead of --budget: aim at this transformer speedup, through the profile's measured share "
                      "of time in blocks.")]
ScheduleOpt = Annotated[Optional[Schedule], typer.Option(
    "--schedule", help="Use the paper's schedule (stepwise gaps from the profile) or its ablations (paper Table 4) "
                       "instead of the planner.")]
WarmupOpt = Annotated[Optional[int], typer.Option("--warmup", help="Paper's schedule: s0, steps 0..s0 compute fully [default: the profile's].")]
IntervalMaxOpt = Annotated[Optional[int], typer.Option("--interval-max", help="Paper's schedule: T_max, first gap between full steps [default: the profile's].")]
IntervalMinOpt = Annotated[Optional[int], typer.Option("--interval-min", help="Paper's schedule: T_min, last gap between full steps [default: the profile's].")]
TauOpt = Annotated[Optional[float], typer.Option("--tau", help="Re-split the profile's blocks at this τ.")]
BackgroundShareOpt = Annotated[Optional[float], typer.Option("--background-share", help="Re-split: this share of blocks is background (the planner: the size of its cached set).")]
FinalFullStepsOpt = Annotated[Optional[int], typer.Option("--final-full-steps", help="Always compute the last N steps fully [default: 1].")]
ReuseOpt = Annotated[Optional[Reuse], typer.Option("--reuse", help="Paper's schedule: which blocks reuse deltas (paper Table 3) [default: background].")]
