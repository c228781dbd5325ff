"""One big run's forecasts fitted by the run alone, then with helper workers (issue #18).

Why: a monorepo of 50,000 workloads is more fits than one machine makes in a job's time; the
service's other workers take the run's chunks (`bot/service/fanout.py`). This fits
`--series` seeded series of 30 days hourly (a daily cycle, a weekly one, noise and a level
shift in some) as one run does: chunks of 64 through `ChunkBoard`, on an embedded
PostgreSQL. The run is a one-CPU node (`workers=1`: it fits in its own process, no local
pool), as is each helper (`rightsizer worker --concurrency 1`, a real process fetching the
chunk jobs from procrastinate). Printed per helper count: the median wall time over
`--repeats`, series per second, the ratio to the run alone (measured in the same process,
interleaved), and who fitted the chunks. Helpers beyond the machine's cores cannot add
speed: on a 2-core machine, the run plus one helper is the most it can show.

`--cpu-limit 0.5` makes each of them a node of half a CPU, as a worker Deployment's
`limits.cpu` does: the run and each helper (with its children) in a cgroup of its own with
that CFS quota (root and a writable cgroup cpu controller, v1 or v2). Four such workers on
two cores then show what four workers on four nodes would.

    python benchmarks/fanout.py [--series 6000] [--helpers 0,1,2] [--repeats 3]
                                [--cpu-limit 0.5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np
from sqlalchemy import text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.service.fanout import ChunkBoard  # noqa: E402
from bot.service.isolated import run_isolated, start_fork_server  # noqa: E402
from bot.store import Store  # noqa: E402
from bot.store.database import embedded_server, sqlalchemy_url  # noqa: E402
from recommenders.forecasters import ForecastSettings, Job  # noqa: E402
from recommenders.forecasters.batch import CHUNK  # noqa: E402
from recommenders.forecasters.wire import Task  # noqa: E402
from tests.postgres_server import new_database  # noqa: E402

HOURS = 30 * 24
STEPS = 7 * 24


def series(count: int, seed: int = 18) -> list[Task]:
    rng = np.random.default_rng(seed)
    hours = np.arange(HOURS)
    tasks: list[Task] = []
    for index in range(count):
        level = rng.uniform(20, 400)
        daily = level * rng.uniform(0, 0.5) * np.sin(2 * np.pi * (hours + rng.integers(24)) / 24)
        weekly = level * rng.uniform(0, 0.2) * (hours // 24 % 7 >= 5)
        shift = level * rng.uniform(-0.3, 0.3) * (hours >= rng.integers(HOURS // 2, HOURS))
        noise = rng.normal(0, level * rng.uniform(0.02, 0.2), HOURS)
        values = np.maximum(level + daily - weekly + shift * (index % 3 == 0) + noise, 0.0)
        tasks.append((Job(values, STEPS, f"svc-{index}/app/cpu"), None))
    return tasks


class Nodes:
    """Processes held to `cpus` CPUs each, one cgroup per node."""

    def __init__(self, cpus: float | None) -> None:
        self.cpus = cpus
        self.made: list[Path] = []
        if cpus is None:
            return
        if (V1 / "cgroup.procs").exists():
            self.root = V1
        elif "cpu" in (V2 / "cgroup.subtree_control").read_text().split():
            self.root = V2
        else:
            sys.exit("--cpu-limit needs the cgroup cpu controller (v1, or v2 enabled)")

    def node(self, name: str) -> Path | None:
        """The `cgroup.procs` of a new node, or None without a limit."""
        if self.cpus is None:
            return None
        node = self.root / f"rs-fanout-{os.getpid()}-{name}"
        node.mkdir()
        self.made.append(node)
        period = 100_000
        quota = int(self.cpus * period)
        if self.root == V1:
            (node / "cpu.cfs_period_us").write_text(str(period))
            (node / "cpu.cfs_quota_us").write_text(str(quota))
        else:
            (node / "cpu.max").write_text(f"{quota} {period}")
        return node / "cgroup.procs"

    def remove(self) -> None:
        for node in self.made:
            for _ in range(50):  # its processes' children exit just after them
                try:
                    node.rmdir()
                    break
                except OSError:
                    time.sleep(0.1)
        self.made = []


V1 = Path("/sys/fs/cgroup/cpu")
V2 = Path("/sys/fs/cgroup")


def join(procs: Path | None) -> None:
    if procs is not None:
        procs.write_text(str(os.getpid()))


def one_run(
    database: str, run_id: int, count: int, procs: Path | None
) -> tuple[float, Counter[str]]:
    """The run's part, in a child of the fork server as a service run is (`isolated.py`)."""
    join(procs)
    tasks = series(count)
    store = Store(database)
    board = ChunkBoard(lambda: store.chunks, run_id, workers=1)
    settings = ForecastSettings()
    started = time.perf_counter()
    tickets = [board.submit(tasks[i : i + CHUNK], settings) for i in range(0, len(tasks), CHUNK)]
    fitted = sum(len(ticket.result()) for ticket in tickets)
    wall = time.perf_counter() - started
    assert fitted == len(tasks)
    takers = Counter({"the run": board.taken_back, "a helper": board.shared - board.taken_back})
    board.close()
    store.engine.dispose()
    return wall, takers


