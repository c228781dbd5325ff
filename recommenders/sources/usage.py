"""Usage from every source, joined into one table and looked up per workload.

Sources differ in step (5-minute Prometheus samples, hourly CSV, daily OpenCost rows); the
strategies want hourly series, so lookup resamples here: finer data is averaged into hours,
coarser data is held for its whole step (a daily mean says nothing about the hour within it).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import pandas as pd

from recommenders.model import Metric, WorkloadKey
from recommenders.sources.frames import USAGE_COLUMNS, Usage

KEY_COLUMNS = ["environment", "namespace", "kind", "workload"]
HOUR = pd.Timedelta(hours=1)


@dataclass(frozen=True)
class WorkloadUsage:
    """Hourly history of one workload: per-container CPU and memory, and its replica count."""

    cpu: dict[str, pd.Series]
    memory: dict[str, pd.Series]
    replicas: pd.Series | None

    def series(self) -> list[tuple[Metric, pd.Series]]:
        """Every CPU and memory series, with the metric a strategy sizes it as."""
        return [
            *(("cpu", series) for series in self.cpu.values()),
            *(("memory", series) for series in self.memory.values()),
        ]

    @property
    def hours(self) -> int:
        lengths = [len(s) for s in (*self.cpu.values(), *self.memory.values())]
        return max(lengths, default=0)


class UsageTable:
    """All usage read, by workload. A source that names no environment ("") matches a
    workload in any environment, as long as only one environment has that workload."""

    def __init__(self, sources: Iterable[Usage]) -> None:
        frames = [source.frame for source in sources]
        frame = pd.concat(frames, ignore_index=True) if frames else _empty()
        self._groups = {
            WorkloadKey(*key): group for key, group in frame.groupby(KEY_COLUMNS, sort=True)
        }

    def workloads(self) -> list[WorkloadKey]:
        return list(self._groups)

    def for_workload(self, key: WorkloadKey) -> WorkloadUsage | None:
        group = self._groups.get(key)
        if group is None:
            group = self._groups.get(WorkloadKey("", key.namespace, key.kind, key.name))
        if group is None:
            return None
        series: dict[str, dict[str, pd.Series]] = {"cpu_cores": {}, "memory_bytes": {}}
        replicas = None
        for (metric, container), rows in group.groupby(["metric", "container"], sort=True):
            # Named so that a forecast of it is warm-started from the last run's.
            hourly = hourly_series(rows.set_index("timestamp")["value"]).rename(
                f"{key}/{container}/{metric}"
            )
            if metric == "replicas":
                replicas = hourly
            elif metric in series:
                series[metric][container] = hourly
        return WorkloadUsage(series["cpu_cores"], series["memory_bytes"], replicas)

    def unmatched(self, known: Iterable[WorkloadKey]) -> list[WorkloadKey]:
        """Usage keys that no workload in the repo claims, so the report can list them."""
        known = set(known)
        anywhere = {WorkloadKey("", k.namespace, k.kind, k.name) for k in known}
        return [key for key in self._groups if key not in known and key not in anywhere]


def hourly_series(values: pd.Series) -> pd.Series:
    values = values.sort_index()
    step = median_step(values.index)
    if step is not None and step > HOUR:
        per_step = int(step / HOUR)
        return values.resample("1h").mean().ffill(limit=per_step - 1)
    return values.resample("1h").mean().interpolate(limit=3)


def median_step(index: pd.Index) -> pd.Timedelta | None:
    """The step a series was sampled at: the median gap between its timestamps."""
    if len(index) < 2:
        return None
    gaps = pd.Series(index).sort_values().diff().dropna()
    gaps = gaps[gaps > pd.Timedelta(0)]
    return gaps.median() if len(gaps) else None


def _empty() -> pd.DataFrame:
    return pd.DataFrame({column: [] for column in USAGE_COLUMNS})
