"""Calibration: refine the planner's plans with real generations on the profiling prompt, per budget.

For each budget: the planner's best plan for each of the two cached-set sizes it predicts best are generated
and compared with stock sampling (PSNR of the frames); from the better one, a local search moves one full
step by ±1 at a time and keeps a move when PSNR improves, until the budget's share of generations is spent
or no move helps. The plans, with the PSNR they reached, are stored in the profile (``Profile.plans``) and
used whenever a call asks for that budget at that step count. Everything stays static: a plan is a list of
full steps and a set of cached blocks, known before sampling.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from typing import Callable, cast

from .._progress import count_progress
from .._validate import check_int
from ..errors import InvalidSettingError, ProfileError
from ..metrics import psnr
from ..pipeline.generation import GenerationSettings, generate
from ..pipeline.loading import as_model
from ..plan import Plan
from ..profile.file import CalibratedPlan, Profile, as_profile, finite_or_none
from .planner import STANDARD_BUDGETS as DEFAULT_BUDGETS
from .planner import plan_for_budget, predicted_error
from .sampling import generate_cached

_PSNR_CAP = 99.0  # identical frames

logger = logging.getLogger(__name__)


def check_calibration(max_generations: int, budgets) -> list[float]:
    """The budgets to calibrate (sorted), once checked: shares in (0, 1), none twice, and enough generations for
    them. Cheap: run it before profiling."""
    try:
        values = [float(b) for b in budgets]
    except (TypeError, ValueError):
        raise InvalidSettingError(f"`budgets` must be shares in (0, 1), got {budgets!r:.80}") from None
    if not values or any(not 0 < b < 1 for b in values):
        raise InvalidSettingError(f"`budgets` must be shares in (0, 1), got {values}")
    if len(set(values)) != len(values):
        raise InvalidSettingError(f"`budgets` gives a budget twice ({values}); give each once")
    least = 1 + 2 * len(values)
    check_int("max_generations", max_generations, 1)
    if max_generations < least:
        raise InvalidSettingError(
            f"`max_generations` {max_generations} is too few for {len(values)} budgets: give at least {least} (one "
            f"stock run, two candidates a budget), or calibrate fewer `budgets` (each takes two generations or more)")
    return sorted(values)


def calibrate(pipe, profile, budgets=DEFAULT_BUDGETS, max_generations: int = 200, *,
              on_generation: Callable[[int, int, str], None] | None = None, progress: bool = True) -> Profile:
    """Calibrated plans for ``budgets`` on the profile's first prompt and settings, with at most
    ``max_generations`` generations (one of them stock sampling); returns the profile with them.

    Args:
        pipe: the profiled pipeline (or ``LoadedModel``); one transformer (two-expert pipelines use the planner).
        profile: a ``Profile`` with a staleness table (schema version 2).
        budgets: computed shares to calibrate, each in (0, 1).
        max_generations: the most generations in all (they are shared equally by the budgets).
        on_generation: ``on_generation(done, total, what)`` after each generation.
        progress: without ``on_generation``, show a progress bar (tqdm).
    """
    model = as_model(pipe)
    profile = as_profile(profile)
    profile.check_fits(model)
    if profile.experts:
        raise ProfileError("calibration runs on one transformer; two-expert pipelines use the planner's plans")
    table = profile.blocks.staleness
    if table is None:
        raise ProfileError("this profile has no staleness table (schema version 1); profile the model again")
    budgets = check_calibration(max_generations, budgets)
    with count_progress(on_generation, max_generations, "Calibrating", progress) as on_generation:
        return _calibrate(model, profile, budgets, max_generations, on_generation)


def _calibrate(model, profile: Profile, budgets: list[float], max_generations: int,
               on_generation: Callable[[int, int, str], None] | None) -> Profile:
    table = profile.blocks.staleness
    run = profile.run
    n, steps = profile.model.num_blocks, run.steps
    gen = GenerationSettings(prompt=run.prompts[0], negative_prompt=run.negative_prompt, steps=steps,
                             height=run.height, width=run.width, frames=run.frames, guidance=run.guidance,
                             seed=run.seed)
    total = max_generations
    done = [0]

    def tick(what: str):
        done[0] += 1
        if on_generation is not None:
            on_generation(done[0], total, what)

    reference = generate(model, gen).frames
    tick("stock sampling")
    cache: dict[tuple, float] = {}

    def score(cached: tuple[int, ...], full: tuple[int, ...], what: str) -> float:
        key = (cached, full)
        if key not in cache:
            plan = Plan(num_blocks=n, steps=steps, cached_blocks=cached, full_steps=full)
            frames = generate_cached(model, gen, {"transformer": plan})[0].frames
            cache[key] = min(_PSNR_CAP, psnr(reference, frames))
            logger.debug("calibration, %s: %d blocks cached, full steps %s: %.2f dB", what, len(cached), full,
                         cache[key])
            tick(what)
        return cache[key]

    per_budget = (max_generations - 1) // len(budgets)
    plans = []
    for budget in budgets:
        start = done[0]
        candidates = []
        for k in range(1, n + 1):
            try:
                candidates.append(plan_for_budget(table, n, steps, budget, sizes=[k]))
            except InvalidSettingError:  # infeasible at this size
                continue
        if not candidates:
            raise ProfileError(f"no plan computes at most {budget:.0%} of the block evaluations in {steps} steps; "
                               "raise the lowest of `budgets`")
        candidates.sort(key=lambda p: cast(float, p.predicted_error))  # the planner's plans carry theirs
        best, best_score = None, -math.inf
        for plan in candidates[:2]:
            value = score(plan.cached_blocks, plan.full_steps, f"budget {budget:g}: candidate")
            if value > best_score:
                best, best_score = plan, value
        assert best is not None  # there were candidates
        cached, full = best.cached_blocks, list(best.full_steps)
        improved = True
        while improved and done[0] - start < per_budget:
            improved = False
            for i in range(1, len(full) - 1):
                for move in (-1, 1):
                    if done[0] - start >= per_budget:
                        break
                    new = full[i] + move
                    if new <= 0 or new >= steps - 1 or new in full:
                        continue
                    trial = tuple(sorted(full[:i] + [new] + full[i + 1:]))
                    value = score(cached, trial, f"budget {budget:g}: search")
                    if value > best_score + 1e-6:
                        full, best_score, improved = list(trial), value, True
                        break
        error = predicted_error(table, n, steps, len(cached), full)
        found = Plan(num_blocks=n, steps=steps, cached_blocks=tuple(cached), full_steps=tuple(full),
                     predicted_error=finite_or_none(error),
                     origin=f"calibrated for budget {budget:g}")
        plans.append(CalibratedPlan(component="transformer", budget=budget, plan=found,
                                    calibration_psnr_db=finite_or_none(best_score),
                                    generations=done[0] - start))
    kept = tuple(p for p in profile.plans
                 if not (p.plan.steps == steps and any(abs(p.budget - b) < 1e-9 for b in budgets)))
    return dataclasses.replace(profile, plans=kept + tuple(plans))
