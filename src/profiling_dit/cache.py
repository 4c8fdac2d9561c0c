"""Dual-granularity caching (paper Sec. 3.3), as diffusers hooks on the transformer's blocks.

Shaped like diffusers' ``hooks/first_block_cache.py``: a frozen ``ProfilingDiTConfig``, a few hook
classes, a per-branch state, and ``apply_profiling_dit(transformer, config)`` /
``remove_profiling_dit(transformer)``.

Block level (Eq. 8–9, Fig. 6): the cached blocks (the background set) form maximal runs of
consecutive blocks k..j. On a full-compute step each run computes and stores one delta,
h_out(j) − h_in(k). On a reuse step the run's first block returns h_in(k) + delta and the run's
other blocks pass their input through; blocks outside the runs always compute. Blocks that carry
several streams (HunyuanVideo, CogVideoX: video and text hidden states in, both out) keep one delta
per stream, so a skipped run moves every stream it would have changed.

Eq. 10 reading: the cached delta of a run is *replaced* at every full-compute step and reused
unchanged until the next one (C ← Δ of the latest full step). Summing deltas across steps, the
literal reading of C_{t+1} = C_t + Δ_t, adds one residual per refresh to the hidden state and
diverges, so it is not offered.

Step level: the plan (``plan.py``) says, before sampling, which step is full-compute; hooks read
the pipeline's ``cache_context(name, step_index=…)`` to know the branch and step. Each branch
("cond", "uncond") has its own cache. Nothing branches on tensor values, so blocks can be compiled
(``compile_blocks``) and the hooks stay outside the compiled graphs.
"""

from __future__ import annotations

import contextlib
from dataclasses import asdict, dataclass

import numpy as np
import torch
from diffusers.hooks import HookRegistry, ModelHook
from diffusers.hooks.hooks import BaseState, StateManager

from .errors import InvalidSettingError, ProfileError
from .plan import SCHEDULES, build_plan, full_compute_steps, runs_of
from .registry import arch_for, block_stream_inputs

_STEP_HOOK = "pdit_step_tracker"
_RUN_HOOK = "pdit_run_block"


