"""Rightsizer's daily allocation table: what each workload's requests cost per day.

    date,environment,namespace,kind,workload,cpu_core_hours,cpu_cost,memory_gib_hours,memory_cost

The shape of an OpenCost allocation reduced to what unit prices need, for teams whose cost
data comes from a warehouse rather than OpenCost; the demo's cost.csv is one.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

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
        parts = []
        for service, quantity, cost, unit in (
            ("Kubernetes CPU", "cpu_core_hours", "cpu_cost", "vCPU-Hours"),
            ("Kubernetes memory", "memory_gib_hours", "memory_cost", "GiB-Hours"),
        ):
            billed = numbers(raw, cost, path, negative=True)
            parts.append(
                pd.DataFrame(
                    {
                        "ChargePeriodStart": start,
                        "ChargePeriodEnd": start + pd.Timedelta(days=1),
                        "BilledCost": billed,
                        "EffectiveCost": billed,
                        "BillingCurrency": CURRENCY,
                        "ServiceName": service,
                        "ResourceId": resource,
                        "ConsumedQuantity": numbers(raw, quantity, path),
                        "ConsumedUnit": unit,
                        "Tags": tags,
                    }
                )
            )
        frame = pd.concat(parts, ignore_index=True)
        frame["ConsumedQuantity"] = frame["ConsumedQuantity"].astype(np.float64)
        return Cost(frame, path, self.name, len(raw), [f"no currency column: taken as {CURRENCY}"])
