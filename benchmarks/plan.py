"""A whole `rightsizer plan` on a generated monorepo: cold, warm and the next day.

Why: the service plans every repository every day (issue #17). A monorepo of N services
with dev/staging/prod overlays (3N workloads, HPAs on some, one to three containers) and
30 days of hourly CPU, memory and replicas for each workload is generated; `rightsizer
plan --format json` then runs in a fresh process three times:

- cold: an empty forecast cache;
- warm: the same inputs and cache again;
- next day: one day appended to the export and the oldest dropped, the same cache.

Wall time and the peak memory of the process tree (the forecast workers included, polled
from /proc every 50 ms) are printed; `--profile` also writes a cProfile of the cold run.

    python benchmarks/plan.py [--services 1667] [--profile plan.prof]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from generate_monorepo import generate

from bot.manifests.inventory import build_inventory

ROOT = Path(__file__).resolve().parent.parent
COST = ROOT / "fixtures" / "exports" / "cost.csv"
END = pd.Timestamp("2026-11-27T00:00:00Z")
DAYS = 30
GIT = {"GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@example.com",
       "GIT_COMMITTER_NAME": "b", "GIT_COMMITTER_EMAIL": "b@example.com"}  # fmt: skip


def monorepo(directory: Path, services: int) -> Path:
    repo = directory / "repo"
    generate(repo, services)
    env = {**os.environ, **GIT}
    for command in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-qm", "x"]):
        subprocess.run(["git", "-C", str(repo), *command], check=True, env=env)
    return repo


def exports(repo: Path, directory: Path) -> tuple[Path, Path, int]:
    """Today's export and tomorrow's (one day on, the oldest dropped), and the workloads."""
    workloads = build_inventory(repo).workloads
    stamps = pd.date_range(END - pd.Timedelta(days=DAYS), periods=(DAYS + 1) * 24, freq="h")
    hours = np.arange(len(stamps))
    daily = 1 + 0.4 * np.sin(2 * np.pi * (hours % 24) / 24)
    rng = np.random.default_rng(7)
    today, tomorrow = directory / "today.csv", directory / "tomorrow.csv"
    writers = {}
    try:
        for workload in workloads:
            series = [("", "replicas", np.rint(3 * daily + rng.uniform(0, 1, len(hours))))]
            for container in workload.containers:
                level = rng.uniform(0.05, 1.0)
                cpu = level * daily * rng.lognormal(0, 0.2, len(hours))
                memory = rng.uniform(1e8, 2e9) * (1 + 0.05 * rng.standard_normal(len(hours)))
                series += [
                    (container.name, "cpu_cores", cpu),
                    (container.name, "memory_bytes", memory),
                ]
            for path, window in ((today, slice(0, DAYS * 24)), (tomorrow, slice(24, None))):
                count = len(hours[window])
                columns = {
                    "timestamp": np.tile(
                        stamps[window].strftime("%Y-%m-%dT%H:%M:%SZ"), len(series)
                    ),
                    "environment": [workload.environment] * count * len(series),
                    "namespace": [workload.namespace] * count * len(series),
                    "kind": [workload.kind] * count * len(series),
                    "workload": [workload.name] * count * len(series),
                    "container": np.repeat([c for c, _, _ in series], count),
                    "metric": np.repeat([m for _, m, _ in series], count),
                    "value": np.concatenate([v[window].round(5) for _, _, v in series]),
                }
                table = pa.table(columns)
                if path not in writers:
                    writers[path] = pa_csv.CSVWriter(path, table.schema)
                writers[path].write_table(table)
    finally:
        for writer in writers.values():
            writer.close()
    return today, tomorrow, len(workloads)


def tree_rss(pid: int) -> int:
    """Resident bytes of `pid` and all its descendants."""
    total, pending = 0, [pid]
    while pending:
        current = pending.pop()
        try:
            with open(f"/proc/{current}/status") as handle:
                total += next(
                    int(line.split()[1]) * 1024 for line in handle if line.startswith("VmRSS:")
                )
            with open(f"/proc/{current}/task/{current}/children") as handle:
                pending += [int(child) for child in handle.read().split()]
        except (FileNotFoundError, ProcessLookupError, StopIteration):
            continue
    return total


def plan(
    repo: Path, usage: Path, cache: Path, as_of: pd.Timestamp, profile: Path | None
) -> tuple[float, int]:
    command = [sys.executable]
    if profile is not None:
        command += ["-m", "cProfile", "-o", str(profile)]
    command += ["-m", "bot.cli", "plan", "--repo", str(repo), "--utilisation", str(usage),
                "--cost", str(COST), "--format", "json", "--forecast-cache", str(cache),
                "--as-of", as_of.isoformat()]  # fmt: skip
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = 0
    while process.poll() is None:
        peak = max(peak, tree_rss(process.pid))
        time.sleep(0.05)
    seconds = time.perf_counter() - started
    if process.returncode != 0:
        sys.exit(process.stderr.read().decode() if process.stderr else "plan failed")
    return seconds, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=1667)
    parser.add_argument("--profile", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="rightsizer-plan-") as scratch:
        directory = Path(scratch)
        began = time.perf_counter()
        repo = monorepo(directory, args.services)
        today, tomorrow, count = exports(repo, directory)
        size = today.stat().st_size / 2**20
        print(f"{args.services} services, {count} workloads, 30 d hourly: export {size:.0f} MiB "
              f"(generated in {time.perf_counter() - began:.0f} s); 2 cores")  # fmt: skip
        cache = directory / "forecasts.sqlite"
        runs = [
            ("cold", today, END, args.profile),
            ("warm", today, END, None),
            ("next day", tomorrow, END + pd.Timedelta(days=1), None),
        ]
        for label, usage, as_of, profile in runs:
            seconds, peak = plan(repo, usage, cache, as_of, profile)
            print(f"{label:9} {seconds:7.1f} s  peak {peak / 2**30:.2f} GiB (process tree)")


if __name__ == "__main__":
    main()