@dataclass(frozen=True)
class ProfilingDiTConfig:
    r"""Configuration of ProfilingDiT caching.

    Args:
        num_blocks: number of transformer blocks the config was made for (checked on apply).
        background_blocks: indices of the blocks whose deltas are cached (Eq. 7's B).
        warmup: s0; steps 0..s0 always compute fully.
        interval_max: T_max, the first gap between full-compute steps after the warm-up.
        interval_min: T_min, the last gap (Eq. 15).
        final_full_steps: the last N steps always compute fully.
        schedule: ``stepwise`` (gaps shrink, the paper's default), ``inverse`` or ``average``.
        reuse: ``background`` (the method) or ``foreground`` (the paper's ablation: cache F instead).
        num_inference_steps: plan length; ``None`` takes it from the pipeline's cache context.
        step_range: ``(start, stop)``: the steps this transformer runs, for pipelines with two experts
            (Wan2.2 A14B). The warm-up, intervals and final full steps then count from the start of
            the range and end at its stop, so each expert is planned over its own steps (its cache is
            empty when it takes over). ``None``: all steps.

    Example:
        ```python
        >>> from profiling_dit.cache import ProfilingDiTConfig, apply_profiling_dit
        >>> from profiling_dit.profile_file import load_profile
        >>> config = ProfilingDiTConfig.from_profile(load_profile("profiles/tiny-wan.json"))
        >>> apply_profiling_dit(pipe.transformer, config)
        >>> video = pipe("a red ball", num_inference_steps=20).frames[0]
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
    num_inference_steps: int | None = None
    step_range: tuple[int, int] | None = None

    def __post_init__(self):
        object.__setattr__(self, "background_blocks", tuple(sorted(int(b) for b in self.background_blocks)))
        if not isinstance(self.num_blocks, int) or self.num_blocks < 1:
            raise InvalidSettingError(f"num_blocks must be a positive integer, got {self.num_blocks!r}")
        if len(set(self.background_blocks)) != len(self.background_blocks):
            raise InvalidSettingError("background blocks must not repeat")
        bad = [b for b in self.background_blocks if not 0 <= b < self.num_blocks]
        if bad:
            raise InvalidSettingError(f"background blocks {bad} are out of range [0, {self.num_blocks - 1}]")
        for name, v, lo in (("--warmup", self.warmup, 0), ("--interval-max", self.interval_max, 1),
                            ("--interval-min", self.interval_min, 1), ("--final-full-steps", self.final_full_steps, 0)):
            if isinstance(v, bool) or not isinstance(v, int) or v < lo:
                raise InvalidSettingError(f"{name} must be an integer >= {lo}, got {v!r}")
        if self.interval_max < self.interval_min:
            raise InvalidSettingError(
                f"--interval-max ({self.interval_max}) must be >= --interval-min ({self.interval_min})")
        if self.schedule not in SCHEDULES:
            raise InvalidSettingError(f"schedule must be one of {', '.join(SCHEDULES)}, got {self.schedule!r}")
        if self.reuse not in ("background", "foreground"):
            raise InvalidSettingError(f"reuse must be background or foreground, got {self.reuse!r}")
        if self.step_range is not None:
            a, b = (int(x) for x in self.step_range)
            if not 0 <= a < b:
                raise InvalidSettingError(f"step_range must be (start, stop) with 0 <= start < stop, got {self.step_range}")
            object.__setattr__(self, "step_range", (a, b))
        if self.num_inference_steps is not None:
            if self.num_inference_steps < 1:
                raise InvalidSettingError("num_inference_steps must be >= 1")
            if self.step_range is None and self.warmup >= self.num_inference_steps:
                raise InvalidSettingError(
                    f"warm-up {self.warmup} is not shorter than the {self.num_inference_steps} steps; lower --warmup")

    @property
    def cached_blocks(self) -> tuple[int, ...]:
        if self.reuse == "background":
            return self.background_blocks
        return tuple(b for b in range(self.num_blocks) if b not in self.background_blocks)

    def full_steps(self, steps: int) -> list[bool]:
        if self.step_range is None:
            return full_compute_steps(steps, self.warmup, self.interval_max, self.interval_min,
                                      self.final_full_steps, self.schedule)
        a, b = self.step_range[0], min(self.step_range[1], steps)
        out = [True] * steps  # outside the range this transformer is never called
        if b > a:
            out[a:b] = full_compute_steps(b - a, min(self.warmup, b - a - 1), self.interval_max, self.interval_min,
                                          self.final_full_steps, self.schedule)
        return out

    def plan(self, steps: int | None = None) -> np.ndarray:
        """(steps, blocks) bool plan; True = computes."""
        steps = steps or self.num_inference_steps
        if steps is None:
            raise InvalidSettingError("the plan needs a step count: pass steps or set num_inference_steps")
        return build_plan(self.full_steps(steps), self.num_blocks, self.cached_blocks)

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
    def from_profile(cls, profile: dict, *, steps: int | None = None, tau: float | None = None,
                     background_share: float | None = None, **overrides) -> "ProfilingDiTConfig":
        """Build from a loaded profile; ``tau``/``background_share`` re-split its block scores.

        When ``steps`` differs from the profiled step count, the warm-up and the intervals are
        rescaled by steps / profiled steps (rounded; intervals kept >= 2 unless overridden).
        """
        from .scoring import split_blocks

        if tau is not None or background_share is not None:
            _, _, background = split_blocks(profile["block_scores"], tau=tau, background_share=background_share)
        else:
            background = profile["split"]["background_blocks"]
        sched = dict(profile["schedule"])
        for key in ("warmup", "interval_max", "interval_min"):
            v = sched.get(key)
            if isinstance(v, bool) or not isinstance(v, int) or v < (0 if key == "warmup" else 1):
                raise ProfileError(f"profile schedule value {key}={v!r} is out of range; re-run `pdit profile`")
        profiled_steps = profile["run"]["steps"]
        if steps is not None and steps != profiled_steps:
            ratio = steps / profiled_steps
            sched["warmup"] = int(round(sched["warmup"] * ratio))
            sched["interval_max"] = max(2, int(round(sched["interval_max"] * ratio)))
            sched["interval_min"] = max(2, min(sched["interval_max"], int(round(sched["interval_min"] * ratio))))
        if sched["interval_max"] < sched["interval_min"]:
            raise ProfileError("profile schedule has interval_max < interval_min; re-run `pdit profile`")
        params = dict(num_blocks=profile["model"]["num_blocks"], background_blocks=tuple(background),
                      warmup=sched["warmup"], interval_max=sched["interval_max"],
                      interval_min=sched["interval_min"], num_inference_steps=steps)
        params.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**params)


class _BranchState(BaseState):
    """Per CFG branch: the step being run and one cached delta per run."""

    def __init__(self):
        self.step: int = 0
        self.calls: int = 0
        self.num_steps: int | None = None
        self.h_in: dict[int, tuple[torch.Tensor, ...]] = {}
        self.delta: dict[int, tuple[torch.Tensor, ...]] = {}  # one delta per stream
        self.skip_run: dict[int, bool] = {}

    def reset(self, *args, **kwargs):
        self.__init__()

    def cache_bytes(self) -> int:
        return sum(t.numel() * t.element_size() for deltas in self.delta.values() for t in deltas)


class _PlanCache:
    """Plans per step count (the pipeline tells the count through its cache context)."""

    def __init__(self, config: ProfilingDiTConfig):
        self.config = config
        self._plans: dict[int, np.ndarray] = {}

    def get(self, steps: int) -> np.ndarray:
        if steps not in self._plans:
            self._plans[steps] = self.config.plan(steps)
        return self._plans[steps]


class _StepTrackerHook(ModelHook):
    """On the transformer: sets the branch state's step from the cache context (or counts calls)."""

    _is_stateful = True

    def __init__(self, state_manager: StateManager, config: ProfilingDiTConfig):
        super().__init__()
        self.state_manager = state_manager
        self.config = config

    @torch.compiler.disable
    def pre_forward(self, module, *args, **kwargs):
        ctx = self.state_manager.context
        state: _BranchState = self.state_manager.get_state()
        step = ctx.step_index if getattr(ctx, "step_index", None) is not None else state.calls
        if step == 0 and state.calls:  # a new generation in the same context: start clean
            state.reset()
        state.step = step
        state.num_steps = (self.config.num_inference_steps or getattr(ctx, "num_inference_steps", None))
        if state.num_steps is None:
            raise InvalidSettingError(
                "ProfilingDiT needs the number of steps: set num_inference_steps in the config, or call the "
                "transformer inside pipe(...) whose cache_context gives it")
        if state.step >= state.num_steps:
            raise InvalidSettingError(
                f"step {state.step} is beyond the plan's {state.num_steps} steps; set num_inference_steps to match")
        return args, kwargs

    def post_forward(self, module, output):
        self.state_manager.get_state().calls += 1
        return output

    def reset_state(self, module):
        self.state_manager.reset()
        return module


