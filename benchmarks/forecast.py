"""Forecasting a fleet: time, peak memory and held-out accuracy of 5,000 generated series,
cold and warm, beside statsforecast's AutoETS and naive per-series statsmodels.

Why: a scheduled run forecasts every container's CPU and memory, thousands of series of 720
hourly points, on a small runner. The aim is 5,000 series in at most 60 s cold and 5 s warm
on 2 cores, at least as fast as statsforecast's AutoETS on the same series and at least as
accurate on the week that follows. Measured here:

- ours, `forecast_all` over all series: cold (fresh cache file), warm (the same data, cache
  reopened from the saved file) and next day (every series one day on, same series ids, the
  cold run's cache: parameters warm-started, nothing found by hash). Each run pays what a
  scheduled run pays: open the cache, forecast, save it. Medians of `--repeats`.
- baselines on the first `--baseline-series` of the same generated list (the same mix of
  shapes), run in this process after ours: statsforecast's AutoETS (season 24, `n_jobs` =
  `--workers`, timed after a warm-up call that is reported separately) and statsmodels'
  Holt-Winters fitted series by series in this process with its default optimisation. That
  one is naive on purpose: parallelising and cutting the fits is what ours does, so it shows
  what ours saves. Each baseline is timed once (they take minutes); ours runs on the same
  subset too, cold, so the ratio per series is like for like. Totals for the full count from
  a subset are labelled extrapolated.
- accuracy on the 168 held-out hours after each history: MAE of the hourly mean path over
  the series' mean; the sizing score, p95 pinball loss of one static level over the held-out
  hours over the series' mean (as `recommenders/backtest.py` scores strategies); and the
  share of held-out hours above that level (target 5 %). Our level is `Forecast.level(0.95)`.
  The baselines' level L makes the mean over hours of P(y_h > L) 5 % under N(mean_h, sd_h):
  AutoETS's sd_h from its 90 % interval, statsmodels' from its in-sample residuals. Paths
  and levels below zero are clipped to zero for every method (usage cannot be negative).
  Series whose mean is zero are left out of the scores divided by the mean.
- peak memory: this process's peak RSS (VmHWM, reset through /proc/self/clear_refs at the
  start of each measurement, so it is that measurement's own, but includes everything
  already loaded) and its worker processes' (the sum over live workers of each one's peak
  RSS, sampled every 0.1 s; forked workers count pages shared with this process too). The
  whole run's `getrusage` figures (RUSAGE_SELF, RUSAGE_CHILDREN: largest single child) are
  printed at the end as a cross-check.

statsforecast pins pandas<3, so it is installed in its own venv (`make bench-forecast`);
from the project's venv the AutoETS rows are skipped with a note. The default run takes about
6 minutes on 2 idle cores.

    python benchmarks/forecast.py [--series 5000] [--baseline-series 200] [--repeats 3]
                                  [--workers 2]
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import sys
import tempfile
import threading
import time
import warnings
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from recommenders.forecasters import Forecast, ForecastCache, Job, Warm, forecast, forecast_all

HISTORY, HORIZON, DAY = 720, 168, 24
RISK = 0.05
Z90 = 1.6449
"""The 95th percentile of a standard normal: a 90 % interval's half-width in sds."""
SHAPES = (
    ("daily, additive", 4),
    ("daily, multiplicative", 4),
    ("daily + weekly", 3),
    ("slow trend", 2),
    ("level shift", 2),
    ("bursty", 2),
    ("idle / batch", 2),
    ("constant", 1),
)
"""The fleet mix in twentieths: every block of 20 generated series holds exactly this mix, so
the first N of the list hold it too (up to rounding)."""


# Generated series ----------------------------------------------------------------------------


def generate(count: int, seed: int = 11) -> tuple[np.ndarray, list[str]]:
    """`count` series of HISTORY + HORIZON hourly points from a Monday 00:00, non-negative,
    and the shape of each."""
    rng = np.random.default_rng(seed)
    block = [name for name, share in SHAPES for _ in range(share)]
    shapes: list[str] = []
    while len(shapes) < count:
        shapes += list(rng.permutation(block))
    shapes = shapes[:count]
    hours = np.arange(HISTORY + HORIZON)
    values = np.stack([_series(shape, hours, rng) for shape in shapes])
    return np.clip(values, 0, None), shapes


