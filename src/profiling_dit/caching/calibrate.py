"""Calibration: refine the planner's plans with real generations on the profiling prompts, per budget.

Every candidate plan is generated for each profiling prompt (at the profiled size, or at ``scale`` of it: 0.5 has an
eighth of the tokens) and scored by its mean PSNR against stock sampling of the same prompt and size.

The segment search comes first, when the generations allow it (``segment_search``; learnt from LeMiCa, whose
whole-step schedules beat the staleness table's at shares 0.4 to 0.6 on held-out prompts): with every block cached,
one generation per segment i → j (full steps i and j, step i's deltas reused on the steps between) measures that
segment's error on the result (the mean squared error of the first prompt's video against stock sampling's). The
staleness table measures a reuse's error where it happens; this measures what is left of it at the end, after the
later steps have amplified or damped it.

Budgets are then taken from the smallest up. For each, the candidates are the full steps whose measured segment
errors add up to the least (mean squared errors of independent errors add up), the planner's best plan, the
planner's plans under the variants of its cost in ``PLANNER_VARIANTS``, the full steps with the lowest worst-case
segment error (LeMiCa's criterion), the planner's best plan for the second cached-set size it predicts best, and
the plan kept for the budget below, grown to this budget (full steps added in the middle of
its widest gaps) and as it was (it fits this budget too, so a larger budget never calibrates to a lower score); from
the best, a local search moves one full step by ±1 at a time and keeps a move when the score improves, until the
budget's share of generations is spent or no move helps. The plans, with the score they reached, are stored in the
profile (``Profile.plans``) and used whenever a call asks for that budget at that step count. Everything stays
static: a plan is a list of full steps and a set of cached blocks, known before sampling, whatever size it was
calibrated at.

A two-expert pipeline (Wan2.2 A14B) is calibrated expert by expert, each budget in turn: the expert that runs first
gets its candidates and search with the second at the planner's plan for the budget, then the second with the first
at the plan it was given. Every score is the finished video's, so each expert's plan is scored through the hand-over
and the other expert's steps. The segment search measures each expert's segments with the other expert computing
every step. Each expert's plan keeps to the budget over its own steps, so the pair does too.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from dataclasses import dataclass
from typing import Callable, cast

import numpy as np

from .._progress import Counter, count_progress
from .._validate import check_int, check_number
from ..errors import InvalidSettingError, ProfileError
from ..metrics import psnr
from ..pipeline.generation import GenerationSettings, generate
from ..pipeline.loading import as_model
from ..plan import Plan
from ..profile.file import CalibratedPlan, Profile, Staleness, as_profile, finite_or_none
from .planner import STANDARD_BUDGETS as DEFAULT_BUDGETS
from .planner import (
    find_plan,
    full_step_count,
    min_sum_path,
    minimax_path,
    out_of_reach,
    predicted_error,
    segments,
)
from .sampling import generate_cached

_PSNR_CAP = 99.0  # identical frames
# The planner's cost varied, each a candidate after the planner's own plan: late steps weighing more (σ_t^-0.5 on
# each step's weight), the last two steps in full, early steps weighing more (σ_t^0.5). Chosen by measurement: on
# the embedded models each was best on held-out prompts at some budgets, and the best of the four on one profiling
# prompt scored 0.75 and 0.38 dB (8 blocks, two held-out sets) and 2.19 dB (20 blocks) above the planner's plan on
# held-out prompts, on average over the standard budgets (benchmarks/planner_weights_check.py and
# candidates_check.py; docs/results.md, "The planner's cost varied, as candidates").
PLANNER_VARIANTS = (dict(noise_power=-0.5), dict(final_full_steps=2), dict(noise_power=0.5))
_LOWEST = "the lowest of `budgets`"
# Calibrating at half the size (an eighth of the tokens) did not carry over to the full size on the embedded models
# (benchmarks/calibration_check.py; docs/results.md): calibration runs at the profiled size unless asked.
DEFAULT_SCALE = 1.0

logger = logging.getLogger(__name__)


def check_calibration(max_generations: int, budgets, prompts: int = 1, experts: int = 1) -> list[float]:
    """The budgets to calibrate (sorted), once checked: shares in (0, 1), none twice, and enough generations for
    them (each candidate is generated once per prompt, two at least per budget and expert). Cheap: run it before
    profiling."""
    try:
        values = [float(b) for b in budgets]
    except (TypeError, ValueError):
        raise InvalidSettingError(f"`budgets` must be shares in (0, 1), got {budgets!r:.80}") from None
    if not values or any(not 0 < b < 1 for b in values):
        raise InvalidSettingError(f"`budgets` must be shares in (0, 1), got {values}")
    if len(set(values)) != len(values):
        raise InvalidSettingError(f"`budgets` gives a budget twice ({values}); give each once")
    least = prompts * (1 + 2 * len(values) * experts)
    check_int("max_generations", max_generations, 1)
    if max_generations < least:
        each = f" for each of {prompts} prompts" if prompts > 1 else ""
        per = " and expert" if experts > 1 else ""
        raise InvalidSettingError(
            f"`max_generations` {max_generations} is too few for {len(values)} budgets: give at least {least} (one "
            f"stock run and two candidates a budget{per}{each}), or calibrate fewer `budgets` (each takes "
            f"{2 * experts} generations a prompt or more)")
    return sorted(values)


def calibration_size(frames: int, height: int, width: int, arch, scale: float = DEFAULT_SCALE) -> tuple[int, int, int]:
    """(frames, height, width) at ``scale`` of a size, kept to the model family's size rules (``arch``: its
    ``ArchitectureSpec``): sides to multiples of its spatial multiple, frames to k·multiple + 1, none below one unit."""
    check_number("scale", scale, 0, 1, lo_open=True)
    m, k = arch.spatial_multiple, arch.frame_multiple

    def side(value: int) -> int:
        return max(m, round(value * scale / m) * m) if value % m == 0 else value

    f = (frames - 1) // k
    return max(1, round(f * scale)) * k + 1 if (frames - 1) % k == 0 else frames, side(height), side(width)


def segment_count(steps: int, budgets, max_gap: int | None = None) -> int:
    """How many generations the segment search measures at ``steps`` steps for these budgets: one per segment
    i → j (full steps i and j, step i's deltas reused on the steps between, j − i ≥ 2) no longer than
    ``segment_gap`` allows."""
    return len(segments(steps, segment_gap(steps, budgets, max_gap)))


def segment_gap(steps: int, budgets, max_gap: int | None = None) -> int:
    """The longest segment (j − i) the segment search measures: two steps longer than even spacing needs for the
    smallest budget's full steps (with every block cached), and no longer than the staleness table's ``max_gap``
    reuses (+ 1)."""
    nodes = max(2, full_step_count(min(budgets), steps, 1, 1))
    gap = math.ceil((steps - 1) / max(1, nodes - 1)) + 2
    return max(2, min(gap, steps - 1, (max_gap + 1) if max_gap else steps - 1))


def calibrate(pipe, profile, budgets=DEFAULT_BUDGETS, max_generations: int = 200, *, scale: float = DEFAULT_SCALE,
              prompts=None, segment_search: bool | None = None,
              on_generation: Callable[[int, int, str], None] | None = None, progress: bool = True) -> Profile:
    """Calibrated plans for ``budgets``, scored on every profiling prompt at ``scale`` of the profiled size, with
    at most ``max_generations`` generations (a stock run per prompt among them); returns the profile with them.

    Args:
        pipe: the profiled pipeline (or ``LoadedModel``); a two-expert pipeline gets a plan per expert and budget,
            each scored on the finished video with the other expert's plan in place.
        profile: a ``Profile`` with a staleness table (schema version 2).
        budgets: computed shares to calibrate, each in (0, 1).
        max_generations: the most generations in all, at the calibration size (shared equally by the budgets).
        scale: generate at this share of the profiled height, width and frames (kept to the model's size rules);
            1 (the default) calibrates at the profiled size. At 0.5 a generation has an eighth of the tokens, but on
            the embedded models the plans it chose scored up to 3 dB lower at the full size.
        prompts: the prompts to score on (default: the profile's).
        segment_search: first measure, with every block cached, each segment's error on the result of the first
            prompt (one generation per segment: ``segment_count``, 93 at 20 steps; for two experts, each expert's
            segments over its own steps), and try for each budget the full steps whose segment errors add up to the
            least and those with the lowest worst case. None (the default): when ``max_generations`` leaves at least
            four candidates a budget (and expert) after it.
        on_generation: ``on_generation(done, total, what)`` after each generation.
        progress: without ``on_generation``, show a progress bar (tqdm).
    """
    model = as_model(pipe)
    profile = as_profile(profile)
    profile.check_fits(model)
    experts = _experts(model, profile)
    texts = (tuple(profile.run.prompts) if prompts is None else (prompts,) if isinstance(prompts, str)
             else tuple(prompts))
    if not texts or any(not isinstance(t, str) or not t.strip() for t in texts):
        raise InvalidSettingError("`prompts` must be one or more non-empty prompts")
    budgets = check_calibration(max_generations, budgets, len(texts), len(experts))
    run = profile.run
    size = calibration_size(run.frames, run.height, run.width, model.arch, scale)
    measured = {e.component: segments(e.steps, segment_gap(e.steps, budgets, e.table.max_gap)) for e in experts}
    count = sum(len(m) for m in measured.values())
    least = count + len(texts) * (1 + 2 * len(budgets) * len(experts))
    if segment_search is None:
        segment_search = max_generations >= count + len(texts) * (1 + 4 * len(budgets) * len(experts))
    elif segment_search and max_generations < least:
        raise InvalidSettingError(
            f"`max_generations` {max_generations} is too few for the segment search ({count} generations) "
            f"and {len(budgets)} budgets: give at least {least}, or `segment_search=False`")
    with count_progress(on_generation, max_generations, "Calibrating", progress) as counter:
        return _calibrate(model, profile, experts, budgets, texts, size, measured if segment_search else {}, counter)


@dataclass(frozen=True)
class _Expert:
    """One transformer to calibrate: its component, staleness table, block count, the steps it runs and where they
    lie in a call (None: every step of a one-transformer pipeline)."""

    component: str
    table: Staleness
    n: int
    steps: int
    step_range: tuple[int, int] | None = None

    def plan(self, cached, full) -> Plan:
        return Plan(num_blocks=self.n, steps=self.steps, cached_blocks=tuple(cached), full_steps=tuple(full),
                    step_range=self.step_range)

    def everything(self) -> Plan:
        """The plan that computes every block on every step (stock sampling's frames)."""
        return self.plan(range(self.n), range(self.steps))


def _experts(model, profile: Profile) -> list[_Expert]:
    """The transformers to calibrate, in the order they run (each with a staleness table)."""
    from ..pipeline.loading import expert_step_ranges

    tables = ([(e.component, e.blocks.staleness, e.num_blocks) for e in profile.experts] if profile.experts
              else [("transformer", profile.blocks.staleness, profile.model.num_blocks)])
    have = [(name, table, n) for name, table, n in tables if table is not None]
    if len(have) < len(tables):
        raise ProfileError("this profile has no staleness table (schema version 1); profile the model again")
    if len(have) == 1:
        return [_Expert("transformer", have[0][1], have[0][2], profile.run.steps)]
    ranges = expert_step_ranges(model.pipe, profile.run.steps)
    out = [_Expert(name, table, n, ranges[name][1] - ranges[name][0], (ranges[name][0], ranges[name][1]))
           for name, table, n in have]
    return sorted(out, key=lambda e: cast(tuple, e.step_range))


@dataclass(frozen=True)
class _Generation:
    """One generation of calibration: stock sampling (no plans) or a plan per transformer, on one of the prompts
    (an index)."""

    what: str
    prompt: int
    plans: dict[str, Plan] | None = None


class _Allowance:
    """The generations one budget (and expert) may take (its equal share of those the stock runs and the segment
    search left): the one place calibration asks whether another candidate fits."""

    def __init__(self, counter: Counter, share: int, cost: int):
        self.counter, self.start, self.share, self.cost = counter, counter.done, share, cost

    @property
    def spent(self) -> int:
        return self.counter.done - self.start

    def fits(self) -> bool:
        """Whether one more candidate (``cost``: a generation per prompt) fits in what is left."""
        return self.spent + self.cost <= self.share


def _key(plans: dict[str, Plan]) -> tuple:
    return tuple((name, plans[name].cached_blocks, plans[name].full_steps) for name in sorted(plans))


class _Scorer:
    """Generates plans (one per transformer) on every prompt and scores them by the finished videos' mean PSNR
    against stock sampling, made first (on creation: a generation per prompt). Each combination of plans is
    generated once: one scored already costs nothing."""

    def __init__(self, model, settings: list[GenerationSettings], counter: Counter):
        self.model, self.settings, self.counter = model, settings, counter
        self.references = [self.generate(_Generation("stock sampling", k)) for k in range(len(settings))]
        self.scores: dict[tuple, float] = {}

    def generate(self, job: _Generation) -> np.ndarray:
        gen = self.settings[job.prompt]
        if job.plans is None:
            frames = generate(self.model, gen).frames
        else:
            frames = generate_cached(self.model, gen, job.plans)[0].frames
        self.counter.tick(job.what)
        return frames

    def scored(self, plans: dict[str, Plan]) -> bool:
        return _key(plans) in self.scores

    def score(self, plans: dict[str, Plan], what: str) -> float:
        key = _key(plans)
        if key not in self.scores:
            jobs = [_Generation(what, k, plans) for k in range(len(self.settings))]
            values = [min(_PSNR_CAP, psnr(self.references[job.prompt], self.generate(job))) for job in jobs]
            self.scores[key] = sum(values) / len(values)
            logger.debug("calibration, %s: %s: %.2f dB", what,
                         {name: (len(p.cached_blocks), p.full_steps) for name, p in plans.items()}, self.scores[key])
        return self.scores[key]

    def segment_errors(self, experts: list[_Expert], expert: _Expert,
                       measured: list[tuple[int, int]]) -> dict[tuple[int, int], float]:
        """The segment search of one expert: with all its blocks cached (the other experts computing everything),
        each segment i → j's error on the first prompt's result."""
        others = {e.component: e.everything() for e in experts if e is not expert}
        label = f"{expert.component}: segment" if others else "segment"
        jobs = [_Generation(f"{label} {i} → {j}", 0, {**others, expert.component: expert.plan(
                    range(expert.n), (t for t in range(expert.steps) if not i < t < j))}) for i, j in measured]
        return {segment: _squared_error(self.references[0], self.generate(job))
                for segment, job in zip(measured, jobs)}


def _calibrate(model, profile: Profile, experts: list[_Expert], budgets: list[float], texts: tuple[str, ...],
               size: tuple[int, int, int], measured: dict[str, list[tuple[int, int]]], counter: Counter) -> Profile:
    run = profile.run
    steps, (frames, height, width) = run.steps, size
    settings = [GenerationSettings(prompt=text, negative_prompt=run.negative_prompt, steps=steps, height=height,
                                   width=width, frames=frames, guidance=run.guidance, seed=run.seed)
                for text in texts]
    scorer = _Scorer(model, settings, counter)
    weights = {e.component: scorer.segment_errors(experts, e, measured[e.component]) if measured else {}
               for e in experts}  # empty when the segment search is off
    segment_generations = sum(len(w) for w in weights.values())
    share = (counter.total - counter.done) // (len(budgets) * len(experts))  # what stock and the segments left
    plans: list[CalibratedPlan] = []
    below: dict[str, Plan] = {}
    for budget in budgets:
        # the later experts at the planner's plans while the first is calibrated; each then at the plan it was given
        current = {e.component: _planned(e, budget) for e in experts[1:]}
        spent, value = {}, -math.inf
        for expert in experts:
            allowance = _Allowance(counter, share, cost=len(texts))
            current[expert.component], value = _calibrate_budget(
                scorer, expert, current, budget, weights[expert.component], below.get(expert.component), allowance)
            spent[expert.component] = allowance.spent
        below = current
        plans += [CalibratedPlan(component=e.component, budget=budget, plan=current[e.component],
                                 calibration_psnr_db=finite_or_none(value), generations=spent[e.component],
                                 calibration_prompts=len(texts),
                                 calibration_size=None if size == (run.frames, run.height, run.width) else size,
                                 segment_generations=segment_generations) for e in experts]
    ours = {(e.component, e.steps) for e in experts}
    kept = tuple(p for p in profile.plans
                 if not ((p.component, p.plan.steps) in ours and any(abs(p.budget - b) < 1e-9 for b in budgets)))
    return dataclasses.replace(profile, plans=kept + tuple(plans))


def _planned(expert: _Expert, budget: float) -> Plan:
    """The planner's plan of one expert for a budget (with its step range)."""
    plan = find_plan(expert.table, expert.n, expert.steps, budget)
    if plan is None:
        raise out_of_reach(expert.table, expert.n, expert.steps, budget, _LOWEST)
    return dataclasses.replace(plan, step_range=expert.step_range)


def _calibrate_budget(scorer: _Scorer, expert: _Expert, current: dict[str, Plan], budget: float,
                      weights: dict[tuple[int, int], float], below: Plan | None,
                      allowance: _Allowance) -> tuple[Plan, float]:
    """The best plan of one expert for one budget and the finished video's score with it (the other experts' plans
    as in ``current``): the best candidate, then the local search from it."""
    n, steps, name = expert.n, expert.steps, expert.component
    label = f"budget {budget:g}" + (f", {name}" if set(current) - {name} else "")

    def with_plan(cached, full) -> dict[str, Plan]:
        return {**current, name: expert.plan(cached, full)}

    candidates = _candidates(expert.table, n, steps, budget, weights, below)
    best, best_score = candidates[0], -math.inf
    for i, plan in enumerate(candidates):
        trial = with_plan(plan.cached_blocks, plan.full_steps)
        if i >= 2 and not scorer.scored(trial) and not allowance.fits():
            continue  # no generations left for it (the first two always fit: check_calibration)
        value = scorer.score(trial, f"{label}: candidate")
        if value > best_score:
            best, best_score = plan, value
    cached, full = best.cached_blocks, list(best.full_steps)
    improved = True
    while improved and allowance.fits():  # move one full step by ±1 while it helps
        improved = False
        for i in range(1, len(full) - 1):
            for move in (-1, 1):
                if not allowance.fits():
                    break
                new = full[i] + move
                if new <= 0 or new >= steps - 1 or new in full:
                    continue
                moved = tuple(sorted(full[:i] + [new] + full[i + 1:]))
                value = scorer.score(with_plan(cached, moved), f"{label}: search")
                if value > best_score + 1e-6:
                    full, best_score, improved = list(moved), value, True
                    break
    error = predicted_error(expert.table, n, steps, len(cached), full)
    return Plan(num_blocks=n, steps=steps, cached_blocks=tuple(cached), full_steps=tuple(full),
                predicted_error=finite_or_none(error), origin=f"calibrated for budget {budget:g}",
                step_range=expert.step_range), best_score


def _candidates(table, n: int, steps: int, budget: float, weights: dict[tuple[int, int], float],
                below: Plan | None) -> list[Plan]:
    """A budget's candidates, best first: the segment search's paths, the planner's best plans (for the two
    cached-set sizes it predicts best) with its plans under ``PLANNER_VARIANTS`` after the first, and the plan kept
    for the budget below, grown to this one and as it was (scored already: it costs nothing)."""
    found = (find_plan(table, n, steps, budget, sizes=[k]) for k in range(1, n + 1))
    planned = [plan for plan in found if plan is not None]  # the sizes at which a plan meets the budget
    if not planned:
        raise out_of_reach(table, n, steps, budget, _LOWEST)
    planned.sort(key=lambda p: cast(float, p.predicted_error))  # the planner's plans carry theirs
    varied = (find_plan(table, n, steps, budget, **variant) for variant in PLANNER_VARIANTS)
    variants = [plan for plan in varied if plan is not None]
    paths = _segment_paths(weights, n, steps, budget)
    return (paths[:1] + planned[:1] + variants + paths[1:] + planned[1:2]
            + ([_grown(below, budget), below] if below is not None else []))


def _squared_error(reference, frames) -> float:
    """Mean squared error of two videos on a 0..1 scale (what PSNR is the log of; it adds up over independent
    errors)."""
    a = np.asarray(reference, dtype=np.float64) / 255.0
    b = np.asarray(frames, dtype=np.float64) / 255.0
    return float(np.mean((a - b) ** 2))


def _segment_paths(weights: dict[tuple[int, int], float], n: int, steps: int, budget: float) -> list[Plan]:
    """The plans caching every block whose full steps are the least-sum and the lowest-worst-case paths over the
    measured segment errors, for this budget (none without measured segments, or when no path fits)."""
    if not weights:
        return []
    count = full_step_count(budget, steps, n, n)
    plans = []
    for search in (min_sum_path, minimax_path):
        try:
            full = search(weights, steps, count)
        except ValueError:
            continue
        plans.append(Plan(num_blocks=n, steps=steps, cached_blocks=tuple(range(n)), full_steps=full))
    return plans


def _grown(plan: Plan, budget: float) -> Plan:
    """``plan`` with full steps added while it stays within ``budget``, each in the middle of the widest gap between
    full steps (the earliest of equals): the plan kept for a smaller budget, grown to use this one."""
    count = full_step_count(budget, plan.steps, plan.num_blocks, len(plan.cached_blocks))
    full = list(plan.full_steps)
    while len(full) < count:
        width, i = max((full[j + 1] - full[j], -j) for j in range(len(full) - 1))
        if width < 2:
            break
        full.insert(1 - i, full[-i] + width // 2)
    if len(full) == len(plan.full_steps):
        return plan
    return Plan(num_blocks=plan.num_blocks, steps=plan.steps, cached_blocks=plan.cached_blocks, full_steps=tuple(full))


def calibration_cost(profile) -> dict:
    """What a profile's calibrated plans took: ``generations`` in all (the stock runs included), at ``size``
    (frames, height, width) against the ``profiled_size``, and ``pixel_share``, the calibration size's pixels as a
    share of the profiled size's (a generation's cost grows at least this fast with size). Empty when the profile
    has no calibrated plans."""
    profile = as_profile(profile)
    if not profile.plans:
        return {}
    run = profile.run
    profiled = (run.frames, run.height, run.width)
    first = profile.plans[0]
    size = first.calibration_size or profiled
    generations = (sum(entry.generations for entry in profile.plans) + first.calibration_prompts
                   + first.segment_generations)
    return {"generations": generations, "steps": first.steps, "size": tuple(size), "profiled_size": profiled,
            "prompts": first.calibration_prompts, "segment_generations": first.segment_generations,
            "pixel_share": math.prod(size) / math.prod(profiled)}
