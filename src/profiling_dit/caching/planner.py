"""The planner: given a budget (the share of block evaluations computed), choose the cached set of blocks and
the explicit list of full-compute steps, before sampling, from the profile's staleness table.

A plan caches a set C of blocks (the k lowest-R_attn blocks, k = 1 .. all) and computes every block on a set
F of full steps; on the other steps the blocks of C reuse the deltas of the last full step and the others
compute. Its computed share is ``1 − k·(S − |F|) / (S·L)``. Its predicted error is

    Σ_{t ∉ F}  w_t · e_C(s(t), t),

with s(t) the last full step before t, e_C the staleness table (the size of the hidden-state change that
reusing C's stale deltas makes, ``profile/staleness.py``) and w_t = |σ_{t+1} − σ_t|^½, the square root of the
step's move in noise level (a stale delta moves the sample by that much; w_t = 1 without noise levels). Chosen by
measurement: on real generations of held-out prompts (docs/results.md, "The planner's step weights": the 8-block
embedded model on two sets of two prompts, the 20-block one on one) these weights scored 0.3–1.2 dB above w_t = 1
on average over the standard budgets (losing up to 1.8 dB at single budgets) and removed its inversions at
0.45 → 0.5 (set 2 got one of 0.8 dB at 0.5 → 0.55); squared errors, or weights of |Δσ|¹, scored within 0.3 dB
of them and kept an inversion. (An older check, ``benchmarks/planner_check.py``, had found w_t = 1 ahead of
|Δσ|¹ with absolute errors at shares 0.4–0.6.) For each k the fewest full steps
that meet the budget are placed by dynamic programming (exact for this cost); the k with the lowest
predicted error wins. Step 0 and the last step always compute in full, and no delta is reused for longer
than the table was measured (``max_gap``).

A profile made at S steps plans an N-step call on the table rescaled to N steps: a reuse from step s to
t of the call reads the table at (s, t)·(S−1)/(N−1), interpolated, and the noise levels are interpolated too.
"""

from __future__ import annotations

import math

import numpy as np

from .._validate import check_int, check_number
from ..errors import BudgetOutOfReachError, InvalidSettingError
from ..plan import Plan

# The power of a step's move in noise level that weighs its reuse error (module docstring; measured).
WEIGHT_POWER = 0.5
# The computed share planned when no budget is given: half the block evaluations, about 2x on the blocks.
DEFAULT_BUDGET = 0.5
# The budgets calibrated by default and swept by ``pdit bench --sweep``.
STANDARD_BUDGETS = (0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8)


def full_step_count(budget: float, steps: int, num_blocks: int, cached: int) -> int:
    """The most full steps a plan caching ``cached`` of ``num_blocks`` blocks can have and still compute at most
    ``budget`` of the block evaluations in ``steps`` steps."""
    return steps - math.ceil((1.0 - budget) * steps * num_blocks / cached - 1e-9)


