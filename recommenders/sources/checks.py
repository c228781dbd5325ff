"""Checks on tidy usage that every utilisation format shares.

What would size a workload wrongly is refused (a duplicate sample, millicores in a cores
column, MiB in a bytes column); what only makes a forecast less sure (gaps) is a warning.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from recommenders.errors import InputError
from recommenders.sources.frames import SERIES, SeriesOrder, SeriesRows
from recommenders.sources.validate import distinct, where

MAX_CORES_PER_CONTAINER = 64.0
"""A median above this per container is millicores written as cores, not a real workload."""
MIN_BYTES_PER_CONTAINER = 100_000.0
"""A median below this (100 kB) is MiB or MB written as bytes: no container runs in less."""
MAX_SPAN = pd.Timedelta(days=730)
"""How far a sample may lie from the export's median timestamp: two years. Series are
resampled hourly from their first sample to their last, so one timestamp decades off (a
zero epoch, a year typed 2062) would make hundreds of thousands of empty hours per series."""
LISTED = 5


@dataclass(frozen=True)
class UsageCheck:
    warnings: list[str] = field(default_factory=list)
    missing_steps: int = 0
    """Samples missing inside series, counted at each series' own step."""
    order: SeriesRows | None = None
    """The rows by series, then time, as the checks found them (None for no rows)."""


def check_usage(frame: pd.DataFrame, origin: str, rows_of: Path | None = None) -> UsageCheck:
    """Raise for a mistake, return warnings for the rest. With `rows_of`, the frame's index is
    the source file's row, so errors name its line; else they name series and timestamp."""
    _within_span(frame, origin, rows_of)
    if frame.empty:
        return UsageCheck()
    ordered = SeriesOrder.of(frame)
    _no_duplicates(frame, ordered, origin, rows_of)
    _plausible_units(frame, origin, rows_of)
    checked = _gaps(frame, ordered)
    # Done with the keys: they become the series numbers in place, so that handing the
    # order on holds no more memory than the checks did.
    series = np.right_shift(ordered.keys, 32, out=ordered.keys)
    return replace(checked, order=SeriesRows(ordered.rows, series))


def series_name(row: pd.Series) -> str:
    who = "/".join(str(row[column]) for column in SERIES[:4] if row[column])
    container = f" {row['container']}" if row["container"] else ""
    return f"{who}{container} {row['metric']}"


def _place(label: int, origin: str, rows_of: Path | None) -> str:
    """A row by its index label: the wide format repeats a source row's label once per metric,
    so labels, not positions, lead back to the line."""
    return where(rows_of, label) if rows_of is not None else origin


def _within_span(frame: pd.DataFrame, origin: str, rows_of: Path | None) -> None:
    if frame.empty:
        return
    stamps = frame["timestamp"]
    instants = stamps.dt.tz_convert(None).to_numpy()
    unit, _ = np.datetime_data(instants.dtype)
    # The middle element found by partitioning integers, not by sorting every row: 2 s for
    # 10 M rows, where this takes 0.05 s (numpy partitions datetime64 fifty times slower).
    ticks, half = instants.view(np.int64), len(instants) // 2
    centre = int(np.partition(ticks, half)[half])
    middle = pd.Timestamp(centre, unit=unit, tz=stamps.dt.tz)
    far = np.abs(ticks - centre) > np.timedelta64(MAX_SPAN).astype(f"m8[{unit}]").astype(np.int64)
    if far.any():
        position = int(far.argmax())
        stamp = stamps.iloc[position]
        raise InputError(
            _place(int(frame.index[position]), origin, rows_of),
            f"timestamp {stamp:%Y-%m-%dT%H:%M:%SZ} lies {abs((stamp - middle).days):,} days from "
            f"the export's middle ({middle:%Y-%m-%d}); samples may span at most "
            f"{MAX_SPAN.days} days either side",
        )


def _no_duplicates(
    frame: pd.DataFrame, ordered: SeriesOrder, origin: str, rows_of: Path | None
) -> None:
    same = ordered.keys[1:] == ordered.keys[:-1]
    if same.any():
        position = int(ordered.rows[1:][same].min())  # the first in the file that repeats
        row = frame.iloc[position]
        raise InputError(
            _place(int(frame.index[position]), origin, rows_of),
            f"{series_name(row)} has a second value at {row['timestamp']:%Y-%m-%dT%H:%M:%SZ}; "
            "each series may have one sample per timestamp",
        )


