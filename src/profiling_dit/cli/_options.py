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
def _defaults(key: str) -> str:
    """The model defaults of a setting, for --help: the embedded model's and each family's."""
    from profiling_dit.models import FAMILIES

    tiny = {"steps": 20, "height": 128, "width": 128, "frames": 17, "guidance": 5.0, "fps": 16}[key]
    parts = [f"tiny {tiny:g}"] + [f"{f.architecture.name} {f.architecture.defaults[key]:g}" for f in FAMILIES]
    return "\\[default: the model's: " + ", ".join(parts) + "]"


StepsOpt = Annotated[Optional[int], typer.Option("--steps", help=f"Denoising steps {_defaults('steps')}.")]
HeightOpt = Annotated[Optional[int], typer.Option("--height", help=f"Height in pixels {_defaults('height')}.")]
WidthOpt = Annotated[Optional[int], typer.Option("--width", help=f"Width in pixels {_defaults('width')}.")]
FramesOpt = Annotated[Optional[int], typer.Option("--frames", help=f"Number of frames (4k+1) {_defaults('frames')}.")]
ImageOpt = Annotated[Optional[Path], typer.Option("--image", help="First frame (PNG/JPEG), for image-to-video models.")]
GuidanceOpt = Annotated[Optional[float], typer.Option("--guidance", help=f"CFG scale; <= 1 turns guidance off {_defaults('guidance')}.")]
SeedOpt = Annotated[int, typer.Option("--seed", help="Seed of the initial noise.")]
FpsOpt = Annotated[Optional[int], typer.Option("--fps", help=f"Frames per second of the video file {_defaults('fps')}.")]
DeviceOpt = Annotated[str, typer.Option("--device", help="auto (cuda, then mps, then cpu), cpu, cuda, cuda:N, mps.")]
DTypeOpt = Annotated[DType, typer.Option("--dtype", help="auto: bfloat16 on CUDA, float32 elsewhere.")]
ForceOpt = Annotated[bool, typer.Option("--force", metavar="", help="Overwrite existing output files.")]
ReportOpt = Annotated[Optional[Path], typer.Option("--report", help="Write a JSON run report here.")]


class Schedule(str, Enum):
    paper = "paper"
    inverse = "inverse"
    average = "average"


class ContextParallel(str, Enum):
    ulysses = "ulysses"
    ring = "ring"


ContextParallelOpt = Annotated[Optional[ContextParallel], typer.Option(
    "--context-parallel", help="Share the sequence over the processes of a torchrun launch (diffusers' context "
                               "parallelism): ulysses or ring attention.")]
NprocOpt = Annotated[Optional[int], typer.Option(
    "--nproc", help="Start N processes on this machine (torch's launcher) and run with --context-parallel.")]


class CompareTo(str, Enum):
    stock = "stock"


class SetRanking(str, Enum):
    r_attn = "r_attn"
    staleness = "staleness"


class Reuse(str, Enum):
    background = "background"
    foreground = "foreground"


BudgetOpt = Annotated[Optional[float], typer.Option(
    "--budget", help="Share of block evaluations to compute, in (0, 1]: the planner's plan (calibrated where the "
                     "profile holds one) \\[default: 0.5 with a planning profile].")]
SpeedupOpt = Annotated[Optional[float], typer.Option(
    "--speedup", help="Instead of --budget: aim at this transformer speedup, through the profile's measured share "
                      "of time in blocks.")]
ScheduleOpt = Annotated[Optional[Schedule], typer.Option(
    "--schedule", help="Use the paper's schedule (stepwise gaps from the profile) or its ablations (paper Table 4) "
                       "instead of the planner.")]
WarmupOpt = Annotated[Optional[int], typer.Option("--warmup", help="Paper's schedule: s0, steps 0..s0 compute fully \\[default: the profile's].")]
IntervalMaxOpt = Annotated[Optional[int], typer.Option("--interval-max", help="Paper's schedule: T_max, first gap between full steps \\[default: the profile's].")]
IntervalMinOpt = Annotated[Optional[int], typer.Option("--interval-min", help="Paper's schedule: T_min, last gap between full steps \\[default: the profile's].")]
TauOpt = Annotated[Optional[float], typer.Option("--tau", help="Re-split the profile's blocks at this τ.")]
BackgroundShareOpt = Annotated[Optional[float], typer.Option("--background-share", help="Re-split: this share of blocks is background (the planner: the size of its cached set).")]
FinalFullStepsOpt = Annotated[Optional[int], typer.Option("--final-full-steps", help="Always compute the last N steps fully \\[default: 1].")]
ReuseOpt = Annotated[Optional[Reuse], typer.Option("--reuse", help="Paper's schedule: which blocks reuse deltas (paper Table 3) \\[default: background].")]
