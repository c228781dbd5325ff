"""The job queue: one queued job per (repository, reason), debounced, claimed with a lease,
one running per repository, retried with backoff, poisoned after repeated crashes.

Jobs live in the database, not in memory, so nothing is lost when the process dies: a lease
that runs out (the worker died mid-run) puts the job back in the queue. A partial unique
index keeps one queued job per (repository, reason) even when two processes enqueue at once.
This is the hand-written queue issue #18 replaces with procrastinate.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.store.database import Database, now
from bot.store.deliveries import DUPLICATE, insert_delivery
from bot.store.rows import JobRow, RepositoryRow, repository_row
from bot.store.tables import DONE, FAILED, QUEUED, RUNNING, Job, Repository

MAX_ATTEMPTS = 5
POISON_AFTER = 3
"""Attempts of a job whose process crashed, hung or took its worker down, after which it is
given up on (poisoned) instead of tried again."""


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
        the repository is not an active one; else (job id, whether it is new).

        Two processes queueing the same job at once meet the unique index: the loser's
        transaction is rolled back and tried again, and then finds the winner's job."""
        for attempt in range(3):
            try:
                with self.session() as session:
                    if delivery and not insert_delivery(session, delivery, forge, event):
                        return DUPLICATE
                    repository = session.scalar(
                        select(Repository.id).where(
                            Repository.forge == forge,
                            Repository.full_name == full_name,
                            Repository.active.is_(True),
                        )
                    )
                    if repository is None:
                        raise _NoRepository
                    return enqueue_in(session, repository, reason, delay, details)
            except _NoRepository:
                return None
            except IntegrityError:
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def claim(self, lease: float) -> JobRow | None:
        """The oldest due job of a repository with no job running, marked running until the
        lease ends; None when nothing is due."""
        with self.session() as session:
            busy = select(Job.repository_id).where(Job.state == RUNNING)
            served = select(Repository.id).where(Repository.active.is_(True))
            candidates = session.scalars(
                select(Job)
                .where(
                    Job.state == QUEUED,
                    Job.not_before <= now(),
                    Job.repository_id.not_in(busy),
                    Job.repository_id.in_(served),
                )
                .order_by(Job.not_before, Job.id)
                .limit(5)
            ).all()
            for job in candidates:
                attempts = job.attempts + 1
                claimed = session.execute(
                    update(Job)
                    .where(Job.id == job.id, Job.state == QUEUED)
                    .values(
                        state=RUNNING,
                        attempts=attempts,
                        lease_until=now() + timedelta(seconds=lease),
                    )
                )
                if claimed.rowcount == 1:  # type: ignore[attr-defined]
                    repository = session.get(Repository, job.repository_id)
                    assert repository is not None
                    return JobRow(
                        job.id,
                        repository_row(repository),
                        job.reason,
                        json.loads(job.details),
                        attempts,
                    )
        return None

    def finish(self, job_id: int, error: str | None = None, retry_in: float | None = None) -> None:
        """Done, or failed: queued again after `retry_in` seconds while attempts remain.
        A retry that meets a newer job queued for the same reason folds into it."""
        try:
            with self.session() as session:
                job = session.get(Job, job_id)
                assert job is not None
                job.last_error, job.lease_until, job.finished_at = error, None, now()
                if error is None:
                    job.state = DONE
                elif retry_in is None or job.attempts >= MAX_ATTEMPTS:
                    job.state = FAILED
                else:
                    _requeue(session, job, now() + timedelta(seconds=retry_in))
        except IntegrityError:  # a webhook queued the same job between our read and write
            with self.session() as session:
                session.execute(
                    update(Job).where(Job.id == job_id).values(state=FAILED, lease_until=None)
                )

    def resume(self, every_running: bool = False) -> int:
        """Jobs whose worker died go back in the queue, unless that happened `POISON_AFTER`
        times (a job that takes its worker down would do it at every restart); how many were
        found. Those whose lease ran out, or, at the start of the one process that runs jobs,
        every job marked running: its worker cannot be alive, however long the lease it took."""
        with self.session() as session:
            stale = [Job.state == RUNNING]
            if not every_running:
                stale.append(Job.lease_until < now())
            jobs = session.scalars(select(Job).where(*stale)).all()
            for job in jobs:
                if job.attempts >= POISON_AFTER:
                    job.state, job.lease_until, job.finished_at = FAILED, None, now()
                    job.last_error = (
                        f"poisoned: its worker stopped during it {job.attempts} times; "
                        "not tried again"
                    )
                else:
                    _requeue(session, job, now())
            return len(jobs)

    def depth(self) -> int:
        with self.session() as session:
            return int(session.scalar(select(func.count()).where(Job.state == QUEUED)) or 0)

    def jobs(self, repository: RepositoryRow | None = None) -> list[tuple[int, str, str, int]]:
        """(id, reason, state, attempts) of every job, oldest first."""
        with self.session() as session:
            query = select(Job.id, Job.reason, Job.state, Job.attempts).order_by(Job.id)
            if repository is not None:
                query = query.where(Job.repository_id == repository.id)
            return [tuple(row) for row in session.execute(query)]  # type: ignore[misc]


class _NoRepository(Exception):
    """Rolls back a delivery's transaction: the caller adds the repository or ignores it."""


def enqueue_in(
    session: Session, repository: int, reason: str, delay: float, details: dict[str, Any] | None
) -> tuple[int, bool]:
    due = now() + timedelta(seconds=delay)
    job = session.scalar(
        select(Job).where(
            Job.repository_id == repository, Job.reason == reason, Job.state == QUEUED
        )
    )
    if job is not None:
        job.not_before = max(job.not_before, due)
        return job.id, False
    job = Job(
        repository_id=repository,
        reason=reason,
        state=QUEUED,
        attempts=0,
        details=json.dumps(details or {}, sort_keys=True),
        not_before=due,
        created_at=now(),
    )
    session.add(job)
    session.flush()
    return job.id, True


def _requeue(session: Session, job: Job, due: datetime) -> None:
    """`job` back in the queue, unless one for the same reason already waits: then that one
    stands for both and this one is closed."""
    waiting = session.scalar(
        select(Job.id).where(
            Job.repository_id == job.repository_id,
            Job.reason == job.reason,
            Job.state == QUEUED,
            Job.id != job.id,
        )
    )
    job.lease_until = None
    if waiting is not None:
        job.state, job.finished_at = FAILED, now()
        job.last_error = (job.last_error or "interrupted") + f"; folded into job {waiting}"
        return
    job.state, job.finished_at, job.not_before = QUEUED, None, due
    session.flush()


def cancel_waiting(session: Session, repositories: list[int]) -> None:
    """The queued jobs of repositories no longer served, closed as failed."""
    session.execute(
        update(Job)
        .where(Job.repository_id.in_(repositories), Job.state == QUEUED)
        .values(state=FAILED, last_error="repository removed", finished_at=now())
    )
