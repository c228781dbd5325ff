"""A big run's forecasts shared with the service's other workers (issue #18's fan-out): the
chunks cross PostgreSQL as bytes, any worker's engine takes them, and the run gets the
forecasts it would have fitted alone, whoever fitted them and whatever went wrong."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import text

from bot.forges.connect import ForgeOptions
from bot.service import fanout
from bot.service.fanout import ChunkBoard, SharedFits, release_fitters, take, taker
from bot.service.settings import ServiceSettings
from bot.service.worker import RunSummary, Worker, planned_and_published
from bot.store import Store
from recommenders.forecasters import (
    Forecast,
    ForecastSettings,
    Job,
    Warm,
    Within,
    batch,
    forecast_all,
)
from recommenders.forecasters.batch import fanned_out, fit_chunk
from recommenders.forecasters.wire import (
    Task,
    decode_forecasts,
    decode_tasks,
    encode_forecasts,
    encode_tasks,
)
from tests.conftest import EXPORTS_AS_OF, ROOT
from tests.forge_story import served_monorepo
from tests.job_engine import drain, shares_then_dies
from tests.postgres_server import new_database

SETTINGS = ForecastSettings()
HOURS = 14 * 24


def _series(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    hours = np.arange(HOURS)
    return 50 + 10 * np.sin(2 * np.pi * hours / 24) + rng.normal(0, 2, HOURS)


def _tasks(count: int, first: int = 0) -> list[Task]:
    return [(Job(_series(first + i), 24, f"app-{first + i}/cpu"), None) for i in range(count)]


def _same(got: list[Forecast], expected: list[Forecast]) -> bool:
    return encode_forecasts(got) == encode_forecasts(expected)


def test_a_chunk_and_its_forecasts_cross_as_bytes_unchanged() -> None:
    within = Within(np.repeat(np.arange(HOURS), 2), np.tile([-0.5, 0.5], HOURS))
    warm = Warm("seasonal-median", {"period": 24.0}, (0.1, 0.2, 0.15), 3)
    tasks: list[Task] = [(Job(_series(1), 24, "a/cpu", within), warm), (Job(_series(2), 12), None)]
    settings = dataclasses.replace(SETTINGS, min_gain=0.2, folds=2)

    decoded, decoded_settings = decode_tasks(encode_tasks(tasks, settings))

    assert decoded_settings == settings
    for (job, warm_start), (sent, sent_warm) in zip(decoded, tasks, strict=True):
        assert np.array_equal(job.values, sent.values) and job.steps == sent.steps
        assert job.series_id == sent.series_id and warm_start == sent_warm
        if sent.within is None:
            assert job.within is None
        else:
            assert job.within is not None and job.within.hour.dtype == np.int64
            assert np.array_equal(job.within.hour, sent.within.hour)
            assert np.array_equal(job.within.deviation, sent.within.deviation)
    fitted = fit_chunk(tasks, settings)
    again = decode_forecasts(encode_forecasts(fitted))
    for one, other in zip(again, fitted, strict=True):
        assert np.array_equal(one.mean, other.mean)
        assert np.array_equal(one.distribution, other.distribution)
        assert (one.model, one.params, one.fold_errors, one.reason, one.scores, one.age) == (
            other.model,
            other.params,
            other.fold_errors,
            other.reason,
            other.scores,
            other.age,
        )


def _header_edited(blob: bytes, old: bytes, new: bytes) -> bytes:
    """The blob with `old` replaced in its header, and the header's length kept true."""
    length = int.from_bytes(blob[4:8], "little")
    header = blob[8 : 8 + length]
    assert header.count(old) == 1
    header = header.replace(old, new)
    return blob[:4] + len(header).to_bytes(4, "little") + header + blob[8 + length :]