class StalenessModel:
    """The staleness table of one transformer, read at any step count (see the module docstring)."""

    def __init__(self, staleness, num_blocks: int):
        self.num_blocks = num_blocks
        self.order = list(staleness.order)
        self.profiled_steps = len(staleness.sets[0].error)
        self.max_gap = staleness.max_gap
        # error[k-1][s, g-1]; unmeasured (None) as +inf so no plan relies on it
        self.errors = [np.array([[np.inf if v is None else float(v) for v in row] for row in x.error], dtype=float)
                       for x in staleness.sets]
        # scale[k-1][t] = the set's whole delta at step t; unmeasured as NaN
        self.scales = [np.array([np.nan if v is None else float(v) for v in x.scale], dtype=float)
                       for x in staleness.sets]
        self.sigmas = None if staleness.sigmas is None else np.asarray(staleness.sigmas, dtype=float)

    def set_for(self, size: int) -> tuple[int, ...]:
        return tuple(sorted(self.order[:size]))

    def weights(self, steps: int, noise_power: float = 0.0) -> np.ndarray:
        """w_t = |σ_{t+1} − σ_t|^``WEIGHT_POWER`` (see the module docstring; 1 where the profile has no noise
        levels), times σ_t^``noise_power`` (0, the planner's own: none; above 0 the noisy early steps weigh more,
        below 0 the late ones: the variants calibration tries)."""
        w = self.sigma_weights(steps) ** WEIGHT_POWER
        levels = self.noise_levels(steps)
        if noise_power and levels is not None:
            w = w * np.maximum(levels[:-1], 1e-3) ** noise_power
        return w

    def noise_levels(self, steps: int) -> np.ndarray | None:
        """σ at each step's start and after the last, for a ``steps``-step call (interpolated); None where the
        profile has no noise levels."""
        if self.sigmas is None:
            return None
        return np.interp(np.linspace(0.0, 1.0, steps + 1), np.linspace(0.0, 1.0, len(self.sigmas)), self.sigmas)

    def sigma_weights(self, steps: int) -> np.ndarray:
        """|σ_{t+1} − σ_t| at this step count (1 where the profile has no noise levels)."""
        levels = self.noise_levels(steps)
        return np.ones(steps) if levels is None else np.abs(np.diff(levels))

    def error_matrix(self, size: int, steps: int) -> np.ndarray:
        """(steps, steps) matrix: entry [s, t] is the error of reusing at t the deltas of s (t > s); inf where
        the reuse is longer than was measured."""
        table = self.errors[size - 1]
        S = self.profiled_steps
        out = np.full((steps, steps), np.inf)
        if steps == S:
            for s in range(steps):
                for g in range(1, self.max_gap + 1):
                    if s + g < steps:
                        out[s, s + g] = table[s, g - 1]
            return out
        scale = (S - 1) / max(1, steps - 1)
        for s in range(steps):
            for t in range(s + 1, steps):
                x, y = s * scale, t * scale
                if y - x > self.max_gap + 1e-9:
                    break
                out[s, t] = self._interp(table, x, y)
        return out

    def scale_vector(self, size: int, steps: int) -> np.ndarray:
        """The size of the set's whole delta at each step of a ``steps``-step call (interpolated over the profiled
        steps); NaN where not measured."""
        scale = self.scales[size - 1]
        if steps == self.profiled_steps:
            return scale.copy()
        grid = np.linspace(0.0, 1.0, self.profiled_steps)
        return np.interp(np.linspace(0.0, 1.0, steps), grid, scale)

    def _interp(self, table: np.ndarray, x: float, y: float) -> float:
        """Bilinear in (start, gap) over the measured grid; a gap of 0 costs 0."""
        S = self.profiled_steps
        g = y - x
        s0 = min(int(math.floor(x)), S - 1)
        fs = x - s0
        g0 = int(math.floor(g))
        fg = g - g0

        def at(s, gap):
            if gap <= 0:
                return 0.0
            if s >= S or s + gap >= S or gap > self.max_gap:
                return np.inf
            return table[s, gap - 1]

        vals = [(at(s0, g0), (1 - fs) * (1 - fg)), (at(s0, g0 + 1), (1 - fs) * fg),
                (at(s0 + 1, g0), fs * (1 - fg)), (at(s0 + 1, g0 + 1), fs * fg)]
        if any(w > 0 and not np.isfinite(v) for v, w in vals):
            return np.inf
        return float(sum(v * w for v, w in vals if w > 0))


