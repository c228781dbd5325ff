"""What `sources check` reports per source: the documented JSON contract, and its table.

`total_cost` is the sum of the export's own billed-cost column (FOCUS `BilledCost`, which each
native format maps its own column to), so a user can check it against the bill.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import pandas as pd

from recommenders.sources.frames import Cost, Usage

WORKLOAD_TAGS = ("namespace", "controllerKind", "controller")


@dataclass(frozen=True)
class SourceSummary:
    source: str
    kind: str
    """"utilisation" or "cost"."""
    format: str
    rows: int
    workloads: int
    """Distinct workloads (cost: rows tagged with a controller; a cloud bill has none)."""
    start: str | None
    end: str | None
    gaps: int | None
    """Samples missing inside utilisation series; None for cost."""
    total_cost: float | None
    currency: str | None
    warnings: list[str]

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def summarise_usage(usage: Usage) -> SourceSummary:
    frame = usage.frame
    workloads = frame[["environment", "namespace", "kind", "workload"]].drop_duplicates()
    return SourceSummary(
        source=usage.origin,
        kind="utilisation",
        format=usage.format,
        rows=usage.rows,
        workloads=len(workloads),
        start=_iso(frame["timestamp"].min()),
        end=_iso(frame["timestamp"].max()),
        gaps=usage.missing_steps,
        total_cost=None,
        currency=None,
        warnings=list(usage.warnings),
    )


def summarise_cost(cost: Cost) -> SourceSummary:
    frame = cost.frame
    owners = {
        tuple(tags.get(key, "") for key in WORKLOAD_TAGS)
        for tags in frame["Tags"]
        if tags.get("controller")
    }
    currencies = sorted(set(frame["BillingCurrency"]) - {""})
    return SourceSummary(
        source=str(cost.path),
        kind="cost",
        format=cost.format,
        rows=cost.rows,
        workloads=len(owners),
        start=_iso(frame["ChargePeriodStart"].min()),
        end=_iso(frame["ChargePeriodEnd"].max()),
        gaps=None,
        total_cost=round(float(frame["BilledCost"].sum()), 6),
        currency=", ".join(currencies) or None,
        warnings=list(cost.warnings),
    )


def _iso(value: Any) -> str | None:
    if value is None or pd.isna(value):
        return None
    return pd.Timestamp(value).strftime("%Y-%m-%dT%H:%M:%SZ")