def _series(shape: str, t: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    base = rng.lognormal(np.log(0.5), 1.0)
    n = len(t)
    # Busy hours around a peak hour, sharper or flatter: 0 at night, 1 at the peak.
    peak, sharpness = rng.uniform(9, 20), rng.uniform(1, 3)
    cycle = (0.5 * (1 + np.cos(2 * np.pi * (t % DAY - peak) / DAY))) ** sharpness
    noise = rng.uniform(0.05, 0.2)
    if shape == "daily, additive":
        amplitude = rng.uniform(0.3, 1.0)
        return base * (1 + amplitude * (cycle - cycle.mean()) + rng.normal(0, noise, n))
    if shape == "daily, multiplicative":
        level = 0.2 + rng.uniform(0.8, 3.0) * cycle
        return base * level * rng.lognormal(0, rng.uniform(0.1, 0.3), n)
    if shape == "daily + weekly":
        weekend = (t // DAY) % 7 >= 5
        factor = np.where(weekend, rng.uniform(0.1, 0.5), 1.0)
        return base * (0.2 + factor * cycle + rng.normal(0, noise, n))
    if shape == "slow trend":
        growth = rng.choice([-1, 1]) * rng.uniform(0.3, 1.0)
        trend = 1 + growth * t / n if growth > 0 else 1 / (1 - growth * t / n)
        return base * trend * (1 + rng.uniform(0, 0.3) * cycle + rng.normal(0, noise, n))
    if shape == "level shift":
        at = rng.integers(HISTORY - 14 * DAY, HISTORY - DAY)
        factor = rng.choice([rng.uniform(0.3, 0.7), rng.uniform(1.5, 3.0)])
        level = np.where(t >= at, factor, 1.0)
        return base * level * (1 + rng.uniform(0.2, 0.6) * cycle + rng.normal(0, noise, n))
    if shape == "bursty":
        k = rng.uniform(1, 3)
        values = base * rng.gamma(k, 1 / k, n)
        for start in np.flatnonzero(rng.random(n) < 0.01):
            values[start : start + rng.integers(1, 5)] *= rng.uniform(3, 8)
        return values
    if shape == "idle / batch":
        values = np.zeros(n)
        start, length = rng.integers(0, DAY), rng.integers(1, 4)
        for day in range(n // DAY):
            if rng.random() < 0.9:
                first = day * DAY + start
                values[first : first + length] = base * rng.uniform(0.8, 1.2)
        sporadic = rng.random(n) < 0.02
        values[sporadic] += base * rng.uniform(0.05, 0.5, int(sporadic.sum()))
        return values
    assert shape == "constant", shape
    return np.full(n, round(base, 3) or 0.001)


# Peak memory ---------------------------------------------------------------------------------


def _kib(status: str, field_name: str) -> int:
    found = re.search(rf"^{field_name}:\s+(\d+) kB", status, re.MULTILINE)
    return int(found.group(1)) if found else 0


def _read(path: str) -> str:
    try:
        with open(path) as handle:
            return handle.read()
    except OSError:
        return ""


def _children(parent: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            stat = _read(f"/proc/{entry}/stat")
            # The command name (in parentheses) may hold spaces: the ppid follows its end.
            fields = stat[stat.rfind(")") + 2 :].split()
            if len(fields) > 1 and int(fields[1]) == parent:
                found.append(int(entry))
    return found


@dataclass
class PeakMemory:
    """This process's peak RSS and its workers', over one `with` block, in MiB."""

    parent: float = 0.0
    workers: float = 0.0
    exact: bool = True
    """False where the parent's peak could not be reset: then it is the process's lifetime
    peak (ru_maxrss)."""
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> PeakMemory:
        try:
            with open("/proc/self/clear_refs", "w") as handle:
                handle.write("5")
        except OSError:
            self.exact = False
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()
        return self

    def _poll(self) -> None:
        while not self._stop.wait(0.1):
            self._sample()

    def _sample(self) -> None:
        peaks = [_kib(_read(f"/proc/{pid}/status"), "VmHWM") for pid in _children(os.getpid())]
        self.workers = max(self.workers, sum(peaks) / 1024)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join()
        if self.exact:
            self.parent = _kib(_read("/proc/self/status"), "VmHWM") / 1024
        else:
            self.parent = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    def __str__(self) -> str:
        parent = f"{self.parent:,.0f}" + ("" if self.exact else "*")
        return f"{parent} + {self.workers:,.0f}"


# Accuracy ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Accuracy:
    series: int
    mae: float
    pinball: float
    violations: float


@dataclass(frozen=True)
class Predictions:
    """Per series: the hourly mean path over the horizon and one static level."""

    paths: np.ndarray
    levels: np.ndarray


def per_series(
    predictions: Predictions, values: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per series: MAE of the path and pinball loss of the level, both over the series' mean
    (NaN where the mean is zero), and the share of held-out hours above the level."""
    future = values[:, HISTORY:]
    paths = np.clip(predictions.paths, 0, None)
    levels = np.clip(predictions.levels, 0, None)[:, None]
    scale = values.mean(axis=1)
    scale = np.where(scale > 0, scale, np.nan)
    shortfall = future - levels
    pinball = np.maximum((1 - RISK) * shortfall, -RISK * shortfall).mean(axis=1)
    mae = np.abs(future - paths).mean(axis=1)
    return mae / scale, pinball / scale, (future > levels).mean(axis=1), scale


def accuracy(predictions: Predictions, values: np.ndarray) -> Accuracy:
    mae, pinball, above, _ = per_series(predictions, values)
    return Accuracy(
        len(values), float(np.nanmean(mae)), float(np.nanmean(pinball)), float(np.mean(above))
    )


def compare_shapes(
    values: np.ndarray, shapes: list[str], methods: dict[str, Predictions]
) -> list[str]:
    """Per shape, each method's pinball/mean and violation rate on the same series; and the
    median over series, which one runaway forecast cannot move."""
    scored = {label: per_series(p, values) for label, p in methods.items()}
    lines = [f"{'shape':<22} {'series':>6}  " + "  ".join(f"{m[:22]:>22}" for m in methods)]
    lines.append(f"{'':<22} {'':>6}  " + "  ".join(f"{'pinball/m   viol.':>22}" for _ in methods))
    groups = [(shape, [i for i, s in enumerate(shapes) if s == shape]) for shape, _ in SHAPES]
    for shape, members in [*groups, ("all (mean)", list(range(len(shapes))))]:
        if not members:
            continue
        cells = [
            f"{np.nanmean(pin[members]):>14.4f} {np.mean(above[members]):>7.1%}"
            for _, pin, above, _ in scored.values()
        ]
        lines.append(f"{shape:<22} {len(members):>6,}  " + "  ".join(cells))
    cells = [
        f"{np.nanmedian(pin):>14.4f} {np.median(above):>7.1%}"
        for _, pin, above, _ in scored.values()
    ]
    lines.append(f"{'all (median)':<22} {len(shapes):>6,}  " + "  ".join(cells))
    return lines


def ours_predictions(forecasts: Sequence[Forecast]) -> Predictions:
    return Predictions(
        np.stack([f.mean for f in forecasts]),
        np.array([f.level(1 - RISK) for f in forecasts]),
    )


def normal_levels(means: np.ndarray, sds: np.ndarray) -> np.ndarray:
    """Per row, the level L with mean over hours of P(y_h > L) = RISK under N(mean_h, sd_h),
    by bisection (the share above falls as L rises)."""
    from scipy.stats import norm

    scale = np.maximum(np.abs(means).max(axis=1, keepdims=True), 1e-9)
    sds = np.maximum(sds, 1e-9 * scale)
    low = (means - 10 * sds).min(axis=1)
    high = (means + 10 * sds).max(axis=1)
    for _ in range(60):
        middle = (low + high) / 2
        above = norm.sf((middle[:, None] - means) / sds).mean(axis=1)
        low, high = np.where(above > RISK, middle, low), np.where(above > RISK, high, middle)
    return high


# The methods ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    seconds: float
    memory: PeakMemory
    forecasts: list[Forecast]
    hits: int


def run_ours(jobs: list[Job], path: Path, workers: int) -> Run:
    """What a scheduled run pays: open the cache at `path`, forecast, save."""
    with PeakMemory() as memory:
        start = time.perf_counter()
        cache = ForecastCache.open(path)
        forecasts = forecast_all(jobs, cache, workers=workers)
        cache.save()
        seconds = time.perf_counter() - start
    return Run(seconds, memory, forecasts, cache.hits)


def median_run(repeats: int, action: Callable[[int], Run]) -> Run:
    """The run with the median time of `repeats` (its memory and forecasts with it)."""
    runs = sorted((action(repeat) for repeat in range(repeats)), key=lambda run: run.seconds)
    return runs[(len(runs) - 1) // 2]


@dataclass(frozen=True)
class Baseline:
    seconds: float
    memory: PeakMemory
    predictions: Predictions
    notes: list[str]


def statsforecast_autoets(histories: np.ndarray, workers: int) -> Baseline | None:
    try:
        start = time.perf_counter()
        import pandas as pd
        from statsforecast import StatsForecast
        from statsforecast.models import AutoETS
    except ImportError as error:
        print(f"statsforecast is not installed here ({error}): its rows are skipped")
        return None
    imported = time.perf_counter() - start

    def frame(rows: np.ndarray) -> pd.DataFrame:
        stamps = pd.date_range("2026-01-05", periods=rows.shape[1], freq="h")
        return pd.DataFrame(
            {
                "unique_id": np.repeat([f"s{i:05d}" for i in range(len(rows))], rows.shape[1]),
                "ds": np.tile(stamps, len(rows)),
                "y": rows.ravel(),
            }
        )

    def run(rows: np.ndarray, jobs: int) -> pd.DataFrame:
        model = StatsForecast(models=[AutoETS(season_length=DAY)], freq="h", n_jobs=jobs)
        return model.forecast(df=frame(rows), h=HORIZON, level=[90])

    start = time.perf_counter()
    run(histories[:2], 1)
    warm_up = time.perf_counter() - start
    data = frame(histories)
    with PeakMemory() as memory:
        start = time.perf_counter()
        model = StatsForecast(models=[AutoETS(season_length=DAY)], freq="h", n_jobs=workers)
        out = model.forecast(df=data, h=HORIZON, level=[90])
        seconds = time.perf_counter() - start
    out = out.sort_values(["unique_id", "ds"])
    means = out["AutoETS"].to_numpy(dtype=float).reshape(len(histories), HORIZON)
    highs = out["AutoETS-hi-90"].to_numpy(dtype=float).reshape(len(histories), HORIZON)
    broken = ~np.isfinite(means).all(axis=1) | ~np.isfinite(highs).all(axis=1)
    # A series without a finite forecast is sized by its history's mean and spread, and said.
    fallback = histories.mean(axis=1, keepdims=True)
    means = np.where(broken[:, None], fallback, means)
    highs = np.where(broken[:, None], fallback + Z90 * histories.std(axis=1)[:, None], highs)
    levels = normal_levels(means, (highs - means) / Z90)
    notes = [
        f"AutoETS: import {imported:.1f} s, warm-up call on 2 series {warm_up:.1f} s "
        "(not timed; statsforecast 2 runs ETS in compiled code, there is no numba JIT)",
    ]
    if broken.any():
        notes.append(f"AutoETS: {int(broken.sum())} series without a finite forecast")
    return Baseline(seconds, memory, Predictions(means, levels), notes)


def naive_statsmodels(histories: np.ndarray) -> Baseline:
    """Holt-Winters fitted series by series with statsmodels' defaults, in this process."""
    from statsmodels.tsa.holtwinters import ExponentialSmoothing

    means, sds = np.empty((len(histories), HORIZON)), np.empty(len(histories))
    failed, warned = 0, 0
    with PeakMemory() as memory:
        start = time.perf_counter()
        for i, y in enumerate(histories):
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                try:
                    fit = ExponentialSmoothing(y, seasonal="add", seasonal_periods=DAY).fit()
                    means[i], sds[i] = fit.forecast(HORIZON), np.std(fit.resid)
                except Exception:
                    failed += 1
                    means[i], sds[i] = y.mean(), y.std()
            warned += bool(caught)
        seconds = time.perf_counter() - start
    bad = ~np.isfinite(means).all(axis=1) | ~np.isfinite(sds)
    means[bad] = histories[bad].mean(axis=1, keepdims=True)
    sds[bad] = histories[bad].std(axis=1)
    levels = normal_levels(means, np.repeat(sds[:, None], HORIZON, axis=1))
    notes = [
        f"statsmodels: {warned} of {len(histories)} fits warned (convergence), {failed} raised, "
        f"{int(bad.sum())} gave no finite forecast (sized by the history's mean and spread)"
    ]
    return Baseline(seconds, memory, Predictions(means, levels), notes)


# Report --------------------------------------------------------------------------------------


def row(
    method: str,
    series: int,
    seconds: float,
    full: int,
    memory: PeakMemory,
    score: Accuracy | None,
    measured_full: bool,
) -> str:
    per = seconds / series * 1000
    total = f"{seconds:,.1f} s" if measured_full else f"{per * full / 1000:,.0f} s extrapolated"
    scores = (
        f"{score.mae:>8.3f} {score.pinball:>9.4f} {score.violations:>7.1%}"
        if score
        else f"{'–':>8} {'–':>9} {'–':>7}"
    )
    return (
        f"{method:<27} {series:>6,} {per:>9.1f} {seconds:>9.1f} s  {total:<19} "
        f"{memory!s:>15}  {scores}"
    )


def header(full: int) -> str:
    full_label = f"for {full:,}"
    return (
        f"{'method':<27} {'series':>6} {'ms/series':>9} {'measured':>11}  {full_label:<19} "
        f"{'peak RSS MiB':>15}  {'MAE/mean':>8} {'pinball/m':>9} {'viol.':>7}"
    )


def per_shape(
    values: np.ndarray, shapes: list[str], forecasts: list[Forecast], sample: int
) -> list[str]:
    """Per shape: ms per series in this process, cold and warm-started the next day, on the
    first `sample` of the shape; the models chosen; accuracy over every series of it."""
    lines = [
        f"{'shape':<22} {'series':>6} {'cold ms':>8} {'warm ms':>8} "
        f"{'MAE/mean':>8} {'pinball/m':>9} {'viol.':>7}  models chosen (share)"
    ]
    predictions = ours_predictions(forecasts)
    for shape, _ in SHAPES:
        members = [i for i, s in enumerate(shapes) if s == shape]
        if not members:
            continue
        timed = members[:sample]
        start = time.perf_counter()
        fitted = [forecast(values[i, :HISTORY], HORIZON) for i in timed]
        cold = (time.perf_counter() - start) / len(timed) * 1000
        warm: list[Warm] = [f.warm() for f in fitted]
        start = time.perf_counter()
        for i, given in zip(timed, warm, strict=True):
            forecast(values[i, DAY : HISTORY + DAY], HORIZON, given)
        warmed = (time.perf_counter() - start) / len(timed) * 1000
        chosen = Counter(forecasts[i].model for i in members)
        models = ", ".join(
            f"{name} {count / len(members):.0%}" for name, count in chosen.most_common(3)
        )
        part = Predictions(predictions.paths[members], predictions.levels[members])
        score = accuracy(part, values[members])
        lines.append(
            f"{shape:<22} {len(members):>6,} {cold:>8.1f} {warmed:>8.1f} "
            f"{score.mae:>8.3f} {score.pinball:>9.4f} {score.violations:>7.1%}  {models}"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=5000)
    parser.add_argument("--baseline-series", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    began = time.perf_counter()
    values, shapes = generate(args.series)
    subset = min(args.baseline_series, args.series)
    print(
        f"{args.series:,} generated series of {HISTORY} hourly points + {HORIZON} held out; "
        f"{args.workers} workers on {os.cpu_count()} cores; Python {sys.version.split()[0]}"
    )
    print("mix: " + ", ".join(f"{name} {share * 5} %" for name, share in SHAPES))
    jobs = [Job(values[i, :HISTORY], HORIZON, series_id=f"s{i}") for i in range(args.series)]
    next_day = [
        Job(values[i, DAY : HISTORY + DAY], HORIZON, series_id=f"s{i}") for i in range(args.series)
    ]
    lines = [header(args.series)]
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="rightsizer-forecast-") as scratch:
        folder = Path(scratch)
        cold_file = folder / "cold.sqlite"

        def cold(repeat: int) -> Run:
            path = folder / f"cold-{repeat}.sqlite"
            run = run_ours(jobs, path, args.workers)
            shutil.copy(path, cold_file)
            return run

        def warm(repeat: int) -> Run:
            path = folder / f"warm-{repeat}.sqlite"
            shutil.copy(cold_file, path)
            return run_ours(jobs, path, args.workers)

        def day_on(repeat: int) -> Run:
            path = folder / f"next-{repeat}.sqlite"
            shutil.copy(cold_file, path)
            return run_ours(next_day, path, args.workers)

        runs = {
            "ours, cold": median_run(args.repeats, cold),
            "ours, warm (same data)": median_run(args.repeats, warm),
            "ours, next day (warm-start)": median_run(args.repeats, day_on),
        }
        size = cold_file.stat().st_size / 2**20
        ours_all = accuracy(ours_predictions(runs["ours, cold"].forecasts), values)
        for label, run in runs.items():
            score = ours_all if label == "ours, cold" else None
            lines.append(row(label, args.series, run.seconds, args.series, run.memory, score, True))
        notes.append(
            f"ours: cache file {size:.1f} MiB; hits warm {runs['ours, warm (same data)'].hits:,}, "
            f"next day {runs['ours, next day (warm-start)'].hits:,}; medians of {args.repeats}"
        )
        small = median_run(
            args.repeats,
            lambda repeat: run_ours(
                jobs[:subset], folder / f"subset-{repeat}.sqlite", args.workers
            ),
        )
    lines.append("")
    ours_subset = accuracy(ours_predictions(small.forecasts), values[:subset])
    lines.append(
        row("ours, cold", subset, small.seconds, args.series, small.memory, ours_subset, False)
    )
    histories = values[:subset, :HISTORY]
    baselines: dict[str, tuple[Baseline, Accuracy]] = {}
    autoets = statsforecast_autoets(histories, args.workers)
    if autoets is not None:
        baselines["statsforecast AutoETS"] = (
            autoets,
            accuracy(autoets.predictions, values[:subset]),
        )
    naive = naive_statsmodels(histories)
    baselines["statsmodels HW, naive"] = (naive, accuracy(naive.predictions, values[:subset]))
    for label, (baseline, score) in baselines.items():
        lines.append(
            row(label, subset, baseline.seconds, args.series, baseline.memory, score, False)
        )
        notes += baseline.notes

    print()
    print("\n".join(lines))
    print(
        "peak RSS: this process + its workers together (sum of live workers' peaks, sampled "
        "every 0.1 s); MAE/mean: of the hourly mean path; pinball/m: p95 pinball loss of one "
        "static level over the series' mean; viol.: share of held-out hours above that level "
        "(target 5 %). Baselines timed once; ours' subset row: median of repeats."
    )
    for note in notes:
        print(note)

    print()
    print(
        f"ours vs the baselines on the same {subset:,} series "
        "(ratios theirs / ours: above 1, ours is faster or more accurate):"
    )
    for label, (baseline, score) in baselines.items():
        speed = baseline.seconds / small.seconds
        print(
            f"  {label}: time per series {baseline.seconds / subset * 1000:.1f} ms vs ours "
            f"{small.seconds / subset * 1000:.1f} ms ({speed:.1f}x); "
            f"MAE/mean {score.mae / ours_subset.mae:.2f}x; "
            f"pinball/mean {score.pinball / ours_subset.pinball:.2f}x; "
            f"violations {score.violations:.1%} vs ours {ours_subset.violations:.1%}"
        )
    cold_s = runs["ours, cold"].seconds
    warm_s = runs["ours, warm (same data)"].seconds
    print(
        f"aim: {args.series:,} series cold in {cold_s:.1f} s (aim 60 s), warm in {warm_s:.2f} s "
        f"(aim 5 s); the aim is stated for 5,000 series on 2 cores"
    )

    print()
    print(f"accuracy per shape on the same {subset:,} series")
    methods = {"ours": ours_predictions(small.forecasts)}
    methods.update({label: baseline.predictions for label, (baseline, _) in baselines.items()})
    print("\n".join(compare_shapes(values[:subset], shapes[:subset], methods)))
    print()
    print(f"ours per shape (accuracy over all {args.series:,} series; ms in this process, 1 core)")
    print("\n".join(per_shape(values, shapes, runs["ours, cold"].forecasts, sample=10)))

    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print()
    print(
        f"getrusage over the whole run: RUSAGE_SELF ru_maxrss {own:,.0f} MiB (this process), "
        f"RUSAGE_CHILDREN ru_maxrss {children:,.0f} MiB (the largest single child)"
    )
    print(f"wall time of the whole benchmark: {time.perf_counter() - began:.0f} s")


if __name__ == "__main__":
    main()