def _damaged(blob: bytes, how: str) -> bytes:
    edits = {
        "count": (b'"values":336', b'"values":335'),
        "settings": (b'"folds":3,', b""),
        "boolean": (b'"steps":24', b'"steps":true'),
        "huge": (b'"steps":24', b'"steps":' + b"9" * 400),
        "infinite": (b'"steps":24', b'"steps":1e400'),
        "version": (b'"format":2', b'"format":1'),
        "series": (b'"series":"app-0/cpu"', b'"series":7'),
    }
    if how in edits:
        return _header_edited(blob, *edits[how])
    if how == "cut":
        return blob[:-8]
    if how == "longer":
        return blob + bytes(8)
    if how == "magic":
        return b"XXXX" + blob[4:]
    if how == "past the end":
        return blob[:4] + (len(blob)).to_bytes(4, "little") + blob[8:]
    if how == "nested":
        header = b"[" * 100_000 + b"]" * 100_000
        return blob[:4] + len(header).to_bytes(4, "little") + header
    assert how == "nan"
    return encode_tasks([(Job(np.array([1.0, np.nan]), 1), None)], SETTINGS)


REASONS = {
    "cut": "more values than the blob holds",
    "longer": "does not list",
    "magic": "not a forecast blob",
    "count": "does not list",
    "settings": "forecast settings",
    "boolean": "not a count",
    "huge": "not a count",
    "infinite": "not a count",
    "version": "another version",
    "past the end": "runs past its end",
    "nested": "nested too deep",
    "nan": "NaN or infinity",
    "series": "not text",
}
"""What each damage is refused for: the check that names it, not a parser tripping later."""


@pytest.mark.parametrize(
    "how",
    [
        "cut", "longer", "magic", "count", "settings", "boolean", "huge", "infinite",
        "version", "past the end", "nested", "nan", "series",
    ],
)  # fmt: skip
def test_a_damaged_chunk_is_refused_not_misread(how: str) -> None:
    blob = encode_tasks(_tasks(1), SETTINGS)
    damaged = _damaged(blob, how)
    assert damaged != blob
    with pytest.raises(ValueError, match=REASONS[how]):
        decode_tasks(damaged)


def test_a_sample_hour_that_is_not_whole_is_refused() -> None:
    within = Within(np.array([0.0, 1.0]), np.array([0.1, -0.1]))
    blob = encode_tasks([(Job(_series(0)[:2], 1, None, within), None)], SETTINGS)
    # The arrays end the blob: values (2), the samples' hours (2), their deviations (2).
    position = len(blob) - 3 * 8
    assert blob[position : position + 8] == np.array([1.0]).tobytes()
    damaged = blob[:position] + np.array([1.5]).tobytes() + blob[position + 8 :]
    with pytest.raises(ValueError, match="not a whole hour"):
        decode_tasks(damaged)


def _takers(store: Store, run_id: int) -> dict[int, str | None]:
    """Who last claimed each chunk of the run still in the table."""
    with store.session() as session:
        rows = session.execute(
            text("select id, claimed_by from forecast_chunks where run_id = :run"),
            {"run": run_id},
        )
        return {chunk: claimed_by for chunk, claimed_by in rows}


def _jobs(store: Store) -> list[tuple[str, str, int, str]]:
    """(task, queue, priority, status) of every job but the periodic ones."""
    with store.session() as session:
        rows = session.execute(
            text(
                "select task_name, queue_name, priority, status::text from procrastinate_jobs "
                "where queue_name <> 'housekeeping' order by id"
            )
        )
        return [tuple(row) for row in rows]  # type: ignore[misc]


