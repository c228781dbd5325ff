"""Google Cloud billing export (standard or detailed usage cost), flattened to CSV.

BigQuery cannot write its nested columns to CSV, so such a file comes from a query that names
the leaves (`service.description`, `usage.amount`) and serialises the repeated ones (`labels`,
`credits`) as JSON; that is the layout read here, with BigQuery's own timestamp text
(`2024-03-05 00:00:00 UTC`) or ISO 8601.

Credits (sustained and committed use discounts, free tier, promotions) come as a list beside
`cost`, which is before them. BilledCost and EffectiveCost are `cost` plus the credits, as in
Google's own FOCUS BigQuery view (which sums `credits.amount` into both); `x_Credits` keeps
the credits' sum and `x_Cost` the cost before them, so either view can be rebuilt.

ConsumedQuantity is `usage.amount` in `usage.unit`, as in that view; Compute Engine core and
RAM SKUs and GKE Autopilot's CPU and memory SKUs become vCPU-Hours and GiB-Hours.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from recommenders.errors import InputError
from recommenders.sources.cost import normalise as n
from recommenders.sources.frames import Cost
from recommenders.sources.validate import NULLS, numbers, read_table, timestamps, where

REQUIRED = (
    "usage_start_time", "usage_end_time", "cost", "currency", "service.description",
    "sku.description",
)  # fmt: skip
TIMESTAMP_FORMATS = ("ISO8601", "%Y-%m-%d %H:%M:%S UTC")
LICENCE = re.compile(r"Licen[cs]", re.IGNORECASE)
CPU_SKU = re.compile(r"\b(?:Core|vCPU|mCPU|CPU)\b", re.IGNORECASE)
MEMORY_SKU = re.compile(r"\b(?:Ram|Memory)\b", re.IGNORECASE)
MILLI_CPU = re.compile(r"\bmCPU\b")
"""Autopilot's "Pod mCPU Requests" SKUs count milli-CPUs."""


class GcpBillingExport:
    name = "gcp"
    description = "Google Cloud billing export to BigQuery, flattened to CSV"

    def detect(self, columns: frozenset[str]) -> bool:
        return {"usage_start_time", "cost", "sku.description"} <= columns

    def load(self, path: Path) -> Cost:
        raw = read_table(path, REQUIRED)
        gross = numbers(raw, "cost", path, negative=True)
        credits = _credits(raw, path)
        sku = n.text(raw, "sku.description")
        quantity, unit = _consumed(raw, path, sku)
        charges = n.Charges(
            start=timestamps(raw, "usage_start_time", path, formats=TIMESTAMP_FORMATS),
            end=timestamps(raw, "usage_end_time", path, formats=TIMESTAMP_FORMATS),
            billed=gross + credits,
            effective=gross + credits,
            currency=n.text(raw, "currency"),
            service=n.text(raw, "service.description"),
            resource=n.text(raw, n.pick(raw.columns, "resource.global_name")),
            quantity=quantity,
            unit=unit,
            tags=n.tags_from_cells(raw, n.pick(raw.columns, "labels"), path),
            extensions={
                "SkuDescription": sku,
                "ProjectId": n.text(raw, n.pick(raw.columns, "project.id")),
                "CostType": n.text(raw, n.pick(raw.columns, "cost_type")),
                "Cost": gross,
                "Credits": credits,
            },
        )
        return n.cost(path, self.name, charges, currency_column="currency")


def _credits(raw: pd.DataFrame, path: Path) -> pd.Series:
    """Each row's credits summed (they are negative); 0 where there are none."""
    if "credits" not in raw.columns:
        return pd.Series(0.0, index=raw.index)
    sums = []
    for row, cell in enumerate(raw["credits"].astype(str)):
        try:
            sums.append(_credit_sum(cell))
        except ValueError as error:
            problem = f"column credits: {cell!r} is not a list of credits ({error})"
            raise InputError(where(path, row), problem) from error
    return pd.Series(sums, index=raw.index, dtype=float)


def _credit_sum(cell: str) -> float:
    body = cell.strip()
    if body in NULLS:
        return 0.0
    value = n.structured(body)
    items = [value] if isinstance(value, dict) else value
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise ValueError("expected a JSON list of objects with an amount")
    try:
        return float(sum(float(item.get("amount") or 0) for item in items))
    except (TypeError, ValueError) as error:
        raise ValueError("an amount is not a number") from error


def _consumed(raw: pd.DataFrame, path: Path, sku: pd.Series) -> tuple[pd.Series, pd.Series]:
    kind = pd.Series("", index=raw.index, dtype=object)
    compute = ~sku.str.contains(LICENCE)
    kind[compute & sku.str.contains(CPU_SKU)] = n.CPU
    kind[compute & sku.str.contains(MEMORY_SKU)] = n.MEMORY
    quantity, unit = n.consumed(
        n.quantities(raw, n.pick(raw.columns, "usage.amount"), path),
        n.text(raw, n.pick(raw.columns, "usage.unit")),
        kind,
    )
    milli = sku.str.contains(MILLI_CPU) & (unit == n.CPU_HOURS)
    return quantity.where(~milli, quantity / 1000), unit


GCP = GcpBillingExport()
