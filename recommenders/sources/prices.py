"""Unit prices (per core-hour, per GiB-hour) per environment, from whatever cost data came in.

Only rows that say what they bought can price a core or a GiB: allocation exports (OpenCost,
Kubecost, the daily table) and cloud lines billed in vCPU-hours and GiB-hours (Fargate, GKE
Autopilot, per-core VM SKUs). A bill of whole instances cannot be split into CPU and memory
without guessing, so those environments fall back to the price table, and the PR says so.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from recommenders.model import UnitPrices
from recommenders.sources.frames import Cost

ENVIRONMENT_TAGS = ("environment", "env", "cluster")
"""Tags that name the environment a cost row belongs to, in order of preference."""
CPU_UNIT, MEMORY_UNIT = "vCPU-Hours", "GiB-Hours"


def environment_of(tags: dict[str, str]) -> str:
    return next((tags[key] for key in ENVIRONMENT_TAGS if tags.get(key)), "")


def unit_prices(costs: Iterable[Cost]) -> tuple[dict[str, UnitPrices], list[str]]:
    """Prices by environment ("" for cost data that names none), and why any were not set."""
    prices: dict[str, UnitPrices] = {}
    notes: list[str] = []
    for cost in costs:
        frame = cost.frame
        priced = frame[frame["ConsumedUnit"].isin([CPU_UNIT, MEMORY_UNIT])]
        if priced.empty:
            notes.append(
                f"{cost.path.name}: no lines billed per vCPU-hour or GiB-hour, so it sets no "
                "unit price (the price table is used)"
            )
            continue
        environments = priced["Tags"].map(environment_of)
        for environment, rows in priced.groupby(environments, sort=True):
            found = _prices(cost, rows)
            if isinstance(found, str):
                notes.append(f"{cost.path.name}, environment {environment or '(none)'}: {found}")
            else:
                prices[str(environment)] = found
    return prices, notes


def _prices(cost: Cost, rows: pd.DataFrame) -> UnitPrices | str:
    totals = rows.groupby("ConsumedUnit")[["EffectiveCost", "ConsumedQuantity"]].sum()
    quantity = totals["ConsumedQuantity"]
    missing = [unit for unit in (CPU_UNIT, MEMORY_UNIT) if quantity.get(unit, 0.0) <= 0]
    if missing:
        return f"no {' or '.join(missing)} to price (the price table is used)"
    per_unit = totals["EffectiveCost"] / quantity
    first, last = rows["ChargePeriodStart"].min(), rows["ChargePeriodStart"].max()
    return UnitPrices(
        cpu_core_hour=float(per_unit[CPU_UNIT]),
        memory_gib_hour=float(per_unit[MEMORY_UNIT]),
        source=f"{cost.path.name} ({cost.format}), {first:%Y-%m-%d} to {last:%Y-%m-%d}, "
        f"{quantity[CPU_UNIT]:,.0f} core-hours",
    )
