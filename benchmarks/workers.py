"""Jobs per minute with 1, 2 and 4 worker processes, and the webhook acknowledgement under
that load (issue #18).

Why: an organisation with hundreds of repositories outgrows one process; the workers share
one queue on PostgreSQL and must add throughput while the web process keeps answering
GitHub fast (it waits 10 s, then marks a delivery failed). This generates a monorepo of
`--services` services (three workloads each, 30 days of hourly usage committed as its export,
`scale.py`'s generator), hosts `--repos` copies of it on the GitHub test server, and for each
worker count starts, on a fresh database of one embedded PostgreSQL, `rightsizer serve` and
that many `rightsizer worker --concurrency 1` processes running the real bot (clone, plan,
forecast with a cache per repository, publish PRs). One push per repository queues every
repository at once; a client then keeps pushing (`--rate` a second, round the
repositories) for `--seconds`, timing each acknowledgement. Printed per worker count: the
jobs finished in the window per minute, its ratio to one worker's, and the acknowledgement
p50/p99 (client side, request to answer).

    python benchmarks/workers.py [--repos 200] [--services 17] [--workers 1,2,4]
                                 [--seconds 180] [--rate 5]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from scale import GIT, exports, monorepo  # noqa: E402
from webhooks import SECRET, free_port, percentile  # noqa: E402
from webhooks import github as signed  # noqa: E402

from bot.store import Store  # noqa: E402
from bot.store.database import embedded_server, sqlalchemy_url  # noqa: E402
from tests.forge_servers.github import GitHubServer  # noqa: E402
from tests.postgres_server import new_database  # noqa: E402

OWNER = "acme"
AS_OF = "2026-11-27T06:00:00Z"
COST = ROOT / "fixtures" / "exports" / "cost.csv"
PUSH = ROOT / "fixtures" / "github-webhooks" / "push" / "payload.json"
SOURCES = "\nsources:\n  utilisation: [exports/utilisation.csv]\n  cost: [exports/cost.csv]\n"


def source_repository(directory: Path, services: int) -> tuple[Path, int]:
    """The generated monorepo with its export and `sources:` committed; its workloads."""
    repo = monorepo(directory, services)
    today, _, workloads = exports(repo, directory)
    (repo / "exports").mkdir()
    shutil.move(today, repo / "exports" / "utilisation.csv")
    shutil.copy(COST, repo / "exports" / "cost.csv")
    with (repo / ".rightsizer.yaml").open("a") as config:
        config.write(SOURCES)
    env = {**os.environ, **GIT}
    for command in (["add", "-A"], ["commit", "-qm", "exports"]):
        subprocess.run(["git", "-C", str(repo), *command], check=True, env=env)
    return repo, workloads


def push(installation: int, name: str) -> tuple[dict[str, str], bytes]:
    body = json.loads(PUSH.read_text())
    body["installation"] = {"id": installation}
    body["repository"].update(full_name=f"{OWNER}/{name}", name=name, default_branch="main")
    body["repository"]["owner"]["login"] = OWNER
    body.update(ref="refs/heads/main", deleted=False, created=False, after="1" * 40)
    commit = {"id": "0" * 40, "message": "export", "added": [], "removed": [],
              "modified": ["exports/utilisation.csv"]}  # fmt: skip
    body["commits"], body["head_commit"] = [commit], commit
    return signed("push", body, str(uuid.uuid4()))


def finished(database: str) -> int:
    engine = create_engine(database)
    with engine.connect() as connection:
        count = connection.execute(
            text(
                "select count(*) from procrastinate_jobs "
                "where task_name = 'rightsizer.run' and status = 'succeeded'"
            )
        ).scalar()
    engine.dispose()
    return int(count or 0)


def measure(
    workers: int,
    github: GitHubServer,
    server: str,
    names: list[str],
    args: argparse.Namespace,
    logs: Path,
) -> tuple[float, list[float]]:
    """(jobs per minute, acknowledgement seconds) with `workers` worker processes."""
    database = new_database(server, migrated=False)
    store = Store(database)
    store.repositories.add_installation("github", github.installation_id, OWNER)
    for name in names:
        store.repositories.add("github", f"{OWNER}/{name}", github.installation_id)
    store.engine.dispose()
    key = logs / "app.pem"
    key.write_bytes(github.private_key_pem)
    env = {
        **os.environ,
        **GIT,
        "RIGHTSIZER_DATABASE_URL": database,
        "RIGHTSIZER_GITHUB_URL": github.api_url,
        "RIGHTSIZER_GITHUB_APP_ID": str(github.app_id),
        "RIGHTSIZER_GITHUB_PRIVATE_KEY": str(key),
        "RIGHTSIZER_GITHUB_WEBHOOK_SECRET": SECRET,
        "RIGHTSIZER_GITHUB_WRITE_INTERVAL": "0",
        "RIGHTSIZER_DEBOUNCE_SECONDS": "0",
        "RIGHTSIZER_AS_OF": AS_OF,
        "RIGHTSIZER_SCHEDULE": "0 0 1 1 *",
        "RIGHTSIZER_FORECAST_CACHE": str(logs / f"forecasts-{workers}"),
    }
    port = free_port()
    cli = [sys.executable, "-m", "bot.cli"]
    processes = []
    with (logs / f"workers-{workers}.log").open("ab") as log:
        processes.append(subprocess.Popen(
            [*cli, "serve", "--port", str(port)], cwd=ROOT, env=env, stdout=log, stderr=log
        ))  # fmt: skip
        processes += [
            subprocess.Popen(
                [*cli, "worker", "--concurrency", "1"], cwd=ROOT, env=env, stdout=log, stderr=log
            )
            for _ in range(workers)
        ]
    url = f"http://127.0.0.1:{port}/webhooks/github"
    latencies: list[float] = []
    try:
        with httpx.Client(timeout=30) as client:
            for _ in range(300):
                try:
                    client.get(f"http://127.0.0.1:{port}/readyz")
                    break
                except httpx.TransportError:
                    time.sleep(0.1)
            for name in names:  # every repository queued
                client.post(url, headers=(d := push(github.installation_id, name))[0], content=d[1])
            started = time.monotonic()
            stop = threading.Event()

            def keep_pushing() -> None:
                index = 0
                while not stop.is_set():
                    headers, raw = push(github.installation_id, names[index % len(names)])
                    sent = time.monotonic()
                    answer = client.post(url, headers=headers, content=raw)
                    latencies.append(time.monotonic() - sent)
                    assert answer.status_code == 202, answer.text
                    index += 1
                    stop.wait(max(0.0, 1 / args.rate - (time.monotonic() - sent)))

            pusher = threading.Thread(target=keep_pushing)
            pusher.start()
            time.sleep(args.seconds)
            done = finished(database)
            elapsed = time.monotonic() - started
            stop.set()
            pusher.join()
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
    return done / (elapsed / 60), latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repos", type=int, default=200)
    parser.add_argument("--services", type=int, default=17, help="three workloads each")
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--seconds", type=float, default=180)
    parser.add_argument("--rate", type=float, default=5.0, help="pushes a second while measuring")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="rs-workers-") as scratch:
        directory = Path(scratch)
        source, workloads = source_repository(directory / "source", args.services)
        names = [f"infra-{index:03d}" for index in range(args.repos)]
        postgres = embedded_server(directory / "pg")
        server = sqlalchemy_url(postgres.get_uri())
        with GitHubServer(directory / "github") as github:
            for name in names:
                github.add_repository(OWNER, name, source)
            print(
                f"{args.repos} repositories x {workloads} workloads; {os.cpu_count()} CPUs; "
                f"{args.seconds:g} s a measure; pushes at {args.rate:g}/s"
            )
            print(
                f"{'workers':>7} {'jobs/min':>9} {'vs 1':>6} {'ack p50 ms':>11} {'ack p99 ms':>11}"
            )
            baseline = None
            for count in [int(n) for n in args.workers.split(",")]:
                rate, latencies = measure(count, github, server, names, args, directory)
                baseline = baseline or rate
                print(
                    f"{count:>7} {rate:>9.1f} {rate / baseline:>6.2f} "
                    f"{statistics.median(latencies) * 1000:>11.1f} "
                    f"{percentile(latencies, 99) * 1000:>11.1f}",
                    flush=True,
                )
        postgres.cleanup()


if __name__ == "__main__":
    main()
