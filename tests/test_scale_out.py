"""The service scaled out, with real processes: one `serve` and three `worker`s on one
PostgreSQL, ten signed deliveries for each of 80 repositories (redeliveries among them), and a
worker SIGKILLed in the middle of a job. The runs are `tests.quick_service`'s stand-ins,
which publish one PR per repository on the GitHub test server and journal what they did."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from bot.forges.github.webhooks import signature
from bot.store import Store
from tests.conftest import ROOT, make_repo
from tests.forge_servers.github import GitHubServer
from tests.postgres_server import new_database
from tests.prometheus_server import free_port
from tests.quick_service import BRANCH
from tests.test_service import push_payload

pytestmark = [pytest.mark.server, pytest.mark.slow, pytest.mark.long]
OWNER = "acme"
REPOSITORIES = int(os.environ.get("RS_SCALE_OUT_REPOSITORIES", "80"))
"""Issue #18 names 2,000 deliveries for 200 repositories: `RS_SCALE_OUT_REPOSITORIES=200`
runs that (it passed in the suite at 668a5f0, and took the suite to 10 min 51 s on 2 cores).
80 keep three workers racing for queued windows throughout, in a minute."""
DELIVERIES = 10 * REPOSITORIES
REDELIVERED = 0.1
SECRET = "scale-out webhook secret"
TOKEN = "ghp_scaleout"


def test_three_workers_run_every_window_once_through_a_worker_killed_mid_job(
    postgres_server: str, tmp_path: Path
) -> None:
    database = new_database(postgres_server)
    names = [f"repo-{index:03d}" for index in range(REPOSITORIES)]
    journal = tmp_path / "journal"
    with GitHubServer(tmp_path / "github") as github:
        source = make_repo(_one_file(tmp_path / "source"), tmp_path / "origin")
        store = Store(database)
        store.repositories.add_installation("github", github.installation_id, OWNER)
        for name in names:
            github.add_repository(OWNER, name, source)
            github.commit(OWNER, name, BRANCH, {"README.md": "proposed\n"})
            store.repositories.add("github", f"{OWNER}/{name}", github.installation_id)
        github.add_token(TOKEN, "rightsizer-bot")
        env = {
            **os.environ,
            "RIGHTSIZER_DATABASE_URL": database,
            "RIGHTSIZER_GITHUB_URL": github.api_url,
            "RIGHTSIZER_GITHUB_WEBHOOK_SECRET": SECRET,
            "RIGHTSIZER_DEBOUNCE_SECONDS": "5",
            "RIGHTSIZER_RETRY_SECONDS": "0.5",
            "RIGHTSIZER_WORKER_HEARTBEAT_SECONDS": "1",
            "RIGHTSIZER_SCHEDULE": "0 0 1 1 *",
            "RS_QUICK_JOURNAL": str(journal),
            "RS_QUICK_TOKEN": TOKEN,
        }
        port = free_port()
        processes = [_start(["serve", "--port", str(port)], env, tmp_path / "serve.log")]
        workers = [
            _start(["worker", "--concurrency", "1"], env, tmp_path / f"worker-{n}.log")
            for n in range(3)
        ]
        processes += workers
        try:
            url = f"http://127.0.0.1:{port}"
            _wait(lambda: _ready(url), "the web process ready", tmp_path)
            answers = _send(url, push_payload(github), names)
            assert Counter(answers) == {
                "queued": DELIVERIES - int(DELIVERIES * REDELIVERED),
                "duplicate": int(DELIVERIES * REDELIVERED),
            }
            killed = _kill_a_worker_mid_job(journal, workers, tmp_path)
            _wait(lambda: _settled(store), "every job finished", tmp_path, seconds=300)
        finally:
            for process in processes:
                if process.poll() is None:
                    process.terminate()
            for process in processes:
                process.wait(timeout=60)

        jobs = _jobs(store)
        assert {status for _, _, status, _ in jobs} == {"succeeded"}, "every window ended"
        assert {repository for _, repository, _, _ in jobs} == {f"{OWNER}/{n}" for n in names}
        # The killed worker's jobs are the ones tried twice (nothing else fails here). One of
        # them may have finished its run in the instant before the worker died, unheard of
        # by the engine, and so ran again: at least once, and publishing is idempotent.
        retried = {job for job, _, _, attempts in jobs if attempts > 1}
        assert 1 <= len(retried) <= 2, "the job(s) the killed worker held, taken back"
        runs = _runs(store)
        ok = Counter(job for job, outcome, _ in runs if outcome == "ok")
        assert set(ok) == {job for job, _, _, _ in jobs}
        assert all(ok[job] == 1 for job in ok if job not in retried), "each window ran once"
        assert any("its worker stopped" in message for _, _, message in runs)
        events = [line.split() for line in journal.read_text().splitlines()]
        assert not [event for event in events if event[0] == "overlap"], (
            "two runs of one repository at once"
        )
        assert any(pid == str(killed) for event, _, pid in events if event == "start")
        taken_back = {repository for job, repository, _, _ in jobs if job in retried}
        done = Counter(repository for event, repository, _ in events if event == "done")
        windows = Counter(repository for _, repository, _, _ in jobs)
        for repository, count in windows.items():
            extra = done[repository] - count
            assert extra == 0 or (extra == 1 and repository in taken_back), repository
        for name in names:
            assert len(github.pulls(OWNER, name)) == 1, f"{name}: one PR, never a duplicate"


def _one_file(directory: Path) -> Path:
    directory.mkdir()
    (directory / "README.md").write_text("infra\n")
    return directory


def _start(arguments: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "tests.quick_service", *arguments]
    with log.open("ab") as out:
        return subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=out)


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/readyz", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def _send(url: str, body: dict, names: list[str]) -> list[str]:
    """Ten pushes a repository in a random order from four clients; one in ten
    is a redelivery (the same delivery id and body again), as GitHub's redeliver button
    sends. Returns each answer's status."""
    rng = random.Random(18)
    first = DELIVERIES - int(DELIVERIES * REDELIVERED)
    deliveries = []
    for index in range(first):
        name = names[index % len(names)]
        repository = {**body["repository"], "full_name": f"{OWNER}/{name}", "name": name}
        raw = json.dumps({**body, "repository": repository}).encode()
        deliveries.append((str(uuid.uuid4()), raw))
    rng.shuffle(deliveries)
    deliveries += rng.sample(deliveries, DELIVERIES - first)

    def deliver(delivery: tuple[str, bytes]) -> str:
        identifier, raw = delivery
        headers = {
            "Content-Type": "application/json",
            "X-GitHub-Event": "push",
            "X-GitHub-Delivery": identifier,
            "X-Hub-Signature-256": signature(SECRET, raw),
        }
        answer = httpx.post(f"{url}/webhooks/github", content=raw, headers=headers, timeout=30)
        assert answer.status_code in (200, 202), answer.text
        return str(answer.json()["status"])

    with ThreadPoolExecutor(4) as pool:
        return list(pool.map(deliver, deliveries))


