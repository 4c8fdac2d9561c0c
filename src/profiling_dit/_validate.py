"""Shared checks of user-given values: one line naming the parameter (in backquotes, so the CLI can show its
flag) and what it must be. Booleans are never numbers here, NaN and infinities never pass a range."""

from __future__ import annotations

import math
from numbers import Integral, Real

from .errors import InvalidSettingError

# Sane maxima, so no value asks for absurd loops or sizes: steps of a run, blocks of a transformer, and a count of
# tokens, pixels or frames. The profile file (``profile/file.py``) bounds its integers by the same.
MAX_STEPS = 100_000
MAX_BLOCKS = 100_000
MAX_SIZE = 100_000
MAX_TOKENS = 2**31 - 1


def is_int(value) -> bool:
    return isinstance(value, Integral) and not isinstance(value, bool)


def is_number(value) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool)


def check_int(name: str, value, lo: int | None = None, hi: int | None = None, error=InvalidSettingError) -> int:
    """``value`` as an int within [lo, hi] (either bound may be None)."""
    if not is_int(value) or (lo is not None and value < lo) or (hi is not None and value > hi):
        raise error(f"`{name}` must be an integer {_range(lo, hi)}, got {value!r:.80}")
    return int(value)


def check_number(name: str, value, lo: float | None = None, hi: float | None = None, *, lo_open: bool = False,
                 error=InvalidSettingError) -> float:
    """``value`` as a finite float within [lo, hi] (``lo_open``: (lo, hi])."""
    ok = is_number(value) and math.isfinite(float(value))
    if ok and lo is not None:
        ok = value > lo if lo_open else value >= lo
    if ok and hi is not None:
        ok = value <= hi
    if not ok:
        raise error(f"`{name}` must be a number {_range(lo, hi, lo_open)}, got {value!r:.80}")
    return float(value)


def check_step_list(name: str, values, count: int, what: str, error=InvalidSettingError) -> tuple[int, ...]:
    """A list of distinct indices into ``count`` things (blocks, steps), sorted."""
    try:
        items = list(values)
    except TypeError:
        raise error(f"`{name}` must be a list of {what} indices, got {values!r:.80}") from None
    if any(not is_int(x) for x in items):
        raise error(f"`{name}` must hold integers, got {items!r:.120}")
    items = [int(x) for x in items]
    if len(set(items)) != len(items):
        raise error(f"`{name}` must not repeat an index, got {items!r:.120}")
    bad = [x for x in items if not 0 <= x < count]
    if bad:
        raise error(f"`{name}` holds {bad[:5]}, outside the {count} {what} (0 to {count - 1})")
    return tuple(sorted(items))


def _range(lo, hi, lo_open: bool = False) -> str:
    if lo is not None and hi is not None:
        return f"in {'(' if lo_open else '['}{lo:g}, {hi:g}]"
    if lo is not None:
        return f"{'>' if lo_open else '>='} {lo:g}"
    if hi is not None:
        return f"<= {hi:g}"
    return ""
