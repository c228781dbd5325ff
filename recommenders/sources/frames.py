"""What every source hands on: one tidy frame shape for usage, FOCUS columns for cost.

Each format is a small module that knows one export; everything after it (validation, the
join to manifests, unit prices, `sources check`) reads only these two shapes, so a new
format is one module and one registry entry.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

USAGE_COLUMNS: tuple[str, ...] = (
    "timestamp", "environment", "namespace", "kind", "workload", "container", "metric", "value",
)  # fmt: skip
"""`timestamp` is UTC; `value` is a float in the metric's base unit. `environment` is "" when
the source does not say (a single-cluster export): the join then matches on the rest."""

SIGNALS: tuple[str, ...] = ("oom_kills", "restarts", "cpu_throttled_ratio")
"""Optional failure signals per container: `oom_kills` and `restarts` count events in the
step over all pods, `cpu_throttled_ratio` is the share of CFS periods throttled (0 to 1)."""

RUNNING: tuple[str, ...] = (
    "cpu_request_cores",
    "memory_request_bytes",
    "cpu_limit_cores",
    "memory_limit_bytes",
)
"""What the cluster ran each container with, per step: the manifests' values once deployed."""

METRICS: tuple[str, ...] = ("cpu_cores", "memory_bytes", "replicas", *RUNNING, *SIGNALS)
"""Per-pod means of each container over the step (the SIGNALS as they say); `replicas` is
per workload, container ""."""

COST_COLUMNS: tuple[str, ...] = (
    "ChargePeriodStart",
    "ChargePeriodEnd",
    "BilledCost",
    "EffectiveCost",
    "BillingCurrency",
    "ServiceName",
    "ResourceId",
    "ConsumedQuantity",
    "ConsumedUnit",
    "Tags",
)
"""The FOCUS 1.x columns Rightsizer reads. Periods are UTC timestamps, costs and quantities
floats (quantity NaN when the export has none), `Tags` a dict of str per row. Native cloud
exports are renamed into these on the way in; `x_` columns of the source are kept as they are.

Kubernetes allocation exports become one row per resource: `ConsumedUnit` is "vCPU-Hours"
for CPU and "GiB-Hours" for memory, and the tags `cluster`, `namespace`, `controllerKind`,
`controller`, `pod` and `container` say whose it was."""


SERIES = ["environment", "namespace", "kind", "workload", "container", "metric"]
"""The columns that name a usage series."""


@dataclass
class Usage:
    """A utilisation source after loading: the tidy frame and what was odd but not fatal."""

    frame: pd.DataFrame
    """USAGE_COLUMNS."""
    origin: str
    """The file or URL it came from, for messages."""
    format: str
    rows: int
    """Rows (or samples) the source held, before reshaping."""
    warnings: list[str] = field(default_factory=list)
    missing_steps: int = 0
    """Samples missing inside series (gaps), each series counted at its own step."""
    order: SeriesRows | None = None
    """The frame's rows by series, then time, as the checks found them: the usage table
    groups the rows of a single source by it instead of ordering them again."""


@dataclass
class Cost:
    """A cost source after loading: FOCUS-shaped rows and what was odd but not fatal."""

    frame: pd.DataFrame
    """COST_COLUMNS plus any `x_` columns."""
    path: Path
    format: str
    rows: int
    warnings: list[str] = field(default_factory=list)


def _unit_aliases() -> dict[str, tuple[str, float]]:
    aliases: dict[str, tuple[str, float]] = {}
    for metric in METRICS:
        stem, _, unit = metric.rpartition("_")
        if unit == "cores":
            aliases[f"{stem}_millicores"] = (metric, 1e-3)
        elif unit == "bytes":
            for name, factor in (("kib", 2.0**10), ("mib", 2.0**20), ("gib", 2.0**30)):
                aliases[f"{stem}_{name}"] = (metric, factor)
            for name, factor in (("kb", 1e3), ("mb", 1e6), ("gb", 1e9)):
                aliases[f"{stem}_{name}"] = (metric, factor)
    return aliases


UNIT_ALIASES: dict[str, tuple[str, float]] = _unit_aliases()
"""Metric names with a unit suffix (`cpu_millicores`, `memory_mib`, `memory_mb`, ...) and how to
reach the base unit. MB and MiB differ by 5 %: exports say which, and we believe them."""

_KINDS = {
    kind.lower(): kind
    for kind in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob")
}
_KINDS["rollout"] = "Rollout"


def controller_kind(text: str) -> str:
    """Kubernetes' spelling of a controller kind; OpenCost and Prometheus write it lower-case."""
    return _KINDS.get(text.lower(), text)


@dataclass(frozen=True)
class SeriesRows:
    """A frame's rows in order of series (`SERIES`), then time."""

    positions: np.ndarray
    """The frame position of each row, in that order."""
    series: np.ndarray
    """Each of them's series number, ascending; -1 (first) where a name is missing."""


