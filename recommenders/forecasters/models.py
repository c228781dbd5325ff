"""The candidate models: each forecasts hourly paths from hourly history.

A model answers for several origins at once (`paths`): the backtest's folds and, last, the
end of the history. Parameters are estimated once, on the data before the first origin, then
the model runs once over the whole window with them fixed, and each origin's forecast is read
off the states it had reached there. That is the same forecast a refit at every origin with
those parameters would give, at the cost of one pass instead of one per origin: fitting was
what made per-series statsmodels take minutes for thousands of series. Parameters passed in
(from the previous run) skip the estimation too.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

import numpy as np

from recommenders.quantiles import median, medians

DAY = 24
Params = dict[str, float]


class Model(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def period(self) -> int | None:
        """Hours in the cycle it models, or None."""
        ...

    @property
    def min_history(self) -> int:
        """Hours of history before the first origin it needs to be worth trying."""
        ...

    def paths(
        self,
        values: np.ndarray,
        origins: list[int],
        steps: int,
        window: int,
        params: Params | None,
    ) -> tuple[list[np.ndarray], Params]:
        """For each origin, the mean path of `steps` hours after it from `values[:origin]`
        alone, and the parameters used. Dynamic models look back at most `window` hours
        before the first origin."""
        ...


@dataclass(frozen=True)
class SeasonalMedian:
    """Stationary demand: a robust level plus, when `period` is set, the median shape of a
    cycle. It has no dynamics to mis-estimate, which is why it wins on bursty series whose
    level does not move: there, chasing the last burst (as smoothing does) forecasts worse."""

    period: int | None

    @property
    def name(self) -> str:
        return "seasonal median" if self.period else "robust level (median)"

    @property
    def min_history(self) -> int:
        return 2 * self.period if self.period else 1

    def paths(
        self,
        values: np.ndarray,
        origins: list[int],
        steps: int,
        window: int,
        params: Params | None,
    ) -> tuple[list[np.ndarray], Params]:
        found = []
        for origin in origins:
            past = values[:origin]
            level = median(past)
            shape = self.shape(past, level) if self.period else np.zeros(1)
            found.append(shape[(origin + np.arange(steps)) % len(shape)] + level)
        return found, {}

    def fitted(self, values: np.ndarray) -> np.ndarray:
        """What it expects at each past hour: the errors against it are its forecast errors,
        since nothing it estimates depends on when it is asked."""
        if not self.period:
            return np.full(len(values), median(values))
        return seasonal_expected(values, self.period)

    def shape(self, values: np.ndarray, level: float) -> np.ndarray:
        """Median deviation from the level (the values' median) at each phase, phase 0
        being `values[0]`'s."""
        assert self.period
        return phase_medians(values - level, self.period)


@dataclass(frozen=True)
class DampedTrend:
    """statsmodels' Holt model with a damped trend and no cycle: it follows a level that
    moves (a ramp, a step) where the robust level would keep provisioning for the old one,
    and damping stops a week-long extrapolation of a day's slope."""

    name = "Holt (damped trend)"
    period = None
    min_history = DAY

    def paths(
        self,
        values: np.ndarray,
        origins: list[int],
        steps: int,
        window: int,
        params: Params | None,
    ) -> tuple[list[np.ndarray], Params]:
        start = max(0, origins[0] - window)
        run, used = _smoothing(
            values,
            start,
            origins[0],
            params,
            ("alpha", "beta", "phi"),
            trend="add",
            damped_trend=True,
        )
        level, trend = np.asarray(run.level), np.asarray(run.trend)
        damping = np.cumsum(used["phi"] ** np.arange(1, steps + 1))
        return [level[o - 1 - start] + trend[o - 1 - start] * damping for o in origins], used


@dataclass(frozen=True)
class _Cyclic:
    """A model with dynamics around a cycle: it needs three cycles before its first origin."""

    period: int
    label: ClassVar[str]

    @property
    def name(self) -> str:
        return self.label.format(cycle=_cycle(self.period))

    @property
    def min_history(self) -> int:
        return 3 * self.period


@dataclass(frozen=True)
class HoltWinters(_Cyclic):
    """statsmodels' additive Holt-Winters, level and season only: a trend extrapolated over a
    week turns a Monday ramp into a doubling."""

    label: ClassVar[str] = "Holt-Winters (additive, {cycle})"

    def paths(
        self,
        values: np.ndarray,
        origins: list[int],
        steps: int,
        window: int,
        params: Params | None,
    ) -> tuple[list[np.ndarray], Params]:
        start = max(0, origins[0] - window)
        run, used = _smoothing(
            values,
            start,
            origins[0],
            params,
            ("alpha", "gamma"),
            seasonal="add",
            seasonal_periods=self.period,
        )
        level, season = np.asarray(run.level), np.asarray(run.season)
        ahead = np.arange(1, steps + 1)
        found = []
        for origin in origins:
            last = origin - 1 - start
            # statsmodels' own forecast reads the cycle as season[t - m + h % m]: the same
            # indexing, so that a path read here is the one its forecast() would return.
            found.append(level[last] + season[last - self.period + ahead % self.period])
        return found, used


@dataclass(frozen=True)
class StlSmoothing(_Cyclic):
    """STL takes out the cycle, simple exponential smoothing follows the level of what is
    left: the cycle's shape is estimated robustly over many cycles, so one odd day bends it
    less than it bends Holt-Winters' seasonal states."""

    label: ClassVar[str] = "STL ({cycle}) + exponential smoothing"

    def paths(
        self,
        values: np.ndarray,
        origins: list[int],
        steps: int,
        window: int,
        params: Params | None,
    ) -> tuple[list[np.ndarray], Params]:
        from statsmodels.tsa.holtwinters import SimpleExpSmoothing

        start = max(0, origins[0] - window)
        # The folds share the cycle STL found before the first of them, carried forward;
        # the last origin (the real forecast) gets a fresh one from the latest window.
        cycle = self._cycle(values[start : origins[0]])
        phase = (np.arange(start, len(values)) - origins[0]) % self.period
        adjusted = values[start:] - cycle[phase]
        smoother = SimpleExpSmoothing(
            adjusted[: origins[0] - start], initialization_method="heuristic"
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if params is None:
                alpha = float(smoother.fit(use_brute=False).params["smoothing_level"])
            else:
                alpha = params["alpha"]
        level = _smoothed(adjusted, alpha)
        found = []
        for origin in origins[:-1]:
            ahead = (origin - origins[0] + np.arange(steps)) % self.period
            found.append(level[origin - 1 - start] + cycle[ahead])
        end = len(values)
        latest = values[max(0, end - window) :]
        fresh = self._cycle(latest)
        phase = (np.arange(len(latest)) - len(latest)) % self.period
        last_level = _smoothed(latest - fresh[phase], alpha)[-1]
        found.append(last_level + fresh[np.arange(steps) % self.period])
        return found, {"alpha": alpha}

    def _cycle(self, values: np.ndarray) -> np.ndarray:
        """The seasonal component's last cycle, as the `period` values following `values`."""
        from statsmodels.tsa.seasonal import STL

        # Jumps of about a tenth of each smoother's span: 3–5× faster, same components to
        # within noise (statsmodels documents them for exactly this).
        jump = max(1, self.period // 8)
        seasonal = (
            STL(values, period=self.period, seasonal_jump=jump, trend_jump=jump, low_pass_jump=jump)
            .fit()
            .seasonal
        )
        return np.asarray(seasonal[-self.period :])


_STATSMODELS_NAMES = {
    "alpha": "smoothing_level",
    "beta": "smoothing_trend",
    "gamma": "smoothing_seasonal",
    "phi": "damping_trend",
}


def _smoothing(
    values: np.ndarray,
    start: int,
    first_origin: int,
    params: Params | None,
    names: tuple[str, ...],
    **model: Any,
) -> tuple[Any, Params]:
    """statsmodels' exponential smoothing estimated on the data before the first origin (or
    given `params`), then run once over everything from `start` with those parameters and
    those initial states, so that no fold sees its own future through either."""
    from statsmodels.tsa.holtwinters import ExponentialSmoothing

    estimate = ExponentialSmoothing(
        values[start:first_origin], initialization_method="heuristic", **model
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if params is None:
            # The brute-force start grid costs 60 % of the fit and changes little here.
            first = estimate.fit(use_brute=False)
        else:
            first = estimate.fit(
                optimized=False, **{_STATSMODELS_NAMES[n]: params[n] for n in names}
            )
        used = {n: float(first.params[_STATSMODELS_NAMES[n]]) for n in names}
        initial = {"initial_level": first.params["initial_level"]}
        if "trend" in model:
            initial["initial_trend"] = first.params["initial_trend"]
        if "seasonal" in model:
            initial["initial_seasonal"] = first.params["initial_seasons"]
        run = ExponentialSmoothing(
            values[start:], initialization_method="known", **initial, **model
        ).fit(optimized=False, **{_STATSMODELS_NAMES[n]: used[n] for n in names})
    return run, used


def seasonal_expected(values: np.ndarray, period: int) -> np.ndarray:
    """What a seasonal median expects at each position of the last axis (one series, or
    several of one length): their level (median), plus the phase's median deviation."""
    level = medians(values, -1)[..., None]
    return phase_medians(values - level, period)[..., np.arange(values.shape[-1]) % period] + level


def phase_medians(values: np.ndarray, period: int) -> np.ndarray:
    """The median of each phase's values (along the last axis: one series, or several of
    one length). The history rarely ends on a cycle's boundary, so the first
    `len % period` phases have one value more than the rest; each group is a plain median
    over cycles, since `np.nanmedian` over a NaN-padded array goes through masked arrays
    and took two thirds of the time spent finding anomalies at 5,000 workloads."""
    lead, (cycles, extra) = values.shape[:-1], divmod(values.shape[-1], period)
    if cycles == 0:
        return np.concatenate([values, np.full((*lead, period - extra), np.nan)], axis=-1)
    whole = values[..., : cycles * period].reshape(*lead, cycles, period)
    if extra == 0:
        return medians(whole, -2)
    longer = np.concatenate([whole[..., :extra], values[..., None, cycles * period :]], axis=-2)
    return np.concatenate([medians(longer, -2), medians(whole[..., extra:], -2)], axis=-1)


def _smoothed(values: np.ndarray, alpha: float) -> np.ndarray:
    """Simple exponential smoothing's level after each value (first value as the start)."""
    from scipy.signal import lfilter

    level, _ = lfilter([alpha], [1, alpha - 1], values[1:], zi=[(1 - alpha) * values[0]])
    return np.concatenate([[values[0]], level])


def _cycle(period: int) -> str:
    return {24: "daily", 168: "weekly"}.get(period, f"{period} h")
