"""What a benchmarked caching method is to ``pdit bench``: a small adapter (``Method``) with its default and
sweep settings, whether it applies to a model (and why not), an optional calibration, and apply/remove on
the pipeline."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable


class NotApplicable(Exception):
    """The method cannot run on this model or setup; the message says why."""


@dataclass
class RunContext:
    """What an adapter may need: the model, the settings, the profile, and a calibration runner."""

    model: object  # LoadedModel
    settings: object  # GenerationSettings
    profile: object | None  # Profile
    run_calibration: Callable[[Callable | None], None]  # run_calibration(on_last_step) runs one generation
    calibration: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Method:
    name: str
    family: str
    default: dict
    sweep: tuple[dict, ...]
    apply: Callable[[RunContext, dict], None]
    remove: Callable[[RunContext], None]
    check: Callable[[RunContext], None] = lambda ctx: None
    calibrate: Callable[[RunContext], None] | None = None
    note: str = ""
    multi_expert: bool = False  # handles pipelines with two transformers (Wan2.2 A14B)
    # in a bench that names no methods; False for a method whose calibration alone costs many generations
    in_default_run: bool = True
    color: str = field(kw_only=True)  # its colour in every plot (a hex RGB), the same in every bench
    # What it costs before its first run, in generations of the benchmarked model (profiling runs and calibration
    # generations; 0: nothing), or a function of its calibrated context for a cost known only then (ours: the
    # profile's; LeMiCa: its segment count).
    calibration_generations: int | Callable[[RunContext], int] = field(default=0, kw_only=True)

    def __post_init__(self):
        if not (len(self.color) == 7 and self.color[0] == "#" and all(c in "0123456789abcdef" for c in self.color[1:])):
            raise ValueError(f"method {self.name!r}: color must be a hex RGB such as '#1f77b4', got {self.color!r}")

    def cost(self, ctx: RunContext) -> int:
        """Its calibration cost in generations (``calibration_generations``), for this (calibrated) context."""
        c = self.calibration_generations
        return c(ctx) if callable(c) else c

    def settings(self, sweep: bool) -> tuple[dict, ...]:
        return self.sweep if sweep else (self.default,)


def label(params: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in params.items()) or "defaults"


def noop(ctx, params=None):
    return None
