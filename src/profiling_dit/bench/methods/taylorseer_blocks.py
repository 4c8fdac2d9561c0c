"""TaylorSeer on the whole block stack (a forecasting peer): diffusers' TaylorSeer forecasts each attention and
feed-forward module's output; this one forecasts the stack's delta (output − input of all blocks), the feature our
own plans reuse, so the two differ only in what is forecast and when.

Liu et al., "From Reusing to Forecasting: Accelerating Diffusion Models with TaylorSeers" (arXiv 2503.06923):
on a full step the feature F and its divided differences are updated; on the steps between, F is predicted by its
Taylor expansion around the last full step s, F(s) + (t − s)·(F(s) − F(s′))/(s − s′) at first order (s′ the full
step before s). The schedule is diffusers' ``TaylorSeerCacheConfig``'s: full before ``disable_cache_before_step``,
then on the steps with (t − before − 1) mod ``cache_interval`` = 0. At first order the forecast is a linear
combination of the last two full steps' deltas, so it runs as a ``Plan`` with forecast pairs
(a, b) = (1 + k/g, −k/g), k = t − s, g = s − s′, on our run-skipping hooks.
"""

from __future__ import annotations

from ...plan import Plan
from .base import Method, NotApplicable


def taylorseer_plan(num_blocks: int, steps: int, cache_interval: int, before: int = 3) -> Plan:
    """The first-order TaylorSeer plan over the whole block stack, on diffusers' schedule."""
    full = tuple(t for t in range(steps) if t < before or (t - before - 1) % cache_interval == 0)
    pairs = []
    for t in range(steps):
        earlier = [f for f in full if f < t]
        if t in full or len(earlier) < 2:
            pairs.append((1.0, 0.0))
            continue
        s, p = earlier[-1], earlier[-2]
        k, g = t - s, s - p
        pairs.append((1.0 + k / g, -k / g))
    return Plan(num_blocks, steps, tuple(range(num_blocks)), full, forecast=tuple(pairs),
                origin=f"TaylorSeer (first order) on the block stack, every {cache_interval} steps")


def _apply(ctx, params) -> None:
    from ...caching.sampling import install

    transformer = ctx.model.pipe.transformer
    plan = taylorseer_plan(len(ctx.model.arch.blocks(transformer)), ctx.settings.steps, params["cache_interval"],
                           params.get("disable_before", 3))
    install(ctx.model, {"transformer": plan})


def _remove(ctx) -> None:
    from ...caching.sampling import remove

    remove(ctx.model)


def _check(ctx) -> None:
    if len(ctx.model.experts) > 1:
        raise NotApplicable("one transformer only: the block-stack forecast is not made per expert")


METHODS = (
    Method("taylorseer-blocks", "taylorseer-blocks", {"cache_interval": 3},
           tuple({"cache_interval": i} for i in (2, 3, 4, 5)), _apply, _remove, _check,
           note="TaylorSeer's first-order forecast of the whole block stack's delta (diffusers' schedule)",
           color="#393b79"),
)
