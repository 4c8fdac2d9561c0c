"""Option types shared by several commands, and option groups: a decorator that adds a group's flags to a
command and hands them to it as one dict, so each flag is written once and a command's signature stays short."""

from __future__ import annotations

import functools
import inspect
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional, TypeAlias

import typer

from profiling_dit.caching.schedules import REUSE_CHOICES, SCHEDULE_NAMES
from profiling_dit.pipeline.loading import DTYPE_CHOICES
from profiling_dit.pipeline.parallel import MODES
from profiling_dit.profile.settings import SET_RANKINGS


def choices(name: str, values: tuple[str, ...]) -> type[Enum]:
    """A typer choice type over the library's own tuple of names (the one place a list of choices is written)."""
    return Enum(name, {v: v for v in values}, type=str)  # type: ignore[return-value]


if TYPE_CHECKING:  # made at run time from the library's tuples, so a type checker sees no members
    DType: TypeAlias = Any
    Schedule: TypeAlias = Any
    ContextParallel: TypeAlias = Any
    CompareTo: TypeAlias = Any
    SetRanking: TypeAlias = Any
    Reuse: TypeAlias = Any
else:
    DType = choices("DType", DTYPE_CHOICES)
    Schedule = choices("Schedule", SCHEDULE_NAMES)
    ContextParallel = choices("ContextParallel", MODES)
    CompareTo = choices("CompareTo", ("stock",))
    SetRanking = choices("SetRanking", SET_RANKINGS)
    Reuse = choices("Reuse", REUSE_CHOICES)


def _defaults(key: str) -> str:
    """The model defaults of a setting, for --help: the embedded models' and each family's."""
    from profiling_dit.models import FAMILIES, MODEL_ALIASES

    tiny = MODEL_ALIASES["tiny"].defaults[key]
    parts = [f"tiny {tiny:g}"] + [f"{f.architecture.name} {f.architecture.defaults[key]:g}" for f in FAMILIES]
    lead = "\\[default: the profile's, else the model's: " if key != "fps" else "\\[default: the model's: "
    return lead + ", ".join(parts) + "]"


ModelOpt = Annotated[
    str, typer.Option(
        "--model", "-m", help="`tiny` (embedded), an alias from `pdit models`, a Hub id, or a local folder.")
]
OptionalModelOpt = Annotated[Optional[str], typer.Option(
    "--model", "-m", help="`tiny` (embedded), an alias from `pdit models`, a Hub id, or a local folder \\[default: the "
                          "profile's model, else tiny].")]
ProfileOpt = Annotated[Optional[Path], typer.Option(
    "--profile", help="Sample with ProfilingDiT caching using this profile.")]
PromptOpt = Annotated[str, typer.Option("--prompt", "-p", help="Text prompt.")]
NegativePromptOpt = Annotated[str, typer.Option("--negative-prompt", help="Negative prompt for guidance.")]
StepsOpt = Annotated[Optional[int], typer.Option("--steps", help=f"Denoising steps {_defaults('steps')}.")]
HeightOpt = Annotated[Optional[int], typer.Option("--height", help=f"Height in pixels {_defaults('height')}.")]
WidthOpt = Annotated[Optional[int], typer.Option("--width", help=f"Width in pixels {_defaults('width')}.")]
FramesOpt = Annotated[Optional[int], typer.Option("--frames", help=f"Number of frames (4k+1) {_defaults('frames')}.")]
ImageOpt = Annotated[Optional[Path], typer.Option("--image", help="First frame (PNG/JPEG), for image-to-video models.")]
GuidanceOpt = Annotated[Optional[float], typer.Option(
    "--guidance", help=f"CFG scale; <= 1 turns guidance off {_defaults('guidance')}.")]
SeedOpt = Annotated[int, typer.Option("--seed", help="Seed of the initial noise.")]
FpsOpt = Annotated[Optional[int], typer.Option(
    "--fps", help=f"Frames per second of the video file {_defaults('fps')}.")]
DeviceOpt = Annotated[str, typer.Option("--device", help="auto (cuda, then mps, then cpu), cpu, cuda, cuda:N, mps.")]
DTypeOpt = Annotated[DType, typer.Option("--dtype", help="auto: bfloat16 on CUDA, float32 elsewhere.")]
ForceOpt = Annotated[bool, typer.Option("--force", metavar="", help="Overwrite existing output files.")]
ReportOpt = Annotated[Optional[Path], typer.Option("--report", help="Write a JSON run report here.")]
ContextParallelOpt = Annotated[Optional[ContextParallel], typer.Option(
    "--context-parallel", help="Share the sequence over the processes of a torchrun launch (diffusers' context "
                               "parallelism): ulysses or ring attention.")]
NprocOpt = Annotated[Optional[int], typer.Option(
    "--nproc", help="Start N processes on this machine (torch's launcher) and run with --context-parallel.")]
BudgetOpt = Annotated[Optional[float], typer.Option(
    "--budget", help="Share of block evaluations to compute, in (0, 1]: the planner's plan (calibrated where the "
                     "profile holds one) \\[default: 0.5 with a planning profile].")]