def _place_full_steps(cost: np.ndarray, count: int, final_full: int) -> tuple[float, tuple[int, ...]] | None:
    """Exactly ``count`` full steps including 0 and the last ``final_full`` steps, minimising the summed
    segment costs; ``cost[i, j]`` is the cost of the reuse steps between full steps i < j. None if infeasible."""
    n = cost.shape[0] - 1  # cost is (steps + 1) square: index ``steps`` is a sentinel end
    steps = n
    final_full = max(1, min(final_full, steps))
    if count < final_full + (1 if steps - final_full > 0 else 0) or count > steps:
        return None
    best = np.full((count + 1, steps), np.inf)
    back = np.zeros((count + 1, steps), dtype=int)
    best[1, 0] = 0.0
    tail = steps - final_full  # steps >= tail must be full
    seg = cost[:steps, :steps]  # seg[p, i]: reuse steps between full steps p < i
    allowed = np.triu(np.ones((steps, steps), dtype=bool), k=1)
    for i in range(tail + 1, steps):  # inside the final block the previous step must be full too
        allowed[:, i] = False
        allowed[i - 1, i] = True
    seg = np.where(allowed, seg, np.inf)
    for j in range(2, count + 1):
        total = best[j - 1][:, None] + seg  # (p, i)
        back[j] = np.argmin(total, axis=0)
        best[j] = total[back[j], np.arange(steps)]
    last = steps - 1
    if not np.isfinite(best[count, last]):
        return None
    path, j, i = [last], count, last
    while j > 1:
        i = back[j, i]
        j -= 1
        path.append(i)
    return float(best[count, last]), tuple(sorted(int(p) for p in path))