@pytest.mark.slow
def test_a_run_with_no_helper_fits_every_chunk_it_shared_and_answers_as_alone(
    database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(batch, "CHUNK", 4)
    jobs = [job for job, _ in _tasks(14)]
    alone = forecast_all(jobs, workers=1)
    store = Store(database)
    board = ChunkBoard(lambda: store.chunks, run_id=7, workers=1)

    with fanned_out(board):
        shared = forecast_all(jobs)

    assert _same(shared, alone)
    assert (board.shared, board.taken_back) == (3, 3), "14 series: 3 chunks of 4, the rest here"
    assert _jobs(store) == [("rightsizer.forecast", "forecasts", 10, "todo")] * 3
    assert _takers(store, 7) == {}, "withdrawn as fitted: no helper fits them again"
    drain(database, store, ServiceSettings())
    assert [status for *_, status in _jobs(store)] == ["succeeded"] * 3, "found nothing to do"


@pytest.mark.slow
def test_a_worker_takes_shared_chunks_through_the_real_engine(database: str) -> None:
    store = Store(database)
    board = ChunkBoard(lambda: store.chunks, run_id=3, workers=1)
    chunks = [_tasks(3, first) for first in (0, 3, 6)]
    tickets = [board.submit(tasks, SETTINGS) for tasks in chunks]
    assert not any(ticket.done() for ticket in tickets)

    drain(database, store, ServiceSettings())  # the engine's real worker, until none is due

    assert set(_takers(store, 3).values()) == {taker()}, "the worker took every chunk"
    for ticket, tasks in zip(tickets, chunks, strict=True):
        assert _same(ticket.result(), fit_chunk(tasks, SETTINGS))
    assert [status for *_, status in _jobs(store)] == ["succeeded"] * 3
    with pytest.raises(RuntimeError, match="returned already"):  # not a wait for ever
        tickets[0].result()


@pytest.mark.slow
def test_a_chunk_whose_taker_went_silent_is_taken_back(database: str) -> None:
    store = Store(database)
    board = ChunkBoard(lambda: store.chunks, run_id=5, workers=1)
    tasks = _tasks(2)
    ticket = board.submit(tasks, SETTINGS)
    assert store.chunks.claim(ticket.chunk, "node-gone:41", 120) is not None
    assert not board._take_over(), "a fresh claim is left to its taker"
    with store.session() as session:
        session.execute(text("update forecast_chunks set claimed_at = now() - interval '1 hour'"))

    assert _same(ticket.result(), fit_chunk(tasks, SETTINGS))
    assert board.taken_back == 1 and _takers(store, 5) == {}


@pytest.mark.slow
@pytest.mark.parametrize("answer", ["theirs", "unreadable", "short"])
def test_a_helper_s_answer_is_used_only_when_it_reads_whole(database: str, answer: str) -> None:
    store = Store(database)
    board = ChunkBoard(lambda: store.chunks, run_id=9, workers=1)
    tasks = _tasks(2)
    fitted_here = fit_chunk(tasks, SETTINGS)
    theirs = fit_chunk(_tasks(2, first=100), SETTINGS)  # told apart from what the run fits
    ticket = board.submit(tasks, SETTINGS)
    assert store.chunks.claim(ticket.chunk, "helper:12", 120) is not None
    blob = {
        "theirs": encode_forecasts(theirs),
        "unreadable": b"RSF1 not forecasts",
        "short": encode_forecasts(theirs[:1]),
    }[answer]
    store.chunks.answer(ticket.chunk, blob)

    assert _same(ticket.result(), theirs if answer == "theirs" else fitted_here)
    assert _takers(store, 9) == {ticket.chunk: "helper:12"}, "taken by nobody else"


@pytest.mark.slow
def test_a_worker_whose_fit_fails_gives_the_chunk_back_at_once(database: str) -> None:
    store = Store(database)
    chunk = store.chunks.put(11, b"not a chunk")

    try:
        assert not take(store, chunk)
    finally:
        release_fitters()

    assert _takers(store, 11) == {chunk: None}, "released, not left to go stale"
    store.chunks.drop(11)
    assert not take(store, chunk), "a chunk gone with its run is nothing to do"


@pytest.mark.slow
def test_a_fit_that_overruns_its_deadline_is_killed_and_the_next_chunk_fitted(
    database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = Store(database)
    tasks = _tasks(16)  # tens of milliseconds of fitting
    slow, fine = (store.chunks.put(13, encode_tasks(tasks, SETTINGS)) for _ in range(2))
    try:
        monkeypatch.setattr(fanout, "STALE_SECONDS", 0.001)  # no fit is that quick
        first = fanout.fitters()
        assert not take(store, slow)
        assert _takers(store, 13)[slow] is None, "released at once"
        monkeypatch.setattr(fanout, "STALE_SECONDS", 120.0)
        assert take(store, fine)
        assert fanout.fitters() is not first, "the killed process's pool was replaced"
    finally:
        release_fitters()
    assert _same(decode_forecasts(store.chunks.answers([fine])[fine]), fit_chunk(tasks, SETTINGS))


def test_a_worker_carrying_out_a_run_leaves_chunks_to_others(database: str) -> None:
    store = Store(database)
    chunk = store.chunks.put(12, encode_tasks(_tasks(1), SETTINGS))
    worker = Worker(store, ServiceSettings())
    worker._running(+1)  # as while its own run's child fits on this node's CPUs

    worker.share(chunk)

    assert _takers(store, 12) == {chunk: None}


def test_a_run_that_dies_has_its_chunks_deleted_by_its_worker(database: str) -> None:
    store = Store(database)
    repository = store.repositories.add("github", "acme/infra", None)
    store.queue.enqueue(repository, "schedule")

    drain(database, store, ServiceSettings(retry_seconds=3600.0), work=shares_then_dies)

    assert [outcome for _, outcome, _, _ in store.runs.of(repository)] == ["failed"]
    with store.session() as session:
        assert session.scalar(text("select count(*) from forecast_chunks")) == 0


def test_chunks_of_runs_that_died_are_pruned(database: str) -> None:
    store = Store(database)
    old, new = store.chunks.put(1, b"old"), store.chunks.put(2, b"new")
    with store.session() as session:
        session.execute(
            text(
                "update forecast_chunks set created_at = now() - interval '2 hours' where id = :id"
            ),
            {"id": old},
        )
    assert store.chunks.prune(timedelta(hours=1)) == 1
    assert _takers(store, 1) == {} and list(_takers(store, 2)) == [new]


@pytest.mark.slow
@pytest.mark.server
def test_a_worker_process_and_the_run_share_a_run_s_chunks(
    postgres_server: str, tmp_path: Path
) -> None:
    """A real `rightsizer worker` beside the run: each fits some of the run's chunks, and the
    run's forecasts are those it would have fitted alone."""
    database = new_database(postgres_server)
    store = Store(database)
    env = {
        **os.environ,
        "RIGHTSIZER_DATABASE_URL": database,
        "RIGHTSIZER_WORKER_HEARTBEAT_SECONDS": "1",
    }
    log = tmp_path / "worker.log"
    with log.open("wb") as out:
        helper = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "worker", "--concurrency", "1"],
            cwd=ROOT, env=env, stdout=out, stderr=out,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not _workers(store):
            assert helper.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        board = ChunkBoard(lambda: store.chunks, run_id=21, workers=1)
        # 24 chunks of 8: seconds of fitting, ample for the helper to take some however
        # loaded the machine, while the run takes the first at once.
        chunks = [_tasks(8, first) for first in range(0, 192, 8)]
        tickets = [board.submit(tasks, SETTINGS) for tasks in chunks]
        for ticket, tasks in zip(tickets, chunks, strict=True):
            assert _same(ticket.result(), fit_chunk(tasks, SETTINGS))
        helped = list(_takers(store, 21).values())  # the run withdrew what it fitted
    finally:
        helper.terminate()
        helper.wait(30)
    assert board.taken_back + len(helped) == len(chunks)
    assert board.taken_back and helped and board.me not in helped, (helped, log.read_text())


def _workers(store: Store) -> int:
    with store.session() as session:
        return int(session.scalar(text("select count(*) from procrastinate_workers")) or 0)


@pytest.mark.slow
def test_a_service_run_shares_its_forecasts_and_plans_as_it_would_alone(
    database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The run's own path (`planned_and_published`, as a worker's child calls it) on a
    one-CPU node with small chunks: every chunk goes through the database, and the plan is
    the one it makes alone."""
    monkeypatch.setattr(batch, "CHUNK", 4)
    monkeypatch.setattr(fanout, "cpu_count", lambda: 1)
    moment = datetime.fromisoformat(EXPORTS_AS_OF)

    def run(name: str, shared: SharedFits | None) -> RunSummary:
        repo = served_monorepo(tmp_path / name)
        options = ForgeOptions("local", repo=repo, pr_dir=tmp_path / f"{name}-prs")
        return planned_and_published(options, moment, None, None, [], [], shared)

    alone = run("alone", None)
    shared = run("shared", SharedFits(database, run_id=1))

    store = Store(database)
    chunks = [job for job in _jobs(store) if job[0] == "rightsizer.forecast"]
    assert len(chunks) >= 3, "the run's fits went through the database in chunks of 4"
    assert _takers(store, 1) == {}, "and the run deleted its chunks when it ended"
    assert shared.rows == alone.rows
    assert shared.changes == alone.changes > 0
