"""Moving levels: a step leaves the history before it out; a drift lets the dynamic models in.

A release that doubles a service's baseline makes every model that averages over the old
level under-provision for weeks (on generated steps, 38 % of a week above a 5 % target).
Daily medians see the step without seeing the daily cycle or a burst; a step is told from
a ramp (which a trend model should follow, with all its history) by how much better a step
fits the daily medians than a line does. A level that neither steps nor drifts is what most
workloads have, and there the smoothing models, which cost 5–10 ms a series to estimate,
have nothing to follow: the cheap test on daily medians keeps them out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from recommenders.forecasters.profile import DAY
from recommenders.quantiles import median, medians

MIN_DAYS = 5
"""Daily medians needed to tell a step from noise: two before it at least, three after."""
MIN_DAYS_AFTER = 3
"""A weekend is two quiet days, not a new level: a step down must hold for three."""
MIN_DAYS_AFTER_RISE = 1
"""A step up is acted on after one day: following a blip costs a week of idle capacity,
missing a step costs days of throttling. On benchmarks/heldout.py's level shifts, waiting
three days left 35 % of samples above a 5 % target, waiting one 29 %."""
JUMP = 4.0
"""A step must exceed four times the days' own spread around their segment's level."""
STEP_OVER_LINE = 0.5
"""And leave at most half the squared error a straight line leaves: a ramp is no step."""


TREND_T = 3.0
"""A slope of the daily medians three standard errors from zero is a drift."""
RECENT_DAYS = MIN_DAYS_AFTER


@dataclass(frozen=True)
class Days:
    """A series' whole days, counted back from its end: both tests read them, so they are
    made once."""

    start: int
    """Where the first whole day starts in the series."""
    medians: np.ndarray
    """Each day's median."""


def daily_medians(values: np.ndarray) -> Days:
    days = len(values) // DAY
    start = len(values) - days * DAY
    return Days(start, medians(values[start:].reshape(days, DAY), 1))


def level_change(daily: Days) -> int | None:
    """The position in the series where the current level began, if it stepped to it."""
    start, medians = daily.start, daily.medians
    days = len(medians)
    if days < MIN_DAYS:
        return None
    best, split = _best_split(medians)
    _, _, residual = _line(medians)
    line = float(residual @ residual)
    spread = np.sqrt(best / max(1, days - 2))
    jump = abs(float(medians[split:].mean() - medians[:split].mean()))
    if jump > JUMP * max(spread, 1e-12) and best < STEP_OVER_LINE * line:
        return start + split * DAY
    return None


def _best_split(medians: np.ndarray) -> tuple[float, int]:
    """The split into a level before and a level after that leaves the least squared error,
    every split at once from running sums (a loop over splits was a third of a cheap
    series' fit). A late split (fewer than MIN_DAYS_AFTER days after it) counts only as a
    rise. Centred first, so that the sums of squares of bytes lose no precision."""
    days = len(medians)
    centred = medians - medians.mean()
    splits = np.arange(2, days - MIN_DAYS_AFTER_RISE + 1)
    total, squares = np.cumsum(centred), np.cumsum(centred**2)
    before_sum, before_squares = total[splits - 1], squares[splits - 1]
    after_sum, after_squares = total[-1] - before_sum, squares[-1] - before_squares
    before_mean, after_mean = before_sum / splits, after_sum / (days - splits)
    error = (before_squares - before_sum * before_mean) + (after_squares - after_sum * after_mean)
    allowed = (splits <= days - MIN_DAYS_AFTER) | (after_mean > before_mean)
    if not allowed.any():
        return np.inf, 0
    error = np.maximum(np.where(allowed, error, np.inf), 0.0)
    best = int(np.argmin(error))
    return float(error[best]), int(splits[best])


def level_moves(daily: Days) -> bool:
    """Whether the daily medians drift (a significant slope) or the last days left the
    earlier ones' range; with too few days to tell, assume they may."""
    medians = daily.medians
    days = len(medians)
    if days < MIN_DAYS:
        return True
    x, slope, residual = _line(medians)
    error = np.sqrt(float(residual @ residual) / (days - 2) / float(x @ x))
    if error == 0 or abs(slope) > TREND_T * error:
        return slope != 0
    earlier, recent = medians[:-RECENT_DAYS], medians[-RECENT_DAYS:]
    middle = median(earlier)
    spread = 1.4826 * median(np.abs(earlier - middle))
    return bool(np.abs(recent - middle).min() > JUMP * max(spread, 1e-12))


def _line(medians: np.ndarray) -> tuple[np.ndarray, float, np.ndarray]:
    """The least-squares line through the daily medians: the days centred on their middle,
    its slope, and what it leaves. Closed form, for both tests of every series: `np.polyfit`
    (an SVD) was a tenth of a warm-started series' fit."""
    x = np.arange(len(medians)) - (len(medians) - 1) / 2
    slope = float(x @ medians) / float(x @ x)
    return x, slope, medians - medians.mean() - slope * x
