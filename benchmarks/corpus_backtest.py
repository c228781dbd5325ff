"""The strategies' backtest on the public utilisation traces in ../shared/corpus/utilisation.

Why: the issue that judges decision quality scores `default` against `krr-simple`, `vpa`
and the oracle (each horizon's own p95) on real traces; these eleven NAB series (AWS
CloudWatch and tweet volumes, 5-minute steps) are the public part of that kind of data. The
series go through the same path as `rightsizer backtest` and `benchmarks/heldout.py` (the
same plan: 7-day train, 7-day horizon, daily origins), and the table is printed the same way.

    python benchmarks/corpus_backtest.py [--corpus ../shared/corpus]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from heldout import PLAN, table

from recommenders.backtest import read_series, run_backtest, score


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=Path("../shared/corpus"))
    args = parser.parse_args()
    files = sorted((args.corpus / "utilisation").glob("nab_*/*.csv"))
    if not files:
        sys.exit(f"no utilisation traces under {args.corpus / 'utilisation'}")
    began = time.perf_counter()
    frames, repeated = [], 0
    for path in files:
        frame = pd.read_csv(path)
        # NAB's CloudWatch exports repeat a timestamp at a DST change: the first one is kept.
        repeated += int(frame["timestamp"].duplicated().sum())
        frame = frame.drop_duplicates("timestamp")
        frame.insert(0, "series_id", f"{path.parent.name}/{path.stem}")
        frames.append(frame)
    with tempfile.TemporaryDirectory(prefix="rightsizer-corpus-") as scratch:
        combined = Path(scratch) / "series.csv"
        pd.concat(frames).to_csv(combined, index=False)
        series = read_series(combined)
    results = run_backtest(series, PLAN)
    print(
        f"{len(series)} corpus series ({', '.join(sorted({p.parent.name for p in files}))}); "
        f"train {PLAN.train.days} d, horizon {PLAN.horizon.days} d, step {PLAN.step.days} d; "
        f"{repeated} repeated timestamps dropped"
    )
    print("\n".join(table(score(results, series, PLAN.horizon))))
    print(f"wall time: {time.perf_counter() - began:.0f} s")


if __name__ == "__main__":
    main()
