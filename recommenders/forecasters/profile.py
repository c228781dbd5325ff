"""Cheap tests that decide which models are worth fitting before any is fitted.

Fitting is what costs; an autocorrelation or a count of zeros costs microseconds. A series
without a daily cycle never reaches the seasonal models, and a flat, short or mostly idle
one gets an explained fallback instead of a fit that would only describe noise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DAY, WEEK = 24, 168
MIN_HOURS_TO_FIT = 3 * DAY
"""Fewer than three days cannot separate a daily cycle from noise."""
SEASONAL_AUTOCORRELATION = 0.3
"""Autocorrelation at the period above which a cycle is worth modelling. White noise of 720
points stays below 0.08 at 3 standard errors; a cycle one third the noise's size exceeds 0.3."""
WEEKLY_GAIN = 0.1
"""How much higher the autocorrelation at a week must be than at a day for a weekly cycle."""
INTERMITTENT_SHARE = 0.5
"""Above this share of idle hours (batch jobs, cron workloads) a level is meaningless."""


@dataclass(frozen=True)
class SeriesProfile:
    hours: int
    fallback: str | None
    """Why no model is fitted (short, constant, intermittent), or None."""
    periods: tuple[int, ...]
    """The cycle (24 or 168 hours) worth modelling, if any."""


def profile(values: np.ndarray) -> SeriesProfile:
    hours = len(values)
    if hours == 0:
        return SeriesProfile(0, "no data", ())
    if np.ptp(values) <= 1e-9 * max(1.0, float(np.abs(values).max())):
        return SeriesProfile(hours, "constant usage", ())
    idle = float(np.mean(values <= 1e-9 * float(np.abs(values).max())))
    if idle > INTERMITTENT_SHARE:
        return SeriesProfile(hours, f"intermittent ({idle:.0%} of hours idle)", ())
    if hours < MIN_HOURS_TO_FIT:
        return SeriesProfile(hours, f"only {hours} h of history (a fit needs 72 h)", ())
    daily = autocorrelation(values, DAY) if hours >= 2 * DAY else 0.0
    weekly = autocorrelation(values, WEEK) if hours >= 2 * WEEK else 0.0
    # A daily cycle repeats at a week's lag too: the weekly models are worth their cost
    # only when the week explains clearly more than the day does.
    if weekly > SEASONAL_AUTOCORRELATION and weekly - daily > WEEKLY_GAIN:
        periods: tuple[int, ...] = (WEEK,)
    elif daily > SEASONAL_AUTOCORRELATION:
        periods = (DAY,)
    else:
        periods = ()
    return SeriesProfile(hours, None, periods)


def autocorrelation(values: np.ndarray, lag: int) -> float:
    centred = values - values.mean()
    denominator = float(centred @ centred)
    if denominator == 0:
        return 0.0
    return float(centred[lag:] @ centred[:-lag]) / denominator
