"""Demand forecasts chosen per series by backtest, with out-of-sample error quantiles."""

from recommenders.forecasters.anomalies import Anomaly, Screen, find_anomalies, quiet
from recommenders.forecasters.batch import forecast_all, send_all
from recommenders.forecasters.cache import ForecastCache
from recommenders.forecasters.forecaster import (
    Forecast,
    ForecastSettings,
    Job,
    Warm,
    Within,
    forecast,
)

__all__ = [
    "Anomaly",
    "Forecast",
    "ForecastCache",
    "ForecastSettings",
    "Job",
    "Screen",
    "Warm",
    "Within",
    "find_anomalies",
    "forecast",
    "forecast_all",
    "quiet",
    "send_all",
]
