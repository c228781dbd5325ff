"""A baseline that sizes the way the Kubernetes Vertical Pod Autoscaler's recommender does.

Teams that are not using Rightsizer would most often turn on a VPA instead, so the backtest
needs the VPA's answer to the same history to show what forecasting adds over it. This is its
target estimate, faithfully: an exponential histogram (`util/histogram_options.go`) whose
samples lose half their weight every 24 h (`util/decaying_histogram.go`), CPU from every
sample and memory from one peak per 24 h interval (`model/container.go`), the 90th percentile
plus a 15 % safety margin, and the pod minimums of 25 millicores and 250 MiB
(`logic/recommender.go`).

What it cannot copy: the VPA weighs each CPU sample by the container's request at the time,
which a usage history does not carry (a constant request weighs all samples alike, as here);
it splits the pod minimums across a pod's containers, which one series cannot know; and it
reads one-minute samples where the history may hold hourly means, so it sizes to the p90 of
whatever step it is given, which is exactly what the backtest scores.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from typing import ClassVar

import numpy as np
import pandas as pd

from recommenders.sources.frames import run_starts
from recommenders.strategies.base import Metric, NothingToPrepare, Sizing
from recommenders.strategies.history import confidence_for, covered_days, samples
from recommenders.strategies.settings import check_bounds, setting
from recommenders.strategies.units import amount

MEMORY_AGGREGATION_HOURS = 24.0
"""VPA's memory-aggregation-interval: one memory peak is recorded per interval."""


@dataclass(frozen=True)
class VpaSettings:
    half_life_hours: float = setting(
        24.0, 1.0, 720.0, "Age at which a sample counts half as much as a fresh one."
    )
    target_percentile: float = setting(
        0.9, 0.5, 1.0, "Share of the (weighted) samples the target must cover.", "halve-tail"
    )
    safety_margin: float = setting(
        0.15, 0.0, 1.0, "Fraction added on top of the percentile.", "double"
    )
    min_cpu_cores: float = setting(
        0.025, 0.0, 64.0, "Smallest CPU request VPA recommends (podMinCPUMillicores)."
    )
    min_memory_bytes: float = setting(
        250.0 * 2**20, 0.0, 2.0**40, "Smallest memory request VPA recommends (podMinMemoryMb)."
    )

    def __post_init__(self) -> None:
        check_bounds(self, "strategy.vpa")


@dataclass(frozen=True)
class ExponentialBuckets:
    """VPA's bucketing: each bucket 5 % wider than the last, so the error is relative."""

    first_bucket_size: float
    ratio: float
    max_value: float

    @cached_property
    def count(self) -> int:
        """Enough buckets that the last one starts at or above `max_value`."""
        span = self.max_value * (self.ratio - 1) / self.first_bucket_size + 1
        return math.ceil(_log(self.ratio, span)) + 1

    def find(self, values: np.ndarray) -> np.ndarray:
        """Bucket index per value; values below the first bucket's size (or negative) go to 0."""
        ratio, first = self.ratio, self.first_bucket_size
        # Clipping first keeps the logarithm's argument positive; those values go to 0 anyway.
        scaled = np.maximum(values, first) * (ratio - 1) / first + 1
        index = np.floor(np.log(scaled) / math.log(ratio)).astype(np.int64)
        return np.where(values < first, 0, np.minimum(index, self.count - 1))

    def start(self, bucket: int) -> float:
        return self.first_bucket_size * (self.ratio**bucket - 1) / (self.ratio - 1)


CPU_BUCKETS = ExponentialBuckets(first_bucket_size=0.01, ratio=1.05, max_value=1000.0)
"""A bucket is as wide as the first plus 5 % of its start, so 0.01 cores matters only below 0.2
cores; recent VPA releases start at 0.001 cores, which sizes small containers a little lower."""
MEMORY_BUCKETS = ExponentialBuckets(first_bucket_size=1e7, ratio=1.05, max_value=1e12)


def percentile(
    buckets: ExponentialBuckets, values: np.ndarray, weights: np.ndarray, p: float
) -> float:
    """VPA's `Percentile`: the end of the bucket where the weight first reaches `p` of the total.

    Returning the bucket's end rather than its start errs towards more resources, by at most
    one bucket (5 %). The last bucket has no end, so its start is returned.
    """
    if len(values) == 0:
        return 0.0
    weight = np.bincount(buckets.find(values), weights=weights, minlength=buckets.count)
    occupied = np.flatnonzero(weight)
    if len(occupied) == 0:
        return 0.0
    cumulative = np.cumsum(weight)
    found = int(np.searchsorted(cumulative, p * cumulative[-1], side="left"))
    # VPA walks from the first to the last occupied bucket: never outside that range, even
    # when p is 0 or rounding leaves the running sum a hair short of p * total.
    bucket = min(max(found, int(occupied[0])), int(occupied[-1]))
    return buckets.start(bucket + 1) if bucket < buckets.count - 1 else buckets.start(bucket)


