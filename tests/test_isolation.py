"""A run's process can crash, hang or run out of memory without the service noticing more
than a failed job: `run_isolated`, and the worker that gives up on a job that keeps doing it."""

from __future__ import annotations

import ctypes
import multiprocessing
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest

from bot.forges.connect import ForgeOptions
from bot.service.isolated import run_isolated
from bot.service.settings import ServiceSettings
from bot.service.worker import RunSummary
from bot.store import Store
from recommenders.errors import InputError
from tests.conftest import ROOT
from tests.job_engine import drain

pytestmark = pytest.mark.slow


def _segfault() -> None:
    ctypes.string_at(0)  # reads address 0: SIGSEGV, as a broken C extension would


def _sleep() -> None:
    time.sleep(60)


def _refuse() -> None:
    raise InputError("apps/web/kustomization.yaml:3", "unknown key 'resourcs'")


def _allocate() -> int:
    return len(bytearray(2 * 1024**3))


def _fans_out() -> int:
    """As a big repository's run forecasts: on worker processes of its own."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(2, mp_context=context) as pool:
        return sum(pool.map(abs, [-1, -2, -3]))


def _answer(value: int) -> RunSummary:
    return RunSummary(("0 6 * * *", "UTC"), [], value, [], [f"said {value}"])


@pytest.mark.parametrize(
    ("work", "args", "kind", "said"),
    [
        (_segfault, (), "crashed", "the run's process died of SIGSEGV"),
        (_sleep, (), "timeout", "the run took over 5 s and was stopped"),
        (_refuse, (), "input", "apps/web/kustomization.yaml:3: unknown key 'resourcs'"),
        (_allocate, (), "crashed", "the run needed more than 1 GiB and was stopped"),
        (_answer, (3,), "ok", _answer(3)),
        (_fans_out, (), "ok", 6),
    ],
)
def test_whatever_ends_a_run_comes_back_as_one_answer(work, args, kind, said):
    # Starting a process and importing the bot takes seconds: only the sleeper meets the
    # short deadline.
    ended = run_isolated(work, args, deadline=5.0 if work is _sleep else 60.0, memory=1024**3)
    assert (ended.kind, ended.value) == (kind, said)


def outlives_its_worker(path: str) -> None:
    Path(path).write_text("started\n")
    time.sleep(4)
    with open(path, "a") as journal:
        journal.write("finished\n")  # where a run would publish


def test_a_run_dies_with_its_worker_and_never_publishes_after_it(tmp_path):
    """A SIGKILLed worker (an OOM kill, a node drained without grace) has its job retried
    by another: the run it had started must not go on and publish too."""
    journal = tmp_path / "journal"
    script = (
        "import sys; from bot.service.isolated import run_isolated; "
        "from tests.test_isolation import outlives_its_worker; "
        "run_isolated(outlives_its_worker, (sys.argv[1],), 60)"
    )
    worker = subprocess.Popen([sys.executable, "-c", script, str(journal)], cwd=ROOT)
    deadline = time.monotonic() + 60
    while not journal.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    worker.kill()
    worker.wait(timeout=10)
    time.sleep(6)
    assert journal.read_text() == "started\n"


def crashes_for_one_repository(options: ForgeOptions, *_: object) -> RunSummary:
    if options.repository == "acme/bomb":
        _segfault()
    return _answer(0)


def test_a_job_that_keeps_crashing_is_poisoned_and_the_others_run(database: str):
    store = Store(database)
    settings = ServiceSettings(retry_seconds=0.0, job_timeout_seconds=60)
    bomb = store.repositories.add("github", "acme/bomb", None)
    fine = store.repositories.add("github", "acme/fine", None)
    store.queue.enqueue(bomb, "schedule")
    store.queue.enqueue(fine, "schedule")
    drain(database, store, settings, work=crashes_for_one_repository)
    states = {reason_state[1:3] for reason_state in store.queue.jobs(bomb)}
    assert states == {("schedule", "failed")}
    assert store.queue.jobs(fine)[-1][1:3] == ("schedule", "done")
    outcomes = [outcome for _, outcome, _, _ in store.runs.of(bomb)]
    assert outcomes == ["failed", "failed", "failed"]
    with store.session() as session:
        from bot.store.tables import Run

        errors = [run.message for run in session.query(Run).filter_by(repository_id=bomb.id)]
    assert errors[-1] == (
        "the run's process died of SIGSEGV; poisoned after 3 attempts, not tried again"
    )
    store.engine.dispose()
