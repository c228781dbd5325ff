"""Rightsizer's daily allocation table: what each workload's requests cost per day.

    date,environment,namespace,kind,workload,cpu_core_hours,cpu_cost,memory_gib_hours,memory_cost

The shape of an OpenCost allocation reduced to what unit prices need, for teams whose cost
data comes from a warehouse rather than OpenCost; the demo's cost.csv is one.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from recommenders.sources.cost import normalise as n
from recommenders.sources.frames import Cost, controller_kind
from recommenders.sources.validate import numbers, read_table, timestamps

COLUMNS: tuple[str, ...] = (
    "date", "environment", "namespace", "kind", "workload",
    "cpu_core_hours", "cpu_cost", "memory_gib_hours", "memory_cost",
)  # fmt: skip
CURRENCY = "USD"


class DailyFormat:
    name = "daily"
    description = "Rightsizer daily allocation table (cost of requests per workload and day)"

    def detect(self, columns: frozenset[str]) -> bool:
        return {"cpu_core_hours", "cpu_cost", "memory_gib_hours", "memory_cost"} <= columns

    def load(self, path: Path) -> Cost:
        raw = read_table(path, COLUMNS)
        start = timestamps(raw, "date", path, formats=("%Y-%m-%d", "ISO8601"))
        tags = [
            {
                "environment": e,
                "namespace": n,
                "controllerKind": controller_kind(k),
                "controller": w,
            }
            for e, n, k, w in zip(
                raw["environment"], raw["namespace"], raw["kind"], raw["workload"], strict=True
            )
        ]
        resource = raw["environment"] + "/" + raw["namespace"] + "/" + raw["workload"]
        parts = [
            n.allocation_rows(
                start,
                n.daily_end(start),
                tags,
                resource,
                service,
                numbers(raw, cost, path, negative=True),
                CURRENCY,
                numbers(raw, quantity, path),
                unit,
            )
            for service, quantity, cost, unit in (
                ("Kubernetes CPU", "cpu_core_hours", "cpu_cost", n.CPU_HOURS),
                ("Kubernetes memory", "memory_gib_hours", "memory_cost", n.GIB_HOURS),
            )
        ]
        frame = pd.concat(parts, ignore_index=True)
        return Cost(frame, path, self.name, len(raw), [f"no currency column: taken as {CURRENCY}"])
