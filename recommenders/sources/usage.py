"""Usage from every source, joined into one table and looked up per workload.

Sources differ in step (5-minute Prometheus samples, hourly CSV, daily OpenCost rows); the
strategies want hourly series, so lookup resamples here: finer data is averaged into hours,
coarser data is held for its whole step (a daily mean says nothing about the hour within it).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd
from pandas.api.types import union_categoricals

from recommenders.model import WorkloadKey
from recommenders.quantiles import median
from recommenders.sources.frames import (
    RUNNING,
    SERIES,
    SIGNALS,
    USAGE_COLUMNS,
    SeriesRows,
    Usage,
    run_starts,
    series_numbers,
)

HOUR = pd.Timedelta(hours=1)
_HOUR_TICKS = {unit: int(HOUR / pd.Timedelta(1, unit=unit)) for unit in ("s", "ms", "us", "ns")}
"""An hour in each unit pandas keeps timestamps in."""


@dataclass(frozen=True)
class WorkloadUsage:
    """Hourly history of one workload: per-container CPU and memory, and its replica count."""

    cpu: dict[str, pd.Series]
    memory: dict[str, pd.Series]
    replicas: pd.Series | None
    signals: dict[tuple[str, str], pd.Series] = field(default_factory=dict)
    """Failure signals by (metric, container): `oom_kills`, `restarts`, `cpu_throttled_ratio`."""
    running: dict[tuple[str, str], pd.Series] = field(default_factory=dict)
    """The requests and limits the cluster ran with, by (metric, container), where the
    source reports them (`cpu_request_cores`, `memory_limit_bytes`, ...): they show when a
    merged change reached the cluster."""

    @property
    def hours(self) -> int:
        lengths = [len(s) for s in (*self.cpu.values(), *self.memory.values())]
        return max(lengths, default=0)

    # Derived once per workload, not per call: every container's forecast and sizing asks
    # again, and a 5,000-workload plan spent two seconds remaking the same answers.

    @cached_property
    def kept(self) -> dict[str, pd.Series | None]:
        """Per container, the hours no anomaly may be cut from: the autoscaler scaled out
        (demand it served, `served_hours`), or the container started again (a restart or
        OOM kill that hour or the one before): its start-up peak is what the next start
        needs too. None where neither is known."""
        served = served_hours(self.replicas)
        found: dict[str, pd.Series | None] = {}
        for container in {*self.cpu, *self.memory}:
            marks = [served] if served is not None else []
            for signal in ("restarts", "oom_kills"):
                events = self.signals.get((signal, container))
                if events is not None:
                    started = events.fillna(0) > 0
                    marks.append(started | started.shift(1, fill_value=False))
            if len(marks) > 1:
                joined = pd.concat(marks, axis=1).fillna(False).astype(bool).any(axis=1)
                found[container] = joined
            else:  # one mark is a boolean per hour already: joining it cost 1 ms a call
                found[container] = marks[0] if marks else None
        return found

    @cached_property
    def demand(self) -> pd.Series | None:
        """The CPU its pods used together, hour by hour (the containers' sum times the
        replicas), in the hours both are known; None without either. Where every series
        has the same hours (one export's rows, as a rule), the arithmetic is numpy's, the
        same sums and products, index and name as pandas': pandas aligning each operand
        cost a 5,000-workload plan's busiest thread 0.46 s."""
        if self.replicas is None or not self.cpu:
            return None
        parts = [*self.cpu.values(), self.replicas]
        hours = parts[0].index  # pandas keeps the first operand's
        if all(_same_hours(part, hours) for part in parts):
            total = sum(series.to_numpy() for series in self.cpu.values())
            values = total * self.replicas.to_numpy()
            known = ~np.isnan(values)
            names = {part.name for part in parts}
            name = names.pop() if len(names) == 1 else None
            if known.all():
                found = pd.Series(values, hours, name=name)
            else:
                found = pd.Series(values[known], hours[known], name=name)
        else:
            found = (sum(self.cpu.values()) * self.replicas).dropna()
        return found if len(found) else None

    @cached_property
    def end(self) -> pd.Timestamp | None:
        """The end of the last hour of usage (a series indexed by hour starts)."""
        ends = [
            # A position, not a boolean mask: masking a DatetimeIndex built a new index.
            s.index[kept[np.argmax(s.index.asi8[kept])]]
            for s in (*self.cpu.values(), *self.memory.values())
            if len(kept := np.flatnonzero(~np.isnan(s.to_numpy(float))))
        ]
        return max(ends) + pd.Timedelta(hours=1) if ends else None


def _same_hours(series: pd.Series, hours: pd.Index) -> bool:
    """Float values on exactly `hours`, in its unit (`equals` looks at the instants only)."""
    return (
        series.dtype.kind == "f"
        and series.index.dtype == hours.dtype
        and series.index.equals(hours)
    )


class UsageTable:
    """All usage read, by workload.

    Usage names its environment as the source knows it: a directory's short name (`prod`)
    in exports written for the repo, a cluster (`eks-prod-eu1`) in Prometheus or cloud data.
    So a workload is looked up by its environment's name and by `aliases` (the clusters its
    directory is deployed to) or `patterns` (regular expressions a declared cluster gives,
    matched in full). A source that names no environment ("") matches a workload in any
    environment, when nothing names the workload's own."""

    def __init__(self, sources: Iterable[Usage]) -> None:
        """Rows are grouped once into contiguous runs, one per series, sorted by workload,
        container and metric: a lookup slices them instead of grouping a frame per
        workload, which cost a 5,000-workload plan half a minute and a copy of the table."""
        sources = list(sources)
        frame = _joined([source.frame for source in sources])
        known = sources[0].order if len(sources) == 1 else None
        if known is not None and len(known.positions) != len(frame):
            known = None  # not this frame's order (a source changed after its checks)
        positions, numbers = _in_series_order(frame, known)
        self._stamps = pd.DatetimeIndex(frame["timestamp"])
        self._values = frame["value"].to_numpy(float)
        if positions is not None:
            self._stamps, self._values = self._stamps[positions], self._values[positions]
        starts = run_starts(numbers)
        bounds = [*starts.tolist(), len(numbers)]
        names = frame[SERIES].iloc[starts if positions is None else positions[starts]]
        whole = _whole_hour_runs(self._stamps, np.array(bounds))
        self._series: dict[WorkloadKey, list[tuple[str, str, int, int, bool]]] = {}
        rows = names.itertuples(index=False)
        for row, start, stop, hourly in zip(rows, bounds[:-1], bounds[1:], whole, strict=True):
            key = WorkloadKey(*map(str, row[:4]))
            series = (str(row[5]), str(row[4]), start, stop, bool(hourly))
            self._series.setdefault(key, []).append(series)
        self._by_workload: dict[tuple[str, str, str], list[WorkloadKey]] = {}
        for key in self._series:
            self._by_workload.setdefault((key.namespace, key.kind, key.name), []).append(key)

    def workloads(self) -> list[WorkloadKey]:
        return list(self._series)

    def matches(
        self, key: WorkloadKey, aliases: Iterable[str] = (), patterns: Iterable[str] = ()
    ) -> list[WorkloadKey]:
        """The usage keys that are this workload's: its environment, an alias or a pattern,
        else usage that names no environment."""
        candidates = self._by_workload.get((key.namespace, key.kind, key.name), [])
        names = {key.environment, *aliases} - {""}
        compiled = [re.compile(pattern) for pattern in patterns]
        found = [
            k
            for k in candidates
            if k.environment in names or any(p.fullmatch(k.environment) for p in compiled)
        ]
        return found or [k for k in candidates if k.environment == ""]

    def for_workload(
        self, key: WorkloadKey, aliases: Iterable[str] = (), patterns: Iterable[str] = ()
    ) -> WorkloadUsage | None:
        """The workload's hourly history. Usage from several clusters (one directory deployed
        to each) is combined hour by hour by its maximum: one manifest sets the requests for
        every cluster, so the busiest cluster's pods must fit."""
        found = self.matches(key, aliases, patterns)
        if not found:
            return None
        series: dict[str, dict[str, list[pd.Series]]] = {
            metric: {} for metric in ("cpu_cores", "memory_bytes", "replicas", *SIGNALS, *RUNNING)
        }
        named = str(key)
        for usage_key in found:
            for metric, container, start, stop, hourly in self._series[usage_key]:
                if metric in series:
                    # Named so that a forecast of it is warm-started from the last run's;
                    # named when made: renaming each was 0.3-0.8 s of a 2.7 s lookup.
                    name = f"{named}/{container}/{metric}"
                    rows = pd.Series(self._values[start:stop], self._stamps[start:stop], name=name)
                    rows = rows if hourly else hourly_series(rows)
                    series[metric].setdefault(container, []).append(rows)
        combined = {
            metric: {container: _busiest(parts) for container, parts in by_container.items()}
            for metric, by_container in series.items()
        }
        replicas = next(iter(combined["replicas"].values()), None)
        signals = {
            (metric, container): values
            for metric in SIGNALS
            for container, values in combined[metric].items()
        }
        running = {
            (metric, container): values
            for metric in RUNNING
            for container, values in combined[metric].items()
        }
        return WorkloadUsage(
            combined["cpu_cores"], combined["memory_bytes"], replicas, signals, running
        )

    def unmatched(self, known: Iterable[WorkloadKey]) -> list[WorkloadKey]:
        """Usage keys that no workload in the repo claims, so the report can list them."""
        known = set(known)
        anywhere = {WorkloadKey("", k.namespace, k.kind, k.name) for k in known}
        return [key for key in self._series if key not in known and key not in anywhere]


def _whole_hour_runs(stamps: pd.DatetimeIndex, bounds: np.ndarray) -> np.ndarray:
    """For each run of rows [bounds[i], bounds[i + 1]), whether it is already an hourly
    series (every stamp on the hour, each one hour after the one before), found for every
    run at once: checking each series at lookup cost a 5,000-workload plan a second. A run
    whose first stamp is on the hour and whose every step is one hour has all its stamps on
    the hour, so only the steps are looked at all through: where they are not one hour
    (between series, mostly), and whether a run holds one of those places."""
    ticks, hour = stamps.asi8, _HOUR_TICKS[stamps.unit]  # in the stamps' own unit, uncopied
    starts, stops = bounds[:-1], bounds[1:]
    uneven = np.flatnonzero(np.diff(ticks) != hour)  # step i goes from row i to row i + 1
    inside = np.searchsorted(uneven, stops - 1) - np.searchsorted(uneven, starts)
    return (ticks[starts] % hour == 0) & (inside == 0)


def _in_series_order(
    frame: pd.DataFrame, known: SeriesRows | None
) -> tuple[np.ndarray | None, np.ndarray]:
    """The frame position of each row in order of series (None: the frame's own order) and
    its series number, without the rows that miss a name (in no series). A single source's
    checks ordered its rows already: ordering them again was 1.3 s of reading a 1.5 GB
    export. Within a series, rows keep the time order the checks gave them, or else the
    frame's order; a lookup sorts what is not hourly."""
    positions: np.ndarray | None
    if known is not None:
        positions, numbers = known.positions, known.series
    else:
        numbers = series_numbers(frame, SERIES)
        positions = None if _ascending(numbers) else np.argsort(numbers, kind="stable")
        if positions is not None:
            numbers = numbers[positions]
    named = int(np.searchsorted(numbers, 0))  # a missing name's -1 sorts first
    if named:
        every = np.arange(len(numbers)) if positions is None else positions
        positions, numbers = every[named:], numbers[named:]
    return positions, numbers


def _ascending(numbers: np.ndarray) -> bool:
    return bool(len(numbers) < 2 or (numbers[1:] >= numbers[:-1]).all())


def _busiest(parts: list[pd.Series]) -> pd.Series:
    if len(parts) == 1:
        return parts[0]
    return pd.concat(parts, axis=1).max(axis=1).rename(parts[0].name)


def present(values: pd.Series) -> pd.Series:
    """The series without its missing hours: the same object when none is missing, since
    `dropna` copies every time and a 5,000-workload plan asks 60,000 times (pandas' own
    `hasnans` costs more than numpy's look)."""
    array = values.to_numpy()
    missing = bool(np.isnan(array).any()) if array.dtype.kind == "f" else array.dtype == object
    return values.dropna() if missing else values


def served_hours(replicas: pd.Series | None) -> pd.Series | None:
    """Hours an autoscaler ran at least one pod more than its typical (median) count: a
    burst then was demand it scaled out for. None without a replica count."""
    counts = None if replicas is None else present(replicas)
    if counts is None or counts.empty:
        return None
    values = counts.to_numpy(float)
    return pd.Series(values > median(values) + 0.5, counts.index, name=counts.name)


def hourly_series(values: pd.Series) -> pd.Series:
    if not _whole_hours(values.index):
        if not values.index.is_monotonic_increasing:
            values = values.sort_index()
        if not _whole_hours(values.index):
            return _resampled(values)
    # What resampling would give, without its cost.
    return values if values.dtype == np.float64 else values.astype(float)


def _resampled(values: pd.Series) -> pd.Series:
    """Held for each sample's whole step where that is two hours or more; an hourly series
    with gaps (its median step under two hours) is interpolated across short gaps."""
    step = median_step(values.index)
    hours = step / HOUR if step is not None else 1.0
    if hours >= 2:  # held until the next sample's hour: 150 minutes are three hours' bins
        return values.resample("1h").mean().ffill(limit=math.ceil(hours) - 1)
    return values.resample("1h").mean().interpolate(limit=3)


def _whole_hours(index: pd.Index) -> bool:
    """Sorted timestamps on the hour, one hour apart: already an hourly series. The one-run
    case of `_whole_hour_runs` without its searches: every forecast's history asks, and
    converting to nanoseconds and asking pandas whether it is sorted first cost a
    5,000-workload plan 2.5 s."""
    if not isinstance(index, pd.DatetimeIndex) or len(index) == 0:
        return False
    ticks, hour = index.asi8, _HOUR_TICKS[index.unit]
    return bool(ticks[0] % hour == 0 and (np.diff(ticks) == hour).all())


def median_step(index: pd.Index) -> pd.Timedelta | None:
    """The step a series was sampled at: the median gap between its timestamps."""
    if len(index) < 2:
        return None
    stamps = np.sort(pd.DatetimeIndex(index).as_unit("ns").asi8)
    gaps = np.diff(stamps)
    gaps = gaps[gaps > 0]
    return pd.Timedelta(int(np.median(gaps)), unit="ns") if len(gaps) else None


def _joined(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """The sources' rows in one frame, names kept categorical: concatenating categoricals
    whose categories differ would turn them into a Python string per row."""
    if not frames:
        return pd.DataFrame({column: [] for column in USAGE_COLUMNS})
    if len(frames) == 1:
        return frames[0]
    joined = {}
    for column in USAGE_COLUMNS:
        parts = [frame[column] for frame in frames]
        if column in ("timestamp", "value"):
            joined[column] = pd.concat(parts, ignore_index=True)
        else:
            categorical = [pd.Categorical(part) for part in parts]
            joined[column] = pd.Series(union_categoricals(categorical, ignore_order=True))
    return pd.DataFrame(joined)