class _RunBlockHook(ModelHook):
    """On each block of a cached run (first, member, last)."""

    _is_stateful = True

    def __init__(self, state_manager: StateManager, plans: _PlanCache, run_id: int, block: int,
                 is_first: bool, is_last: bool, streams: tuple[str, ...]):
        super().__init__()
        self.state_manager = state_manager
        self.plans = plans
        self.run_id = run_id
        self.block = block
        self.is_first = is_first
        self.is_last = is_last
        self.streams = streams  # the block's stream arguments, also its first positional ones, in order

    @torch.compiler.disable
    def _decide(self) -> tuple[_BranchState, bool]:
        state: _BranchState = self.state_manager.get_state()
        compute = bool(self.plans.get(state.num_steps)[state.step, self.block])
        if self.is_first:
            # First step of a run with no cache yet must compute, whatever the plan says.
            if not compute and self.run_id not in state.delta:
                compute = True
            state.skip_run[self.run_id] = not compute
        return state, not state.skip_run.get(self.run_id, False)

    def new_forward(self, module, *args, **kwargs):
        inputs = block_stream_inputs(self.streams, args, kwargs)
        single = len(inputs) == 1
        state, compute = self._decide()
        if not compute:
            if self.is_first:
                inputs = tuple(x + d for x, d in zip(inputs, state.delta[self.run_id]))
            # other members pass through: the run's delta was already added by its first block
            return inputs[0] if single else inputs
        if self.is_first:
            state.h_in[self.run_id] = inputs
        out = self.fn_ref.original_forward(*args, **kwargs)
        if self.is_last:
            outs = (out,) if single else tuple(out)
            state.delta[self.run_id] = tuple(o - x for o, x in zip(outs, state.h_in.pop(self.run_id)))
        return out

    def reset_state(self, module):
        self.state_manager.reset()
        return module


