"""Jobs put in procrastinate's queue from the service's own transactions.

The engine (procrastinate, `bot/service/engine.py`) runs the jobs; this module only puts them
in its table and reads it back for the dashboard. It defers through procrastinate's own SQL
function (`procrastinate_defer_jobs_v1`, the versioned interface its Python client calls)
on the service's session, so that a webhook's delivery and the job it queues commit
together or not at all: procrastinate's client opens connections of its own and could not.

Two locks carry the queue's rules:
- `queueing_lock` `<forge>:<repository>:<reason>`: one waiting job per window. A second
  enqueue moves the waiting job's start later instead (debounce).
- `lock` `<forge>:<repository>`: one running job per repository, whatever its reason.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.store.database import Database
from bot.store.deliveries import DUPLICATE, insert_delivery
from bot.store.rows import RepositoryRow
from bot.store.tables import Repository

TASK = "rightsizer.run"
QUEUE = "runs"
STATES = {
    "todo": "queued",
    "doing": "running",
    "succeeded": "done",
    "failed": "failed",
    "cancelled": "cancelled",
    "aborted": "failed",
}
"""procrastinate's job states, in the words the dashboard and the logs use."""


def locks(forge: str, full_name: str, reason: str) -> tuple[str, str]:
    """(lock, queueing lock) of a repository's job for `reason`."""
    return f"{forge}:{full_name}", f"{forge}:{full_name}:{reason}"


class Queue:
    def __init__(self, database: Database) -> None:
        self.session = database.session

    def enqueue(
        self,
        repository: RepositoryRow,
        reason: str,
        delay: float = 0.0,
        details: dict[str, Any] | None = None,
    ) -> tuple[int, bool] | None:
        """The queued job for (repository, reason): a new one (True), or the one already
        waiting (False), whose start moves to `delay` from now: a burst of pushes is debounced
        into one run after the last of them. None for a repository no longer served."""
        found = self.deliver_and_enqueue(
            None, repository.forge, "", repository.full_name, reason, delay, details
        )
        return found if isinstance(found, tuple) else None

    def deliver_and_enqueue(
        self,
        delivery: str | None,
        forge: str,
        event: str,
        full_name: str,
        reason: str,
        delay: float,
        details: dict[str, Any] | None,
    ) -> tuple[int, bool] | str | None:
        """In one transaction: the webhook delivery remembered (when given) and the job
        queued. DUPLICATE when the delivery was seen before; None, with nothing written, when
        the repository is not an active one; else (job id, whether it is new)."""
        try:
            with self.session() as session:
                if delivery and not insert_delivery(session, delivery, forge, event):
                    return DUPLICATE
                repository = session.scalar(
                    select(Repository).where(
                        Repository.forge == forge,
                        Repository.full_name == full_name,
                        Repository.active.is_(True),
                    )
                )
                if repository is None:
                    raise _NoRepository
                if delivery:  # a new job remembers what asked for it, for its log lines
                    details = {**(details or {}), "delivery": delivery}
                return enqueue_in(session, repository, reason, delay, details)
        except _NoRepository:
            return None

    def waiting(self, forge: str, full_name: str, reason: str, besides: int) -> int | None:
        """The id of a job other than `besides` waiting for the same window, if any: a
        failed run that meets one does not retry, the waiting one stands for both."""
        _, queueing_lock = locks(forge, full_name, reason)
        with self.session() as session:
            return session.scalar(
                text(
                    "select id from procrastinate_jobs where queueing_lock = :lock "
                    "and status = 'todo' and id <> :job"
                ),
                {"lock": queueing_lock, "job": besides},
            )

    def depth(self) -> int:
        """Jobs waiting to run, due or not."""
        with self.session() as session:
            waiting = session.scalar(
                text(
                    "select count(*) from procrastinate_jobs "
                    "where task_name = :task and status = 'todo'"
                ),
                {"task": TASK},
            )
            return int(waiting or 0)

    def jobs(self, repository: RepositoryRow | None = None) -> list[tuple[int, str, str, int]]:
        """(id, reason, state, attempts) of every run job, oldest first; `attempts` counts
        the times it was started."""
        query = (
            "select id, args->>'reason', status::text, "
            "attempts + case when status = 'doing' then 1 else 0 end "
            "from procrastinate_jobs where task_name = :task"
        )
        values: dict[str, Any] = {"task": TASK}
        if repository is not None:
            query += " and (args->>'repository')::int = :repository"
            values["repository"] = repository.id
        with self.session() as session:
            rows = session.execute(text(query + " order by id"), values)
            return [(id_, reason, STATES[state], tried) for id_, reason, state, tried in rows]


class _NoRepository(Exception):
    """Rolls back a delivery's transaction: the caller adds the repository or ignores it."""


def enqueue_in(
    session: Session,
    repository: Repository,
    reason: str,
    delay: float,
    details: dict[str, Any] | None,
) -> tuple[int, bool]:
    """The job for (repository, reason) queued inside `session`'s transaction: the waiting
    one moved to start `delay` seconds from now (never earlier than it was due), or a new one.

    Two processes queueing the same window at once meet procrastinate's unique index on
    waiting queueing locks: the loser's insert is undone to its savepoint and it finds the
    winner's job."""
    lock, queueing_lock = locks(repository.forge, repository.full_name, reason)
    due = "now() + make_interval(secs => :delay)"
    for _ in range(3):
        waiting = session.scalar(
            text(
                f"update procrastinate_jobs set scheduled_at = greatest(scheduled_at, {due}) "
                "where queueing_lock = :lock and status = 'todo' returning id"
            ),
            {"lock": queueing_lock, "delay": delay},
        )
        if waiting is not None:
            return int(waiting), False
        arguments = {"repository": repository.id, "reason": reason, "details": details or {}}
        try:
            with session.begin_nested():
                created = session.scalar(
                    text(
                        "select unnest(procrastinate_defer_jobs_v1(array[row(:queue, :task, 0, "
                        f":lock, :queueing_lock, cast(:args as jsonb), {due})"
                        "::procrastinate_job_to_defer_v1]))"
                    ),
                    {
                        "queue": QUEUE,
                        "task": TASK,
                        "lock": lock,
                        "queueing_lock": queueing_lock,
                        "args": json.dumps(arguments, sort_keys=True),
                        "delay": delay,
                    },
                )
            return int(created), True
        except IntegrityError:
            continue
    raise RuntimeError(f"could not queue {queueing_lock}: the queue kept changing under it")


def cancel_waiting(session: Session, repositories: list[int]) -> None:
    """The waiting jobs of repositories no longer served, cancelled."""
    if not repositories:
        return
    session.execute(
        text(
            "select procrastinate_cancel_job_v1(id, false, false) from procrastinate_jobs "
            "where task_name = :task and status = 'todo' "
            "and (args->>'repository')::int = any(:ids)"
        ),
        {"task": TASK, "ids": repositories},
    )
