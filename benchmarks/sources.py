"""Loading a large utilisation export: time and peak memory, CSV and Parquet.

Why: a platform team's export for one run is millions of rows (5,000 workloads, 10 series
each); the loader validates every cell, converts units and counts gaps, and must still be a
small part of a run. Each measurement runs in a fresh process so that peak RSS is its own.
The baseline is pandas' pyarrow CSV reader on the same file with no validation, run in the
same way, so the ratio shows what validation costs.

    python benchmarks/sources.py [--workloads 5000] [--samples 30] [--repeat 3]

Peak memory is also given as a multiple of the CSV's size: issue #16 bounds a 1 GB export
at twice its size (`--workloads 1750 --samples 720` writes 1 GB).

Rows = workloads x 10 series (3 containers x cpu, memory, cpu request, and replicas) x
samples. The default, 30 daily samples, is the issue's 1.5 M rows.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
METRICS = ("cpu_cores", "memory_bytes", "cpu_request_cores")

LOAD = """
import json, sys, time
# A forked child starts with its parent's peak RSS (ru_maxrss survives exec), and the parent
# held the generated frame: the peak is reset here, and read from VmHWM at the end.
with open("/proc/self/clear_refs", "w") as handle:
    handle.write("5")
sys.path.insert(0, {root!r})
start = time.perf_counter()
if {baseline!r}:
    import pandas as pd
    rows = len(pd.read_csv({path!r}, engine="pyarrow"))
else:
    from pathlib import Path
    from recommenders.sources.registry import load_utilisation
    usage = load_utilisation(Path({path!r}))
    rows = usage.rows
seconds = time.perf_counter() - start
with open("/proc/self/status") as handle:
    peak = next(int(line.split()[1]) * 1024 for line in handle if line.startswith("VmHWM:"))
print(json.dumps({{"seconds": seconds, "peak": peak, "rows": rows}}))
"""


def generate(directory: Path, workloads: int, samples: int) -> tuple[Path, Path]:
    rng = np.random.default_rng(7)
    stamps = pd.date_range("2026-10-28", periods=samples, freq="D", tz="UTC")
    names = np.array([f"svc-{i:05d}" for i in range(workloads)])
    series = [
        (container, metric) for container in ("app", "sidecar", "proxy") for metric in METRICS
    ]
    series.append(("", "replicas"))
    parts = []
    for container, metric in series:
        base = {"cpu_cores": 0.3, "memory_bytes": 3e8, "cpu_request_cores": 0.5, "replicas": 3}
        values = base[metric] * rng.uniform(0.5, 1.5, size=(workloads, samples))
        if metric == "replicas":
            values = np.rint(values)
        parts.append(
            pd.DataFrame(
                {
                    "timestamp": np.tile(stamps.strftime("%Y-%m-%dT%H:%M:%SZ"), workloads),
                    "environment": "prod",
                    "namespace": np.repeat(names, samples),
                    "kind": "Deployment",
                    "workload": np.repeat(names, samples),
                    "container": container,
                    "metric": metric,
                    "value": values.ravel().round(4),
                }
            )
        )
    frame = pd.concat(parts, ignore_index=True)
    csv_path, parquet_path = directory / "usage.csv", directory / "usage.parquet"
    frame.to_csv(csv_path, index=False)
    frame.astype(str).to_parquet(parquet_path)
    return csv_path, parquet_path


def measure(path: Path, baseline: bool, repeat: int) -> dict[str, float]:
    runs = []
    for _ in range(repeat):
        code = LOAD.format(root=str(ROOT), path=str(path), baseline=baseline)
        output = subprocess.run(
            [sys.executable, "-c", code], check=True, capture_output=True, text=True
        ).stdout
        runs.append(json.loads(output))
    return {
        "seconds": statistics.median(run["seconds"] for run in runs),
        "peak_gib": statistics.median(run["peak"] for run in runs) / 2**30,
        "rows": runs[0]["rows"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workloads", type=int, default=5000)
    parser.add_argument("--samples", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temp:
        csv_path, parquet_path = generate(Path(temp), args.workloads, args.samples)
        size = csv_path.stat().st_size / 2**20
        size_gib = size / 1024
        print(
            f"{args.workloads} workloads x 10 series x {args.samples} samples, CSV {size:.0f} MiB"
        )
        print(f"medians of {args.repeat} fresh processes (2 cores; imports included in peak RSS)")
        baseline = measure(csv_path, baseline=True, repeat=args.repeat)
        for label, path in (("CSV", csv_path), ("Parquet", parquet_path)):
            result = measure(path, baseline=False, repeat=args.repeat)
            print(
                f"load_utilisation {label:8} {result['rows']:>10,} rows  "
                f"{result['seconds']:6.2f} s  peak {result['peak_gib']:.2f} GiB "
                f"= {result['peak_gib'] / size_gib:.2f}x the CSV  "
                f"({result['seconds'] / baseline['seconds']:.1f}x pandas read_csv's time)"
            )
        print(
            f"baseline read_csv (pyarrow, no checks)      {baseline['seconds']:6.2f} s  "
            f"peak {baseline['peak_gib']:.2f} GiB = {baseline['peak_gib'] / size_gib:.2f}x the CSV"
        )


if __name__ == "__main__":
    main()
