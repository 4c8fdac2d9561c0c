"""Spectrum (Han et al., "Adaptive Spectral Feature Forecasting for Diffusion Sampling Acceleration",
arXiv 2603.01623, CVPR 2026; reference code github.com/hanjq17/Spectrum, read: ``src/utils/basis_utils.py``,
``src/pipelines/wan_forward.py``, ``configs/``), on the block stack (``_history``).

The feature, the last block's output, is read as a function of the step and fitted over *every* full step so far
with Chebyshev polynomials: the step s maps to τ = 2s/steps − 1 in [−1, 1] (the reference maps steps 0…50 of its
50), T₀…T_degree form the design X (one row a full step), the coefficients solve the ridge problem
C = (XᵀX + λI)⁻¹XᵀH, and a cached step t gets x(τ_t)·C. The forecast is linear in the observed features, with
weights known from the schedule: w = x(τ_t)(XᵀX + λI)⁻¹Xᵀ, computed once in float64. The reference's optional
mixture with a first-order extrapolation from the last two full steps is ``mix`` (1: the paper's predictor alone).

The schedule is static and grows its window: every step before ``warmup`` computes; then the gap between full
steps is ⌊ws⌋, ws starting at ``window`` and growing by ``alpha`` at each full step (the reference's
``window_size`` N and ``flex_window`` α; at 50 steps, N = 2 and α = 0.75 give its 14 full steps).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from diffusers.hooks.hooks import StateManager

from ._history import (
    Forecaster,
    HistoryState,
    combine,
    install_forecaster,
    keep_last,
    one_transformer,
    remove_forecaster,
)
from .base import Method

_RUN = "pdit_spectrum_run"


def spectrum_schedule(steps: int, warmup: int, window: float, alpha: float) -> tuple[int, ...]:
    """The reference's full steps: all before ``warmup``, then gaps of ⌊ws⌋, ws = ``window`` + ``alpha`` per full
    step since."""
    full, ws, run = [], float(window), 0
    for t in range(steps):
        if t < warmup:
            full.append(t)
        elif (run + 1) % math.floor(ws) == 0:
            full.append(t)
            ws, run = round(ws + alpha, 3), 0
        else:
            run += 1
    return tuple(full)


def chebyshev_design(taus: np.ndarray, degree: int) -> np.ndarray:
    """Rows [T₀(τ), …, T_degree(τ)] by the recurrence Tₘ₊₁ = 2τ·Tₘ − Tₘ₋₁."""
    cols = [np.ones_like(taus), taus]
    while len(cols) < degree + 1:
        cols.append(2 * taus * cols[-1] - cols[-2])
    return np.stack(cols[: degree + 1], axis=1)


def spectrum_weights(full_before: tuple[int, ...], t: int, steps: int, degree: int = 4, lam: float = 0.1,
                     mix: float = 1.0) -> np.ndarray:
    """The forecast at step t as weights over the features of the full steps before it: the ridge-regression
    Chebyshev fit (the minimum-norm least-squares fit at ``lam`` 0), mixed with a first-order extrapolation."""
    taus = np.asarray(full_before, dtype=np.float64) * 2.0 / steps - 1.0
    X = chebyshev_design(taus, degree)
    k, p = X.shape
    # (XᵀX + λI)⁻¹Xᵀ as the least-squares solution of [X; √λ I]·C = [I; 0]
    fit = np.linalg.lstsq(np.vstack([X, math.sqrt(lam) * np.eye(p)]), np.vstack([np.eye(k), np.zeros((p, k))]),
                          rcond=None)[0]
    weights = chebyshev_design(np.array([2.0 * t / steps - 1.0]), degree)[0] @ fit
    linear = np.zeros(k)
    linear[-1] = 1.0
    if k > 1:
        ratio = (t - full_before[-1]) / (full_before[-1] - full_before[-2])
        linear[-1], linear[-2] = 1.0 + ratio, -ratio
    return mix * weights + (1.0 - mix) * linear


@dataclass(frozen=True)
class SpectrumConfig:
    """Spectrum's settings.

    Args:
        num_inference_steps: the call's step count.
        alpha: how much the gap between full steps grows at each full step (the reference's ``flex_window`` α).
        window: the first gap after the warm-up (the reference's ``window_size`` N: 2).
        warmup: the first steps, which all compute (the reference: 5 of 50).
        degree: the highest Chebyshev polynomial (the reference's ``m``: 4, so five bases T₀…T₄).
        lam: the ridge regularization λ (the reference: 0.1).
        mix: the weight of the Chebyshev forecast against a first-order extrapolation (the reference's ``w``: 1).
        target: the feature forecast: ``"output"``, the last block's output as the reference, or ``"delta"``.

    Example::

        apply_spectrum(pipe.transformer, SpectrumConfig(num_inference_steps=20, alpha=0.75, warmup=2))
        video = pipe(prompt, num_inference_steps=20).frames[0]
        remove_spectrum(pipe.transformer)
    """

    num_inference_steps: int
    alpha: float = 0.75
    window: float = 2.0
    warmup: int = 5
    degree: int = 4
    lam: float = 0.1
    mix: float = 1.0
    target: Literal["output", "delta"] = "output"

    def __post_init__(self):
        if self.num_inference_steps < 1:
            raise ValueError(f"num_inference_steps must be at least 1, got {self.num_inference_steps}")
        if not self.window >= 1 or not self.alpha >= 0:
            raise ValueError(f"Spectrum needs window >= 1 and alpha >= 0, got window={self.window}, alpha={self.alpha}")
        if self.warmup < 1:
            raise ValueError(f"warmup must be at least 1 (step 0 computes), got {self.warmup}")
        if not 0 <= self.degree <= 12 or not self.lam >= 0 or not 0 <= self.mix <= 1:
            raise ValueError(f"Spectrum needs degree in [0, 12], lam >= 0 and mix in [0, 1], got degree={self.degree}, "
                             f"lam={self.lam}, mix={self.mix}")
        if self.target not in ("output", "delta"):
            raise ValueError(f"Spectrum target must be 'output' or 'delta', got {self.target!r}")

    @property
    def full_steps(self) -> tuple[int, ...]:
        return spectrum_schedule(self.num_inference_steps, self.warmup, self.window, self.alpha)


def apply_spectrum(transformer: torch.nn.Module, config: SpectrumConfig) -> StateManager:
    """Install Spectrum on ``transformer``'s block stack (one run of the shared run-skipping hooks); each CFG branch
    keeps its own state and every full step's feature. Returns the state manager."""
    full, steps = config.full_steps, config.num_inference_steps
    table = {}
    for t in (t for t in range(steps) if t not in full):
        before = tuple(f for f in full if f < t)
        table[t] = dict(zip(before, spectrum_weights(before, t, steps, config.degree, config.lam, config.mix)))

    def forecast(s: HistoryState, t: int):
        return combine([table[t].get(f, 0.0) for f in s.steps], s.features)

    return install_forecaster(transformer, _RUN, Forecaster(frozenset(full), forecast, keep_last(None), config.target))


def remove_spectrum(transformer: torch.nn.Module) -> None:
    remove_forecaster(transformer, _RUN)


# --- the bench adapter ----------------------------------------------------------------------------
WARMUP_SHARE = 0.1  # the reference's 5 of 50 steps, scaled to the bench's step count


def _apply(ctx, p):
    steps = ctx.settings.steps
    apply_spectrum(ctx.model.pipe.transformer, SpectrumConfig(
        num_inference_steps=steps, alpha=p["alpha"], window=p.get("window", 2.0),
        warmup=max(1, round(WARMUP_SHARE * steps))))


def _remove(ctx):
    remove_spectrum(ctx.model.pipe.transformer)


METHODS = (
    Method("spectrum", "spectrum", {"alpha": 0.75},
           ({"alpha": 0.1, "window": 1.0}, {"alpha": 0.2, "window": 1.0},
            *({"alpha": a} for a in (0.0, 0.5, 0.75, 1.0, 2.0))),
           _apply, _remove, one_transformer,
           note="Chebyshev ridge forecast (degree 4, λ 0.1) of the last block's output over every full step, on the "
                "growing-window schedule; warm-up 10% of the steps as published (5 of 50)", color="#ad494a"),
)
