"""Demand forecasts with prediction intervals, and an explained fallback when a fit is unwise.

STL takes out the daily cycle and a mean-reverting AR(1) models what is left, so the
interval stays bounded over a week instead of widening without limit as a random walk's
would. statsmodels is imported only when a fit is needed: it costs seconds to import.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

SEASON_HOURS = 24
MIN_SEASONS_TO_FIT = 3
"""Fewer than three days cannot separate a daily cycle from noise; use the fallback."""


@dataclass(frozen=True)
class Forecast:
    """Per-step mean and upper bound of the central `level` interval, over the horizon."""

    model: str
    mean: np.ndarray
    upper: np.ndarray
    level: float


def forecast(values: np.ndarray, horizon: int, level: float = 0.8) -> Forecast:
    """Forecast `horizon` hourly steps after `values` (hourly, oldest first, no NaN)."""
    values = np.asarray(values, dtype=float)
    if len(values) < MIN_SEASONS_TO_FIT * SEASON_HOURS or np.ptp(values) == 0:
        return _percentile_fallback(values, horizon, level)
    from statsmodels.tsa.arima.model import ARIMA
    from statsmodels.tsa.forecasting.stl import STLForecast

    model = STLForecast(
        values, ARIMA, model_kwargs={"order": (1, 0, 0), "trend": "c"}, period=SEASON_HOURS
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            prediction = model.fit().get_prediction(len(values), len(values) + horizon - 1)
        except (np.linalg.LinAlgError, ValueError):
            return _percentile_fallback(values, horizon, level)
    mean = np.asarray(prediction.predicted_mean, dtype=float)
    upper = np.asarray(prediction.conf_int(alpha=1 - level), dtype=float)[:, 1]
    if not (np.isfinite(mean).all() and np.isfinite(upper).all()):
        return _percentile_fallback(values, horizon, level)
    return Forecast("STL + AR(1)", np.clip(mean, 0, None), np.clip(upper, 0, None), level)


def _percentile_fallback(values: np.ndarray, horizon: int, level: float) -> Forecast:
    """Tomorrow looks like the history so far: its median, and its `level` quantile as bound."""
    if len(values) == 0:
        return Forecast("no data", np.zeros(horizon), np.zeros(horizon), level)
    mean = np.full(horizon, float(np.median(values)))
    upper = np.full(horizon, float(np.quantile(values, level)))
    return Forecast("percentile (too little history to fit)", mean, upper, level)
