"""Wall time per stage of a plan (`rightsizer plan --timings`).

Why: a plan of thousands of workloads is slow in one stage or another, and which one moves
with the repository and the data; the operator, and `benchmarks/scale.py`, see it without a
profiler. Stages add up where they repeat (sizing runs once per workload); the inputs are
read while the repository is inventoried (`bot.inputs.read_meanwhile`), so their times
overlap; time outside any collector is not kept.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_collector: ContextVar[dict[str, float] | None] = ContextVar("stages", default=None)


@contextmanager
def collecting() -> Iterator[dict[str, float]]:
    """The seconds of every stage run inside, by name, in the order they first ran."""
    found: dict[str, float] = {}
    token = _collector.set(found)
    try:
        yield found
    finally:
        _collector.reset(token)


@contextmanager
def stage(name: str) -> Iterator[None]:
    found = _collector.get()
    if found is not None:
        found.setdefault(name, 0.0)  # listed when it starts, whichever thread ends first
    started = time.perf_counter()
    try:
        yield
    finally:
        if found is not None:
            found[name] += time.perf_counter() - started


def shown(found: dict[str, float]) -> str:
    """`stages: inputs 12.1 s, inventory 40.2 s, ...` on one line."""
    return "stages: " + ", ".join(f"{name} {seconds:.2f} s" for name, seconds in found.items())
