"""Quantities as a reviewer reads them in evidence lines: cores, MiB and GiB."""

from __future__ import annotations

from recommenders.model import GIB
from recommenders.strategies.base import Metric


def amount(metric: Metric, value: float) -> str:
    if metric == "cpu":
        return f"{value:.3g} cores"
    return f"{value / GIB:.2f} GiB" if value >= GIB else f"{value / 2**20:.0f} MiB"
