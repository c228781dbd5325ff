"""procrastinate as the tests drive it: its real worker run until nothing is due (`drain`),
or one step of it at a time through the SQL functions its worker calls (`fetch`,
`finish`), to look at the queue's rules between steps."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any

from procrastinate import App
from sqlalchemy import text

from bot.forges.base import ForgeError
from bot.forges.connect import ForgeOptions
from bot.service.engine import engine_app, prune_finished, recover_stalled, run_worker
from bot.service.fanout import SharedFits
from bot.service.settings import ServiceSettings
from bot.service.worker import RunSummary, Worker
from bot.store import Store
from bot.store.chunks import Chunks
from bot.store.database import Database
from bot.store.queue import QUEUE


def drain(
    database: str,
    store: Store,
    settings: ServiceSettings,
    work: Callable[..., RunSummary] | None = None,
    concurrency: int = 1,
) -> None:
    """The real worker, until no job is due (retries due at once included)."""
    worker = Worker(store, settings, work)
    _with_engine(
        database, lambda app: run_worker(app, worker, concurrency, wait=False, signals=False)
    )


def recover(database: str, store: Store, settings: ServiceSettings) -> None:
    """One pass of the periodic task that takes back the jobs of dead workers."""
    worker = Worker(store, settings)
    _with_engine(database, lambda app: recover_stalled(app.job_manager, worker))


def prune(database: str, store: Store, settings: ServiceSettings) -> None:
    """One pass of the periodic task that deletes old finished jobs."""
    worker = Worker(store, settings)
    _with_engine(database, lambda app: prune_finished(app.job_manager, worker))


def _with_engine(database: str, step: Callable[[App], Awaitable[None]]) -> None:
    """`step` on procrastinate's app for `database`, opened for it and closed after."""
    app = engine_app(database)

    async def stepping() -> None:
        async with app.open_async():
            await step(app)

    asyncio.run(stepping())


def fetch(
    store: Store, worker: int | None = None, queue: str = QUEUE
) -> tuple[int, dict[str, Any]] | None:
    """(id, arguments) of the job a worker would take now, marked running; None if none."""
    with store.session() as session:
        row = session.execute(
            text("select id, args from procrastinate_fetch_job_v2(array[:queue], :worker)"),
            {"queue": queue, "worker": worker},
        ).one()
    return None if row.id is None else (int(row.id), row.args)


def finish(store: Store, job: int, status: str = "succeeded") -> None:
    with store.session() as session:
        session.execute(
            text(
                "select procrastinate_finish_job_v1(:job, "
                "cast(:status as procrastinate_job_status), false)"
            ),
            {"job": job, "status": status},
        )


def dead_worker(store: Store) -> int:
    """A worker process that last said it was alive an hour ago."""
    with store.session() as session:
        return int(
            session.scalar(
                text(
                    "insert into procrastinate_workers (last_heartbeat) "
                    "values (now() - interval '1 hour') returning id"
                )
            )
        )


def fails_on_the_forge(options: ForgeOptions, *_: object) -> RunSummary:
    """A run's work (in its child process) that GitHub refuses with a 502."""
    raise ForgeError(f"open a PR on {options.repository}", "GitHub answered 502: Bad Gateway")


def rate_limited(options: ForgeOptions, *_: object) -> RunSummary:
    """A run's work that meets a secondary rate limit asking to wait an hour."""
    raise ForgeError("open a PR", "GitHub answered 403: secondary rate limit", retry_after=3600)


def leaves_budget(options: ForgeOptions, *_: object) -> RunSummary:
    """A run that succeeds, and saw 4,321 API requests left until half an hour from now."""
    return RunSummary((None, "UTC"), [], 0, [], [], (4321, time.time() + 1800))


def shares_then_dies(options: ForgeOptions, *arguments: object) -> RunSummary:
    """A run that shares a chunk of its fits, then dies before it can delete it."""
    shared = arguments[-1]
    assert isinstance(shared, SharedFits)
    Chunks(Database(shared.database_url, migrate=False)).put(shared.run_id, b"a chunk")
    os._exit(1)
