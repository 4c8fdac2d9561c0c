"""Dual-granularity caching (paper Sec. 3.3), as diffusers hooks on the transformer's blocks.

Shaped like diffusers' ``hooks/first_block_cache.py``: a frozen, validated ``Plan`` (``profiling_dit.plan``), a
few hook classes, a per-branch state, and ``apply_profiling_dit(transformer, plan)`` /
``remove_profiling_dit(transformer)``. The blocks skip and add cached deltas through ``runs.py``, the
mechanism our TeaCache uses too.

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
count: a plan for S steps meets a call of N steps with one warning and is made again for N (``replan``, which
``profiling_dit.apply`` passes: the same options planned for N), or else mapped to N (``Plan.for_steps``), so no
call overruns or cuts its plan. Nothing branches
on tensor values, so blocks can be compiled (``compile_blocks``) and the hooks stay outside the compiled
graphs.
"""

from __future__ import annotations

import contextlib
import warnings
from typing import Callable, cast

import numpy as np
import torch
from diffusers.hooks import HookRegistry, ModelHook
from diffusers.hooks.hooks import StateManager

from .._compat import CallContext, branch_states, get_hook, parallel_config_of, remove_hook
from ..errors import InvalidSettingError
from ..models import arch_for
from ..plan import Plan
from .runs import Fit, RunState, install_runs, remove_runs

_STEP_HOOK = "pdit_step_tracker"
_RUN_HOOK = "pdit_run_block"


class _BranchState(RunState):
    """Per CFG branch: the step being run, and the runs' cached deltas."""

    def __init__(self):
        super().__init__()
        self.step: int = 0
        self.calls: int = 0
        self.num_steps: int | None = None


class _PlanCache:
    """The (steps, blocks) compute mask per call step count (the pipeline tells the count through its cache
    context, or ``steps_provider``).

    ``step_range``: ``steps -> (start, stop)``, the steps this transformer runs in a call of that many steps
    (two-expert pipelines), or None (the plan's own ``step_range``, else every step). ``replan``: ``steps -> Plan``
    for a call whose own step count differs from the plan's (else ``Plan.for_steps``)."""

    def __init__(self, plan: Plan, step_range: Callable[[int], tuple[int, int]] | None = None,
                 replan: Callable[[int], Plan] | None = None):
        self.plan = plan
        self.step_range = step_range
        self.replan = replan
        self._masks: dict[int, np.ndarray] = {}
        self._forecasts: dict[int, np.ndarray] = {}  # (steps, 2): each step's (a, b); (1, 0) outside the plan

    def range_for(self, steps: int) -> tuple[int, int]:
        if self.step_range is not None:
            a, b = self.step_range(steps)
            return a, b
        return self.plan.step_range or (0, steps)

    def get(self, steps: int) -> np.ndarray:
        if steps not in self._masks:
            a, b = self.range_for(steps)
            b = min(b, steps)
            mask = np.ones((steps, self.plan.num_blocks), dtype=bool)  # outside its range it is never called
            forecast = np.tile([1.0, 0.0], (steps, 1))
            if b > a:
                own = b - a
                local = self.plan
                if own != self.plan.steps:
                    how = "it is planned again for this call" if self.replan else \
                        "its full steps are mapped to this call's steps"
                    warnings.warn(f"ProfilingDiT: the plan was made for {self.plan.steps} steps and this call runs "
                                  f"{own}; {how}", stacklevel=2)
                    local = self._replanned(own) if self.replan is not None else self.plan.for_steps(own)
                mask[a:b] = local.mask()
                if local.forecast is not None:
                    forecast[a:b] = local.forecast
            self._masks[steps] = mask
            self._forecasts[steps] = forecast
        return self._masks[steps]

    def coefficients(self, steps: int, step: int) -> tuple[float, float]:
        self.get(steps)
        a, b = self._forecasts[steps][step]
        return float(a), float(b)


    def _replanned(self, steps: int) -> Plan:
        assert self.replan is not None  # called only when there is one
        try:
            return self.replan(steps)
        except InvalidSettingError as e:  # no plan of these options fits this call: the plan's own, mapped
            warnings.warn(f"ProfilingDiT: {e}; the plan's full steps are mapped to this call's steps instead",
                          stacklevel=3)
            return self.plan.for_steps(steps)


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
            a, b = self.plans.plan.step_range or (0, self.plans.plan.steps)
            num_steps = b
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


def _plan_decision(plans: _PlanCache, block: int):
    def decide(state: _BranchState, args, kwargs) -> bool:
        assert state.num_steps is not None  # the step tracker sets it before the blocks run
        return bool(plans.get(state.num_steps)[state.step, block])
    return decide


def _plan_forecast(plans: _PlanCache):
    def forecast(state: _BranchState) -> tuple[float, float]:
        assert state.num_steps is not None  # the step tracker sets it before the blocks run
        return plans.coefficients(state.num_steps, state.step)
    return forecast


