"""``ProfilingDiTConfig``: what to cache and when, as a frozen, validated value (no diffusers import, so a
profile can be turned into a config, and checked, before anything heavy loads)."""

from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass

import numpy as np

from ..errors import InvalidSettingError
from .plan import SCHEDULES, build_plan, full_compute_steps


@dataclass(frozen=True)
class ProfilingDiTConfig:
    r"""Configuration of ProfilingDiT caching.

    Args:
        num_blocks: number of transformer blocks the config was made for (checked on apply).
        background_blocks: indices of the blocks whose deltas are cached (Eq. 7's B, or a planned plan's set).
        warmup: s0; steps 0..s0 always compute fully.
        interval_max: T_max, the first gap between full-compute steps after the warm-up.
        interval_min: T_min, the last gap (Eq. 15).
        final_full_steps: the last N steps always compute fully.
        schedule: ``stepwise`` (gaps shrink, the paper's default), ``inverse`` or ``average``.
        reuse: ``background`` (the method) or ``foreground`` (the paper's ablation: cache F instead).
        steps: the step count ``warmup`` and the intervals are written for. A call with another count uses
            them rescaled by (its steps) / ``steps`` (rounded; intervals at least 2), with one warning.
            ``None``: use them as they are at any step count (a warm-up too long for a call is shortened).
            Also the plan length when the transformer is called outside a pipeline that says its step count.
        full_steps: an explicit list of the full-compute steps of a ``steps``-step call (a planned or
            calibrated plan); it replaces ``warmup``, the intervals and ``schedule``. A call with another step
            count maps it proportionally (``map_full_steps``), keeping the share of full steps.
        origin, predicted_error: where the plan came from ("planned for budget 0.5", "the paper's schedule") and
            the planner's predicted error, for reports; they do not change what runs.
        step_range: ``(start, stop)``: the steps this transformer runs, for pipelines with two experts
            (Wan2.2 A14B). The warm-up, intervals and final full steps then count from the start of
            the range and end at its stop, so each expert is planned over its own steps (its cache is
            empty when it takes over), and ``steps`` is that expert's own step count. ``None``: all steps.
            (``profiling_dit.apply(pipe, profile)`` works the ranges out per call.)

    Example:
        ```python
        >>> import profiling_dit as pdit
        >>> config = pdit.Profile.load(pdit.shipped_profile("tiny")).config()
        >>> pdit.apply_profiling_dit(pipe.transformer, config)
        >>> video = pipe("a red circle moving right over grass", num_inference_steps=30,
        ...              max_sequence_length=16).frames[0]
        >>> pdit.remove_profiling_dit(pipe.transformer)
        ```
    """

    num_blocks: int
    background_blocks: tuple[int, ...]
    warmup: int = 1
    interval_max: int = 3
    interval_min: int = 2
    final_full_steps: int = 1
    schedule: str = "stepwise"
    reuse: str = "background"
    steps: int | None = None
    full_steps: tuple[int, ...] | None = None
    step_range: tuple[int, int] | None = None
    origin: str = ""
    predicted_error: float | None = None

    def __post_init__(self):
        if isinstance(self.num_blocks, bool) or not isinstance(self.num_blocks, int) or self.num_blocks < 1:
            raise InvalidSettingError(f"`num_blocks` must be a positive integer, got {self.num_blocks!r}")
        try:
            blocks = tuple(self.background_blocks)
        except TypeError:
            raise InvalidSettingError(
                f"`background_blocks` must be a list of block indices, got {self.background_blocks!r}") from None
        if any(isinstance(b, bool) or not isinstance(b, (int, np.integer)) for b in blocks):
            raise InvalidSettingError(f"`background_blocks` must hold integers, got {list(blocks)!r:.200}")
        object.__setattr__(self, "background_blocks", tuple(sorted(int(b) for b in blocks)))
        if len(set(self.background_blocks)) != len(self.background_blocks):
            raise InvalidSettingError("`background_blocks` must not repeat")
        bad = [b for b in self.background_blocks if not 0 <= b < self.num_blocks]
        if bad:
            raise InvalidSettingError(f"`background_blocks` {bad} are out of range [0, {self.num_blocks - 1}]")
        for name, lo in (("warmup", 0), ("interval_max", 1), ("interval_min", 1), ("final_full_steps", 0)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= 1000:
                raise InvalidSettingError(f"`{name}` must be an integer in [{lo}, 1000], got {v!r}")
        if self.interval_max < self.interval_min:
            raise InvalidSettingError(
                f"`interval_max` ({self.interval_max}) must be >= `interval_min` ({self.interval_min})")
        if self.schedule not in SCHEDULES:
            raise InvalidSettingError(f"`schedule` must be one of {', '.join(SCHEDULES)}, got {self.schedule!r}")
        if self.reuse not in ("background", "foreground"):
            raise InvalidSettingError(f"`reuse` must be background or foreground, got {self.reuse!r}")
        if self.step_range is not None:
            try:
                a, b = (int(x) for x in self.step_range)
            except (TypeError, ValueError):
                raise InvalidSettingError(f"`step_range` must be (start, stop), got {self.step_range!r}") from None
            if not 0 <= a < b:
                raise InvalidSettingError(
                    f"`step_range` must be (start, stop) with 0 <= start < stop, got {self.step_range}")
            object.__setattr__(self, "step_range", (a, b))
        if self.steps is not None:
            if isinstance(self.steps, bool) or not isinstance(self.steps, int) or not 1 <= self.steps <= 1000:
                raise InvalidSettingError(f"`steps` must be an integer in [1, 1000], got {self.steps!r}")
        if self.full_steps is not None:
            if self.steps is None:
                raise InvalidSettingError("`full_steps` needs `steps`, the step count the list is written for")
            try:
                full = tuple(sorted({int(x) for x in self.full_steps}))
            except (TypeError, ValueError):
                raise InvalidSettingError(f"`full_steps` must be step indices, got {self.full_steps!r:.200}") from None
            if any(isinstance(x, bool) or not float(x).is_integer() for x in self.full_steps):
                raise InvalidSettingError(f"`full_steps` must hold integers, got {list(self.full_steps)!r:.200}")
            if not full or full[0] != 0 or full[-1] >= self.steps:
                raise InvalidSettingError(
                    f"`full_steps` must start with step 0 and stay below `steps` ({self.steps}), got {list(full)}")
            object.__setattr__(self, "full_steps", full)
        if self.steps is not None and self.full_steps is None:
            if self.step_range is None and self.warmup >= self.steps:
                raise InvalidSettingError(
                    f"`warmup` {self.warmup} must be shorter than `steps` ({self.steps}); lower it")

    @property
    def cached_blocks(self) -> tuple[int, ...]:
        if self.reuse == "background":
            return self.background_blocks
        return tuple(b for b in range(self.num_blocks) if b not in self.background_blocks)

    def rescaled(self, steps: int) -> "ProfilingDiTConfig":
        """This config for ``steps`` steps: warm-up and intervals × steps / ``self.steps`` (rounded; intervals
        at least 2). Unchanged when ``self.steps`` is None or equal."""
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
            raise InvalidSettingError(f"`steps` must be a positive integer, got {steps!r}")
        if self.steps is None or steps == self.steps:
            return self
        if self.full_steps is not None:
            return dataclasses.replace(self, steps=steps, full_steps=map_full_steps(self.full_steps, self.steps, steps))
        ratio = steps / self.steps
        warmup = int(round(self.warmup * ratio))
        imax = max(2, int(round(self.interval_max * ratio)))
        imin = max(2, min(imax, int(round(self.interval_min * ratio))))
        return dataclasses.replace(self, warmup=min(warmup, steps - 1), interval_max=imax, interval_min=imin,
                                   steps=steps)

    def full_step_mask(self, steps: int, step_range: tuple[int, int] | None = None) -> list[bool]:
        """One bool per step of a ``steps``-step call: True where every block computes.

        ``step_range`` (or the config's own): the steps this transformer runs; it is planned over them."""
        rng = step_range if step_range is not None else self.step_range
        a, b = (0, steps) if rng is None else (rng[0], min(rng[1], steps))
        out = [True] * steps  # outside its range this transformer is never called
        if b > a:
            local = self.rescaled(b - a) if self.steps is not None else self
            if local.full_steps is not None:
                last = b - a - local.final_full_steps
                out[a:b] = [i in local.full_steps or i >= last for i in range(b - a)]
                return out
            out[a:b] = full_compute_steps(b - a, min(local.warmup, b - a - 1), local.interval_max,
                                          local.interval_min, local.final_full_steps, local.schedule)
        return out

    def plan(self, steps: int | None = None, step_range: tuple[int, int] | None = None) -> np.ndarray:
        """(steps, blocks) bool plan; True = computes."""
        steps = steps or self.steps
        if steps is None:
            raise InvalidSettingError("the plan needs a step count: pass `steps`")
        return build_plan(self.full_step_mask(steps, step_range), self.num_blocks, self.cached_blocks)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["background_blocks"] = list(self.background_blocks)
        if self.step_range is not None:
            d["step_range"] = list(self.step_range)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "ProfilingDiTConfig":
        unknown = set(d) - set(cls.__dataclass_fields__)
        if unknown:
            raise InvalidSettingError(f"unknown ProfilingDiTConfig keys: {', '.join(sorted(unknown))}")
        return cls(**d)

    @classmethod
    def from_profile(cls, profile, *, steps: int | None = None, **kwargs) -> "ProfilingDiTConfig":
        """``Profile.config`` (``profile``: a ``Profile``, a path, or a profile dict)."""
        from ..profile.file import as_profile

        return as_profile(profile).config(steps=steps, **kwargs)


def map_full_steps(full: tuple[int, ...], steps: int, new_steps: int, count: int | None = None) -> tuple[int, ...]:
    """An explicit list of full steps for ``steps`` steps, mapped to ``new_steps``: ``count`` full steps (default:
    the same share, rounded; at least one), spread over the call as the list spreads over its own (its
    positions, as fractions of the run, resampled to the new count), step 0 always full, and the last step
    full when it was."""
    full = sorted(full)
    if new_steps == steps and count is None:
        return tuple(full)
    ends = 2 if full[-1] == steps - 1 and new_steps > 1 and len(full) > 1 else 1
    if count is None:
        count = int(round(len(full) * new_steps / steps))
    count = max(ends, min(new_steps, count))
    where = np.asarray(full, dtype=float) / max(1, steps - 1)
    if count == 1 or len(full) == 1:
        wanted = [0.0]
    else:
        wanted = np.interp(np.linspace(0, len(full) - 1, count), np.arange(len(full)), where)
    chosen: list[int] = []
    for u in wanted:
        target = int(round(u * (new_steps - 1)))
        free = [c for c in range(new_steps) if c not in chosen]
        chosen.append(min(free, key=lambda c: (abs(c - target), c)))
    chosen.sort()
    chosen[0] = 0
    if ends == 2:
        chosen[-1] = new_steps - 1
    return tuple(sorted(set(chosen)))
