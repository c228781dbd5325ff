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

    python benchmarks/fanout.py [--series 6000] [--helpers 0,1,2] [--repeats 3]
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


def one_run(database: str, run_id: int, count: int) -> tuple[float, Counter[str]]:
    """The run's part, in a child of the fork server as a service run is (`isolated.py`)."""
    tasks = series(count)
    store = Store(database)
    board = ChunkBoard(store.chunks, run_id, workers=1)
    settings = ForecastSettings()
    started = time.perf_counter()
    tickets = [board.submit(tasks[i : i + CHUNK], settings) for i in range(0, len(tasks), CHUNK)]
    fitted = sum(len(ticket.result()) for ticket in tickets)
    wall = time.perf_counter() - started
    assert fitted == len(tasks)
    takers = Counter(
        "the run" if t == board.me else "a helper" for t in store.chunks.takers(run_id).values()
    )
    board.close()
    store.engine.dispose()
    return wall, takers


def start_helpers(count: int, database: str, logs: Path) -> list[subprocess.Popen[bytes]]:
    env = {**os.environ, "RIGHTSIZER_DATABASE_URL": database}
    helpers = []
    for n in range(count):
        with (logs / f"helper-{n}.log").open("ab") as out:
            helpers.append(
                subprocess.Popen(
                    [sys.executable, "-m", "bot.cli", "worker", "--concurrency", "1"],
                    cwd=ROOT,
                    env=env,
                    stdout=out,
                    stderr=out,
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
    arguments = parser.parse_args()
    counts = [int(n) for n in arguments.helpers.split(",")]
    start_fork_server()
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
                    helpers = start_helpers(count, database, Path(scratch))
                    try:
                        while registered(store) < count:
                            time.sleep(0.1)
                        time.sleep(2.0)  # each helper's fork server has imported the bot
                        run_id += 1
                        ended = run_isolated(one_run, (database, run_id, arguments.series), 3600)
                        assert ended.kind == "ok", ended.value
                        wall, who = ended.value
                    finally:
                        for helper in helpers:
                            helper.terminate()
                        for helper in helpers:
                            helper.wait(60)
                        store.engine.dispose()
                    walls[count].append(wall)
                    takers[count] += who
                    print(f"  helpers={count}: {wall:.1f} s ({dict(who)})", flush=True)
        finally:
            server.cleanup()
    alone = statistics.median(walls[counts[0]])
    print(f"\n{arguments.series} series of {HOURS} h, {-(-arguments.series // CHUNK)} chunks, "
          f"median of {arguments.repeats}, {os.cpu_count()} cores")  # fmt: skip
    print("| helpers | wall (s) | series/s | vs run alone | chunks fitted by |")
    print("| --- | --- | --- | --- | --- |")
    for count in counts:
        wall = statistics.median(walls[count])
        share = ", ".join(f"{who} {n}" for who, n in sorted(takers[count].items()))
        rate = arguments.series / wall
        print(f"| {count} | {wall:.1f} | {rate:.0f} | {alone / wall:.2f}× | {share} |")


if __name__ == "__main__":
    main()