def segment_costs(errors: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """cost[i, j] = Σ_{t=i+1}^{j-1} w_t · errors[i, t] (inf when a reuse is not allowed), i < j."""
    steps = errors.shape[0]
    cost = np.full((steps + 1, steps + 1), np.inf)
    for i in range(steps):
        acc = 0.0
        cost[i, i + 1] = 0.0
        for j in range(i + 2, steps + 1):
            acc += weights[j - 1] * errors[i, j - 1]
            if not np.isfinite(acc):
                break
            cost[i, j] = acc
    return cost


def plan_for_budget(staleness, num_blocks: int, steps: int, budget: float, *, final_full_steps: int = 1,
                    sizes=None) -> Plan:
    """The plan with the lowest predicted error whose computed share is at most ``budget``.

    Args:
        staleness: the profile's ``Staleness`` table for this transformer.
        num_blocks: the transformer's block count.
        steps: the call's step count (the table is rescaled to it).
        budget: the largest computed share allowed, in (0, 1]; 1 computes everything.
        final_full_steps: the last steps that always compute in full.
        sizes: the cached-set sizes to consider (default: all, 1 .. num_blocks).

    Raises ``BudgetOutOfReachError``, naming the lowest budget that can be met, when no plan meets this one.
    """
    plan = find_plan(staleness, num_blocks, steps, budget, final_full_steps=final_full_steps, sizes=sizes)
    if plan is not None:
        return plan
    if steps < 3:
        raise BudgetOutOfReachError(f"no plan computes at most {budget:.0%} of the block evaluations in {steps} "
                                    "steps: the first and last steps always compute in full; give more `steps` or "
                                    "`budget` 1", lowest=1.0)
    raise out_of_reach(staleness, num_blocks, steps, budget, "`budget`", final_full_steps=final_full_steps,
                       sizes=sizes)


def find_plan(staleness, num_blocks: int, steps: int, budget: float, *, final_full_steps: int = 1,
              sizes=None, noise_power: float = 0.0) -> Plan | None:
    """``plan_for_budget``'s plan, or None where no plan meets the budget (without working out the lowest budget
    that could be met: for callers that try several settings and keep those that fit). ``noise_power`` weighs
    each step's reuse error by σ_t to that power besides (``StalenessModel.weights``; 0: the planner's cost)."""
    check_number("budget", budget, 0, 1, lo_open=True)
    check_int("steps", steps, 1, 100_000)
    if budget >= 1.0:
        return Plan(num_blocks, steps, (), tuple(range(steps)), predicted_error=0.0,
                    origin=f"planned for budget {budget:g}")
    if steps < 3:
        return None
    model = StalenessModel(staleness, num_blocks)
    weights = model.weights(steps, noise_power)
    best: Plan | None = None
    best_error = float("inf")
    for k in (sizes if sizes is not None else range(1, num_blocks + 1)):
        if k < 1:
            continue
        count = full_step_count(budget, steps, num_blocks, k)
        if count >= steps:
            continue
        cost = segment_costs(model.error_matrix(k, steps), weights)
        placed = _place_full_steps(cost, count, final_full_steps)
        if placed is None:
            continue
        err, full = placed
        if best is None or err < best_error - 1e-12:
            best, best_error = Plan(num_blocks, steps, model.set_for(k), full, predicted_error=err,
                                    origin=f"planned for budget {budget:g}"), err
    return best


def lowest_plan(staleness, num_blocks: int, steps: int, *, final_full_steps: int = 1, sizes=None) -> Plan:
    """The plan that computes the least in ``steps`` steps: the largest cached set (of ``sizes``) with the fewest
    full steps the staleness table allows (no delta reused for longer than it measured; step 0 and the last
    ``final_full_steps`` steps full). Every block computes on every step below 3 steps."""
    check_int("steps", steps, 1, 100_000)
    if steps < 3:
        return Plan(num_blocks, steps, (), tuple(range(steps)))
    model = StalenessModel(staleness, num_blocks)
    weights = model.weights(steps)
    for k in sorted((k for k in (sizes if sizes is not None else range(1, num_blocks + 1)) if k >= 1), reverse=True):
        cost = segment_costs(model.error_matrix(k, steps), weights)
        for count in range(2, steps + 1):
            placed = _place_full_steps(cost, count, final_full_steps)
            if placed is not None:
                return Plan(num_blocks, steps, model.set_for(k), placed[1], predicted_error=placed[0])
    return Plan(num_blocks, steps, (), tuple(range(steps)))


def out_of_reach(staleness, num_blocks: int, steps: int, budget: float, what: str, *, final_full_steps: int = 1,
                 sizes=None) -> BudgetOutOfReachError:
    """The error for a ``budget`` that no plan meets in ``steps`` steps, saying the nearest budget that can be met
    (``lowest_plan``'s computed share, rounded up to a hundredth) and to raise ``what`` (the setting) to it."""
    low = lowest_plan(staleness, num_blocks, steps, final_full_steps=final_full_steps, sizes=sizes)
    share = low.computed_share
    shown = min(1.0, math.ceil(share * 100 - 1e-9) / 100)
    how = (f"{len(low.cached_blocks)} of {num_blocks} blocks cached, full steps {list(low.full_steps)}"
           if low.cached_blocks else "every block computed on every step")
    within = f" with {list(sizes)} blocks cached" if sizes else ""
    return BudgetOutOfReachError(
        f"no plan computes at most {budget:.0%} of the block evaluations in {steps} steps{within}, with deltas reused "
        f"for at most {staleness.max_gap} profiled steps; the lowest budget that can be met is {shown:g} ({how}): "
        f"raise {what} to {shown:g}", lowest=shown)


def budget_for_speedup(speedup: float, block_time_share: float) -> float:
    """The computed share that gives ``speedup`` when blocks take ``block_time_share`` of the transformer's
    time: 1 / ((1 − β) + β·share) = speedup."""
    check_number("speedup", speedup, 1)
    beta = block_time_share
    if not beta or beta <= 0:
        raise InvalidSettingError("the profile measured no time in blocks, so a `speedup` cannot be planned; give "
                                  "`budget` instead")
    share = (1.0 / speedup - (1.0 - beta)) / beta
    if share <= 0:
        raise InvalidSettingError(
            f"a {speedup:.2f}x speedup is out of reach: blocks take {beta:.1%} of the transformer's time, so even "
            f"skipping every block gives at most {1 / (1 - beta) if beta < 1 else float('inf'):.2f}x")
    return min(1.0, share)


def predicted_error(staleness, num_blocks: int, steps: int, cached_size: int, full_steps) -> float:
    """The planner's predicted error of a given plan (the k lowest-R_attn blocks cached, these full steps)."""
    model = StalenessModel(staleness, num_blocks)
    return plan_cost(model.error_matrix(cached_size, steps), model.weights(steps), full_steps)


def plan_cost(errors: np.ndarray, weights: np.ndarray, full_steps) -> float:
    """Σ over the reuse steps t of ``weights[t] · errors[s(t), t]``, s(t) the last full step before t: the cost
    the dynamic program minimises, for one given list of full steps."""
    full = set(full_steps)
    total, last = 0.0, 0
    for t in range(len(weights)):
        if t in full:
            last = t
        else:
            total += weights[t] * errors[last, t]
    return float(total)


# --- paths on measured segment errors (calibration's segment search; LeMiCa's schedule) -----------------------
def minimax_path(weights: dict[tuple[int, int], float], steps: int, nodes: int) -> tuple[int, ...]:
    """The full steps 0 = f_0 < … < f_{nodes−1} = steps − 1 whose segment errors ``weights[(f_i, f_{i+1})]``, sorted
    from largest down, are lexicographically smallest: the lowest worst-case segment first, then the second worst,
    and so on. A segment of consecutive steps (nothing reused) weighs 0 unless given; a missing segment is not
    allowed. Raises ``ValueError`` when no path covers the steps.

    Dynamic programming over (step, nodes used) is exact: adding the same segments to two paths keeps their
    lexicographic order (of the descending-sorted weights), so the best path to a step is the best prefix for
    every continuation."""
    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")
    if steps == 1:
        if nodes != 1:
            raise ValueError("a one-step call has one full step")
        return (0,)
    if not 2 <= nodes <= steps:
        raise ValueError(f"the full step count must be in [2, {steps}], got {nodes}")
    into = _segments_into(weights, steps)
    # best[k][j]: (descending-sorted weights, path) over paths 0 → j through k + 1 nodes
    best: list[dict[int, tuple[tuple[float, ...], tuple[int, ...]]]] = [{0: ((), (0,))}]
    for k in range(1, nodes):
        layer: dict[int, tuple[tuple[float, ...], tuple[int, ...]]] = {}
        for j in range(1, steps):
            for i, w in into.get(j, ()):
                if i not in best[k - 1]:
                    continue
                prev_key, prev_path = best[k - 1][i]
                key = tuple(sorted(prev_key + (w,), reverse=True))
                if j not in layer or key < layer[j][0]:
                    layer[j] = (key, prev_path + (j,))
        best.append(layer)
    if steps - 1 not in best[-1]:
        raise ValueError(f"no path of {nodes} full steps in {steps} covers the measured segments; measure longer "
                         "segments or give a larger budget")
    return best[-1][steps - 1][1]


def segments(steps: int, max_gap: int) -> list[tuple[int, int]]:
    """The segments i → j (full steps i and j) that reuse something (j − i ≥ 2) and span at most ``max_gap``
    steps."""
    return [(i, j) for i in range(steps) for j in range(i + 2, min(i + max_gap, steps - 1) + 1)]


def min_sum_path(weights: dict[tuple[int, int], float], steps: int, nodes: int) -> tuple[int, ...]:
    """As ``minimax_path``, but the path whose segment errors add up to the least (errors as mean squared errors of
    the result add up when the segments' effects are independent). Raises ``ValueError`` when no path covers."""
    if not 2 <= nodes <= steps:
        raise ValueError(f"the full step count must be in [2, {steps}], got {nodes}")
    cost = np.full((steps + 1, steps + 1), np.inf)
    for j, sources in _segments_into(weights, steps).items():
        for i, w in sources:
            cost[i, j] = w
    placed = _place_full_steps(cost, nodes, 1)
    if placed is None:
        raise ValueError(f"no path of {nodes} full steps in {steps} covers the measured segments; measure longer "
                         "segments or give a larger budget")
    return placed[1]


def _segments_into(weights: dict[tuple[int, int], float], steps: int) -> dict[int, list[tuple[int, float]]]:
    """For each step j, the segments i → j that end there, with their weights (consecutive steps: 0 unless given)."""
    edges = {(i, i + 1): 0.0 for i in range(steps - 1)} | dict(weights)
    into: dict[int, list[tuple[int, float]]] = {}
    for (i, j), w in edges.items():
        if 0 <= i < j < steps:
            into.setdefault(j, []).append((i, float(w)))
    return into
