"""The library's own progress for long calls from a script or a notebook (profiling, calibration, a bench): a tqdm
bar when the caller gives no callback of its own (the CLI gives one and draws its own)."""

from __future__ import annotations

import contextlib
from typing import Any, Callable, Iterator


class Counter:
    """Work done against a total known before it starts (the length of the list of work), told after each piece to
    ``callback(done, total, what)``: a bench's runs, calibration's generations. The callback is the caller's (the
    CLI's progress display), a tqdm bar's (``count_progress``) or none."""

    def __init__(self, total: int, callback: Callable[[int, int, str], None] | None = None):
        self.total, self.done, self.callback = total, 0, callback

    def tick(self, what: str = "") -> None:
        self.done += 1
        if self.callback is not None:
            self.callback(self.done, self.total, what)


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


@contextlib.contextmanager
def count_progress(callback: Callable[[int, int, str], None] | None, total: int, desc: str,
                   show: bool = True) -> Iterator[Counter]:
    """A ``Counter`` of ``total`` that tells ``callback``; without one (and with ``show``), one that moves a bar."""
    def make(bar):
        def update(done: int, n: int, what: str = "") -> None:
            bar.update(done - bar.n)
            if what:
                bar.set_postfix_str(what, refresh=False)
        return update

    with _bar(callback, total, desc, show, make) as told:
        yield Counter(total, told)
