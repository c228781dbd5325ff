"""Many forecasts at once: cached ones looked up, the rest spread over worker processes.

Fits are CPU-bound Python and numpy, so threads would queue on the GIL; processes scale
with cores (1.9× on two, FACTS.md). Workers are loky's, started afresh rather than forked
and kept for the next batch of the run, with BLAS held to one thread each: two workers with
threaded BLAS ran ETS 2.5× slower than with one. Small batches stay in-process, since a
worker pays ~2 s importing statsmodels before its first fit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from loky import cpu_count, get_reusable_executor

from recommenders.forecasters.cache import ForecastCache, cache_key
from recommenders.forecasters.forecaster import (
    Forecast,
    ForecastSettings,
    Warm,
    Within,
    forecast,
)

IN_PROCESS_BELOW = 64
"""Fewer misses than this are fitted here: a worker's start-up would cost more than it saves."""
SINGLE_THREADED = dict.fromkeys(("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"), "1")
WORKERS_IDLE = 60
"""Seconds the workers wait for the next batch before they exit: a plan fits its sizing
forecasts and then its HPA demand forecasts, and each worker paid ~2 s importing statsmodels
when every batch started its own."""


@dataclass(frozen=True)
class Job:
    values: np.ndarray
    """Hourly, oldest first, no NaN."""
    steps: int
    series_id: str | None = None
    """Stable name (workload/container/metric) under which the fit is warm-started."""
    within: Within | None = None


def forecast_all(
    jobs: Sequence[Job],
    cache: ForecastCache | None = None,
    settings: ForecastSettings | None = None,
    workers: int | None = None,
) -> list[Forecast]:
    settings = settings or ForecastSettings()
    cache = cache if cache is not None else ForecastCache()
    keys = [cache_key(job.values, job.steps, job.within, settings) for job in jobs]
    results: list[Forecast | None] = [cache.lookup(key) for key in keys]
    missing = [i for i, found in enumerate(results) if found is None]
    tasks = [(jobs[i], cache.warm(jobs[i].series_id)) for i in missing]
    for i, fitted in zip(missing, _fit(tasks, settings, workers), strict=True):
        cache.store(keys[i], jobs[i].series_id, fitted)
        results[i] = fitted
    return [result for result in results if result is not None]


def _fit(
    tasks: list[tuple[Job, Warm | None]], settings: ForecastSettings, workers: int | None
) -> list[Forecast]:
    workers = workers or cpu_count()  # the container's quota, not a 64-core node's count
    if workers == 1 or len(tasks) < IN_PROCESS_BELOW:
        return _fit_chunk(tasks, settings)
    # A few chunks per worker: enough to even out slow series, few enough to pickle cheaply.
    size = -(-len(tasks) // (workers * 4))
    chunks = [tasks[start : start + size] for start in range(0, len(tasks), size)]
    pool = get_reusable_executor(workers, timeout=WORKERS_IDLE, env=SINGLE_THREADED)
    done = pool.map(_fit_chunk, chunks, [settings] * len(chunks))
    return [fitted for chunk in done for fitted in chunk]


def _fit_chunk(tasks: list[tuple[Job, Warm | None]], settings: ForecastSettings) -> list[Forecast]:
    return [forecast(job.values, job.steps, warm, settings, job.within) for job, warm in tasks]