def apply_profiling_dit(transformer: torch.nn.Module, plan: Plan, *,
                        steps_provider: Callable[[], int | None] | None = None,
                        step_range: Callable[[int], tuple[int, int]] | None = None,
                        replan: Callable[[int], Plan] | None = None, fit: Fit | None = None) -> None:
    """Install ProfilingDiT caching on one supported transformer (in place).

    Args:
        transformer: e.g. ``pipe.transformer`` of a ``WanPipeline``; its class must be in the registry.
        plan: a ``Plan`` (``profiling_dit.make_plan(profile, ...)``, or by hand).
        steps_provider: returns the step count of the running call, for pipelines whose cache context does not
            give it (``profiling_dit.apply`` passes the pipeline's ``num_timesteps``).
        step_range: ``steps -> (start, stop)``, the steps this transformer runs in a call of that many steps
            (the experts of a two-expert pipeline; ``profiling_dit.apply`` passes it).
        replan: ``steps -> Plan``, the plan for a call whose step count differs from ``plan.steps``; without it
            the plan's full steps are mapped to that count (``Plan.for_steps``).
        fit: calibration of a forecast (``caching.forecast.fit_forecast``): the runs compute on the steps they
            would reuse, and ``fit`` says what they add instead (``runs.py``).

    Call the pipeline as usual afterwards; ``remove_profiling_dit`` restores the stock model. For a whole
    pipeline (every expert), ``profiling_dit.apply(pipe, profile)`` is the one call.
    """
    if not isinstance(plan, Plan):
        raise InvalidSettingError(f"`plan` must be a profiling_dit.Plan, got {type(plan).__name__}")
    arch = arch_for(transformer)
    blocks = arch.blocks(transformer)
    if len(blocks) != plan.num_blocks:
        raise InvalidSettingError(f"the plan is for {plan.num_blocks} blocks but the transformer has {len(blocks)}")
    if get_hook(transformer, _STEP_HOOK) is not None:
        raise InvalidSettingError("ProfilingDiT is already applied; remove it first (`remove_profiling_dit`)")
    if parallel_config_of(transformer) is not None and 0 in plan.cached_blocks:
        raise InvalidSettingError(
            "apply ProfilingDiT before `enable_parallelism`: context parallelism splits the sequence at the first "
            "block's input, and ProfilingDiT's hooks must sit inside that split")
    state_manager = StateManager(_BranchState)  # type: ignore[arg-type]  # diffusers annotates the class as an instance
    plans = _PlanCache(plan, step_range, replan)
    HookRegistry.check_if_exists_or_initialize(transformer).register_hook(
        _StepTrackerHook(state_manager, plans, steps_provider), _STEP_HOOK)
    runs = plan.runs()
    install_runs(blocks, runs, state_manager, arch.block_streams, _RUN_HOOK,
                 lambda run_id: _plan_decision(plans, runs[run_id][0]),
                 forecast=_plan_forecast(plans) if plan.forecasts else None,
                 keep_previous=plan.keeps_two_deltas or fit is not None, fit=fit)
    HookRegistry.check_if_exists_or_initialize(transformer).invalidate_child_registries_cache()
    transformer._pdit_state_manager = state_manager  # type: ignore[assignment]  # for cache_bytes(); removed with the hooks
    transformer._pdit_plan = plan  # type: ignore[assignment]


def remove_profiling_dit(transformer: torch.nn.Module) -> None:
    """Remove every ProfilingDiT hook; the transformer computes exactly as before ``apply``. A no-op on a
    transformer without them."""
    remove_hook(transformer, _STEP_HOOK)
    remove_runs(arch_for(transformer).blocks(transformer), _RUN_HOOK)
    HookRegistry.check_if_exists_or_initialize(transformer).invalidate_child_registries_cache()
    for attr in ("_pdit_state_manager", "_pdit_plan"):
        transformer.__dict__.pop(attr, None)


def is_applied(transformer: torch.nn.Module) -> bool:
    return get_hook(transformer, _STEP_HOOK) is not None


def applied_plan(transformer: torch.nn.Module) -> Plan | None:
    """The plan installed on ``transformer``, or None."""
    return transformer.__dict__.get("_pdit_plan")


def cache_bytes(transformer: torch.nn.Module) -> dict[str, int]:
    """Bytes held by the delta cache, per branch (read before the pipeline resets it)."""
    manager: StateManager | None = transformer.__dict__.get("_pdit_state_manager")
    if manager is None:
        return {}
    return {name: cast(_BranchState, state).cache_bytes() for name, state in branch_states(manager).items()}


@contextlib.contextmanager
def profiling_dit_enabled(transformer: torch.nn.Module, plan: Plan, **kwargs):
    """``with profiling_dit_enabled(pipe.transformer, plan): pipe(...)`` — applied inside, removed after."""
    apply_profiling_dit(transformer, plan, **kwargs)
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
