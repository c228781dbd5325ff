"""One series' forecast: the model a rolling-origin backtest picks, its path, and the
distribution of values the horizon is expected to hold.

Candidates are tried on folds at the end of the history (each fold forecast from the data
before it) and the one with the lowest mean absolute error wins, unless it beats the robust
level by too little to be worth its extra estimates. The errors the winner made out of
sample are kept, because sizing needs upper quantiles of demand and a model's one-step
residuals understate how far a forecast days ahead can be off. Each error is added back to
the forecast at hours of the same time of day: the busy hour errs more than the quiet one,
and pooling their errors under-covers the busy hours (on the NAB traces, a 5 % target was
exceeded in 5.7 % of samples that way). Each fold's error is kept too, so that a model
whose latest error is far above its earlier ones lowers the confidence of what it sizes.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field, replace

import numpy as np

from recommenders.forecasters.changes import daily_medians, level_change, level_moves
from recommenders.forecasters.models import (
    DampedTrend,
    HoltWinters,
    Model,
    Params,
    SeasonalMedian,
    StlSmoothing,
)
from recommenders.forecasters.profile import DAY, WEEK, profile
from recommenders.quantiles import median, quantiles

QUANTILES = np.linspace(0, 1, 201)
"""The horizon's distribution is kept at these quantiles: any level can be read off, and the
cache stays small."""


@dataclass(frozen=True)
class ForecastSettings:
    folds: int = 3
    fold_step: int = DAY
    """Hours between fold origins. Folds are as long as the horizon where the history allows,
    so they overlap: three week-long folds a day apart leave three weeks of a month before
    the first, enough for a weekly model; end to end they would leave nine days."""
    min_before: int = 3 * DAY
    """Folds are shortened (below the horizon) to leave this much history before the first:
    three days, so that a daily model can be judged on a week of history."""
    reselect_after: int = 7
    """Runs that reuse the model chosen before (fitting only it) before all are tried again;
    drift re-selects at once. A daily run re-selects weekly."""
    fit_hours: int = 2 * WEEK
    """Recent history the dynamic models are fitted on; older hours still inform the
    robust models and the errors. Two weeks hold 14 daily cycles."""
    min_gain: float = 0.1
    """How much lower (as a share) a model's backtest error must be than the robust level's
    for it to be chosen instead: a model with more to estimate must earn it, since its
    errors come from the folds' few hours where the robust level's come from all of them."""
    drift_ratio: float = 2.0
    """Latest fold error over the median of the earlier ones that counts as drift."""


@dataclass(frozen=True)
class Warm:
    """What a previous run learnt about a series: reused so it is not re-estimated."""

    model: str
    params: Params
    fold_errors: tuple[float, ...]
    age: int
    """Runs since the model was chosen by trying every candidate."""


@dataclass(frozen=True)
class Within:
    """Samples finer than an hour, as deviations from their hour's mean: the error of a
    5-minute sample is its hour's forecast error plus its own deviation, and bursty hours
    stray further, so the two are paired rather than assumed independent."""

    hour: np.ndarray
    """Position in the hourly series of each sample's hour."""
    deviation: np.ndarray


@dataclass(frozen=True)
class Job:
    values: np.ndarray
    """Hourly, oldest first, no NaN."""
    steps: int
    series_id: str | None = None
    """Stable name (workload/container/metric) under which the fit is warm-started."""
    within: Within | None = None


@dataclass(frozen=True)
class Forecast:
    model: str
    params: Params
    mean: np.ndarray
    """Hourly mean path over the horizon."""
    distribution: np.ndarray
    """Quantiles (at `QUANTILES`) of the values the horizon is expected to hold, at the
    finest step of the history: the path plus out-of-sample errors of the same hour of day."""
    fold_errors: tuple[float, ...]
    """The chosen model's mean absolute error per fold over the series' mean, oldest first,
    after the errors recorded by earlier runs."""
    reason: str
    """Why this model: the backtest's verdict, or why none was fitted."""
    drift: bool = False
    scores: dict[str, float] = field(default_factory=dict)
    """Every candidate's backtest error over the series' mean, for the record."""
    age: int = 0
    """Runs since the model was chosen from every candidate."""

    def warm(self) -> Warm:
        return Warm(self.model, self.params, self.fold_errors, self.age)

    def level(self, quantile: float) -> float:
        """The single level that a share `quantile` of the horizon's values stays under."""
        return float(np.interp(quantile, QUANTILES, self.distribution))


def candidates(periods: tuple[int, ...], moving: bool) -> list[Model]:
    """The robust level first: it is the baseline the others must beat. Models that follow
    a moving level are tried only when the level moves."""
    models: list[Model] = [SeasonalMedian(None)]
    models += [DampedTrend()] if moving else []
    for period in periods:
        models += [SeasonalMedian(period)]
        models += [HoltWinters(period), StlSmoothing(period)] if moving else []
    return models


