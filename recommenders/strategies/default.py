"""Rightsizer's own strategy: size to a stated risk, using the forecast that backtests best.

CPU is compressible, so its request is the level that usage is forecast to exceed in only
`cpu_risk` of the horizon's samples: the quantile of forecast path plus the model's
out-of-sample errors (plus the spread within each hour, when samples are finer than hours).
Memory is not compressible (exceeding a limit is an OOM kill), so its request never goes
below the observed peak, and covers the forecast's 99.9th percentile, plus a margin.
Anomalies are left out of both, and listed. Confidence comes from the backtest error.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pandas as pd

from recommenders.forecasters import (
    Anomaly,
    Forecast,
    ForecastCache,
    Job,
    Screen,
    Within,
    find_anomalies,
    forecast_all,
    quiet,
    send_all,
)
from recommenders.quantiles import quantile
from recommenders.sources.usage import hourly_series, present
from recommenders.strategies.base import Metric, Prepared, Sizing
from recommenders.strategies.settings import check_bounds, setting
from recommenders.strategies.units import amount

HOUR = pd.Timedelta(hours=1)
SCREENED = 512
"""Series prepared at once: the first fits wait for a batch (about 40 ms), not for all."""


@dataclass(frozen=True)
class DefaultSettings:
    cpu_risk: float = setting(
        0.05,
        0.001,
        0.5,
        "share of the horizon's samples in which CPU usage may exceed the request",
        "halve",
    )
    memory_quantile: float = setting(
        0.999,
        0.9,
        1.0,
        "forecast quantile the memory request covers, if above the peak",
        "halve-tail",
    )
    memory_margin: float = setting(
        0.15,
        0.0,
        1.0,
        "head-room above the memory peak: caches and the next release grow",
        "double",
    )
    exclude_anomalies: float = setting(
        1, 0, 1, "1 keeps one-off spikes and incidents out of sizing (and lists them), 0 keeps them"
    )

    def __post_init__(self) -> None:
        check_bounds(self, "strategy.default")


@dataclass(frozen=True)
class _Prepared:
    history: pd.Series
    hourly: pd.Series
    anomalies: tuple[Anomaly, ...]
    job: Job


class DefaultStrategy:
    name: ClassVar[str] = "default"
    description: ClassVar[str] = (
        "forecast-based: CPU at a stated risk of exceeding the request, memory never below peak"
    )
    settings_type: ClassVar[type] = DefaultSettings

    def __init__(self, settings: DefaultSettings | None = None) -> None:
        self.settings = settings or DefaultSettings()
        self.cache = ForecastCache()
        self._ready: dict[int, tuple[pd.Series, pd.Timedelta, pd.Series | None, _Prepared]] = {}
        """What `prepare` made of each series, by the series object, for its `size` to take
        instead of finding the anomalies again (half the time of a 5,000-workload plan)."""

    def _prepared(
        self, history: pd.Series, horizon: pd.Timedelta, served: pd.Series | None
    ) -> _Prepared:
        """What `prepare` made of the series, else made now."""
        ready = self._ready.pop(id(history), None)
        if ready is not None and ready[0] is history and ready[1] == horizon:
            before = ready[2]
            same = before is served or (
                before is not None and served is not None and before.equals(served)
            )
            if same:
                return ready[3]
        history = present(history)
        return self._made(history, _hourly(history), horizon, served, calm=False)

    def _made(
        self,
        history: pd.Series,
        hourly: pd.Series,
        horizon: pd.Timedelta,
        served: pd.Series | None,
        calm: bool,
        screen: Screen | None = None,
    ) -> _Prepared:
        """The hourly series the forecast is fitted on, anomalies replaced, and the job.
        `calm`: `quiet` found nothing to look for in it; `screen`: what it found, if it
        looked."""
        anomalies: tuple[Anomaly, ...] = ()
        if self.settings.exclude_anomalies and len(hourly) and not calm:
            hourly, anomalies = find_anomalies(hourly, served, screen)
        job = Job(
            hourly.to_numpy(),
            max(1, int(np.ceil(horizon / HOUR))),
            str(history.name) if history.name is not None else None,
            _within(history, hourly, anomalies),
        )
        return _Prepared(history, hourly, anomalies, job)

    def prepare(
        self,
        histories: Sequence[Prepared],
        horizon: pd.Timedelta,
        cache: ForecastCache,
    ) -> None:
        """Send every forecast a run will need to be fitted at once, in parallel, into
        `cache`; `size` then finds each there, waiting for it if it is still being fitted."""
        self.cache = cache
        self._ready = {}

        def jobs() -> Iterator[Job]:
            """Made while the workers fit the ones before (`send_all` takes a stream), a
            few hundred at a time: their anomalies are screened together (`quiet`)."""
            for start in range(0, len(histories), SCREENED):
                chunk = histories[start : start + SCREENED]
                kept = [present(history) for history, _, _ in chunk]
                hourlies = [_hourly(history) for history in kept]
                screens = (
                    quiet([hourly.to_numpy(float) for hourly in hourlies])
                    if self.settings.exclude_anomalies
                    else [None] * len(chunk)
                )
                for position, (history, _, served) in enumerate(chunk):
                    hourly, screen = hourlies[position], screens[position]
                    calm = screen is None
                    prepared = self._made(kept[position], hourly, horizon, served, calm, screen)
                    self._ready[id(history)] = (history, horizon, served, prepared)
                    yield prepared.job

        send_all(jobs(), cache, total=len(histories))

    def size(
        self,
        history: pd.Series,
        metric: Metric,
        horizon: pd.Timedelta,
        served: pd.Series | None = None,
    ) -> Sizing:
        prepared = self._prepared(history, horizon, served)
        history, hourly, anomalies = prepared.history, prepared.hourly, prepared.anomalies
        (prediction,) = forecast_all([prepared.job], self.cache, workers=1)
        days = len(hourly) / 24
        notes = [f"{_described(prediction)}: {prediction.reason}"]
        if prediction.drift:
            notes.append(
                f"the forecast's latest backtest error ({prediction.fold_errors[-1]:.0%} of the "
                "mean) is far above its earlier ones: demand may have changed, confidence lowered"
            )
        confidence = _confidence(prediction, days)
        model = _described(prediction)
        if metric == "cpu":
            risk = self.settings.cpu_risk
            request = prediction.level(1 - risk)
            observed = quantile(history.to_numpy(float), 1 - risk) if len(history) else 0.0
            return Sizing(
                request,
                None,
                f"exceeded in {risk:.0%} of the next {_span(horizon)} by forecast",
                f"observed p{(1 - risk) * 100:g} {amount(metric, observed)}, "
                f"forecast mean {amount(metric, float(prediction.mean.mean()))}",
                model,
                confidence,
                tuple(notes),
                anomalies,
                guard=request,
            )
        cleaned_peak = _cleaned_peak(history, anomalies)
        forecast_peak = prediction.level(self.settings.memory_quantile)
        margin = self.settings.memory_margin
        request = max(cleaned_peak, forecast_peak) * (1 + margin)
        return Sizing(
            request,
            None,
            f"peak (observed or forecast) + {margin:.0%}",
            f"observed peak {amount(metric, cleaned_peak)}, "
            f"forecast p{self.settings.memory_quantile * 100:g} {amount(metric, forecast_peak)}",
            model,
            confidence,
            tuple(notes),
            anomalies,
            guard=max(cleaned_peak, forecast_peak),
        )


def _hourly(history: pd.Series) -> pd.Series:
    """The series by hour, without missing hours; `history` without its missing samples."""
    return present(hourly_series(history)) if len(history) else history


def _within(history: pd.Series, hourly: pd.Series, anomalies: tuple[Anomaly, ...]) -> Within | None:
    """How far samples finer than an hour stray from their hour's mean: the burst inside an
    hour that an hourly forecast cannot see. None for hourly data, where there is none."""
    if len(history) <= len(hourly):
        return None
    hours = history.index.floor("1h")
    kept = _outside(history.index, anomalies)
    position = hourly.index.get_indexer(hours)
    deviation = (history - history.groupby(hours).transform("mean")).to_numpy()
    kept &= position >= 0
    return Within(position[kept], deviation[kept])


def _outside(index: pd.DatetimeIndex, anomalies: tuple[Anomaly, ...]) -> np.ndarray:
    kept = np.ones(len(index), dtype=bool)
    for anomaly in anomalies:
        start, end = anomaly.start, anomaly.end
        if index.tz is None and start.tz is not None:
            start, end = start.tz_localize(None), end.tz_localize(None)
        kept &= ~((index >= start) & (index < end))
    return kept


def _cleaned_peak(history: pd.Series, anomalies: tuple[Anomaly, ...]) -> float:
    kept = history.to_numpy()[_outside(history.index, anomalies)]
    return float(kept.max()) if len(kept) else 0.0


def _confidence(prediction: Forecast, days: float) -> str:
    """From the backtest error (mean absolute error over the mean), capped by how much
    history there is and lowered one step on drift."""
    levels = ["low", "medium", "high"]
    error = float(np.mean(prediction.fold_errors[-3:])) if prediction.fold_errors else None
    rank = 2 if error is not None and error < 0.15 else 1 if error is None or error < 0.35 else 0
    rank = min(rank, 2 if days >= 14 else 1 if days >= 7 else 0)
    if prediction.drift:
        rank = max(0, rank - 1)
    return levels[rank]


def _described(prediction: Forecast) -> str:
    """The model and its parameters; why it was chosen goes in the notes."""
    params = ", ".join(f"{k} {v:.2g}" for k, v in sorted(prediction.params.items()))
    return prediction.model + (f" ({params})" if params else "")


def _span(horizon: pd.Timedelta) -> str:
    days = horizon / pd.Timedelta(days=1)
    return f"{days:g} days" if days >= 1 else f"{horizon / HOUR:g} h"