SpeedupOpt = Annotated[Optional[float], typer.Option(
    "--speedup", help="Instead of --budget: aim at this transformer speedup, through the profile's measured share "
                      "of time in blocks.")]
ScheduleOpt = Annotated[Optional[Schedule], typer.Option(
    "--schedule", help="Use the paper's schedule (stepwise gaps from the profile) or its ablations (paper Table 4) "
                       "instead of the planner.")]
WarmupOpt = Annotated[Optional[int], typer.Option(
    "--warmup", help="Paper's schedule: s0, steps 0..s0 compute fully \\[default: the profile's].")]
IntervalMaxOpt = Annotated[Optional[int], typer.Option(
    "--interval-max", help="Paper's schedule: T_max, first gap between full steps \\[default: the profile's].")]
IntervalMinOpt = Annotated[Optional[int], typer.Option(
    "--interval-min", help="Paper's schedule: T_min, last gap between full steps \\[default: the profile's].")]
TauOpt = Annotated[Optional[float], typer.Option("--tau", help="Re-split the profile's blocks at this τ.")]
BackgroundShareOpt = Annotated[Optional[float], typer.Option(
    "--background-share",
    help="Re-split: this share of blocks is background (the planner: the size of its cached set).")]
FinalFullStepsOpt = Annotated[Optional[int], typer.Option(
    "--final-full-steps", help="Always compute the last N steps fully \\[default: 1].")]
ReuseOpt = Annotated[Optional[Reuse], typer.Option(
    "--reuse", help="Paper's schedule: which blocks reuse deltas (paper Table 3) \\[default: background].")]


def _value(v: Any) -> Any:
    return v.value if isinstance(v, Enum) else v


def option_group(name: str, **options):
    """Add ``options`` (``param=(Annotated type, default)``) to a command's flags, and pass the given ones to the
    command as the dict ``name`` (enums as their values; options left out are absent). ``name`` is a parameter of
    the command, which the group replaces."""
    def decorate(fn):
        sig = inspect.signature(fn, eval_str=True)  # real types: typer reads them from the signature we give
        params = [p for p in sig.parameters.values() if p.name != name]
        added = [inspect.Parameter(k, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=kind)
                 for k, (kind, default) in options.items()]

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            group = {k: _value(kwargs.pop(k)) for k in options if k in kwargs}
            kwargs[name] = {k: v for k, v in group.items() if v is not None}
            return fn(*args, **kwargs)

        wrapper.__signature__ = sig.replace(parameters=params + added)  # type: ignore[attr-defined]
        hints = {p.name: p.annotation for p in params if p.annotation is not inspect.Parameter.empty}
        hints.update({k: kind for k, (kind, _) in options.items()})
        wrapper.__annotations__ = hints
        return wrapper
    return decorate


# The flags that choose a plan: ``make_plan`` options of the same names.
plan_options = functools.partial(
    option_group, budget=(BudgetOpt, None), speedup=(SpeedupOpt, None), schedule=(ScheduleOpt, None),
    warmup=(WarmupOpt, None), interval_max=(IntervalMaxOpt, None), interval_min=(IntervalMinOpt, None),
    tau=(TauOpt, None), background_share=(BackgroundShareOpt, None), final_full_steps=(FinalFullStepsOpt, None),
    reuse=(ReuseOpt, None))

# What to generate besides the prompt: ``preflight.settings_for`` options of the same names.
size_options = functools.partial(
    option_group, steps=(StepsOpt, None), height=(HeightOpt, None), width=(WidthOpt, None), frames=(FramesOpt, None),
    guidance=(GuidanceOpt, None), image=(ImageOpt, None))

# Where and how to run: device, dtype and context parallelism.
run_options = functools.partial(
    option_group, device=(DeviceOpt, "auto"), dtype=(DTypeOpt, "auto"),
    context_parallel=(ContextParallelOpt, None), nproc=(NprocOpt, None))


def parse_list(name: str, values, kind=str) -> tuple:
    """A list option's items: the flag repeated (``--seeds 1 --seeds 2``) or comma-separated (``--seeds 1,2``), each
    stripped; an empty item, one that is not a ``kind`` or one given twice is refused in one line."""
    from profiling_dit.errors import InvalidSettingError

    items = []
    for value in values or ():
        for item in str(value).split(","):
            item = item.strip()
            if not item:
                raise InvalidSettingError(f"`{name}` has an empty item in {value!r:.80}; give values separated by "
                                          "commas, or repeat the flag")
            try:
                parsed = kind(item)
            except ValueError:
                what = {int: "an integer", float: "a number"}.get(kind, kind.__name__)
                raise InvalidSettingError(f"`{name}` item {item!r:.40} is not {what}") from None
            if parsed in items:
                raise InvalidSettingError(f"`{name}` gives {item!r:.40} twice; give each once")
            items.append(parsed)
    return tuple(items)
