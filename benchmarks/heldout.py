"""Held-out check of the sizing strategies on generated traces the project was never tuned to.

Why: the default strategy's settings and the forecasters' choices were checked on the public
NAB traces, which hold few of the shapes a Kubernetes fleet shows: growth and decline over
weeks, a release that raises the level, weekday/weekend cycles, a nightly batch job on an
otherwise idle container, heavy-tailed noise. A strategy that only looks good on the traces it
was tuned on would show it here. The traces are written to a CSV and go through the same path
as `rightsizer backtest` (`read_series`, `run_backtest`, `score`), in this process, with a
7-day train, 7-day horizon and daily origins: 15 windows per 28-day series.

Printed: the score table (p95 pinball loss over the series' mean, violation rate, share of
bad windows, mean capacity relative to vpa and to the oracle, the horizon's own p95) over all
series and per shape, and the time each stage took. Samples are 5 minutes apart, 8,064 per
series; the default 300 series (2.4 M rows) take about two minutes (`run_backtest` fits
the default strategy's forecasts on every core through `Strategy.prepare`).

    python benchmarks/heldout.py [--series 300] [--seed 5]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from recommenders.backtest import BacktestPlan, Score, read_series, run_backtest, score

STEP_MINUTES, DAYS = 5, 28
PER_HOUR = 60 // STEP_MINUTES
PER_DAY = 24 * PER_HOUR
SHAPES = (
    "trend up",
    "trend down",
    "level shift up",
    "weekday/weekend",
    "multiplicative daily + bursts",
    "idle + daily batch",
    "heavy-tailed noise",
)
PLAN = BacktestPlan(
    pd.Timedelta("7D"),
    pd.Timedelta("7D"),
    pd.Timedelta("1D"),
    "cpu",
    ("default", "vpa", "krr-simple"),
)


def generate(count: int, seed: int) -> tuple[np.ndarray, list[str]]:
    """`count` series of 28 days of 5-minute CPU usage (cores) from a Monday, shapes in turn."""
    rng = np.random.default_rng(seed)
    shapes = [SHAPES[i % len(SHAPES)] for i in range(count)]
    hours = np.arange(DAYS * PER_DAY) / PER_HOUR
    return np.stack([np.clip(_series(s, hours, rng), 0, None) for s in shapes]), shapes


def _series(shape: str, hours: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    n, span = len(hours), hours[-1]
    base = rng.lognormal(np.log(0.3), 1.0)
    peak, sharpness = rng.uniform(9, 20), rng.uniform(1, 3)
    cycle = (0.5 * (1 + np.cos(2 * np.pi * (hours % 24 - peak) / 24))) ** sharpness
    noise = rng.normal(0, rng.uniform(0.05, 0.2), n)
    daily = 1 + rng.uniform(0.2, 0.8) * cycle
    if shape == "trend up":
        return base * (1 + rng.uniform(0.5, 1.5) * hours / span) * (daily + noise)
    if shape == "trend down":
        return base / (1 + rng.uniform(0.5, 1.5) * hours / span) * (daily + noise)
    if shape == "level shift up":
        at = rng.uniform(11, 17) * 24
        return base * np.where(hours >= at, rng.uniform(1.5, 3.0), 1.0) * (daily + noise)
    if shape == "weekday/weekend":
        weekend = (hours // 24) % 7 >= 5
        factor = np.where(weekend, rng.uniform(0.1, 0.5), 1.0)
        return base * (0.2 + factor * rng.uniform(0.8, 2.0) * cycle + noise)
    if shape == "multiplicative daily + bursts":
        values = base * (0.2 + rng.uniform(1, 3) * cycle) * rng.lognormal(0, 0.25, n)
        for start in np.flatnonzero(rng.random(n) < 0.004):
            values[start : start + rng.integers(1, 7)] *= rng.uniform(2, 6)
        return values
    if shape == "idle + daily batch":
        values = base * 0.01 * rng.gamma(2, 0.5, n)
        start = int(rng.integers(0, PER_DAY))
        length = int(rng.integers(3, 19))  # 15 to 90 minutes
        for day in range(DAYS):
            if rng.random() < 0.9:
                first = day * PER_DAY + start + int(rng.integers(-2, 3))
                values[max(0, first) : first + length] += base * rng.uniform(0.7, 1.3)
        return values
    assert shape == "heavy-tailed noise", shape
    tail = rng.standard_t(rng.uniform(1.5, 3.0), n)
    return base * (1 + 0.3 * cycle + rng.uniform(0.05, 0.15) * tail)


def write_csv(path: Path, values: np.ndarray) -> None:
    stamps = pd.date_range("2026-01-05", periods=values.shape[1], freq=f"{STEP_MINUTES}min")
    text = stamps.strftime("%Y-%m-%dT%H:%M:%SZ").to_numpy()
    pd.DataFrame(
        {
            "series_id": np.repeat([f"h{i:04d}" for i in range(len(values))], values.shape[1]),
            "timestamp": np.tile(text, len(values)),
            "value": values.ravel(),
        }
    ).to_csv(path, index=False, float_format="%.6g")


def table(scores: list[Score]) -> list[str]:
    lines = [
        f"  {'strategy':<11} {'windows':>7} {'pinball/mean':>12} {'violations':>10} "
        f"{'bad windows':>11} {'vs vpa':>7} {'vs oracle':>9}"
    ]
    for s in sorted(scores, key=lambda s: s.pinball):
        vpa = "–" if s.capacity_vs_vpa is None else f"{s.capacity_vs_vpa:.2f}x"
        lines.append(
            f"  {s.strategy:<11} {s.windows:>7,} {s.pinball:>12.4f} {s.violation_rate:>10.1%} "
            f"{s.bad_windows:>11.1%} {vpa:>7} {s.capacity_vs_oracle:>8.2f}x"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=300)
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args()
    began = time.perf_counter()
    values, shapes = generate(args.series, args.seed)
    with tempfile.TemporaryDirectory(prefix="rightsizer-heldout-") as scratch:
        path = Path(scratch) / "series.csv"
        start = time.perf_counter()
        write_csv(path, values)
        written = time.perf_counter() - start
        megabytes = path.stat().st_size / 2**20
        start = time.perf_counter()
        series = read_series(path)
        read = time.perf_counter() - start
    start = time.perf_counter()
    results = run_backtest(series, PLAN)
    replayed = time.perf_counter() - start
    start = time.perf_counter()
    overall = score(results, series, PLAN.horizon)
    scored = time.perf_counter() - start
    print(
        f"{args.series} generated series x {values.shape[1]:,} samples ({STEP_MINUTES} min, "
        f"{DAYS} days), {len(SHAPES)} shapes in turn; train {PLAN.train.days} d, horizon "
        f"{PLAN.horizon.days} d, step {PLAN.step.days} d, metric {PLAN.metric}"
    )
    print(
        f"times: write CSV {written:.1f} s ({megabytes:.0f} MiB), read_series {read:.1f} s, "
        f"run_backtest {replayed:.1f} s ({len(results):,} sizings, "
        f"{replayed / max(1, len(results)) * 1000:.1f} ms each), score {scored:.1f} s"
    )
    print()
    print(f"all {len(series)} series (pinball/mean: p95 pinball loss over the series' mean)")
    print("\n".join(table(overall)))
    names = np.array([f"h{i:04d}" for i in range(args.series)])
    for shape in SHAPES:
        members = set(names[[s == shape for s in shapes]])
        if not members:
            continue
        part = results[results["series_id"].isin(members)]
        print()
        print(f"{shape} ({len(members)} series)")
        print("\n".join(table(score(part, {n: series[n] for n in members}, PLAN.horizon))))
    print()
    print(
        "violations: share of horizon samples above capacity (target 5 % for default); bad "
        "windows: more than 20 % of a horizon above it; vs: mean capacity relative to vpa and "
        "to the oracle (the horizon's own p95)."
    )
    print(f"wall time: {time.perf_counter() - began:.0f} s")


if __name__ == "__main__":
    main()