def start_helpers(
    count: int, database: str, logs: Path, nodes: Nodes
) -> list[subprocess.Popen[bytes]]:
    env = {**os.environ, "RIGHTSIZER_DATABASE_URL": database}
    helpers = []
    for n in range(count):
        procs = nodes.node(f"helper-{n}")
        with (logs / f"helper-{n}.log").open("ab") as out:
            helpers.append(
                subprocess.Popen(
                    [sys.executable, "-m", "bot.cli", "worker", "--concurrency", "1"],
                    cwd=ROOT,
                    env=env,
                    stdout=out,
                    stderr=out,
                    preexec_fn=lambda procs=procs: join(procs),
                )
            )
    return helpers


def registered(store: Store) -> int:
    with store.session() as session:
        return int(session.scalar(text("select count(*) from procrastinate_workers")) or 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--series", type=int, default=6000)
    parser.add_argument("--helpers", default="0,1,2")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cpu-limit", type=float, help="CPUs of each node (cgroup quota)")
    arguments = parser.parse_args()
    counts = [int(n) for n in arguments.helpers.split(",")]
    start_fork_server()
    nodes = Nodes(arguments.cpu_limit)
    with tempfile.TemporaryDirectory(prefix="rs-fanout-") as scratch:
        server = embedded_server(Path(scratch) / "pg")
        try:
            walls: dict[int, list[float]] = {n: [] for n in counts}
            takers: dict[int, Counter[str]] = {n: Counter() for n in counts}
            run_id = 0
            for _ in range(arguments.repeats):
                for count in counts:  # interleaved: the machine's drift hits every count alike
                    database = new_database(sqlalchemy_url(server.get_uri()), migrated=False)
                    store = Store(database)
                    helpers = start_helpers(count, database, Path(scratch), nodes)
                    try:
                        while registered(store) < count:
                            time.sleep(0.1)
                        time.sleep(2.0)  # each helper's fork server has imported the bot
                        run_id += 1
                        work = (database, run_id, arguments.series, nodes.node("run"))
                        ended = run_isolated(one_run, work, 3600)
                        assert ended.kind == "ok", ended.value
                        wall, who = ended.value
                    finally:
                        for helper in helpers:
                            helper.terminate()
                        for helper in helpers:
                            helper.wait(60)
                        store.engine.dispose()
                        nodes.remove()
                    walls[count].append(wall)
                    takers[count] += who
                    print(f"  helpers={count}: {wall:.1f} s ({dict(who)})", flush=True)
        finally:
            server.cleanup()
    alone = statistics.median(walls[counts[0]])
    cpus = arguments.cpu_limit
    limit = "" if cpus is None else f", each worker held to {cpus} CPU"
    print(f"\n{arguments.series} series of {HOURS} h, {-(-arguments.series // CHUNK)} chunks, "
          f"median of {arguments.repeats}, {os.cpu_count()} cores{limit}")  # fmt: skip
    print("| helpers | wall (s) | series/s | vs run alone | chunks fitted by |")
    print("| --- | --- | --- | --- | --- |")
    for count in counts:
        wall = statistics.median(walls[count])
        share = ", ".join(f"{who} {n}" for who, n in sorted(takers[count].items()))
        rate = arguments.series / wall
        print(f"| {count} | {wall:.1f} | {rate:.0f} | {alone / wall:.2f}× | {share} |")


if __name__ == "__main__":
    main()
