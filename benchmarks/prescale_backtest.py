"""Pre-scaling's backtest on the public utilisation traces in ../shared/corpus/utilisation.

Why: issue #20 asks how much capacity scheduled minimums save against a flat minimum at the
same violation rate. Each NAB series (5-minute steps) is averaged into hours and read as a
workload's demand, in pods, with one pod serving a third of the series' median (so a quiet
hour needs about three). `recommenders.prescale` then builds its schedule and its own
leave-one-week-out backtest over the last three whole weeks: the share of held-out hours
short of the schedule's minimum, and the replica-hours the schedule holds fewer than the
flat minimum that would have been short of the same week as rarely, printed for every
series whether or not it passes. Series shorter than three whole weeks (the 14-day
CloudWatch ones) get no schedule, as a workload would not.

    python benchmarks/prescale_backtest.py [--corpus ../shared/corpus] [--risk 0.05]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from recommenders.prescale import PERIODS, backtest, needed_replicas, prescale


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=Path("../shared/corpus"))
    parser.add_argument("--risk", type=float, default=0.05)
    args = parser.parse_args()
    files = sorted((args.corpus / "utilisation").glob("nab_*/*.csv"))
    if not files:
        sys.exit(f"no utilisation traces under {args.corpus / 'utilisation'}")
    print(f"risk {args.risk:.0%}; one pod serves a third of each series' hourly median")
    print(f"{'series':44} {'weeks':>5} {'period':>6} {'triggers':>9} {'short':>6} "
          f"{'flat short':>10} {'saved':>6}")  # fmt: skip
    savings = []
    for path in files:
        frame = pd.read_csv(path, parse_dates=["timestamp"]).drop_duplicates("timestamp")
        hourly = frame.set_index("timestamp")["value"].tz_localize("UTC").resample("1h").mean()
        needed = needed_replicas(hourly, float(hourly.median()) / 3)
        weeks = len(needed) // 168
        schedule = prescale(needed, "UTC", risk=args.risk)
        tests = [backtest(needed, "UTC", period, risk=args.risk) for period in PERIODS]
        test = max((t for t in tests if t is not None), default=None, key=lambda t: t.saving)
        name = f"{path.parent.name}/{path.stem}"
        if test is None:
            print(f"{name:44} {weeks:>5} {'too short':>9}")
            continue
        savings.append(test.saving)
        shown = "none" if schedule is None else str(len(schedule.triggers))
        print(
            f"{name:44} {weeks:>5} {test.period:>6} {shown:>9} {test.violation:>6.1%} "
            f"{test.flat_violation:>10.1%} {test.saving:>6.0%}"
        )
    if savings:
        print(
            f"median capacity saved at the same violation rate: {statistics.median(savings):.0%} "
            f"over {len(savings)} series of three whole weeks or more (`triggers`: none where "
            f"the backtest does not confirm a pattern: short over {1.5 * args.risk:.1%} of "
            "held-out hours, or saving under 15 %)"
        )


if __name__ == "__main__":
    main()
