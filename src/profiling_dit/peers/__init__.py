"""Caching methods benchmarked side by side: ours, its ablations, and the peers.

Each method is a small adapter (``Method``): its default and sweep settings, whether it applies to
a model (and why not), an optional calibration, and apply/remove on the pipeline's transformer.
Peers run through their own implementations: diffusers' ``enable_cache`` configs, our TeaCache
hooks (``teacache.py``; no official diffusers version exists), and cache-dit when installed.
"""

from __future__ import annotations

import contextlib
import io
import logging
import re
from dataclasses import dataclass, field
from typing import Callable

import torch

from ..loading import LoadedModel


class NotApplicable(Exception):
    """The method cannot run on this model or setup; the message says why."""


@dataclass
class RunContext:
    """What an adapter may need: the model, the settings, the profile, and a calibration runner."""

    model: LoadedModel
    settings: object  # GenerationSettings
    profile: dict | None
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

    def settings(self, sweep: bool) -> tuple[dict, ...]:
        return self.sweep if sweep else (self.default,)


def label(params: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in params.items()) or "-"


# --- baseline ----------------------------------------------------------------------------------
def _noop(ctx, params=None):
    return None


# --- ProfilingDiT and its ablations ------------------------------------------------------------
def _pdit_check(ctx):
    if ctx.profile is None:
        raise NotApplicable("needs a profile (--profile)")


def _pdit_apply_factory(schedule: str, reuse: str):
    def apply(ctx, params):
        from ..cache import ProfilingDiTConfig, apply_profiling_dit
        from ..sampling import expert_configs

        if len(ctx.model.experts) > 1:
            configs = expert_configs(ctx.model, ctx.profile, ctx.settings.steps, schedule=schedule, reuse=reuse,
                                     **params)
        else:
            configs = {"transformer": ProfilingDiTConfig.from_profile(
                ctx.profile, steps=ctx.settings.steps, schedule=schedule, reuse=reuse, **params)}
        for name, config in configs.items():
            apply_profiling_dit(getattr(ctx.model.pipe, name), config)
    return apply


def _pdit_remove(ctx):
    from ..cache import remove_profiling_dit

    for name in ctx.model.experts:
        remove_profiling_dit(getattr(ctx.model.pipe, name))


_PDIT_SWEEP = tuple({"background_share": s} for s in (0.5, 0.75, 0.9))


# --- diffusers' caches (enable_cache / disable_cache) --------------------------------------------
def _diffusers_apply(make_config):
    def apply(ctx, params):
        ctx.model.pipe.transformer.enable_cache(make_config(ctx, params))
    return apply


def _diffusers_remove(ctx):
    ctx.model.pipe.transformer.disable_cache()


def _fbc(ctx, p):
    from diffusers.hooks import FirstBlockCacheConfig

    return FirstBlockCacheConfig(**p)


def _pab(ctx, p):
    from diffusers.hooks import PyramidAttentionBroadcastConfig

    pipe = ctx.model.pipe
    return PyramidAttentionBroadcastConfig(
        spatial_attention_block_skip_range=p["skip_range"],
        spatial_attention_timestep_skip_range=tuple(p.get("timestep_range", (100, 800))),
        current_timestep_callback=lambda: pipe.current_timestep)


def _fastercache(ctx, p):
    from diffusers.hooks import FasterCacheConfig

    pipe = ctx.model.pipe
    return FasterCacheConfig(spatial_attention_block_skip_range=p["skip_range"],
                             current_timestep_callback=lambda: pipe.current_timestep)


def _fastercache_check(ctx):
    # FasterCache's unconditional-branch reuse expects one transformer call with cond and uncond
    # batched together; Wan's pipeline calls the transformer once per branch.
    if ctx.model.cfg_mode(ctx.settings) == "separate":
        raise NotApplicable(f"{type(ctx.model.pipe).__name__} calls the transformer separately per CFG branch; "
                            "FasterCache expects one batched cond+uncond call")


def _seacache(ctx, p):
    from diffusers.hooks import SeaCacheConfig

    return SeaCacheConfig(**p)


def _taylorseer(ctx, p):
    from diffusers.hooks import TaylorSeerCacheConfig

    patterns = ctx.model.arch.peer_module_patterns
    if not patterns:
        raise NotApplicable("no module patterns for TaylorSeer in this model's registry entry")
    return TaylorSeerCacheConfig(cache_identifiers=list(patterns), taylor_factors_dtype=torch.float32,
                                 disable_cache_before_step=p.get("disable_before", 3), cache_interval=p["cache_interval"],
                                 max_order=p.get("max_order", 1))


def _magcache_calibrate(ctx):
    from diffusers.hooks import MagCacheConfig

    records: list[str] = []

    class _Grab(logging.Handler):
        def emit(self, record):
            records.append(record.getMessage())

    logger = logging.getLogger("diffusers.hooks.mag_cache")
    handler, old_level, old_propagate = _Grab(), logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False  # keep the ratios out of the user's terminal
    transformer = ctx.model.pipe.transformer
    try:
        transformer.enable_cache(MagCacheConfig(calibrate=True, num_inference_steps=ctx.settings.steps))
        with contextlib.redirect_stdout(io.StringIO()):  # diffusers also prints the ratios; we log them
            ctx.run_calibration(None)
    finally:
        transformer.disable_cache()
        logger.removeHandler(handler)
        logger.setLevel(old_level)
        logger.propagate = old_propagate
    found = [r for r in records if "Calibration Results" in r]
    if not found:
        raise NotApplicable("MagCache calibration produced no ratios")
    ratios = [float(x) for x in re.findall(r"[-+]?\d*\.?\d+(?:[eE][-+]?\d+)?", found[-1].split(":", 1)[1])]
    ctx.calibration["mag_ratios"] = ratios


