import numpy as np
import pytest

from profiling_dit.errors import InvalidSettingError
from profiling_dit.caching.schedules import estimate_block_time_share
from profiling_dit.plan import Plan, full_compute_steps, implied_speedup, runs_of


def _gaps(full):
    idx = [i for i, f in enumerate(full) if f]
    return idx, np.diff(idx).tolist()


def test_stepwise_gaps_shrink_from_tmax_to_tmin():
    full = full_compute_steps(50, warmup=4, interval_max=8, interval_min=2, final_full_steps=0)
    idx, gaps = _gaps(full)
    assert idx[:5] == [0, 1, 2, 3, 4]
    after = gaps[4:]
    assert after[0] == 8 and all(a >= b for a, b in zip(after, after[1:])) and after[-1] <= 3


def test_inverse_and_average():
    _, inv = _gaps(full_compute_steps(40, 2, 6, 2, 0, "inverse"))
    assert inv[2] == 2 and all(a <= b for a, b in zip(inv[2:], inv[3:]))
    _, avg = _gaps(full_compute_steps(40, 2, 6, 2, 0, "average"))
    assert set(avg[2:]) == {4}


def test_final_full_steps_and_warmup_bounds():
    full = full_compute_steps(20, 1, 5, 5, final_full_steps=2)
    assert full[-1] and full[-2] and full[0] and full[1]
    with pytest.raises(InvalidSettingError, match="warmup"):
        full_compute_steps(10, 10, 3, 2)
    with pytest.raises(InvalidSettingError, match="interval"):
        full_compute_steps(10, 1, 2, 3)


def test_plan_and_runs():
    plan = Plan(num_blocks=5, steps=3, cached_blocks=[1, 2, 4], full_steps=(0, 2))
    assert plan.mask().tolist() == [[1] * 5, [1, 0, 0, 1, 0], [1] * 5]
    assert plan.computed_share == pytest.approx(12 / 15) == plan.mask().mean()
    assert runs_of([4, 1, 2, 7, 8, 9]) == [(1, 2), (4, 4), (7, 9)]
    assert plan.runs() == [(1, 2), (4, 4)]
    assert plan.timeline()[1] == "█·█"


def test_implied_speedup_formula():
    assert implied_speedup(1.0, 0.5) == pytest.approx(2.0)
    assert implied_speedup(0.9, 0.5) == pytest.approx(1 / (0.1 + 0.45))


def test_block_time_share_regression_recovers_known_split():
    # outside 0.1 s, 0.05 s per block, 10 blocks: full call 0.6 s, share 0.5/0.6
    counts = [10, 10, 4, 4, 10, 4, 10, 4]
    times = [0.1 + 0.05 * c for c in counts]
    assert estimate_block_time_share(times, counts, 10) == pytest.approx(0.5 / 0.6)
    assert estimate_block_time_share([1.0] * 5, [10] * 5, 10) is None
