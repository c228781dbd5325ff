"""Rightsizer's own utilisation tables, CSV or Parquet, in a long and a wide variant.

Long: `timestamp,environment,namespace,kind,workload,container,metric,value`, one value a row.
Wide: the same key columns and one column per metric. `cluster` may stand for `environment`,
and a metric may carry its unit (`cpu_millicores`, `memory_mib`, `memory_mb`): it is converted,
so nobody has to pre-process an export to match our units. See fixtures/exports/README.md.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from recommenders.sources.checks import check_usage
from recommenders.sources.frames import METRICS, UNIT_ALIASES, USAGE_COLUMNS, Usage, controller_kind
from recommenders.sources.validate import (
    distinct,
    numbers,
    read_table,
    recode,
    report,
    timestamps,
)

KEYS = ("timestamp", "namespace", "kind", "workload", "container")
KNOWN_METRICS = frozenset(METRICS) | frozenset(UNIT_ALIASES)
NAMES = (*KEYS, "metric", "environment", "cluster")
"""Columns that repeat on every row, read as categories."""
NAMED = ("namespace", "kind", "workload")
"""Columns no row may leave blank: usage without them is no workload's, and would have
been listed as unmatched under an empty name instead of pointing at its line."""


class LongFormat:
    name = "long"
    description = "Rightsizer long table: one row per timestamp, container and metric"

    def detect(self, columns: frozenset[str]) -> bool:
        return {"timestamp", "value"} <= columns  # loading names any other missing column

    def load(self, path: Path) -> Usage:
        frame = read_table(
            path, (*KEYS, "metric", "value"), categorical=NAMES, typed=("timestamp", "value")
        )
        _named(frame, path)
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
        frame = read_table(path, KEYS, categorical=NAMES, typed={"timestamp", *KNOWN_METRICS})
        _named(frame, path)
        metrics = [column for column in frame.columns if column in KNOWN_METRICS]
        for metric in metrics:
            frame[metric] = numbers(frame, metric, path, empty=True)
        keys = [column for column in frame.columns if column in {*KEYS, "environment", "cluster"}]
        rows = len(frame)
        long = frame.reset_index().melt(
            id_vars=["index", *keys], value_vars=metrics, var_name="metric"
        )
        long = long.dropna(subset=["value"]).set_index("index", drop=True)
        per_workload = (long["metric"] == "replicas").to_numpy()
        container = long["container"].astype("category")
        if "" not in container.cat.categories:
            container = container.cat.add_categories([""])
        container[per_workload] = ""
        long["container"] = container
        long = long[~(per_workload & long.duplicated([*keys, "metric", "value"]))]
        usage = _finish(long, path, self.name, rows=rows)
        ignored = sorted(set(frame.columns) - set(keys) - set(metrics))
        if ignored:
            usage.warnings.append(f"columns not read (not a known metric): {', '.join(ignored)}")
        return usage


def _named(frame: pd.DataFrame, path: Path) -> None:
    """Every row names its workload (`NAMED`), checked on the file's own rows: each column's
    distinct texts, then the rows that hold a blank one."""
    for column in NAMED:
        codes, texts = distinct(frame[column])
        blanks = [code for code, text in enumerate(texts) if not str(text).strip()]
        if not blanks:
            continue
        blank = pd.Series(np.isin(codes, blanks), index=frame.index)
        count = int(blank.sum())
        report(
            frame, column, blank, path,
            f"is blank on {count:,} row{'s' if count > 1 else ''} (this is the first); "
            "every row must give namespace, kind and workload",
        )  # fmt: skip


def _finish(frame: pd.DataFrame, path: Path, format_name: str, rows: int) -> Usage:
    """Shared tail: units to base units, kinds spelt as Kubernetes does, checks."""
    if "environment" not in frame.columns:
        frame["environment"] = frame["cluster"] if "cluster" in frame.columns else ""
    frame["timestamp"] = timestamps(frame, "timestamp", path)
    frame["kind"] = recode(frame["kind"], controller_kind)
    factors = {alias: factor for alias, (_, factor) in UNIT_ALIASES.items()}
    codes, names = distinct(frame["metric"])
    scale = np.array([factors.get(str(name), 1.0) for name in names])
    if (scale != 1.0).any():
        frame["value"] = frame["value"].to_numpy() * scale[codes]
    frame["metric"] = recode(frame["metric"], lambda name: UNIT_ALIASES.get(name, (name,))[0])
    for column in ("environment", "namespace", "workload", "container"):
        frame[column] = recode(frame[column], str)  # categories in order, as text sorts
    tidy = frame[list(USAGE_COLUMNS)]
    checked = check_usage(tidy, str(path), rows_of=path)
    return Usage(
        tidy, str(path), format_name, rows, checked.warnings, checked.missing_steps, checked.order
    )
