"""A daily cost export per workload (OpenCost allocation columns), reduced to unit prices.

    date,environment,namespace,kind,workload,cpu_core_hours,cpu_cost,memory_gib_hours,memory_cost

Prices are per environment because environments run on different clouds and instance types.
"""

from __future__ import annotations

from pathlib import Path

from recommenders.model import UnitPrices
from recommenders.sources.validate import numbers, read_table, timestamps

COLUMNS: tuple[str, ...] = (
    "date", "environment", "namespace", "kind", "workload",
    "cpu_core_hours", "cpu_cost", "memory_gib_hours", "memory_cost",
)  # fmt: skip


def load_unit_prices(path: Path) -> dict[str, UnitPrices]:
    """Cost per core-hour and per GiB-hour in each environment, over the whole export."""
    frame = read_table(path, COLUMNS)
    dates = timestamps(frame, "date", path)
    for column in COLUMNS[5:]:
        frame[column] = numbers(frame, column, path)
    prices = {}
    for environment, rows in frame.groupby("environment", sort=True):
        core_hours, gib_hours = rows["cpu_core_hours"].sum(), rows["memory_gib_hours"].sum()
        if core_hours <= 0 or gib_hours <= 0:
            continue
        days = dates[rows.index]
        prices[str(environment)] = UnitPrices(
            cpu_core_hour=float(rows["cpu_cost"].sum() / core_hours),
            memory_gib_hour=float(rows["memory_cost"].sum() / gib_hours),
            source=f"{path.name}, {days.min():%Y-%m-%d} to {days.max():%Y-%m-%d}",
        )
    return prices
