"""Many forecasts at once: cached ones looked up, the rest spread over worker processes.

Fits are CPU-bound Python and numpy, so threads would queue on the GIL; processes scale
with cores (1.9× on two, FACTS.md). Workers are loky's, started afresh rather than forked
and kept for the next batch of the run, with BLAS held to one thread each: two workers with
threaded BLAS ran ETS 2.5× slower than with one. Small batches stay in-process, since a
worker pays ~2 s importing statsmodels before its first fit.

A service run can send its chunks further (`fanned_out`): to every worker of the service,
through its database (`bot/service/fanout.py`), when one repository holds more series than
one machine fits in time.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol

from loky import cpu_count, get_reusable_executor

from recommenders.forecasters.cache import Arriving, ForecastCache, cache_key
from recommenders.forecasters.forecaster import Forecast, ForecastSettings, Job, forecast
from recommenders.forecasters.wire import Task
from recommenders.progress import listening, told

CHUNK = 64
"""Misses sent to a worker at a time, as soon as that many are prepared, so that fitting
overlaps the caller's making of the next jobs. A batch with fewer misses is fitted here: a
worker's start-up would cost more than it saves."""
SINGLE_THREADED = dict.fromkeys(("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"), "1")
WORKERS_IDLE = 60
"""Seconds the workers wait for the next batch before they exit: a plan sends its HPA demand
forecasts and then its sizing forecasts, a backtest each strategy's, and each worker paid
~2 s importing statsmodels when every batch started its own."""
PROGRESS_EVERY = 16
"""Series between two counts told to `recommenders.progress` (a count looks at every chunk)."""


_pools: list[Any] = []
"""The worker pool this process started, if any (`release_workers`)."""


class Pending(Arriving, Protocol):
    """A chunk on its way: a `concurrent.futures.Future`, or a fan-out's ticket."""

    def done(self) -> bool: ...


class Fanout(Protocol):
    """Somewhere beyond this process that fits chunks: the one extension point for where
    fits run besides the local workers."""

    def submit(self, tasks: list[Task], settings: ForecastSettings) -> Pending: ...


_fanouts: list[Fanout] = []


@contextmanager
def fanned_out(fanout: Fanout) -> Iterator[None]:
    """Within it, full chunks go to `fanout` instead of this machine's workers."""
    _fanouts.append(fanout)
    try:
        yield
    finally:
        _fanouts.remove(fanout)


def release_workers() -> None:
    """Stop the forecast workers now instead of after `WORKERS_IDLE`. A process that ends
    with `os._exit` (a service run's child) runs no exit hooks: its workers would linger,
    each holding statsmodels in memory, for a minute after every run."""
    while _pools:
        _pools.pop().shutdown(wait=True, kill_workers=True)


def forecast_all(
    jobs: Iterable[Job],
    cache: ForecastCache | None = None,
    settings: ForecastSettings | None = None,
    workers: int | None = None,
    total: int | None = None,
) -> list[Forecast]:
    """Forecasts in the order of `jobs`, as `send_all` finds or fits them."""
    cache = cache if cache is not None else ForecastCache()
    return [cache.collect(key) for key in send_all(jobs, cache, settings, workers, total)]


def send_all(
    jobs: Iterable[Job],
    cache: ForecastCache,
    settings: ForecastSettings | None = None,
    workers: int | None = None,
    total: int | None = None,
) -> list[str]:
    """The key of each job's forecast, which is in `cache` or on its way there. `jobs` may
    be a generator: its misses go to the workers a chunk at a time while it makes the next,
    so that a caller's per-series work (anomalies, hourly resampling: a third of the stage at
    5,000 workloads) and the fits run at the same time. Nothing here waits for the workers:
    `cache.collect` waits for a chunk when its forecast is needed, so that a plan sizes its
    first workloads while the workers fit the last ones' (sizing after every fit left one of
    two cores idle for 8 s of a 5,000-workload plan). With `total` (how many jobs there are)
    it tells `recommenders.progress` how many series are done: found in the cache or fitted."""
    settings = settings or ForecastSettings()
    workers = workers or cpu_count()  # the container's quota, not a 64-core node's count
    keys: list[str] = []
    misses: list[tuple[str, str | None]] = []
    tasks: list[Task] = []
    sent: list[tuple[int, Pending]] = []

    def tell() -> None:
        """Series done: read from the cache, or fitted by a chunk that came back."""
        if total is not None and listening():
            waiting = len(tasks) + sum(size for size, future in sent if not future.done())
            told("Forecasting series", len(keys) - waiting, total)

    def send(tasks: list[Task], misses: list[tuple[str, str | None]]) -> None:
        """The chunk's lists are the workers' from now on (a fan-out keeps them to refit)."""
        sent.append((len(tasks), submit(tasks, settings, workers)))
        cache.expect(misses, sent[-1][1])

    for job in jobs:
        keys.append(cache_key(job.values, job.steps, job.within, settings))
        if not cache.known(keys[-1], job.series_id):
            misses.append((keys[-1], job.series_id))
            tasks.append((job, cache.warm(job.series_id)))
        if len(tasks) == CHUNK and (_fanouts or workers > 1):
            send(tasks, misses)
            misses, tasks = [], []
        if len(keys) % PROGRESS_EVERY == 0:
            tell()
    # The last, partial chunk is fitted here while the workers fit theirs.
    for (key, name), fitted in zip(misses, fit_chunk(tasks, settings), strict=True):
        cache.store(key, name, fitted)
    tasks = []
    tell()
    return keys


def submit(tasks: list[Task], settings: ForecastSettings, workers: int) -> Pending:
    """A chunk sent to the fan-out, if there is one, else to this machine's workers."""
    if _fanouts:
        return _fanouts[-1].submit(tasks, settings)
    return local_pool(workers).submit(fit_chunk, tasks, settings)


def local_pool(workers: int) -> Any:
    """This process's workers (loky's reusable executor), started on first use."""
    pool = get_reusable_executor(workers, timeout=WORKERS_IDLE, env=SINGLE_THREADED)
    if pool not in _pools:
        _pools.append(pool)
    return pool


def fit_chunk(tasks: list[Task], settings: ForecastSettings) -> list[Forecast]:
    return [forecast(job.values, job.steps, warm, settings, job.within) for job, warm in tasks]
