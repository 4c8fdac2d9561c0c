"""diffusers' own caches (``transformer.enable_cache(config)``): FirstBlockCache, TaylorSeer, MagCache (calibrated
on the benchmarked model first), PyramidAttentionBroadcast, SeaCache and FasterCache."""

from __future__ import annotations

import contextlib
import io
import logging
import re

import torch

from .base import Method, NotApplicable


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
                                 disable_cache_before_step=p.get("disable_before", 3),
                                 cache_interval=p["cache_interval"],
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



METHODS = (
    Method("first-block-cache", "diffusers", {"threshold": 0.2},
           tuple({"threshold": t} for t in (0.05, 0.1, 0.2, 0.4)), _diffusers_apply(_fbc), _diffusers_remove,
           color="#1f77b4"),
    Method("taylorseer", "diffusers", {"cache_interval": 3},
           tuple({"cache_interval": i} for i in (2, 3, 5)), _diffusers_apply(_taylorseer), _diffusers_remove,
           note="module patterns from the registry (Wan: attn1, attn2, ffn)", color="#2ca02c"),
    Method("magcache", "diffusers", {"threshold": 0.12, "max_skip_steps": 3},
           tuple({"threshold": t, "max_skip_steps": 3} for t in (0.06, 0.12, 0.24)),
           _diffusers_apply(_magcache), _diffusers_remove, calibrate=_magcache_calibrate,
           note="ratios calibrated on the benchmarked model first", color="#9467bd",
           calibration_generations=1),
    Method("pab", "diffusers", {"skip_range": 2}, tuple({"skip_range": r} for r in (2, 3, 4)),
           _diffusers_apply(_pab), _diffusers_remove, note="PyramidAttentionBroadcast, self-attention",
           color="#8c564b"),
    Method("seacache", "diffusers", {"threshold": 0.5}, tuple({"threshold": t} for t in (0.25, 0.5, 1.0)),
           _diffusers_apply(_seacache), _diffusers_remove, color="#17becf"),
    Method("fastercache", "diffusers", {"skip_range": 2}, tuple({"skip_range": r} for r in (2, 3)),
           _diffusers_apply(_fastercache), _diffusers_remove, _fastercache_check, color="#bcbd22"),
)
