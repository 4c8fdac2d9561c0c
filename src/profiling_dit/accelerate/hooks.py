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
the pipeline's ``cache_context(name, step_index=…, num_inference_steps=…)`` to know the branch, the step
and the step count. Each branch ("cond", "uncond") has its own cache. The plan follows each call's step
count: a config written for S steps (``ProfilingDiTConfig.steps``) is rescaled for a call of N steps (its
explicit full steps mapped to N, or the paper's warm-up and intervals × N/S; one warning), so no call
overruns or cuts its plan. Nothing branches
on tensor values, so blocks can be compiled (``compile_blocks``) and the hooks stay outside the compiled
graphs.
"""

from __future__ import annotations

import contextlib
import warnings
from typing import Callable

import numpy as np
import torch
from diffusers.hooks import HookRegistry, ModelHook
from diffusers.hooks.hooks import BaseState, StateManager

from .._compat import CallContext, branch_states, get_hook, parallel_config_of, remove_hook
from ..errors import InvalidSettingError
from ..models import arch_for, block_stream_inputs
from .config import ProfilingDiTConfig
from .plan import runs_of

_STEP_HOOK = "pdit_step_tracker"
_RUN_HOOK = "pdit_run_block"


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
    """Plans per step count (the pipeline tells the count through its cache context, or ``steps_provider``).

    ``step_range``: a function ``steps -> (start, stop)`` giving the steps this transformer runs in a call
    of that many steps (two-expert pipelines), or None."""

    def __init__(self, config: ProfilingDiTConfig, step_range: Callable[[int], tuple[int, int]] | None = None):
        self.config = config
        self.step_range = step_range
        self._plans: dict[int, np.ndarray] = {}

    def range_for(self, steps: int) -> tuple[int, int]:
        if self.step_range is not None:
            return tuple(self.step_range(steps))
        return self.config.step_range or (0, steps)

    def get(self, steps: int) -> np.ndarray:
        if steps not in self._plans:
            rng = self.range_for(steps)
            own = min(rng[1], steps) - rng[0]
            if self.config.steps is not None and own != self.config.steps:
                how = ("its full steps are mapped to this call's steps" if self.config.full_steps is not None
                       else f"warm-up and intervals are rescaled by {own}/{self.config.steps}")
                warnings.warn(f"ProfilingDiT: the plan was made for {self.config.steps} steps and this call runs "
                              f"{own}; {how}", stacklevel=2)
            elif self.config.steps is None and self.config.warmup >= own:
                warnings.warn(f"ProfilingDiT: the warm-up ({self.config.warmup}) is not shorter than the {own} "
                              "steps of this call: every step computes fully", stacklevel=2)
            self._plans[steps] = self.config.plan(steps, rng)
        return self._plans[steps]


class _StepTrackerHook(ModelHook):
    """On the transformer: sets the branch state's step and step count from the cache context (or counts
    calls, for pipelines that give no step index)."""

    _is_stateful = True

    def __init__(self, state_manager: StateManager, plans: _PlanCache,
                 steps_provider: Callable[[], int | None] | None = None):
        super().__init__()
        self.state_manager = state_manager
        self.plans = plans
        self.steps_provider = steps_provider

    @torch.compiler.disable
    def pre_forward(self, module, *args, **kwargs):
        ctx = CallContext.from_manager(self.state_manager)
        if ctx is None:
            raise InvalidSettingError(
                "ProfilingDiT caching runs inside a pipeline call (its cache_context says the branch and step); "
                "call the pipeline, or wrap the transformer call in `transformer.cache_context(...)`")
        state: _BranchState = self.state_manager.get_state()
        step = ctx.step if ctx.step is not None else state.calls
        if step == 0 and state.calls:  # a new generation in the same context: start clean
            state.reset()
        num_steps = ctx.num_steps
        if num_steps is None and self.steps_provider is not None:
            num_steps = self.steps_provider()
        if num_steps is None:
            num_steps = self.plans.config.steps
        if num_steps is None:
            raise InvalidSettingError(
                "ProfilingDiT needs the number of steps: set `steps` in the config, or call the transformer "
                "inside a pipeline whose cache_context gives it")
        if step >= num_steps:
            raise InvalidSettingError(
                f"step {step} is beyond the {num_steps} steps of this call; the pipeline and the step count disagree")
        state.step = step
        state.num_steps = num_steps
        self.plans.get(num_steps)  # make (and warn about) the plan before the blocks run
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


def apply_profiling_dit(transformer: torch.nn.Module, config: ProfilingDiTConfig, *,
                        steps_provider: Callable[[], int | None] | None = None,
                        step_range: Callable[[int], tuple[int, int]] | None = None) -> None:
    """Install ProfilingDiT caching on one supported transformer (in place).

    Args:
        transformer: e.g. ``pipe.transformer`` of a ``WanPipeline``; its class must be in the registry.
        config: a ``ProfilingDiTConfig`` (``Profile.config()`` or by hand).
        steps_provider: returns the step count of the running call, for pipelines whose cache context does not
            give it (``profiling_dit.apply`` passes the pipeline's ``num_timesteps``).
        step_range: ``steps -> (start, stop)``, the steps this transformer runs in a call of that many steps
            (the experts of a two-expert pipeline; ``profiling_dit.apply`` passes it).

    Call the pipeline as usual afterwards; ``remove_profiling_dit`` restores the stock model. For a whole
    pipeline (every expert), ``profiling_dit.apply(pipe, profile)`` is the one call.
    """
    arch = arch_for(transformer)
    blocks = arch.blocks(transformer)
    if not isinstance(config, ProfilingDiTConfig):
        raise InvalidSettingError(f"`config` must be a ProfilingDiTConfig, got {type(config).__name__}")
    if len(blocks) != config.num_blocks:
        raise InvalidSettingError(
            f"the config is for {config.num_blocks} blocks but the transformer has {len(blocks)}")
    if get_hook(transformer, _STEP_HOOK) is not None:
        raise InvalidSettingError("ProfilingDiT is already applied; remove it first (`remove_profiling_dit`)")
    if parallel_config_of(transformer) is not None and 0 in config.cached_blocks:
        raise InvalidSettingError(
            "apply ProfilingDiT before `enable_parallelism`: context parallelism splits the sequence at the first "
            "block's input, and ProfilingDiT's hooks must sit inside that split")
    state_manager = StateManager(_BranchState)
    plans = _PlanCache(config, step_range)
    HookRegistry.check_if_exists_or_initialize(transformer).register_hook(
        _StepTrackerHook(state_manager, plans, steps_provider), _STEP_HOOK)
    for run_id, (first, last) in enumerate(runs_of(config.cached_blocks)):
        for b in range(first, last + 1):
            hook = _RunBlockHook(state_manager, plans, run_id, b, b == first, b == last, arch.block_streams)
            HookRegistry.check_if_exists_or_initialize(blocks[b]).register_hook(hook, _RUN_HOOK)
    registry = HookRegistry.check_if_exists_or_initialize(transformer)
    registry.invalidate_child_registries_cache()
    transformer._pdit_state_manager = state_manager  # for cache_bytes(); removed with the hooks
    transformer._pdit_config = config


def remove_profiling_dit(transformer: torch.nn.Module) -> None:
    """Remove every ProfilingDiT hook; the transformer computes exactly as before ``apply``. A no-op on a
    transformer without them."""
    remove_hook(transformer, _STEP_HOOK)
    for block in arch_for(transformer).blocks(transformer):
        remove_hook(block, _RUN_HOOK)
    HookRegistry.check_if_exists_or_initialize(transformer).invalidate_child_registries_cache()
    for attr in ("_pdit_state_manager", "_pdit_config"):
        transformer.__dict__.pop(attr, None)


def is_applied(transformer: torch.nn.Module) -> bool:
    return get_hook(transformer, _STEP_HOOK) is not None


def applied_config(transformer: torch.nn.Module) -> ProfilingDiTConfig | None:
    """The config installed on ``transformer``, or None."""
    return transformer.__dict__.get("_pdit_config")


def cache_bytes(transformer: torch.nn.Module) -> dict[str, int]:
    """Bytes held by the delta cache, per branch (read before the pipeline resets it)."""
    manager: StateManager | None = transformer.__dict__.get("_pdit_state_manager")
    if manager is None:
        return {}
    return {name: state.cache_bytes() for name, state in branch_states(manager).items()}


@contextlib.contextmanager
def profiling_dit_enabled(transformer: torch.nn.Module, config: ProfilingDiTConfig, **kwargs):
    """``with profiling_dit_enabled(pipe.transformer, config): pipe(...)`` — applied inside, removed after."""
    apply_profiling_dit(transformer, config, **kwargs)
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
