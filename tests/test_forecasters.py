"""The forecasters on series whose right answer is known: which model wins, what the horizon
is expected to hold, what is left out as an anomaly, and what the cache saves."""

import pickle
import sqlite3
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recommenders.forecasters import (
    ForecastCache,
    Job,
    Within,
    batch,
    find_anomalies,
    forecast,
    forecast_all,
    quiet,
    send_all,
)
from recommenders.forecasters.batch import CHUNK
from recommenders.forecasters.cache import cache_key
from recommenders.forecasters.changes import daily_medians, level_change
from recommenders.forecasters.forecaster import ForecastSettings
from recommenders.forecasters.models import HoltWinters, SeasonalMedian, StlSmoothing
from recommenders.sources.usage import served_hours

HOURS = np.arange(720)


def _cycle(level=10.0, amplitude=3.0, noise=0.5, seed=1, hours=HOURS):
    rng = np.random.default_rng(seed)
    return level + amplitude * np.sin(2 * np.pi * hours / 24) + rng.normal(0, noise, len(hours))


def test_a_daily_cycle_is_modelled_and_the_horizon_covers_its_peaks():
    result = forecast(_cycle(), 168)
    assert result.model != "robust level (median)"
    assert "best of 2 models" in result.reason  # a steady level: no smoothing models
    assert result.mean.max() == pytest.approx(13, abs=0.6)
    assert result.mean.min() == pytest.approx(7, abs=0.6)
    # Level + 3·sin + N(0, 0.5): 95 % of a week's hours lie under about 13.2.
    assert result.level(0.95) == pytest.approx(13.2, abs=0.35)
    assert result.level(0.5) == pytest.approx(10, abs=0.3)


def test_noise_without_a_cycle_gets_the_robust_level_and_says_why():
    values = np.random.default_rng(2).gamma(4, 1, 720)
    result = forecast(values, 168)
    assert result.model == "robust level (median)"
    assert result.reason == "no daily or weekly cycle"
    assert result.level(0.95) == pytest.approx(np.quantile(values, 0.95), rel=0.02)


def test_a_trend_is_followed_by_a_dynamic_model():
    values = _cycle() + 0.02 * HOURS
    result = forecast(values, 168)
    assert result.model.startswith(("Holt", "STL"))
    future = _cycle(seed=9, hours=np.arange(720, 888)) + 0.02 * np.arange(720, 888)
    assert result.level(0.95) == pytest.approx(np.quantile(future, 0.95), rel=0.05)


def test_a_level_shift_leaves_the_old_level_out():
    values = _cycle()
    values[-200:] += 8  # 8 days and 8 hours ago
    result = forecast(values, 168)
    assert result.reason.endswith(
        "(demand stepped to a new level; the 22 days before it are left out)"
    )
    assert result.mean.mean() == pytest.approx(18, abs=0.5)
    assert result.level(0.95) == pytest.approx(18 + 3 * 0.98 + 0.5 * 0.4, abs=0.5)


