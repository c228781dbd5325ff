"""Every data source a run was given, read and validated before anything is planned or written.

The CLI and (later) the service name sources the same way, so reading them lives here, once:
files by detected or named format, Prometheus by URL, and the unit prices they imply.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from recommenders.model import UnitPrices
from recommenders.sources.frames import Cost, Usage
from recommenders.sources.prices import unit_prices
from recommenders.sources.registry import load_cost, load_utilisation
from recommenders.sources.usage import UsageTable


@dataclass(frozen=True)
class SourceRequest:
    """What the user pointed at; formats are detected from headers unless named."""

    utilisation: Sequence[Path] = ()
    cost: Sequence[Path] = ()
    utilisation_format: str | None = None
    cost_format: str | None = None


@dataclass
class Inputs:
    usages: list[Usage]
    costs: list[Cost]
    table: UsageTable
    prices: dict[str, UnitPrices]
    """By environment; "" holds prices from cost data that names no environment."""
    price_notes: list[str] = field(default_factory=list)


def read_inputs(request: SourceRequest) -> Inputs:
    usages = [load_utilisation(path, request.utilisation_format) for path in request.utilisation]
    costs = [load_cost(path, request.cost_format) for path in request.cost]
    prices, notes = unit_prices(costs)
    return Inputs(usages, costs, UsageTable(usages), prices, notes)