def apply_profiling_dit(transformer: torch.nn.Module, config: ProfilingDiTConfig) -> None:
    """Install ProfilingDiT caching on a supported transformer (in place).

    Args:
        transformer: e.g. ``pipe.transformer`` of a ``WanPipeline``; its class must be in the registry.
        config: a ``ProfilingDiTConfig`` (``from_profile`` or by hand).

    Call the pipeline as usual afterwards; ``remove_profiling_dit`` restores the stock model.
    """
    arch = arch_for(transformer)
    blocks = arch.blocks(transformer)
    if len(blocks) != config.num_blocks:
        raise InvalidSettingError(
            f"config is for {config.num_blocks} blocks but the transformer has {len(blocks)}")
    if hasattr(transformer, "_diffusers_hook") and transformer._diffusers_hook.get_hook(_STEP_HOOK) is not None:
        raise InvalidSettingError("ProfilingDiT is already applied; call remove_profiling_dit first")
    state_manager = StateManager(_BranchState)
    plans = _PlanCache(config)
    HookRegistry.check_if_exists_or_initialize(transformer).register_hook(
        _StepTrackerHook(state_manager, config), _STEP_HOOK)
    for run_id, (first, last) in enumerate(runs_of(config.cached_blocks)):
        for b in range(first, last + 1):
            hook = _RunBlockHook(state_manager, plans, run_id, b, b == first, b == last, arch.block_streams)
            HookRegistry.check_if_exists_or_initialize(blocks[b]).register_hook(hook, _RUN_HOOK)
    registry = HookRegistry.check_if_exists_or_initialize(transformer)
    registry.invalidate_child_registries_cache()
    transformer._pdit_state_manager = state_manager  # for cache_bytes(); removed with the hooks


def remove_profiling_dit(transformer: torch.nn.Module) -> None:
    """Remove every ProfilingDiT hook; the transformer computes exactly as before ``apply``."""
    registry = HookRegistry.check_if_exists_or_initialize(transformer)
    registry.remove_hook(_STEP_HOOK, recurse=False)
    for block in arch_for(transformer).blocks(transformer):
        if hasattr(block, "_diffusers_hook"):
            block._diffusers_hook.remove_hook(_RUN_HOOK, recurse=False)
    registry.invalidate_child_registries_cache()
    if hasattr(transformer, "_pdit_state_manager"):
        del transformer._pdit_state_manager


def cache_bytes(transformer: torch.nn.Module) -> dict[str, int]:
    """Bytes held by the delta cache, per branch (read before the pipeline resets it)."""
    manager: StateManager | None = getattr(transformer, "_pdit_state_manager", None)
    if manager is None:
        return {}
    return {name: state.cache_bytes() for name, state in manager._state_cache.items()}


@contextlib.contextmanager
def profiling_dit_enabled(transformer: torch.nn.Module, config: ProfilingDiTConfig):
    """``with profiling_dit_enabled(pipe.transformer, config): pipe(...)`` — applied inside, removed after."""
    apply_profiling_dit(transformer, config)
    try:
        yield transformer
    finally:
        remove_profiling_dit(transformer)


def compile_blocks(transformer: torch.nn.Module, **compile_kwargs) -> None:
    """Regional ``torch.compile``: compile each block's own forward. Call *before* ``apply_profiling_dit``
    so the hooks wrap the compiled blocks and the plan's decisions stay outside the graphs. Blocks stay
    compiled (``uncompile_blocks`` undoes it); compiling twice is a no-op."""
    for block in arch_for(transformer).blocks(transformer):
        if "forward" not in vars(block):
            block.forward = torch.compile(block.forward, **compile_kwargs)


def uncompile_blocks(transformer: torch.nn.Module) -> None:
    """Undo ``compile_blocks``."""
    for block in arch_for(transformer).blocks(transformer):
        if "forward" in vars(block):
            del block.forward