def test_a_ramp_is_not_a_step():
    values = _cycle() + 0.02 * HOURS
    assert level_change(daily_medians(values)) is None
    assert level_change(daily_medians(_cycle())) is None
    stepped = _cycle()
    stepped[-100:] += 8  # four days and four hours ago: the step is at a day boundary
    assert level_change(daily_medians(stepped)) == 720 - 4 * 24
    weekly = _cycle() * np.where((HOURS // 24) % 7 >= 5, 0.3, 1.0)  # ends on a weekend
    assert level_change(daily_medians(weekly)) is None


def test_a_step_up_is_followed_after_one_day_and_a_step_down_after_three():
    risen = _cycle()
    risen[-24:] += 8  # yesterday
    assert level_change(daily_medians(risen)) == 720 - 24
    assert forecast(risen, 168).level(0.95) > 18
    fallen = _cycle()
    fallen[-24:] -= 8  # a quiet day may be the first of a weekend
    assert level_change(daily_medians(fallen)) is None
    fallen[-72:-24] -= 8
    assert level_change(daily_medians(fallen)) == 720 - 72
    # Monday after a quiet weekend rises above the weekend, not above the weekdays.
    monday = (_cycle() * np.where((HOURS // 24) % 7 >= 5, 0.3, 1.0))[: 27 * 24]
    assert level_change(daily_medians(monday)) is None


def test_a_latest_error_far_above_the_earlier_ones_is_drift():
    values = _cycle(noise=0.2)
    values[-48:] += np.random.default_rng(4).normal(0, 4, 48)  # demand turned erratic
    result = forecast(values, 48)
    assert result.drift
    assert result.fold_errors[-1] > 2 * np.median(result.fold_errors[:-1])
    assert not forecast(_cycle(noise=0.2), 48).drift


@pytest.mark.parametrize(
    ("values", "reason"),
    [
        (np.array([]), "no data"),
        (np.full(500, 0.3), "constant usage"),
        (np.where(np.arange(500) % 10 == 0, 2.0, 0.0), "intermittent (90% of hours idle)"),
        (np.array([0.1, 0.2, 0.3] * 10), "only 30 h of history (a fit needs 72 h)"),
    ],
)
def test_short_flat_or_idle_series_fall_back_and_explain(values, reason):
    result = forecast(values, 24)
    assert result.reason == reason
    assert len(result.mean) == 24 and np.isfinite(result.level(0.95))
    if len(values):
        assert result.level(1.0) == pytest.approx(values.max())


def test_the_simplest_model_is_kept_unless_another_beats_it_clearly():
    values = _cycle(amplitude=1.2, noise=1.0)  # a cycle, but a faint one
    result = forecast(values, 168, settings=ForecastSettings(min_gain=0.5))
    assert result.model == "robust level (median)"
    assert result.reason.startswith("no other model beat it by 50%")


def test_within_hour_samples_widen_the_distribution_by_their_own_spread():
    hourly = np.random.default_rng(3).gamma(4, 1, 240)
    hours = np.repeat(np.arange(240), 12)
    deviation = np.tile(np.linspace(-3, 3, 12), 240)
    coarse = forecast(hourly, 48)
    fine = forecast(hourly, 48, within=Within(hours, deviation))
    assert fine.level(0.99) > coarse.level(0.99) + 0.5
    assert fine.level(0.5) == pytest.approx(coarse.level(0.5), abs=0.3)


@pytest.mark.parametrize("model", [HoltWinters(24), StlSmoothing(24), SeasonalMedian(24)])
def test_a_fold_forecast_uses_nothing_after_its_origin(model):
    values = _cycle()
    origins = [500, 600, 720]
    paths, params = model.paths(values, origins, 48, 336, None)
    changed = values.copy()
    changed[550:] += 100  # after the first origin, before the second
    again, _ = model.paths(changed, origins, 48, 336, params)
    np.testing.assert_allclose(again[0], paths[0])
    assert not np.allclose(again[1], paths[1])


@pytest.mark.parametrize("hours", [48, 49, 71, 335, 336, 337, 719, 720, 721])
@pytest.mark.parametrize("period", [24, 168])
def test_the_seasonal_shape_is_each_phases_median_however_the_history_ends(hours, period):
    values = np.random.default_rng(hours + period).gamma(2.0, size=hours)
    phases = np.arange(hours) % period
    centred = values - np.median(values)
    expected = [
        np.median(centred[phases == p]) if (phases == p).any() else np.nan for p in range(period)
    ]
    shape = SeasonalMedian(period).shape(values, float(np.median(values)))
    np.testing.assert_array_equal(shape, expected)


def test_holt_winters_read_off_its_states_equals_a_refit_at_the_origin():
    from statsmodels.tsa.holtwinters import ExponentialSmoothing

    values = _cycle()
    (path, _), params = HoltWinters(24).paths(values, [600, 720], 48, 336, None)
    first = ExponentialSmoothing(
        values[264:600], seasonal="add", seasonal_periods=24, initialization_method="heuristic"
    ).fit(smoothing_level=params["alpha"], smoothing_seasonal=params["gamma"], optimized=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        refit = np.asarray(first.forecast(48))
    np.testing.assert_allclose(path, refit, atol=1e-8)


def _spiky(spike_days=(20,)):
    index = pd.date_range("2026-11-01", periods=720, freq="1h", tz="UTC")
    values = _cycle(level=1.0, amplitude=0.3, noise=0.05)
    for day in spike_days:
        values[day * 24 + 13 : day * 24 + 15] = 9.0
    return pd.Series(values, index=index)


def test_a_one_off_incident_is_replaced_and_described():
    series = _spiky()
    cleaned, anomalies = find_anomalies(series)
    assert len(anomalies) == 1
    (incident,) = anomalies
    assert incident.start == pd.Timestamp("2026-11-21 13:00", tz="UTC")
    assert incident.end == pd.Timestamp("2026-11-21 15:00", tz="UTC")
    # The hour of day usually sees 1 + 0.3·sin(2π·13/24) ≈ 0.92: 9 is about 10× that.
    assert incident.describe() == "excluded 2 h spike on 11-21, 9.7× normal"
    assert cleaned.max() < 1.5 and cleaned.iloc[0] == series.iloc[0]


def test_a_burst_the_autoscaler_scaled_out_for_is_demand_not_an_anomaly():
    """The same two hours, but replicas rose with them: the pods carried real demand, and
    sizing must remember it (a sale, not an incident)."""
    series = _spiky()
    replicas = pd.Series(3.0, index=series.index)
    replicas[pd.Timestamp("2026-11-21 13:00", tz="UTC")] = 12.0
    cleaned, anomalies = find_anomalies(series, served_hours(replicas))
    assert anomalies == ()
    assert cleaned.equals(series)
    # a scale-out at another time does not keep this one
    elsewhere = pd.Series(3.0, index=series.index)
    elsewhere[pd.Timestamp("2026-11-10 09:00", tz="UTC")] = 12.0
    assert len(find_anomalies(series, served_hours(elsewhere))[1]) == 1


def test_a_peak_a_fifth_above_normal_is_sized_for_however_quiet_the_series():
    """Memory steady to a few MiB, then one hour 20 % up: a huge z-score, but the next such
    peak is an OOM kill if sizing leaves it out."""
    index = pd.date_range("2026-11-01", periods=720, freq="1h", tz="UTC")
    values = np.random.default_rng(3).normal(500.0, 1.0, 720)
    values[400] = 600.0
    cleaned, anomalies = find_anomalies(pd.Series(values, index=index))
    assert anomalies == () and cleaned.max() == 600.0


def test_series_screened_together_are_quiet_exactly_where_find_anomalies_finds_nothing():
    """`quiet` screens many series at once with find_anomalies' own arithmetic: a quiet
    series has no anomaly, a series with an anomaly is never quiet, screening a series
    with others or alone gives one answer, and find_anomalies going on from a screen finds
    what it finds screening the series itself, to the bit."""
    rng = np.random.default_rng(8)
    index = pd.date_range("2026-11-01", periods=800, freq="1h", tz="UTC")
    series = [_spiky().to_numpy(), _spiky(spike_days=range(1, 30, 3)).to_numpy()]
    for length in (30, 47, 48, 100, 720, 721, 745):
        for _ in range(6):
            values = rng.gamma(2.0, 0.5, length) + np.sin(np.arange(length) / 3.8)
            if rng.random() < 0.5:
                values[rng.integers(0, length)] *= rng.choice([3.0, 12.0])
            series.append(values)
        series.append(np.full(length, 0.25))  # no spread at all
    screens = quiet(series)
    assert 0 < screens.count(None) < len(series)
    for values, screen in zip(series, screens, strict=True):
        hourly = pd.Series(values, index=index[: len(values)])
        cleaned, anomalies = find_anomalies(hourly)
        assert not (screen is None and anomalies)
        (alone,) = quiet([values])
        assert (alone is None) == (screen is None)
        if screen is not None and alone is not None:
            assert np.array_equal(alone.residual, screen.residual)
            assert alone.scale == screen.scale
            again, found = find_anomalies(hourly, screen=screen)
            assert found == anomalies and np.array_equal(again.to_numpy(), cleaned.to_numpy())
    assert screens[0] is not None and screens[-1] is None  # the incident; a flat series


def test_recurring_bursts_are_behaviour_not_anomalies():
    series = _spiky(spike_days=range(1, 30, 3))  # every third day: ten in 30 days
    cleaned, anomalies = find_anomalies(series)
    assert anomalies == ()
    assert cleaned.equals(series)


def test_the_cache_reuses_unchanged_series_and_warm_starts_changed_ones(tmp_path):
    path = tmp_path / "forecasts.sqlite"
    values = _cycle() + 0.02 * HOURS
    cache = ForecastCache.open(path)
    (first,) = forecast_all([Job(values, 168, "shop/api/cpu")], cache, workers=1)
    cache.save()

    again = ForecastCache.open(path)
    (same,) = forecast_all([Job(values, 168, "shop/api/cpu")], again, workers=1)
    assert again.hits == 1 and same.level(0.95) == first.level(0.95)

    next_day = np.concatenate([values[24:], values[-24:] + 0.48])
    (moved,) = forecast_all([Job(next_day, 168, "shop/api/cpu")], again, workers=1)
    assert again.hits == 1  # a new hash: fitted, not looked up
    assert moved.model == first.model  # kept from the last run, not chosen again
    assert moved.params == first.params  # parameters replayed, not estimated again
    assert moved.reason.startswith("kept from 1 run(s) ago")
    assert moved.fold_errors[: len(first.fold_errors)] == first.fold_errors
    # Everything the forecast holds comes back as it went in.
    assert np.array_equal(same.distribution, first.distribution)
    assert (same.model, same.params, same.reason, same.scores) == (
        first.model, first.params, first.reason, first.scores,
    )  # fmt: skip


class _Planted:
    """Unpickling this runs code: it creates `marker`."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_a_planted_pickle_is_never_loaded_and_a_damaged_cache_warns_and_starts_cold(tmp_path):
    marker = tmp_path / "code-ran"
    planted = tmp_path / "forecasts.sqlite"
    planted.write_bytes(pickle.dumps({"format": 2, "payload": _Planted(marker)}))
    cache = ForecastCache.open(planted)
    assert cache.forecasts == {}
    assert cache.problem is not None
    assert cache.problem.startswith(f"{planted}: not a readable forecast cache")
    assert cache.problem.endswith("starting cold")
    assert not marker.exists()
    # The next save replaces the damaged file with a good one.
    forecast_all([Job(_cycle(), 24, "shop/api/cpu")], cache, workers=1)
    cache.save()
    assert len(ForecastCache.open(planted).forecasts) == 1


def test_a_cache_with_wrong_types_or_an_older_format_is_a_cold_start(tmp_path):
    path = tmp_path / "forecasts.sqlite"
    cache = ForecastCache.open(path)
    forecast_all([Job(_cycle(), 24, "shop/api/cpu")], cache, workers=1)
    cache.save()
    with sqlite3.connect(path) as db:
        db.execute("UPDATE forecasts SET mean = x'0102'")  # not whole float64 values
    damaged = ForecastCache.open(path)
    assert damaged.forecasts == {} and damaged.warm_starts == {}
    assert "not whole float64 values" in (damaged.problem or "")
    cache.save()
    with sqlite3.connect(path) as db:
        db.execute("UPDATE meta SET value = '1' WHERE name = 'format'")
    older = ForecastCache.open(path)
    assert older.forecasts == {} and older.problem is None


def test_the_cache_key_changes_with_anything_the_forecast_depends_on():
    values = _cycle()
    settings = ForecastSettings()
    key = cache_key(values, 168, None, settings)
    assert key == cache_key(values.copy(), 168, None, settings)
    assert key != cache_key(values, 24, None, settings)
    assert key != cache_key(values, 168, None, ForecastSettings(folds=2))
    changed = values.copy()
    changed[5] += 1e-9
    assert key != cache_key(changed, 168, None, settings)
    within = Within(np.array([0]), np.array([0.1]))
    assert key != cache_key(values, 168, within, settings)


@pytest.mark.slow
def test_worker_processes_give_the_same_forecasts_as_one_process():
    # Two chunks go to the workers as the generator makes them; the rest is fitted here.
    jobs = [Job(_cycle(seed=seed), 48, f"s{seed}") for seed in range(2 * CHUNK + 5)]
    parallel = forecast_all((job for job in jobs), ForecastCache(), workers=2)
    (pool,) = batch._pools
    workers = list(pool._processes.values())
    assert workers and all(worker.is_alive() for worker in workers)
    batch.release_workers()  # as a service run's process does before it ends
    assert not any(worker.is_alive() for worker in workers), "no worker outlives the run"
    serial = forecast_all(jobs, ForecastCache(), workers=1)
    assert [f.model for f in parallel] == [f.model for f in serial]
    for a, b in zip(parallel, serial, strict=True):
        np.testing.assert_allclose(a.distribution, b.distribution)


class _Held:
    """A chunk that a fan-out answers only when asked: what a worker's future does."""

    def __init__(self, tasks, settings, asked):
        self.tasks, self.settings, self.asked = tasks, settings, asked

    def done(self):
        return False

    def result(self):
        self.asked.append(self.tasks[0][0].series_id)  # which chunk: its first series
        return batch.fit_chunk(self.tasks, self.settings)


class _Board:
    def __init__(self):
        self.sent, self.asked = [], []

    def submit(self, tasks, settings):
        self.sent.append(len(tasks))
        return _Held(tasks, settings, self.asked)


def test_sent_fits_are_waited_for_only_when_a_forecast_is_collected(monkeypatch):
    monkeypatch.setattr(batch, "CHUNK", 4)
    jobs = [Job(_cycle(seed=seed), 48, f"s{seed}") for seed in range(10)]
    alone = forecast_all(jobs, workers=1)
    cache, board = ForecastCache(), _Board()
    with batch.fanned_out(board):
        keys = send_all(iter(jobs), cache)
    assert (board.sent, board.asked) == ([4, 4], []), "two chunks sent, none waited for"
    assert len(cache.forecasts) == 2 and len(cache.arriving) == 8  # the tail fitted here

    assert cache.collect(keys[5]).model == alone[5].model
    assert board.asked == ["s4"], "only the chunk holding series 5"
    assert send_all(jobs, cache) == keys and cache.hits == 10, "on their way: not sent again"
    assert board.sent == [4, 4]

    cache.settle()
    assert board.asked == ["s4", "s0"] and cache.arriving == {}
    assert [cache.collect(key).level(0.95) for key in keys] == [f.level(0.95) for f in alone]
    assert sorted(cache.warm_starts) == sorted(job.series_id for job in jobs)


def test_a_series_with_the_data_of_one_fitted_in_the_run_shares_its_fit_and_warm_start(
    monkeypatch,
):
    # An HPA's demand equals its one container's CPU at one replica: one fit, and both
    # series warm-start from it the next day.
    monkeypatch.setattr(batch, "CHUNK", 2)
    values = [_cycle(seed=seed) for seed in range(3)]
    jobs = [Job(v, 48, f"s{i}") for i, v in enumerate(values)]
    cache, board = ForecastCache(), _Board()
    with batch.fanned_out(board):
        first = send_all(jobs[:2], cache)  # one chunk, on its way
        twin = send_all([Job(values[0], 48, "twin on its way")], cache)
    assert twin == first[:1] and board.sent == [2], "not fitted again"
    cache.settle()
    assert cache.warm_starts["twin on its way"] == cache.warm_starts["s0"]

    send_all([Job(values[1], 48, "twin of a fit received")], cache)
    assert cache.warm_starts["twin of a fit received"] == cache.warm_starts["s1"]

    stored = ForecastCache(forecasts=dict(cache.forecasts))  # read from a file: not this run's
    send_all([Job(values[0], 48, "twin of an old fit")], stored)
    assert "twin of an old fit" not in stored.warm_starts and stored.hits == 1


@pytest.mark.parametrize("seed", range(10))
def test_the_horizon_pairs_each_hour_with_the_errors_made_at_its_hour_of_day(seed):
    from recommenders.forecasters.forecaster import QUANTILES, _distribution

    rng = np.random.default_rng(seed)
    path, start = rng.uniform(1, 2, 30 + seed * 40), int(rng.integers(0, 48))
    hours = np.sort(rng.choice(200, size=120, replace=False))
    if seed % 2 and seed < 6:
        hours = hours[hours % 24 < 6]  # most hours of day made no error: they take them all
    if seed >= 6:  # whole days, as folds a day apart or a history give: as many an hour
        origins = rng.integers(0, 400, size=int(rng.integers(1, 4)))
        hours = np.concatenate([np.arange(o, o + 24 * int(rng.integers(1, 8))) for o in origins])
    errors = rng.normal(size=len(hours))
    pairs = [
        value + (errors[hours % 24 == hour] if (hours % 24 == hour).any() else errors)
        for value, hour in zip(path, (start + np.arange(len(path))) % 24, strict=True)
    ]
    expected = np.quantile(np.concatenate(pairs), QUANTILES)
    np.testing.assert_array_equal(_distribution(path, start, errors, hours), expected)


@pytest.mark.parametrize("seed", range(6))
def test_a_step_is_placed_where_two_levels_leave_the_least_error(seed):
    from recommenders.forecasters.changes import MIN_DAYS_AFTER, _best_split

    medians = np.random.default_rng(seed).lognormal(20, 0.3, 12 + seed)
    medians[7:] *= 1 + seed / 3
    days = len(medians)
    errors = {
        k: float(((medians[:k] - medians[:k].mean()) ** 2).sum())
        + float(((medians[k:] - medians[k:].mean()) ** 2).sum())
        for k in range(2, days)
        if k <= days - MIN_DAYS_AFTER or medians[k:].mean() > medians[:k].mean()
    }
    error, split = _best_split(medians)
    assert split == min(errors, key=errors.__getitem__)
    assert error == pytest.approx(errors[split], rel=1e-9)
