"""The strategy contract: one resource's usage history in, one sizing out.

A strategy sizes a single series (one container's CPU or memory, or one test series of the
backtest) so that the backtest scores exactly what a pull request would propose; turning
sizings into a workload's fields, limits, replicas and dollars is `workload.py`'s job and the
same for every strategy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

import pandas as pd

from recommenders.forecasters.anomalies import Anomaly
from recommenders.forecasters.cache import ForecastCache
from recommenders.model import METRICS, Metric

__all__ = ["METRICS", "Anomaly", "Metric", "NothingToPrepare", "Prepared", "Sizing", "Strategy"]

Prepared = tuple[pd.Series, Metric, "pd.Series | None"]
"""What `prepare` gets for each series a run will size: (history, metric, the hours no
anomaly may be cut from, as `size` gets them in `served`)."""


@dataclass(frozen=True)
class Sizing:
    """A proposed request for one series, with everything a reviewer needs to trust it."""

    request: float
    limit: float | None
    """An explicit limit (KRR sets memory limit = request); None keeps today's ratio."""
    basis: str
    """How `request` was derived, in one line."""
    evidence: str = ""
    """The observed and forecast figures it was derived from."""
    model: str = ""
    """The forecasting model and its parameters, or the statistic used."""
    confidence: str = "medium"
    """high, medium or low: from the amount of history and the model's backtest error."""
    notes: tuple[str, ...] = ()
    anomalies: tuple[Anomaly, ...] = ()
    guard: float | None = None
    """The level below which the strategy's own risk target is breached (the forecast's
    level for CPU, the observed peak for memory): a performance guard keeps values above it."""


class Strategy(Protocol):
    """Sizes one series. It never raises for odd data (short, flat, gappy): it falls back to
    something explainable and says so in `notes` and `confidence`."""

    name: ClassVar[str]
    description: ClassVar[str]
    settings_type: ClassVar[type]

    def __init__(self, settings: Any = None) -> None:
        """`settings`: an instance of `settings_type`, or None for its defaults."""

    def prepare(
        self,
        histories: Sequence[Prepared],
        horizon: pd.Timedelta,
        cache: ForecastCache,
    ) -> None:
        """Called once with every (history, metric, served) a run will size, before any
        `size`: a strategy with costly per-series work does it here in bulk (the default
        strategy sends its forecasts to be fitted on every core, into `cache`, kept between
        runs, and `size` waits for each only when it needs it); the others do nothing."""
        ...

    def size(
        self,
        history: pd.Series,
        metric: Metric,
        horizon: pd.Timedelta,
        served: pd.Series | None = None,
    ) -> Sizing:
        """`history`: values in base units (cores, bytes) on a DatetimeIndex, any step, oldest
        first, no NaN. The sizing is a single static level for the `horizon` after its end.
        `served`: True for the hours no anomaly may be cut from: an autoscaler scaled out
        (see `served_hours`), so a burst then was demand the pods carried, or the container
        started again (`WorkloadUsage.kept`), so a peak then is its start-up."""
        ...


class NothingToPrepare:
    """For strategies whose statistic costs microseconds a series: `prepare` does nothing."""

    def prepare(
        self,
        histories: Sequence[Prepared],
        horizon: pd.Timedelta,
        cache: ForecastCache,
    ) -> None:
        return None
