"""What the SQLite forecast cache costs against the pickle it replaced.

Why: the cache moved from pickle (which runs code when loaded) to SQLite with float64
blobs; a warm run reads and writes it whole, so its cost is part of the daily rerun's.
Prints the median over repeats of save and open for N synthetic forecasts (a week's hourly
path and the 201-quantile distribution each, as real ones hold), the same for
pickle.dumps/loads of the same objects in this process, the ratios and the file sizes.

    python benchmarks/forecast_cache.py [--forecasts 10000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import pickle
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from recommenders.forecasters.cache import ForecastCache
from recommenders.forecasters.forecaster import QUANTILES, Forecast


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--forecasts", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    rng = np.random.default_rng(1)
    with tempfile.TemporaryDirectory(prefix="rightsizer-cache-") as scratch:
        cache = ForecastCache(Path(scratch) / "forecasts.sqlite")
        for i in range(args.forecasts):
            forecast = Forecast(
                "Holt-Winters (24 h)",
                {"alpha": rng.random(), "beta": rng.random()},
                rng.random(168),
                np.sort(rng.random(len(QUANTILES))),
                tuple(rng.random(3)),
                "lowest error of 5 models in a backtest over the last 3 × 168 h",
                False,
                {"robust level (median)": 0.2, "Holt-Winters (24 h)": 0.1},
            )
            cache.store(f"key-{i}", f"shop/api-{i}/cpu", forecast)
        ours = [
            _timed(cache.save, lambda: ForecastCache.open(cache.path)) for _ in range(args.repeats)
        ]
        stored = {"forecasts": cache.forecasts, "warm": cache.warm_starts}
        blob = b""

        def dump() -> None:
            nonlocal blob
            blob = pickle.dumps(stored, protocol=pickle.HIGHEST_PROTOCOL)

        base = [_timed(dump, lambda: pickle.loads(blob)) for _ in range(args.repeats)]
        size = cache.path.stat().st_size if cache.path else 0
    save, load = (statistics.median(t[i] for t in ours) for i in (0, 1))
    dumped, loaded = (statistics.median(t[i] for t in base) for i in (0, 1))
    print(f"{args.forecasts:,} forecasts, median of {args.repeats}")
    print(f"  sqlite  save {save:.3f} s  open {load:.3f} s  file {size / 2**20:.1f} MiB")
    print(f"  pickle  dump {dumped:.3f} s  load {loaded:.3f} s  bytes {len(blob) / 2**20:.1f} MiB")
    print(f"  ratio   save {save / dumped:.2f}x  open {load / loaded:.2f}x")


def _timed(write, read) -> tuple[float, float]:
    start = time.perf_counter()
    write()
    middle = time.perf_counter()
    read()
    return middle - start, time.perf_counter() - middle


if __name__ == "__main__":
    main()
