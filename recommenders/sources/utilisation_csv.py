"""The documented long utilisation format: one row per timestamp, container and metric.

    timestamp,environment,namespace,kind,workload,container,metric,value

`cpu_cores` and `memory_bytes` are per pod (the mean over the step, as cAdvisor reports them);
`replicas` is per workload and leaves `container` empty. See fixtures/exports/README.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from recommenders.errors import InputError
from recommenders.model import WorkloadKey
from recommenders.sources.validate import numbers, read_table, timestamps

COLUMNS: tuple[str, ...] = (
    "timestamp", "environment", "namespace", "kind", "workload", "container", "metric", "value",
)  # fmt: skip
METRICS = ("cpu_cores", "memory_bytes", "replicas")


@dataclass(frozen=True)
class WorkloadUsage:
    """Hourly history of one workload: per-container CPU and memory, and its replica count."""

    cpu: dict[str, pd.Series]
    memory: dict[str, pd.Series]
    replicas: pd.Series | None

    @property
    def hours(self) -> int:
        lengths = [len(s) for s in (*self.cpu.values(), *self.memory.values())]
        return max(lengths, default=0)


class UsageTable:
    """All usage in an export, looked up by workload; what matches no workload can be listed."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self._groups = {
            WorkloadKey(*key): group
            for key, group in frame.groupby(
                ["environment", "namespace", "kind", "workload"], sort=True
            )
        }

    def workloads(self) -> list[WorkloadKey]:
        return list(self._groups)

    def for_workload(self, key: WorkloadKey) -> WorkloadUsage | None:
        group = self._groups.get(key)
        if group is None:
            return None
        series: dict[str, dict[str, pd.Series]] = {metric: {} for metric in METRICS}
        for (metric, container), rows in group.groupby(["metric", "container"], sort=True):
            values = rows.set_index("timestamp")["value"].sort_index()
            series[metric][container] = values.resample("1h").mean().interpolate(limit=3)
        replicas = next(iter(series["replicas"].values()), None)
        return WorkloadUsage(series["cpu_cores"], series["memory_bytes"], replicas)


def load_utilisation(path: Path) -> UsageTable:
    frame = read_table(path, COLUMNS)
    unknown = ~frame["metric"].isin(METRICS)
    if unknown.any():
        row = int(unknown.to_numpy().argmax())
        raise InputError(
            f"{path}:{row + 2}",
            f"column metric: {frame['metric'].iloc[row]!r} is not one of {', '.join(METRICS)}",
        )
    frame["timestamp"] = timestamps(frame, "timestamp", path)
    frame["value"] = numbers(frame, "value", path)
    return UsageTable(frame)