def _kill_a_worker_mid_job(
    journal: Path, workers: list[subprocess.Popen[bytes]], tmp_path: Path
) -> int:
    """SIGKILL a worker process while one of its runs has started and not finished."""
    pids = {worker.pid: worker for worker in workers}

    def running() -> int | None:
        if not journal.exists():
            return None
        open_runs: Counter[tuple[str, str]] = Counter()
        for event, repository, pid in (line.split() for line in journal.read_text().splitlines()):
            open_runs[(repository, pid)] += {"start": 1, "done": -1}.get(event, 0)
        return next((int(pid) for (_, pid), n in open_runs.items() if n and int(pid) in pids), None)

    pid = _wait(running, "a run in progress", tmp_path)
    pids[pid].send_signal(signal.SIGKILL)
    pids[pid].wait(timeout=10)
    return pid


def _settled(store: Store) -> bool:
    with store.session() as session:
        left = session.scalar(
            text(
                "select count(*) from procrastinate_jobs "
                "where task_name = 'rightsizer.run' and status in ('todo', 'doing')"
            )
        )
    return left == 0


def _jobs(store: Store) -> list[tuple[int, str, str, int]]:
    """(id, repository, status, attempts) of every run job."""
    with store.session() as session:
        rows = session.execute(
            text(
                "select job.id, repository.full_name, job.status::text, job.attempts "
                "from procrastinate_jobs job join repositories repository "
                "on repository.id = (job.args->>'repository')::int "
                "where job.task_name = 'rightsizer.run'"
            )
        )
        return [(int(job), str(name), str(status), int(n)) for job, name, status, n in rows]


def _runs(store: Store) -> list[tuple[int, str, str]]:
    with store.session() as session:
        rows = session.execute(text("select job_id, outcome, message from runs"))
        return [(int(job), str(outcome), str(message)) for job, outcome, message in rows]


def _wait(condition, what: str, tmp_path: Path, seconds: float = 120):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.1)
    logs = "\n".join(
        f"--- {log.name}\n{log.read_text()[-3000:]}" for log in sorted(tmp_path.glob("*.log"))
    )
    raise AssertionError(f"timed out waiting for {what}\n{logs}")