def _plausible_units(frame: pd.DataFrame, origin: str, rows_of: Path | None) -> None:
    """Read as arrays, one metric's values at a time: grouping the frame by metric held a
    copy of every group at once (0.7 GiB for a 1.5 GB export)."""
    codes, metrics = distinct(frame["metric"])
    every = frame["value"].to_numpy(float)
    for code, metric in sorted(enumerate(map(str, metrics)), key=lambda pair: pair[1]):
        rows = np.flatnonzero(codes == code)
        values = every[rows]
        positive = values[values > 0]
        if not len(positive):
            continue
        median = float(np.median(positive))
        if metric.endswith("_cores") and median > MAX_CORES_PER_CONTAINER:
            hint = f"{metric.removesuffix('_cores')}_millicores"
            bad = values > MAX_CORES_PER_CONTAINER
            problem = f"looks like millicores (median {median:g} cores per container)"
        elif metric.endswith("_bytes") and median < MIN_BYTES_PER_CONTAINER:
            hint = f"{metric.removesuffix('_bytes')}_mib or _mb"
            bad = (values > 0) & (values < MIN_BYTES_PER_CONTAINER)
            problem = f"looks like MiB or MB, not bytes (median {median:g} bytes per container)"
        else:
            continue
        raise InputError(
            _place(int(frame.index[rows[int(bad.argmax())]]), origin, rows_of),
            f"metric {metric} {problem}; convert it, or name the metric {hint} "
            "and Rightsizer converts it",
        )


def _gaps(frame: pd.DataFrame, ordered: SeriesOrder) -> UsageCheck:
    if _one_step(ordered.keys):
        return UsageCheck()  # every series at one step, none missed: nothing to group
    series, seconds = ordered.series, ordered.seconds
    same = np.r_[False, series[1:] == series[:-1]]
    diffs = pd.Series(np.where(same, np.diff(seconds, prepend=seconds[0]), np.nan))
    step = diffs.groupby(series).transform("median").to_numpy()
    missing = np.where(diffs > 1.5 * step, np.rint(diffs / step) - 1, 0)
    total = int(np.nansum(missing))
    if total == 0:
        return UsageCheck()
    per_series = pd.Series(missing).groupby(series).sum()
    gappy = per_series[per_series > 0]
    first_rows = pd.Series(np.arange(len(series))).groupby(series).first()
    lines = []
    for group, count in gappy.head(LISTED).items():
        row = frame.iloc[int(ordered.rows[int(first_rows[group])])]
        seconds_per_step = int(step[int(first_rows[group])])
        lines.append(
            f"{series_name(row)}: {int(count)} missing samples at its "
            f"{_duration(seconds_per_step)} step"
        )
    more = f" (and {len(gappy) - LISTED} more series)" if len(gappy) > LISTED else ""
    return UsageCheck(
        [f"{len(gappy)} series have gaps{more}: " + "; ".join(lines)], missing_steps=total
    )


def _one_step(keys: np.ndarray) -> bool:
    """Whether consecutive samples of a series are all one step apart. Within a series a
    key's difference from the one before is its seconds' (the series part cancels), under
    `_BETWEEN_SERIES`; so only the differences unlike the first series' step are looked at
    again. Splitting every key into its series and its seconds made three 8-byte copies a
    row, 0.5 s of reading a 5,000-workload export."""
    steps = np.diff(keys)
    within = steps < _BETWEEN_SERIES
    if not within.any():
        return True
    unlike = np.flatnonzero(steps != steps[within.argmax()])
    return not within[unlike].any()


_BETWEEN_SERIES = 2**31
"""The least difference between the keys of two series' samples: the series part adds at
least 2**32 s, and the seconds take away less than 2**31 (68 years), since `_within_span`
keeps every sample within MAX_SPAN of the middle (a test holds the two to it)."""


def _duration(seconds: int) -> str:
    if seconds % 86400 == 0:
        return f"{seconds // 86400} d"
    if seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    return f"{seconds // 60} min" if seconds % 60 == 0 else f"{seconds} s"