def forecast(
    values: np.ndarray,
    steps: int,
    warm: Warm | None = None,
    settings: ForecastSettings | None = None,
    within: Within | None = None,
) -> Forecast:
    """Forecast `steps` hours after `values` (hourly, oldest first, no NaN)."""
    settings = settings or ForecastSettings()
    values = np.asarray(values, dtype=float)
    shape = profile(values)
    if shape.fallback is not None:
        return _empirical(values, steps, shape.fallback, within)
    daily = daily_medians(values)
    cut = level_change(daily)
    if cut is not None:
        return _since(cut, forecast(values[cut:], steps, warm, settings, _after(within, cut)))
    origins, fold = _origins(len(values), steps, settings)
    if not origins:
        return _empirical(values, steps, f"only {len(values)} h of history to backtest", within)
    tried = candidates(shape.periods, level_moves(daily))
    models = [m for m in tried if origins[0] >= m.min_history]
    kept = _kept(models, warm, settings)
    if kept is not None:
        assert warm is not None
        result = _backtest(kept, values, origins, fold, steps, warm.params, settings)
        history = (*warm.fold_errors, *_scaled(result.fold_errors, values))
        if not _drifted(history, settings.drift_ratio):
            reason = f"kept from {warm.age + 1} run(s) ago; all are tried again every "
            reason += f"{settings.reselect_after} runs or on drift"
            return _result(
                kept, result, values, within, history, reason, {}, warm.age + 1, settings
            )
    results = {
        model.name: _backtest(
            model,
            values,
            origins,
            fold,
            steps,
            warm.params if warm is not None and warm.model == model.name else None,
            settings,
        )
        for model in models
    }
    name = _choose(results, settings.min_gain)
    model = next(m for m in models if m.name == name)
    history = (*(warm.fold_errors if warm else ()), *_scaled(results[name].fold_errors, values))
    reason = _why(
        name, results, shape.periods, f"{len(origins)} backtests of {fold} h", settings.min_gain
    )
    scores = {n: float(np.mean(_scaled(r.fold_errors, values))) for n, r in results.items()}
    return _result(model, results[name], values, within, history, reason, scores, 0, settings)


def _result(
    model: Model,
    chosen: _Backtest,
    values: np.ndarray,
    within: Within | None,
    history: tuple[float, ...],
    reason: str,
    scores: dict[str, float],
    age: int,
    settings: ForecastSettings,
) -> Forecast:
    if isinstance(model, SeasonalMedian):
        # No dynamics, so its in-sample errors are forecast errors, and every hour counts.
        errors, hours = values - model.fitted(values), np.arange(len(values))
    else:
        errors, hours = chosen.errors, chosen.hours
    path = np.clip(chosen.path, 0, None)
    return Forecast(
        model.name,
        chosen.params,
        path,
        _distribution(path, len(values), *_finest(errors, hours, within)),
        history[-20:],
        reason,
        _drifted(history, settings.drift_ratio),
        {name: round(score, 4) for name, score in scores.items()},
        age,
    )


def _origins(hours: int, steps: int, settings: ForecastSettings) -> tuple[list[int], int]:
    """Fold origins a `fold_step` apart, each fold as long as the horizon if the history
    leaves `min_before` hours before the first, shorter if not, none under a day."""
    spread = (settings.folds - 1) * settings.fold_step
    fold = min(steps, hours - settings.min_before - spread)
    if fold < DAY:
        fold = min(steps, hours - DAY - spread)
    if fold < DAY // 2:
        return [], 0
    last = hours - fold
    return [last - settings.fold_step * k for k in range(settings.folds - 1, -1, -1)], fold


def _kept(models: list[Model], warm: Warm | None, settings: ForecastSettings) -> Model | None:
    """The model chosen by an earlier run, while it is young enough to keep."""
    if warm is None or warm.age + 1 >= settings.reselect_after:
        return None
    return next((m for m in models if m.name == warm.model), None)


def _scaled(errors: tuple[float, ...], values: np.ndarray) -> tuple[float, ...]:
    """Fold errors over the series' mean, so they compare across series and runs."""
    scale = max(float(np.mean(np.abs(values))), 1e-12)
    return tuple(error / scale for error in errors)


@dataclass(frozen=True)
class _Backtest:
    params: Params
    path: np.ndarray
    """The forecast from the end of the history."""
    errors: np.ndarray
    hours: np.ndarray
    """Positions of the hours `errors` belong to."""
    fold_errors: tuple[float, ...]


def _backtest(
    model: Model,
    values: np.ndarray,
    origins: list[int],
    fold: int,
    steps: int,
    params: Params | None,
    settings: ForecastSettings,
) -> _Backtest:
    """Each fold forecast from the data before it, and the real forecast after the end."""
    window = max(settings.fit_hours, 4 * (model.period or DAY))
    paths, used = model.paths(values, [*origins, len(values)], max(fold, steps), window, params)
    errors = [values[o : o + fold] - path[:fold] for o, path in zip(origins, paths, strict=False)]
    return _Backtest(
        used,
        paths[-1][:steps],
        np.concatenate(errors),
        np.concatenate([np.arange(origin, origin + fold) for origin in origins]),
        tuple(float(np.mean(np.abs(error))) for error in errors),
    )


