"""Progress of long work, for whoever shows it: `rightsizer plan` draws bars with counts on a
terminal ("Forecasting 1,234/5,000 series"); the service and tests show nothing.

The work reports through a context variable rather than a parameter threaded through every
stage: a stage deep in a strategy counts what it does, and only the command that runs it
decides whether, and how, that is shown.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

Sink = Callable[[str, int, int], None]
"""Called with (what is done, e.g. "Forecasting series"; how many; out of how many)."""

_sink: ContextVar[Sink | None] = ContextVar("progress", default=None)


@contextmanager
def reporting(sink: Sink) -> Iterator[None]:
    """Progress of the work done inside, told to `sink`."""
    token = _sink.set(sink)
    try:
        yield
    finally:
        _sink.reset(token)


def listening() -> bool:
    """Whether anybody shows progress: counting it may cost something."""
    return _sink.get() is not None


def told(what: str, done: int, total: int) -> None:
    """`done` of `total` of `what` are finished; nothing when nobody shows it."""
    sink = _sink.get()
    if sink is not None:
        sink(what, done, total)


@contextmanager
def part(before: int, total: int) -> Iterator[None]:
    """Work inside as one part of a larger count: its counts follow the `before` done in
    the parts ahead of it, out of the whole `total`."""
    outer = _sink.get()
    if outer is None:
        yield
        return
    with reporting(lambda what, done, _: outer(what, before + done, total)):
        yield
