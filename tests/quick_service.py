"""`rightsizer serve` and `rightsizer worker` whose runs are quick stand-ins that publish one
pull request per repository on the GitHub test server: the real web process, engine, workers,
locks, retries and isolation, with the planning left out so that a test can drive hundreds
of repositories (`python -m tests.quick_service serve --port N` or `worker --concurrency N`).

Each run appends to the journal file `RS_QUICK_JOURNAL` names: `start`, then `done` (or
`overlap` when another run of the same repository held its lock file), with the repository
and the pid of the worker process it belongs to.
"""

from __future__ import annotations

import fcntl
import os
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from bot.forges.connect import ForgeOptions
from bot.service.worker import RunSummary

BRANCH = "rightsizer/all"


def quick_run(options: ForgeOptions, *_: Any) -> RunSummary:
    journal = Path(os.environ["RS_QUICK_JOURNAL"])
    owner, name = options.repository.split("/")
    with (journal.parent / f"{owner}_{name}.lock").open("w") as held:
        try:
            fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            _write(journal, "overlap", options.repository)
            raise
        _write(journal, "start", options.repository)
        time.sleep(float(os.environ.get("RS_QUICK_SECONDS", "0.2")))  # where a kill lands
        _open_or_update_pull(options, owner, name)
        _write(journal, "done", options.repository)
    return RunSummary((None, "UTC"), [], 0, [], [])


def _open_or_update_pull(options: ForgeOptions, owner: str, name: str) -> None:
    """As the bot publishes: the open PR of its branch updated, or one opened."""
    headers = {"Authorization": f"token {os.environ['RS_QUICK_TOKEN']}"}
    base = f"{options.github_url}/repos/{owner}/{name}/pulls"
    with httpx.Client(headers=headers, timeout=30) as client:
        found = client.get(base, params={"head": f"{owner}:{BRANCH}", "state": "open"})
        found.raise_for_status()
        if found.json():
            number = found.json()[0]["number"]
            client.patch(f"{base}/{number}", json={"body": f"{time.time()}"}).raise_for_status()
        else:
            pull = {"title": "Rightsize", "head": BRANCH, "base": "main", "body": ""}
            client.post(base, json=pull).raise_for_status()


def _write(journal: Path, event: str, repository: str) -> None:
    """One line, appended in one write (O_APPEND keeps the processes' lines whole)."""
    line = f"{event} {repository} {_worker_pid()}\n".encode()
    descriptor = os.open(journal, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    try:
        os.write(descriptor, line)
    finally:
        os.close(descriptor)


def _worker_pid() -> int:
    """The run's parent is the worker's fork server; the worker is that one's parent."""
    return int(Path(f"/proc/{os.getppid()}/stat").read_text().rsplit(")", 1)[1].split()[1])


if __name__ == "__main__":
    from bot.service.app import run_service, run_workers

    if sys.argv[1] == "serve":
        run_service("127.0.0.1", int(sys.argv[sys.argv.index("--port") + 1]), work=quick_run)
    else:
        run_workers(int(sys.argv[sys.argv.index("--concurrency") + 1]), work=quick_run)