def _choose(results: dict[str, _Backtest], min_gain: float) -> str:
    """The lowest backtest error, unless it beats the first (the robust level) by less than
    `min_gain`: then the robust level."""
    error = {name: float(np.mean(result.fold_errors)) for name, result in results.items()}
    simplest, best = next(iter(error)), min(error, key=error.__getitem__)
    return best if error[best] < (1 - min_gain) * error[simplest] else simplest


def _why(
    name: str, results: dict[str, _Backtest], periods: tuple[int, ...], folds: str, gain: float
) -> str:
    if not periods:
        return "no daily or weekly cycle"
    if name == next(iter(results)):
        return f"no other model beat it by {gain:.0%} in {folds}"
    return f"best of {len(results)} models in {folds}"


def _drifted(history: tuple[float, ...], ratio: float) -> bool:
    if len(history) < 3:
        return False
    earlier = statistics.median(history[:-1])  # np.median's value, at a tenth of its cost
    return earlier > 0 and history[-1] > ratio * earlier


def _finest(
    errors: np.ndarray, hours: np.ndarray, within: Within | None
) -> tuple[np.ndarray, np.ndarray]:
    """Errors at the finest step there is, with the hour each belongs to: the hourly ones,
    or each finer sample's hour's error plus its deviation from that hour's mean. An hour
    forecast from several fold origins pairs each of its errors with its samples."""
    if within is None or not len(within.hour):
        return errors, hours
    order = np.argsort(within.hour, kind="stable")
    sample_hours, deviations = within.hour[order], within.deviation[order]
    counts = np.bincount(sample_hours, minlength=int(max(hours.max(), sample_hours.max())) + 1)
    first = np.cumsum(counts) - counts
    repeats = counts[hours]
    if not repeats.any():
        return errors, hours
    offsets = np.arange(repeats.sum()) - np.repeat(np.cumsum(repeats) - repeats, repeats)
    samples = np.repeat(first[hours], repeats) + offsets
    return np.repeat(errors, repeats) + deviations[samples], np.repeat(hours, repeats)


def _distribution(
    path: np.ndarray, start: int, errors: np.ndarray, hours: np.ndarray
) -> np.ndarray:
    """Quantiles of path + error over the horizon, each hour's path taking the errors made at
    the same hour of day (all errors, where an hour of day has none). Every pair is made at
    once from the errors sorted by hour of day: a loop over the 24 hours was a fifth of a
    cheap series' fit. The pairs' order differs from hour-by-hour; their quantiles do not.
    Where every hour of day has as many errors (whole days of folds, or of history), they
    are a table of a row an hour, and the pairs one sum: a fifth less again."""
    phases = (hours % DAY).astype(np.int64)
    by_phase = errors[np.argsort(phases, kind="stable")]
    counts = np.bincount(phases, minlength=DAY)
    ahead = (start + np.arange(len(path))) % DAY
    if counts.min() == counts.max() > 0:
        table = by_phase.reshape(DAY, -1)
        return quantiles((path[:, None] + table[ahead]).ravel(), QUANTILES)
    firsts = np.cumsum(counts) - counts
    own = counts[ahead] > 0
    repeats = counts[ahead[own]]
    offsets = np.arange(repeats.sum()) - np.repeat(np.cumsum(repeats) - repeats, repeats)
    paired = (
        np.repeat(path[own], repeats) + by_phase[np.repeat(firsts[ahead[own]], repeats) + offsets]
    )
    pooled = (path[~own][:, None] + errors[None, :]).ravel()
    return quantiles(np.concatenate([paired, pooled]), QUANTILES)


def _after(within: Within | None, cut: int) -> Within | None:
    if within is None:
        return None
    kept = within.hour >= cut
    return Within(within.hour[kept] - cut, within.deviation[kept])


def _since(cut: int, forecast: Forecast) -> Forecast:
    days = cut / DAY
    note = f"demand stepped to a new level; the {days:.0f} days before it are left out"
    return replace(forecast, reason=f"{forecast.reason} ({note})")


def _empirical(values: np.ndarray, steps: int, reason: str, within: Within | None) -> Forecast:
    """No model: tomorrow looks like the history so far, median path and its spread."""
    if len(values) == 0:
        return Forecast("no data", {}, np.zeros(steps), np.zeros(len(QUANTILES)), (), reason)
    level = median(values)
    path = np.full(steps, level)
    errors, hours = _finest(values - level, np.arange(len(values)), within)
    distribution = _distribution(path, len(values), errors, hours)
    return Forecast("empirical distribution", {}, path, distribution, (), reason)