def decay(hours: np.ndarray, newest: float, half_life_hours: float) -> np.ndarray:
    """2^((t - newest) / half-life): only relative weights matter, so the newest sample is 1."""
    return np.exp2((hours - newest) / half_life_hours)


def daily_peaks(hours: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(window start in hours, peak) per 24 h window aligned to the first sample.

    VPA keeps one memory sample per interval, its peak, so a short daily spike counts as much
    as a whole day at that level: memory that runs out OOM-kills the pod however brief.
    Empty windows (gaps) record nothing, as in VPA.
    """
    window = np.floor((hours - hours[0]) / MEMORY_AGGREGATION_HOURS).astype(np.int64)
    starts = run_starts(window)
    peaks = np.maximum.reduceat(values, starts)
    return hours[0] + window[starts] * MEMORY_AGGREGATION_HOURS, peaks


class VpaStrategy(NothingToPrepare):
    name: ClassVar[str] = "vpa"
    description: ClassVar[str] = (
        "Kubernetes VPA recommender: p90 of a histogram decaying with a 24 h half-life "
        "(memory: of daily peaks) + 15%, at least 25m CPU and 250 MiB."
    )
    settings_type: ClassVar[type] = VpaSettings

    def __init__(self, settings: VpaSettings | None = None) -> None:
        self.settings = settings or VpaSettings()

    def size(
        self,
        history: pd.Series,
        metric: Metric,
        horizon: pd.Timedelta,
        served: pd.Series | None = None,
    ) -> Sizing:
        """`horizon` and `served` are unused: VPA sizes from the whole past alone, the same
        level for any horizon."""
        hours, values = samples(history)
        floor = self.settings.min_cpu_cores if metric == "cpu" else self.settings.min_memory_bytes
        if len(values) == 0:
            return Sizing(
                request=float(floor),
                limit=None,
                basis=f"VPA's minimum {amount(metric, floor)}",
                model=self._model(),
                confidence="low",
                notes=("no usage data: VPA would recommend its minimum",),
            )
        target, statistic, evidence = (
            self._cpu(hours, values) if metric == "cpu" else self._memory(hours, values)
        )
        basis = (
            f"{self._percentile_name()} of {statistic} ({self.settings.half_life_hours:g} h "
            f"half-life) + {self.settings.safety_margin:.0%}"
        )
        margined = target * (1 + self.settings.safety_margin)
        notes: tuple[str, ...] = ()
        if margined < floor:
            notes = (
                f"{amount(metric, margined)} raised to VPA's minimum {amount(metric, floor)} "
                "(VPA splits that minimum across a pod's containers)",
            )
        return Sizing(
            request=float(max(margined, floor)),
            limit=None,
            basis=basis,
            evidence=evidence,
            model=self._model(),
            confidence=confidence_for(covered_days(hours)),
            notes=notes,
        )

    def _cpu(self, hours: np.ndarray, values: np.ndarray) -> tuple[float, str, str]:
        weights = decay(hours, hours[-1], self.settings.half_life_hours)
        target = percentile(CPU_BUCKETS, values, weights, self.settings.target_percentile)
        evidence = (
            f"{self._percentile_name()} {amount('cpu', target)} (top of its bucket) over "
            f"{len(values)} samples"
        )
        return target, "a decaying histogram", evidence

    def _memory(self, hours: np.ndarray, values: np.ndarray) -> tuple[float, str, str]:
        starts, peaks = daily_peaks(hours, values)
        # VPA dates a peak at its window's end; every window is shifted alike, so the weights
        # relative to one another (all a percentile sees) are the same dated at the start.
        weights = decay(starts, hours[-1], self.settings.half_life_hours)
        target = percentile(MEMORY_BUCKETS, peaks, weights, self.settings.target_percentile)
        evidence = (
            f"{self._percentile_name()} {amount('memory', target)} (top of its bucket) over "
            f"{len(peaks)} daily peaks of {len(values)} samples; "
            f"highest peak {amount('memory', float(peaks.max()))}"
        )
        return target, "daily peaks in a decaying histogram", evidence

    def _percentile_name(self) -> str:
        return f"p{self.settings.target_percentile * 100:g}"

    def _model(self) -> str:
        return (
            f"VPA decaying histogram (half-life {self.settings.half_life_hours:g} h, "
            f"{self._percentile_name()})"
        )


def _log(base: float, x: float) -> float:
    return math.log(x) / math.log(base)
