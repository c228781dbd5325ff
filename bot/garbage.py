"""How often Python's cycle collector runs in a process that plans.

Why: a plan holds millions of small objects (the inventory, the renders, the usage table's
index), and CPython's default thresholds (700, 10, 10) run a full collection over all of
them every so often: 1.4-1.8 s of a 5,000-workload plan's 10 s of sizing went to one or
two of them, and a seventh of building its inventory. Collecting young objects every
20,000 allocations instead of every 700 leaves none during sizing and keeps what is
collected (cycles are still found). mypy uses 200,000 for the same reason; here that held
0.1 GiB more at a cold plan's peak (1.82 against 1.71 GiB) for no time gained.
"""

from __future__ import annotations

import gc
import platform
import sys
from collections.abc import Iterator
from contextlib import contextmanager

THRESHOLDS = (20_000, 10, 10)
INCREMENTAL = ((3, 14, 0), (3, 14, 5))
"""The CPython releases whose collector is incremental, where these numbers mean something
else: 3.14.0 to 3.14.4 (3.14.5 and 3.15 went back to 3.13's generational collector,
python/cpython#148726). There, its defaults stay."""


def collect_less() -> None:
    if platform.python_implementation() == "CPython" and not incremental(sys.version_info[:3]):
        gc.set_threshold(*THRESHOLDS)


def incremental(version: tuple[int, ...]) -> bool:
    """`version`: major, minor and micro (a release level may follow, as in `sys.version_info`)."""
    first, after = INCREMENTAL
    return first <= version[:3] < after


_frozen = 0
"""How deep in `long_lived` blocks this process is."""


@contextmanager
def long_lived() -> Iterator[None]:
    """Within it, the objects made before are left out of every collection: the inventory,
    the renders and the usage table live until the plan is made, and each full collection
    of a 5,000-workload next-day plan walked them all again, with every thread stopped
    (three of them, 0.72-0.77 s; frozen, 0.04-0.05 s). They are handed back to the
    collector after, so that a process that goes on (a test, a caller that plans again)
    still frees what they leave behind. Nested, the outermost block freezes and hands back.
    The collector is the process's: one plan at a time in a process, as the service plans
    each in a process of its own (`bot/service/isolated.py`)."""
    global _frozen
    if not _frozen:
        gc.freeze()
    _frozen += 1
    try:
        yield
    finally:
        _frozen -= 1
        if not _frozen:
            gc.unfreeze()
