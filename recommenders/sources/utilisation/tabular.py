"""Rightsizer's own utilisation tables, CSV or Parquet, in a long and a wide variant.

Long: `timestamp,environment,namespace,kind,workload,container,metric,value`, one value a row.
Wide: the same key columns and one column per metric. `cluster` may stand for `environment`,
and a metric may carry its unit (`cpu_millicores`, `memory_mib`, `memory_mb`): it is converted,
so nobody has to pre-process an export to match our units. See fixtures/exports/README.md.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from recommenders.sources.checks import check_usage
from recommenders.sources.frames import METRICS, UNIT_ALIASES, USAGE_COLUMNS, Usage, controller_kind
from recommenders.sources.validate import numbers, read_table, report, timestamps

KEYS = ("timestamp", "namespace", "kind", "workload", "container")
KNOWN_METRICS = frozenset(METRICS) | frozenset(UNIT_ALIASES)


class LongFormat:
    name = "long"
    description = "Rightsizer long table: one row per timestamp, container and metric"

    def detect(self, columns: frozenset[str]) -> bool:
        return {"timestamp", "value"} <= columns  # loading names any other missing column

    def load(self, path: Path) -> Usage:
        frame = read_table(path, (*KEYS, "metric", "value"))
        unknown = ~frame["metric"].isin(KNOWN_METRICS)
        if unknown.any():
            report(frame, "metric", unknown, path, f"is not one of {', '.join(METRICS)}")
        frame["value"] = numbers(frame, "value", path)
        return _finish(frame, path, self.name, rows=len(frame))


class WideFormat:
    name = "wide"
    description = "Rightsizer wide table: one row per timestamp and container, a column a metric"

    def detect(self, columns: frozenset[str]) -> bool:
        return "timestamp" in columns and "value" not in columns and bool(columns & KNOWN_METRICS)

    def load(self, path: Path) -> Usage:
        frame = read_table(path, KEYS)
        metrics = [column for column in frame.columns if column in KNOWN_METRICS]
        for metric in metrics:
            frame[metric] = numbers(frame, metric, path, empty=True)
        keys = [column for column in frame.columns if column in {*KEYS, "environment", "cluster"}]
        rows = len(frame)
        long = frame.reset_index().melt(
            id_vars=["index", *keys], value_vars=metrics, var_name="metric"
        )
        long = long.dropna(subset=["value"]).set_index("index", drop=True)
        per_workload = long["metric"] == "replicas"
        long.loc[per_workload, "container"] = ""
        long = long[~(per_workload & long.duplicated([*keys, "metric", "value"]))]
        usage = _finish(long, path, self.name, rows=rows)
        ignored = sorted(set(frame.columns) - set(keys) - set(metrics))
        if ignored:
            usage.warnings.append(f"columns not read (not a known metric): {', '.join(ignored)}")
        return usage


def _finish(frame: pd.DataFrame, path: Path, format_name: str, rows: int) -> Usage:
    """Shared tail: units to base units, kinds spelt as Kubernetes does, checks."""
    if "environment" not in frame.columns:
        frame["environment"] = frame["cluster"] if "cluster" in frame.columns else ""
    frame["timestamp"] = timestamps(frame, "timestamp", path)
    respelt = {kind: controller_kind(kind) for kind in frame["kind"].unique()}
    frame["kind"] = frame["kind"].replace({k: v for k, v in respelt.items() if k != v})
    for alias, (metric, factor) in UNIT_ALIASES.items():
        converted = frame["metric"] == alias
        if converted.any():
            frame.loc[converted, "value"] *= factor
            frame.loc[converted, "metric"] = metric
    tidy = frame[list(USAGE_COLUMNS)]
    checked = check_usage(tidy, str(path), rows_of=path)
    return Usage(tidy, str(path), format_name, rows, checked.warnings, checked.missing_steps)
