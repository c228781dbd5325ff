"""A whole `rightsizer plan` at scale: cold, warm, the next day, and the growth series.

Why: the service plans every repository every day (issue #17). A monorepo of N services
with dev/staging/prod overlays (3N workloads, HPAs on some, one or two containers each) and
30 days of hourly CPU, memory and replicas for each workload is generated (seeded, any
size); `rightsizer plan --format json --timings` then runs in a fresh process:

- cold: an empty forecast cache;
- warm: the same inputs and cache again;
- next day: one day appended to the export and the oldest dropped, the same cache;

`--repeats` times each (a fresh cache for every cold run), and the medians are printed with
each stage's time (from `--timings`) and the peak memory of the process tree (the forecast
workers included, their proportional set sizes polled from /proc every 50 ms).
`--baseline DIR` (a checkout of an earlier commit, e.g. `git worktree add /tmp/base <rev>`)
runs the same plans with that code, interleaved with these on the same data, and prints each
median's ratio to the baseline's: these machines drift by a third between hours, so only a
ratio measured side by side says what a change did. The growth series then plans cold once
at each size of `--growth` (services; exports in Parquet, as 20,000 workloads of CSV pass
the default 4 GiB export limit) and prints the cost per workload against the smallest size.

    python benchmarks/scale.py [--services 1667] [--repeats 3] [--growth 167,667,...]
                               [--profile plan.prof] [--baseline /tmp/base]

`--profile plan.prof` writes cProfile stats of the first cold, warm and next-day runs to
`plan-cold.prof`, `plan-warm.prof` and `plan-next.prof`.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

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


def exports(repo: Path, directory: Path, parquet: bool = False) -> tuple[Path, Path, int]:
    """Today's export and tomorrow's (one day on, the oldest dropped), and the workloads."""
    workloads = build_inventory(repo).workloads
    stamps = pd.date_range(END - pd.Timedelta(days=DAYS), periods=(DAYS + 1) * 24, freq="h")
    hours = np.arange(len(stamps))
    daily = 1 + 0.4 * np.sin(2 * np.pi * (hours % 24) / 24)
    rng = np.random.default_rng(7)
    suffix = ".parquet" if parquet else ".csv"
    today, tomorrow = directory / f"today{suffix}", directory / f"tomorrow{suffix}"
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
                    kind = pq.ParquetWriter if parquet else pa_csv.CSVWriter
                    writers[path] = kind(path, table.schema)
                writers[path].write_table(table)
    finally:
        for writer in writers.values():
            writer.close()
    return today, tomorrow, len(workloads)


def tree_processes(pid: int) -> list[int]:
    """`pid` and its descendants, whichever of their threads started them, but for a child
    whose command line is still its parent's: it has not run its own program yet, and
    shares its parent's memory (vfork) or a copy-on-write image of it until it does. In a
    plan that is only the moment between a spawn and its exec (the forecast workers,
    kustomize, git); counting it too showed a 1.05 GiB plan starting its workers as a
    2.13 GiB peak. A child forked to live on would be missed: a plan starts none."""
    found, pending = [], [(pid, b"")]
    while pending:
        current, parents = pending.pop()
        try:
            with open(f"/proc/{current}/cmdline", "rb") as handle:
                command = handle.read()
            if command != parents:
                found.append(current)
            tasks = list(Path(f"/proc/{current}/task").iterdir())
        except OSError:  # gone meanwhile, or not ours to read
            continue
        for task in tasks:
            try:
                children = (task / "children").read_text().split()
            except OSError:  # that thread ended meanwhile: its brothers' children still count
                continue
            pending += [(int(child), command) for child in children]
    return found


def resident(pid: int) -> int:
    """Resident bytes (cheap to read): never less than `proportional`."""
    return _status_bytes(pid, "/status", "VmRSS:")


def proportional(pid: int) -> int:
    """Proportional set size: a page shared by n processes (the libraries every worker maps,
    a fork's copy-on-write pages) counts 1/n to each, so a tree's sum counts it once, where
    resident sizes counted it per process. Page cache nobody maps (the export once read)
    counts in neither."""
    return _status_bytes(pid, "/smaps_rollup", "Pss:")


def _status_bytes(pid: int, name: str, field: str) -> int:
    try:
        with open(f"/proc/{pid}{name}") as handle:
            return next(
                (int(line.split()[1]) * 1024 for line in handle if line.startswith(field)), 0
            )
    except OSError:
        return 0


@dataclass(frozen=True)
class Measured:
    seconds: float
    peak: int
    stages: dict[str, float]


def plan(
    repo: Path,
    usage: Path,
    cache: Path,
    as_of: pd.Timestamp,
    profile: Path | None = None,
    code: Path = ROOT,
) -> Measured:
    command = [sys.executable]
    if profile is not None:
        command += ["-m", "cProfile", "-o", str(profile)]
    command += ["-m", "bot.cli", "plan", "--repo", str(repo), "--utilisation", str(usage),
                "--cost", str(COST), "--format", "json", "--forecast-cache", str(cache),
                "--as-of", as_of.isoformat(), "--timings"]  # fmt: skip
    started = time.perf_counter()
    env = {**os.environ, "PYTHONPATH": str(code)}  # that checkout's code, whatever is installed
    with tempfile.TemporaryFile() as errors:  # a pipe nobody reads meanwhile could fill up
        process = subprocess.Popen(
            command, cwd=code, env=env, stdout=subprocess.DEVNULL, stderr=errors
        )
        peak = 0
        while process.poll() is None:
            tree = tree_processes(process.pid)
            if sum(map(resident, tree)) > peak:  # reading PSS walks page tables: only then
                peak = max(peak, sum(map(proportional, tree)))
            time.sleep(0.05)
        seconds = time.perf_counter() - started
        errors.seek(0)
        said = errors.read().decode()
    if process.returncode != 0:
        sys.exit(said or "plan failed")
    line = said.splitlines()[-1].removeprefix("stages: ")
    stages = {
        name: float(seconds)
        for name, seconds in re.findall(r"([a-z ]+?) ([0-9.]+) s(?:, |$)", line)
    }
    return Measured(seconds, peak, stages)


def median(runs: list[Measured]) -> Measured:
    names = dict.fromkeys(name for run in runs for name in run.stages)
    return Measured(
        statistics.median(run.seconds for run in runs),
        int(statistics.median(run.peak for run in runs)),
        {name: statistics.median(run.stages.get(name, 0.0) for run in runs) for name in names},
    )


Runs = dict[str, list[Measured]]


def day_runs(
    directory: Path, services: int, repeats: int, profile: Path | None, baseline: Path | None
) -> None:
    began = time.perf_counter()
    repo = monorepo(directory, services)
    today, tomorrow, count = exports(repo, directory)
    size = today.stat().st_size / 2**20
    cores = len(os.sched_getaffinity(0))
    print(f"{services} services, {count} workloads, {DAYS} d hourly: export {size:.0f} MiB "
          f"(generated in {time.perf_counter() - began:.0f} s); {cores} cores")  # fmt: skip
    codes = {"this": ROOT, **({"baseline": baseline} if baseline else {})}
    found: dict[str, Runs] = {name: {"cold": [], "warm": [], "next day": []} for name in codes}
    for repeat in range(repeats):
        for name, code in codes.items():
            runs, cache = found[name], directory / f"forecasts-{name}-{repeat}.sqlite"
            first = profile if repeat == 0 and name == "this" else None
            runs["cold"].append(plan(repo, today, cache, END, _named(first, "cold"), code))
            runs["warm"].append(plan(repo, today, cache, END, _named(first, "warm"), code))
            runs["next day"].append(
                plan(repo, tomorrow, cache, END + pd.Timedelta(days=1), _named(first, "next"), code)
            )
            print(f"  run {repeat + 1} ({name}): " + ", ".join(
                f"{label} {measured[-1].seconds:.1f} s" for label, measured in runs.items()
            ))  # fmt: skip
    for name, runs in found.items():
        print(f"medians of {repeats} ({name}, {codes[name]}):")
        for label, measured in runs.items():
            middle = median(measured)
            ratio = ""
            if name == "this" and baseline:
                base = median(found["baseline"][label])
                ratio = (f"  = {middle.seconds / base.seconds:.2f}× the baseline's time, "
                         f"{middle.peak / base.peak:.2f}× its memory")  # fmt: skip
            print(f"  {label:9} {middle.seconds:7.1f} s  peak {middle.peak / 2**30:.2f} GiB{ratio}")
            print("            " + ", ".join(f"{n} {s:.1f}" for n, s in middle.stages.items()))


def _named(profile: Path | None, run: str) -> Path | None:
    """`plan.prof` becomes `plan-cold.prof`, `plan-warm.prof` and `plan-next.prof`."""
    return None if profile is None else profile.with_stem(f"{profile.stem}-{run}")


def growth(directory: Path, sizes: list[int]) -> None:
    print("growth (cold, Parquet export, one run each):")
    print(f"  {'workloads':>9} {'wall s':>8} {'ms/workload':>11} {'vs first':>8} {'peak GiB':>8}")
    first = None
    for services in sizes:
        here = directory / f"growth-{services}"
        here.mkdir()
        repo = monorepo(here, services)
        today, _, count = exports(repo, here, parquet=True)
        run = plan(repo, today, here / "forecasts.sqlite", END)
        each = run.seconds / count * 1000
        first = first or each
        print(f"  {count:9} {run.seconds:8.1f} {each:11.1f} {each / first:8.2f} "
              f"{run.peak / 2**30:8.2f}")  # fmt: skip
        shutil.rmtree(here)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=1667)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--growth", default="167,334,667,1667,3334,6667",
                        help="services per growth point; empty for none")  # fmt: skip
    parser.add_argument(
        "--profile",
        type=Path,
        help="cProfile of the first cold, warm and next-day runs (FILE-cold.prof, ...)",
    )
    parser.add_argument("--baseline", type=Path, help="a checkout to compare with, interleaved")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="rightsizer-scale-") as scratch:
        if args.repeats:
            day_runs(Path(scratch), args.services, args.repeats, args.profile, args.baseline)
        if args.growth:
            growth(Path(scratch), [int(size) for size in args.growth.split(",")])


if __name__ == "__main__":
    main()