def _magcache(ctx, p):
    from diffusers.hooks import MagCacheConfig

    ratios = ctx.calibration["mag_ratios"]
    return MagCacheConfig(mag_ratios=ratios, num_inference_steps=len(ratios), **p)


# --- TeaCache (ours, hooks) -----------------------------------------------------------------------
def _teacache_calibrate(ctx):
    from .teacache import apply_teacache, fit_teacache_polynomial, remove_teacache

    transformer = ctx.model.pipe.transformer
    manager = apply_teacache(transformer, None, calibrate=True)
    pairs: list[tuple[float, float]] = []

    def grab():
        for state in manager._state_cache.values():
            pairs.extend(state.pairs)

    try:
        ctx.run_calibration(grab)
    finally:
        remove_teacache(transformer)
    # quadratic as TeaCache publishes; fewer calibration pairs (short runs) get a lower degree
    degree = min(2, len(pairs) - 2)
    if degree < 1:
        raise NotApplicable(f"TeaCache calibration got {len(pairs)} step pairs; it needs at least 3 (use more --steps)")
    ctx.calibration["teacache_coefficients"] = fit_teacache_polynomial(pairs, degree)
    ctx.calibration["teacache_pairs"] = len(pairs)


def _teacache_apply(ctx, p):
    from .teacache import TeaCacheConfig, apply_teacache

    apply_teacache(ctx.model.pipe.transformer, TeaCacheConfig(
        threshold=p["threshold"], coefficients=ctx.calibration["teacache_coefficients"],
        num_inference_steps=ctx.settings.steps))


def _teacache_remove(ctx):
    from .teacache import remove_teacache

    remove_teacache(ctx.model.pipe.transformer)


# --- cache-dit (optional extra) -----------------------------------------------------------------
def _cachedit_check(ctx):
    try:
        import cache_dit  # noqa: F401
    except ImportError:
        raise NotApplicable("cache-dit is not installed (pip install 'profiling-dit[cache-dit]')") from None


def _cachedit_apply(ctx, p):
    import cache_dit

    cache_dit.enable_cache(ctx.model.pipe, **p)


def _cachedit_remove(ctx):
    import cache_dit

    cache_dit.disable_cache(ctx.model.pipe)


METHODS: dict[str, Method] = {m.name: m for m in (
    Method("baseline", "baseline", {}, ({},), _noop, _noop, multi_expert=True),
    Method("profiling-dit", "profiling-dit", {}, _PDIT_SWEEP, _pdit_apply_factory("stepwise", "background"),
           _pdit_remove, _pdit_check, note="ours: background-block reuse, stepwise schedule", multi_expert=True),
    Method("profiling-dit-foreground", "profiling-dit", {}, _PDIT_SWEEP,
           _pdit_apply_factory("stepwise", "foreground"), _pdit_remove, _pdit_check,
           note="ablation (paper Table 3): reuse the foreground blocks instead", multi_expert=True),
    Method("profiling-dit-inverse", "profiling-dit", {}, _PDIT_SWEEP, _pdit_apply_factory("inverse", "background"),
           _pdit_remove, _pdit_check, note="ablation (paper Table 4): gaps grow from T_min to T_max",
           multi_expert=True),
    Method("profiling-dit-average", "profiling-dit", {}, _PDIT_SWEEP, _pdit_apply_factory("average", "background"),
           _pdit_remove, _pdit_check, note="ablation (paper Table 4): constant gap", multi_expert=True),
    Method("first-block-cache", "diffusers", {"threshold": 0.2},
           tuple({"threshold": t} for t in (0.05, 0.1, 0.2, 0.4)), _diffusers_apply(_fbc), _diffusers_remove),
    Method("taylorseer", "diffusers", {"cache_interval": 3},
           tuple({"cache_interval": i} for i in (2, 3, 5)), _diffusers_apply(_taylorseer), _diffusers_remove,
           note="module patterns from the registry (Wan: attn1, attn2, ffn)"),
    Method("magcache", "diffusers", {"threshold": 0.12, "max_skip_steps": 3},
           tuple({"threshold": t, "max_skip_steps": 3} for t in (0.06, 0.12, 0.24)),
           _diffusers_apply(_magcache), _diffusers_remove, calibrate=_magcache_calibrate,
           note="ratios calibrated on the benchmarked model first"),
    Method("pab", "diffusers", {"skip_range": 2}, tuple({"skip_range": r} for r in (2, 3, 4)),
           _diffusers_apply(_pab), _diffusers_remove, note="PyramidAttentionBroadcast, self-attention"),
    Method("seacache", "diffusers", {"threshold": 0.5}, tuple({"threshold": t} for t in (0.25, 0.5, 1.0)),
           _diffusers_apply(_seacache), _diffusers_remove),
    Method("fastercache", "diffusers", {"skip_range": 2}, tuple({"skip_range": r} for r in (2, 3)),
           _diffusers_apply(_fastercache), _diffusers_remove, _fastercache_check),
    Method("teacache", "teacache", {"threshold": 0.2}, tuple({"threshold": t} for t in (0.1, 0.2, 0.4, 0.8)),
           _teacache_apply, _teacache_remove, calibrate=_teacache_calibrate,
           note="rescaling polynomial fitted on the benchmarked model"),
    Method("cache-dit", "cache-dit", {}, ({},), _cachedit_apply, _cachedit_remove, _cachedit_check,
           note="DBCache at its defaults"),
)}

DEFAULT_METHODS = tuple(METHODS)
