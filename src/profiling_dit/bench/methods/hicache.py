"""HiCache (Feng et al., "HiCache: A Plug-in Scaled-Hermite Upgrade for Taylor-Style Cache-then-Forecast Diffusion
Acceleration", arXiv 2508.16984, ICLR 2026; reference code github.com/yiming-l21/CFGCache, read: its FLUX
``taylor_utils`` and ``cache_functions``), on the block stack (``_history``).

TaylorSeer's cache-then-forecast with another basis. On a full step s the feature F and TaylorSeer's differences are
updated as the reference does: Δ⁰ = F(s), Δᵏ⁺¹(s) = (Δᵏ(s) − Δᵏ(s′)) / (s − s′), s′ the full step before, each order
only where the previous full step had the order below, and none before step ``warmup`` − 1. On a step t between,
with x = t − s, TaylorSeer forecasts Σₖ xᵏ/k!·Δᵏ; HiCache puts the physicists' Hermite polynomial Hₖ in place of the
power and scales twice by a contraction σ < 1, the argument and the coefficient ("dual scaling"):
F(t) ≈ Δ⁰ + Σₖ σᵏ·Hₖ(σx)/k!·Δᵏ. At first order and σ = 1/√2 this is TaylorSeer's forecast (σ·H₁(σx) = 2σ²x = x).
The forecast is a linear combination of the last ``order`` + 1 full steps' features, with weights known from the
schedule alone. Full steps: the reference's (TaylorSeer's) schedule, every step before ``warmup`` and then every
``interval``-th step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from diffusers.hooks.hooks import StateManager

from ._history import (
    INTERVAL_SWEEP,
    Forecaster,
    HistoryState,
    check_interval_schedule,
    combine,
    install_forecaster,
    interval_schedule,
    keep_last,
    one_transformer,
    remove_forecaster,
)
from .base import Method

_RUN = "pdit_hicache_run"


def hermite(n: int, y: float) -> float:
    """The physicists' Hermite polynomial Hₙ(y): H₀ = 1, H₁ = 2y, Hₙ₊₁ = 2y·Hₙ − 2n·Hₙ₋₁."""
    prev, cur = 1.0, 2.0 * y
    if n == 0:
        return prev
    for k in range(1, n):
        prev, cur = cur, 2.0 * y * cur - 2.0 * k * prev
    return cur


def hermite_coefficients(order: int, sigma: float, x: float) -> tuple[float, ...]:
    """HiCache's weight of each difference Δ⁰…Δᵒʳᵈᵉʳ at x steps past the last full step: 1, then σᵏ·Hₖ(σx)/k!."""
    return (1.0, *(sigma ** k * hermite(k, sigma * x) / math.factorial(k) for k in range(1, order + 1)))


def taylor_differences(full_steps: tuple[int, ...], order: int, warmup: int) -> list[dict[int, float]]:
    """TaylorSeer's differences Δ⁰, Δ¹, … at the last of ``full_steps``, each as weights over the full steps'
    features, built by the reference's recursion (its ``derivative_approximation``)."""
    diffs: list[dict[int, float]] = []
    previous = None
    for s in full_steps:
        new = [{s: 1.0}]
        if previous is not None and s > warmup - 2:
            gap = s - previous
            for k in range(min(order, len(diffs))):
                terms = {f: w / gap for f, w in new[k].items()}
                for f, w in diffs[k].items():
                    terms[f] = terms.get(f, 0.0) - w / gap
                new.append(terms)
        diffs, previous = new, s
    return diffs


def hicache_weights(full_steps: tuple[int, ...], t: int, order: int, sigma: float, warmup: int) -> dict[int, float]:
    """The forecast at step t as weights over the features of the full steps before it."""
    earlier = tuple(f for f in full_steps if f < t)
    diffs = taylor_differences(earlier, order, warmup)
    weights: dict[int, float] = {}
    for c, diff in zip(hermite_coefficients(len(diffs) - 1, sigma, t - earlier[-1]), diffs):
        for f, w in diff.items():
            weights[f] = weights.get(f, 0.0) + c * w
    return weights


@dataclass(frozen=True)
class HiCacheConfig:
    """HiCache's settings.

    Args:
        num_inference_steps: the call's step count.
        interval: the full steps after the warm-up are this many steps apart (the reference's ``interval``).
        order: the highest difference used (the reference's launcher: 2).
        sigma: the contraction σ of the dual scaling, in (0, 1] (the reference's ``hicache_scale_factor``: 0.5).
        warmup: the first steps, which all compute (the reference's ``first_enhance``: 3).

    Example::

        apply_hicache(pipe.transformer, HiCacheConfig(num_inference_steps=20, interval=3))
        video = pipe(prompt, num_inference_steps=20).frames[0]
        remove_hicache(pipe.transformer)
    """

    num_inference_steps: int
    interval: int
    order: int = 2
    sigma: float = 0.5
    warmup: int = 3

    def __post_init__(self):
        check_interval_schedule("HiCache", self.num_inference_steps, self.interval, self.warmup)
        if not 0 <= self.order <= 4:
            raise ValueError(f"HiCache order must be in [0, 4], got {self.order}")
        if not 0 < self.sigma <= 1:
            raise ValueError(f"HiCache sigma must be in (0, 1] (a contraction), got {self.sigma}")

    @property
    def full_steps(self) -> tuple[int, ...]:
        return interval_schedule(self.num_inference_steps, self.interval, self.warmup)


def apply_hicache(transformer: torch.nn.Module, config: HiCacheConfig) -> StateManager:
    """Install HiCache on ``transformer``'s block stack (one run of the shared run-skipping hooks, forecasting the
    stack's delta); each CFG branch keeps its own state. Returns the state manager."""
    full = config.full_steps
    table = {t: hicache_weights(full, t, config.order, config.sigma, config.warmup)
             for t in range(config.num_inference_steps) if t not in full}

    def forecast(s: HistoryState, t: int):
        weights = table[t]
        return combine([weights.get(f, 0.0) for f in s.steps], s.features)

    return install_forecaster(transformer, _RUN, Forecaster(frozenset(full), forecast, keep_last(config.order + 1)))


def remove_hicache(transformer: torch.nn.Module) -> None:
    remove_forecaster(transformer, _RUN)


# --- the bench adapter ----------------------------------------------------------------------------
def _apply(ctx, p):
    apply_hicache(ctx.model.pipe.transformer, HiCacheConfig(
        num_inference_steps=ctx.settings.steps, interval=p["interval"], warmup=p.get("warmup", 3)))


def _remove(ctx):
    remove_hicache(ctx.model.pipe.transformer)


METHODS = (
    Method("hicache", "hicache", {"interval": 3},
           INTERVAL_SWEEP,
           _apply, _remove, one_transformer,
           note="TaylorSeer's differences in a scaled Hermite basis (order 2, σ 0.5, the reference's defaults), "
                "forecasting the block stack's delta; the least aggressive setting warms up on 10 steps",
           color="#5254a3"),
)
