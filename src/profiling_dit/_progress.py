"""The library's own progress for long calls from a script or a notebook (profiling, calibration): a tqdm bar when
the caller gives no callback of its own (the CLI gives one and draws its own)."""

from __future__ import annotations

import contextlib
from typing import Any, Callable, Iterator


@contextlib.contextmanager
def _bar(callback: Callable | None, total: int, desc: str, show: bool,
         make: Callable[[Any], Callable]) -> Iterator[Callable | None]:
    """``callback`` as given; without one (and with ``show``), ``make(bar)``: a callback that moves a tqdm bar."""
    if callback is not None or not show:
        yield callback
        return
    from tqdm.auto import tqdm

    bar = tqdm(total=total, desc=desc, leave=False)
    try:
        yield make(bar)
    finally:
        bar.close()


def step_progress(callback: Callable | None, total: int, desc: str, show: bool = True):
    """``callback`` as given; without one (and with ``show``), an ``on_step(i, total)`` that moves a tqdm bar."""
    return _bar(callback, total, desc, show, lambda bar: lambda i, n: bar.update(i + 1 - bar.n))


def count_progress(callback: Callable | None, total: int, desc: str, show: bool = True):
    """``callback`` as given; without one (and with ``show``), an ``on_done(done, total, what)`` that moves a bar."""
    def make(bar):
        def update(done: int, n: int, what: str = "") -> None:
            bar.update(done - bar.n)
            if what:
                bar.set_postfix_str(what, refresh=False)
        return update

    return _bar(callback, total, desc, show, make)
