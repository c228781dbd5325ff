"""How often Python's cycle collector runs in a process that plans.

Why: a plan holds millions of small objects (the inventory, the renders, the usage table's
index), and CPython's default thresholds (700, 10, 10) run a full collection over all of
them every so often: 1.4-1.8 s of a 5,000-workload plan's 10 s of sizing went to one or
two of them, and a seventh of building its inventory. Collecting young objects every
200,000 allocations instead of every 700, as mypy does for the same reason, keeps what is
collected (cycles are still found) and the memory a run holds about the same.
"""

from __future__ import annotations

import gc
import platform
import sys

THRESHOLDS = (200_000, 30, 30)


def collect_less() -> None:
    """From CPython 3.14 the collector is incremental and these numbers mean something
    else: there, its defaults stay."""
    if platform.python_implementation() == "CPython" and sys.version_info < (3, 14):
        gc.set_threshold(*THRESHOLDS)
