"""FoCa (Zheng et al., "Forecast then Calibrate: Feature Caching as ODE for Efficient Diffusion Transformers",
arXiv 2508.16211, AAAI 2026), on the block stack (``_history``).

The feature's trajectory is read as the solution of a feature-ODE dF/dt = g(F, t), and each cached step is one
predictor-corrector step of an integrator through it (h = 1 step), from the values at the two steps before (computed
or already forecast), with g estimated from the last two full steps s′ < s: d = (F(s) − F(s′)) / (s − s′).

- Forecast, a BDF2 predictor: P = 4/3·F(t−1) − 1/3·F(t−2) + 2/3·h·d.
- Calibrate, a Heun corrector (the trapezoid of the slope at t − 1 and the slope into the prediction):
  F(t) = F(t−1) + h/2·(d + (P − F(t−1))/h).

Both are exact for features on a line. With one full step only, the step reuses its feature. The feature is the
stack's delta; the full steps are TaylorSeer's reference schedule (every step before ``warmup``, then every
``interval``-th step), on which FoCa's experiments build.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from diffusers.hooks.hooks import StateManager

from ._history import (
    INTERVAL_SWEEP,
    Feature,
    Forecaster,
    HistoryState,
    check_interval_schedule,
    install_forecaster,
    interval_schedule,
    keep_last,
    one_transformer,
    remove_forecaster,
)
from .base import Method

_RUN = "pdit_foca_run"


def bdf2_predict(cur, prev, slope, h: float = 1.0):
    """The BDF2 step F(t) = 4/3·F(t−h) − 1/3·F(t−2h) + 2/3·h·g(t), with ``slope`` standing in for g(t)."""
    return 4.0 / 3.0 * cur - 1.0 / 3.0 * prev + 2.0 / 3.0 * h * slope


def heun_correct(cur, predicted, slope, h: float = 1.0):
    """Heun's step from F(t−h): the mean of the slope there (``slope``) and the slope into the prediction."""
    return cur + h / 2.0 * (slope + (predicted - cur) / h)


def _observe(s: HistoryState, step: int, feature: Feature) -> None:
    """A full step: the new anchor, the slope from the anchor before, and the newest of the two rolling values."""
    m = s.memo
    if "anchor" in m:
        gap = step - m["anchor_step"]
        m["slope"] = tuple((f.float() - a.float()) / gap for f, a in zip(feature, m["anchor"]))
    m.update(anchor=feature, anchor_step=step, prev=m.get("cur"), cur=feature)
    keep_last(1)(s, step, feature)


def _forecast(s: HistoryState, t: int) -> Feature:
    """A cached step: forecast then calibrate from the two values before, and roll them on."""
    m = s.memo
    cur, prev, slope = m["cur"], m.get("prev"), m.get("slope")
    if slope is None or prev is None:
        value = cur
    else:
        value = tuple(heun_correct(c.float(), bdf2_predict(c.float(), p.float(), d), d).to(c.dtype)
                      for c, p, d in zip(cur, prev, slope))
    m["prev"], m["cur"] = cur, value
    return value


@dataclass(frozen=True)
class FoCaConfig:
    """FoCa's settings.

    Args:
        num_inference_steps: the call's step count.
        interval: the full steps after the warm-up are this many steps apart.
        warmup: the first steps, which all compute (TaylorSeer's ``first_enhance``: 3).

    Example::

        apply_foca(pipe.transformer, FoCaConfig(num_inference_steps=20, interval=3))
        video = pipe(prompt, num_inference_steps=20).frames[0]
        remove_foca(pipe.transformer)
    """

    num_inference_steps: int
    interval: int
    warmup: int = 3

    def __post_init__(self):
        check_interval_schedule("FoCa", self.num_inference_steps, self.interval, self.warmup)

    @property
    def full_steps(self) -> tuple[int, ...]:
        return interval_schedule(self.num_inference_steps, self.interval, self.warmup)


def apply_foca(transformer: torch.nn.Module, config: FoCaConfig) -> StateManager:
    """Install FoCa on ``transformer``'s block stack (one run of the shared run-skipping hooks, forecasting the
    stack's delta); each CFG branch keeps its own state. Returns the state manager."""
    return install_forecaster(transformer, _RUN, Forecaster(frozenset(config.full_steps), _forecast, _observe))


def remove_foca(transformer: torch.nn.Module) -> None:
    remove_forecaster(transformer, _RUN)


# --- the bench adapter ----------------------------------------------------------------------------
def _apply(ctx, p):
    apply_foca(ctx.model.pipe.transformer, FoCaConfig(
        num_inference_steps=ctx.settings.steps, interval=p["interval"], warmup=p.get("warmup", 3)))


def _remove(ctx):
    remove_foca(ctx.model.pipe.transformer)


METHODS = (
    Method("foca", "foca", {"interval": 3},
           INTERVAL_SWEEP,
           _apply, _remove, one_transformer,
           note="BDF2 forecast then Heun calibration through the cached steps, forecasting the block stack's delta "
                "(official code unreleased: written from the paper, structured as cache-dit's FoCa calibrator); "
                "the least aggressive setting warms up on 10 steps", color="#637939"),
)