@dataclass(frozen=True)
class SeriesOrder:
    """The frame's rows in order of series, then time, as one integer key per row: what the
    duplicate and gap checks read, and the usage table groups a source's rows by. Sorting
    the frame itself copied every column. Its timestamps must lie within 2**32 s of each
    other: `check_usage` refuses a wider span before it orders."""

    keys: np.ndarray
    """Sorted: a row's series number in the high 32 bits, its second in the span in the low."""
    rows: np.ndarray
    """The frame position of each sorted key."""

    @classmethod
    def of(cls, frame: pd.DataFrame) -> SeriesOrder:
        series = series_numbers(frame, SERIES)
        stamps = frame["timestamp"].dt.tz_convert(None).to_numpy()
        seconds = stamps.astype("datetime64[s]").astype(np.int64)
        keys = (series.astype(np.int64) << 32) | (seconds - seconds.min())  # span < 2**32 s
        del seconds
        rows = stable_order(keys, series)  # equal keys keep the file's order
        return cls(keys[rows], rows)

    @property
    def series(self) -> np.ndarray:
        return self.keys >> 32

    @property
    def seconds(self) -> np.ndarray:
        return self.keys & 0xFFFFFFFF


def stable_order(keys: np.ndarray, series: np.ndarray) -> np.ndarray:
    """`np.argsort(keys, kind="stable")`, put together from runs of rows of one series
    (`series`, each row's) with ascending keys, where no two runs overlap. An export that
    writes each series' rows together in time order, the series in any order, is such runs
    (the 5,000-workload export's 16.5 million rows are 22,929), and ordering the runs by
    their first keys replaces sorting the rows. Runs that overlap (a file in time order),
    or that share a key, are sorted row by row, as before."""
    rows = _by_runs(keys, series)
    return np.argsort(keys, kind="stable") if rows is None else rows


def _by_runs(keys: np.ndarray, series: np.ndarray) -> np.ndarray | None:
    """`stable_order` run by run; None where the runs overlap, share a key, or are mostly
    one row each (nothing to gain)."""
    starts = np.flatnonzero((series[1:] != series[:-1]) | (keys[1:] < keys[:-1])) + 1
    if len(keys) < 2 or len(starts) > len(keys) // 2:
        return None
    starts = np.concatenate([[0], starts])
    ends = np.append(starts[1:], len(keys))
    order = np.argsort(keys[starts], kind="stable")
    starts, ends = starts[order], ends[order]
    if (keys[starts[1:]] <= keys[ends[:-1] - 1]).any():
        return None
    lengths = ends - starts
    rows = np.repeat(starts - (np.cumsum(lengths) - lengths), lengths)
    rows += np.arange(len(keys))
    return rows


def run_starts(values: np.ndarray) -> np.ndarray:
    """Where each run of equal values starts. Comparing neighbours makes a byte a row:
    `np.flatnonzero(np.diff(values, prepend=-1))` made two 8-byte copies a row, 0.8 s of
    fresh memory for the 16.5 million series numbers of a 5,000-workload export."""
    changed = np.empty(len(values), dtype=bool)
    changed[:1] = True
    np.not_equal(values[1:], values[:-1], out=changed[1:])
    return np.flatnonzero(changed)


def series_numbers(frame: pd.DataFrame, columns: Sequence[str]) -> np.ndarray:
    """Each row's series (its values of `columns`) as a number, in sorted order of those
    values (category order for categories), -1 where one is missing: what
    `frame.groupby(columns, sort=True, observed=True).ngroup()` gives. An export writes a
    series' rows together, as a rule: only the first row of each run of equal names is
    numbered, and the run repeats its number. A 5,000-workload export's 16.5 million rows
    are 22,929 runs; numbering every row took 0.9-1.1 s of its reading, finding the runs
    0.1 s. Where most rows are runs of their own (a file in time order), every row is
    numbered, as before, after the look for runs."""
    starts = np.zeros(len(frame), dtype=bool)
    starts[:1] = True
    for column in columns:
        codes, _ = _codes(frame[column])
        starts[1:] |= codes[1:] != codes[:-1]
        del codes
    heads = np.flatnonzero(starts)
    del starts
    if len(heads) > len(frame) // 2:
        return _numbered([frame[column] for column in columns], len(frame))
    numbered = _numbered([frame[column].take(heads) for column in columns], len(heads))
    return np.repeat(numbered, np.diff(heads, append=len(frame)))


def _numbered(columns: Sequence[pd.Series], rows: int) -> np.ndarray:
    """`series_numbers` of every one of `rows` rows. The grouping held a full-length
    integer array per column at once, a gigabyte for a 1.5 GB export; here each column's
    codes join a running key, renumbered densely whenever the next column's codes could
    overflow it, so the key never exceeds rows × one column's cardinality."""
    numbers = np.zeros(rows, dtype=np.int64)
    missing = np.zeros(rows, dtype=bool)
    span = 1  # numbers < span
    for values in columns:
        codes, count = _codes(values)
        missing |= codes < 0
        if span > np.iinfo(np.int64).max // max(count, 1):
            numbers, uniques = pd.factorize(numbers, sort=True)
            span = len(uniques)
        numbers = numbers * count + np.maximum(codes, 0)
        span *= max(count, 1)
        del codes
    numbers[missing] = -1
    found, _ = pd.factorize(numbers, sort=True, use_na_sentinel=True)
    if missing.any():
        found -= 1  # -1 sorted first: shift the others down to start at 0
        found[missing] = -1
    return found.astype(np.int64, copy=False)


def _codes(values: pd.Series) -> tuple[np.ndarray, int]:
    """Positions among the sorted distinct values (the category order), -1 where missing."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        return values.cat.codes.to_numpy(), len(values.cat.categories)  # int8-int32 as kept
    codes, uniques = pd.factorize(values, sort=True)
    return codes.astype(np.int64, copy=False), len(uniques)
