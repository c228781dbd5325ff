"""Rolling-origin backtest of sizing strategies: what each would have provisioned, and how
that capacity fared against what came next.

For every series, origin and strategy the capacity is one static level for
`[origin, origin + horizon)`, sized from the data before `origin` only, exactly as a pull
request would set a request. The score that ranks strategies is the pinball loss at the
95th percentile over the horizon, divided by the series' mean so that series of any scale
weigh alike: it charges 0.95 per unit of demand above capacity and 0.05 per unit of idle
capacity, so it is lowest for the level that covers 95 % of the future with nothing to
spare, the horizon's own p95 (the oracle).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from recommenders.errors import InputError
from recommenders.forecasters import ForecastCache
from recommenders.sources.validate import numbers, read_table, timestamps, where
from recommenders.strategies import get_strategy
from recommenders.strategies.base import Metric

COLUMNS = ("series_id", "timestamp", "value")
QUANTILE = 0.95
BAD_WINDOW = 0.2
"""A window with more than a fifth of its samples above capacity is a bad week."""
ORACLE = "oracle"
Window = tuple[str, pd.Timestamp, pd.Series]
"""Series id, origin, and the history before it."""


@dataclass(frozen=True)
class BacktestPlan:
    train: pd.Timedelta
    horizon: pd.Timedelta
    step: pd.Timedelta
    metric: Metric
    strategies: tuple[str, ...]


@dataclass(frozen=True)
class Score:
    """One strategy over every window of every series."""

    strategy: str
    windows: int
    pinball: float
    """Mean over windows of the p95 pinball loss divided by the series' mean."""
    violation_rate: float
    """Mean over windows of the share of horizon samples above capacity."""
    bad_windows: float
    """Share of windows with more than `BAD_WINDOW` of their samples above capacity."""
    capacity_vs_vpa: float | None
    capacity_vs_oracle: float


def read_series(path: Path) -> dict[str, pd.Series]:
    """`series_id,timestamp,value` rows as one sorted series per id; a bad cell or a repeated
    timestamp is refused at its line, since either would silently shift the origins."""
    frame = read_table(path, COLUMNS)
    frame["timestamp"] = timestamps(frame, "timestamp", path)
    frame["value"] = numbers(frame, "value", path)
    repeated = frame.duplicated(["series_id", "timestamp"])
    if repeated.any():
        row = int(repeated.to_numpy().argmax())
        raise InputError(
            where(path, row),
            f"series {frame['series_id'].iloc[row]!r} has a second value at "
            f"{frame['timestamp'].iloc[row]:%Y-%m-%dT%H:%M:%SZ}",
        )
    return {
        str(name): rows.set_index("timestamp")["value"].sort_index()
        for name, rows in frame.groupby("series_id", sort=True)
    }


def origins(
    index: pd.DatetimeIndex, train: pd.Timedelta, horizon: pd.Timedelta, step: pd.Timedelta
) -> list[pd.Timestamp]:
    """First timestamp + train, then every `step` while a full horizon remains. The data
    reaches one sampling step past its last timestamp (a 5-minute sample at 23:55 covers
    the day), so a horizon fits when `origin + horizon <= last + median step`."""
    if len(index) < 2:
        return []
    reach = index[-1] + index.to_series().diff().median()
    found, origin = [], index[0] + train
    while origin + horizon <= reach:
        found.append(origin)
        origin += step
    return found


def run_backtest(
    series: dict[str, pd.Series],
    plan: BacktestPlan,
    progress: Callable[[list[Window]], Iterable[Window]] = lambda items: items,
) -> pd.DataFrame:
    """One row per series, origin and strategy: `series_id,origin,strategy,capacity`."""
    windows = [
        (name, origin, values[values.index < origin].rename(name))
        for name, values in series.items()
        for origin in origins(values.index, plan.train, plan.horizon, plan.step)
    ]
    rows = []
    for label in plan.strategies:
        strategy = get_strategy(label)
        strategy.prepare(
            [(history, plan.metric, None) for _, _, history in windows],
            plan.horizon,
            ForecastCache(),
        )
        for name, origin, history in progress(windows):
            sizing = strategy.size(history, plan.metric, plan.horizon)
            rows.append((name, origin, label, sizing.request))
    return pd.DataFrame(rows, columns=["series_id", "origin", "strategy", "capacity"])


def score(
    results: pd.DataFrame, series: dict[str, pd.Series], horizon: pd.Timedelta
) -> list[Score]:
    """The table the CLI prints, one row per strategy and one for the oracle."""
    windows = []
    for (name, origin), group in results.groupby(["series_id", "origin"], sort=False):
        values = series[str(name)]
        future = values[(values.index >= origin) & (values.index < origin + horizon)].to_numpy()
        mean = float(values.mean()) or 1.0
        capacities = dict(zip(group["strategy"], group["capacity"], strict=True))
        capacities[ORACLE] = float(np.quantile(future, QUANTILE))
        for strategy, capacity in capacities.items():
            above = float(np.mean(future > capacity))
            windows.append(
                (strategy, name, origin, _pinball(future, capacity) / mean, above, capacity / mean)
            )
    frame = pd.DataFrame(
        windows, columns=["strategy", "series_id", "origin", "pinball", "above", "capacity"]
    )
    pivot = frame.pivot_table(index=["series_id", "origin"], columns="strategy", values="capacity")
    scores = []
    for strategy, rows in frame.groupby("strategy", sort=False):
        capacity = float(rows["capacity"].mean())
        scores.append(
            Score(
                str(strategy),
                len(rows),
                float(rows["pinball"].mean()),
                float(rows["above"].mean()),
                float((rows["above"] > BAD_WINDOW).mean()),
                capacity / float(pivot["vpa"].mean()) if "vpa" in pivot else None,
                capacity / float(pivot[ORACLE].mean()),
            )
        )
    return scores


def _pinball(future: np.ndarray, capacity: float) -> float:
    shortfall = future - capacity
    return float(np.mean(np.maximum(QUANTILE * shortfall, (QUANTILE - 1) * shortfall)))
