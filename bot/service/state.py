"""What the service remembers, on PostgreSQL (`bot/store/database.py`: the operator's, or
an embedded one).

Jobs live in the database, not in memory, so nothing is lost when the process dies: a job is
claimed with a lease, and a lease that runs out (the worker died mid-run) puts the job back in
the queue at start. At most one queued job exists per (repository, reason), which is what
deduplicates a burst of webhooks into one run; a partial unique index enforces it even when
two processes enqueue at once.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    create_engine,
    delete,
    func,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from bot.decisions.overrides import Override
from bot.store.database import migrate, sqlalchemy_url
from bot.store.tables import (
    DONE,
    FAILED,
    QUEUED,
    RUNNING,
    Delivery,
    Installation,
    Job,
    OverrideRecord,
    PullRequestRecord,
    RecommendationRecord,
    Repository,
    Run,
)

DUPLICATE = "duplicate"
MAX_ATTEMPTS = 5
POISON_AFTER = 3
"""Attempts of a job whose process crashed, hung or took its worker down, after which it is
given up on (poisoned) instead of tried again."""


@dataclass(frozen=True)
class RepositoryRow:
    id: int
    forge: str
    full_name: str
    installation_id: int | None
    schedule_cron: str | None = None
    schedule_timezone: str = "UTC"


@dataclass(frozen=True)
class RecommendationRow:
    """One planned value of a run, as the dashboard and `explain` show it."""

    workload: str
    field: str
    current: float
    proposed: float
    action: str
    explanation: str
    chart: str
    """JSON of the container's `UsageChart` for this field's resource, or ""."""


@dataclass(frozen=True)
class JobRow:
    id: int
    repository: RepositoryRow
    reason: str
    details: dict[str, Any]
    attempts: int


def now() -> datetime:
    return datetime.now(UTC)


class Store:
    def __init__(self, url: str) -> None:
        """`url`: a PostgreSQL URL (`bot.store.database.database_url` gives one); the schema
        is migrated to the code's before anything else is read."""
        self.engine = create_engine(sqlalchemy_url(url), future=True, pool_pre_ping=True)
        migrate(self.engine)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self._sessions() as session, session.begin():
            yield session

    def ready(self) -> bool:
        with self.engine.connect() as connection:
            return connection.execute(text("select 1")).scalar() == 1

    # Webhook deliveries ----------------------------------------------------------------

    def first_delivery(self, delivery: str, forge: str, event_name: str) -> bool:
        """True the first time a delivery id is seen; GitHub redelivers with the same id."""
        with self.session() as session:
            return _insert_delivery(session, delivery, forge, event_name)

    def forget_delivery(self, delivery: str) -> None:
        """Let a redelivery through again: acting on this one failed."""
        with self.session() as session:
            session.execute(delete(Delivery).where(Delivery.id == delivery))

    # Installations and repositories ----------------------------------------------------

    def add_installation(self, forge: str, installation: int, account: str) -> None:
        with self.session() as session:
            _add_installation(session, forge, installation, account)

    def installation_active(self, forge: str, installation: int) -> bool:
        with self.session() as session:
            found = session.get(Installation, (installation, forge))
            return found is not None and found.removed_at is None

    def repository_known(self, forge: str, full_name: str) -> bool:
        """Whether the repository was ever added, active or not."""
        with self.session() as session:
            query = select(Repository.id).where(
                Repository.forge == forge, Repository.full_name == full_name
            )
            return session.scalar(query) is not None

    def add_repository(self, forge: str, full_name: str, installation: int | None) -> RepositoryRow:
        with self.session() as session:
            return _repository(_add_repository(session, forge, full_name, installation))

    def remove_repository(self, forge: str, full_name: str) -> None:
        with self.session() as session:
            _deactivate(session, Repository.forge == forge, Repository.full_name == full_name)

    def install(
        self,
        delivery: str | None,
        forge: str,
        event: str,
        installation: int,
        account: str | None,
        added: list[str],
        removed: list[str],
    ) -> list[tuple[str, int, bool]] | str:
        """An installation event in one transaction with its delivery: the installation
        (when `account` is given), repositories removed and added, and a first run queued for
        each added one: (name, job, new). A crash leaves none of it, so the forge's
        redelivery is new again. DUPLICATE when the delivery was seen before."""
        with self.session() as session:
            if delivery and not _insert_delivery(session, delivery, forge, event):
                return DUPLICATE
            if account is not None:
                _add_installation(session, forge, installation, account)
            for name in removed:
                _deactivate(session, Repository.forge == forge, Repository.full_name == name)
            jobs = []
            for name in added:
                repository = _add_repository(session, forge, name, installation)
                jobs.append((name, *_enqueue(session, repository.id, "installation", 0.0, None)))
            return jobs

    def uninstall(self, delivery: str | None, forge: str, event: str, installation: int) -> bool:
        """The installation and its repositories forgotten with the delivery, in one
        transaction; False when the delivery was seen before."""
        with self.session() as session:
            if delivery and not _insert_delivery(session, delivery, forge, event):
                return False
            _remove_installation(session, forge, installation)
            return True

    def repository(self, forge: str, full_name: str) -> RepositoryRow | None:
        with self.session() as session:
            found = session.scalar(
                select(Repository).where(
                    Repository.forge == forge,
                    Repository.full_name == full_name,
                    Repository.active.is_(True),
                )
            )
            return _repository(found) if found is not None else None

    def repositories(self) -> list[RepositoryRow]:
        with self.session() as session:
            rows = session.scalars(select(Repository).where(Repository.active.is_(True)))
            return [_repository(row) for row in rows]

    def record_pull(
        self, repository: RepositoryRow, number: int, branch: str, state: str, url: str
    ) -> None:
        """A PR's latest state as the bot last saw it: open, closed (rejected) or merged."""
        with self.session() as session:
            found = session.get(PullRequestRecord, (repository.id, number))
            if found is None:
                found = PullRequestRecord(repository_id=repository.id, number=number)
                session.add(found)
            found.branch, found.state, found.url, found.updated_at = branch, state, url, now()

    def pull_branch(self, forge: str, full_name: str, number: int) -> str | None:
        """The branch of a PR the bot opened here, as it recorded it; None for any other PR.
        What makes a PR the bot's: a body anyone can write the bot's marker into is not."""
        with self.session() as session:
            found = session.scalar(
                select(PullRequestRecord.branch)
                .join(Repository, Repository.id == PullRequestRecord.repository_id)
                .where(
                    Repository.forge == forge,
                    Repository.full_name == full_name,
                    PullRequestRecord.number == number,
                )
            )
            return str(found) if found is not None else None

    # Jobs --------------------------------------------------------------------------------

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
                    if delivery and not _insert_delivery(session, delivery, forge, event):
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
                    return _enqueue(session, repository, reason, delay, details)
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
                        _repository(repository),
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

    def set_schedule(self, repository: RepositoryRow, cron: str | None, timezone: str) -> None:
        """The repo's own schedule, as its `.rightsizer.yaml` said at its last run."""
        with self.session() as session:
            session.execute(
                update(Repository)
                .where(Repository.id == repository.id)
                .values(schedule_cron=cron, schedule_timezone=timezone)
            )

    def add_override(self, repository: RepositoryRow, override: Override) -> None:
        with self.session() as session:
            session.add(
                OverrideRecord(
                    repository_id=repository.id,
                    **{f.name: getattr(override, f.name) for f in fields(Override)},
                )
            )

    def overrides(self, repository: RepositoryRow) -> list[Override]:
        """Every command kept for the repository, oldest first (a later one wins)."""
        with self.session() as session:
            rows = session.scalars(
                select(OverrideRecord)
                .where(OverrideRecord.repository_id == repository.id)
                .order_by(OverrideRecord.id)
            )
            return [
                Override(
                    kind=row.kind,  # type: ignore[arg-type]
                    workload_kind=row.workload_kind,
                    name=row.name,
                    namespace=row.namespace,
                    environment=row.environment,
                    by=row.by,
                    since=row.since,
                    until=row.until,
                    field=row.field,
                    value=row.value,
                )
                for row in rows
            ]

    # Runs --------------------------------------------------------------------------------

    def start_run(self, job: JobRow) -> int:
        with self.session() as session:
            run = Run(
                job_id=job.id,
                repository_id=job.repository.id,
                reason=job.reason,
                started_at=now(),
            )
            session.add(run)
            session.flush()
            return run.id

    def finish_run(
        self,
        run_id: int,
        outcome: str,
        message: str,
        counts: tuple[int, int, int] = (0, 0, 0),
        recommendations: list[RecommendationRow] | None = None,
    ) -> None:
        """`counts` are (changes, PRs opened, PRs updated); `recommendations` replace none
        of the earlier runs': the history is kept."""
        with self.session() as session:
            run = session.get(Run, run_id)
            assert run is not None
            run.finished_at, run.outcome, run.message = now(), outcome, message
            run.changes, run.opened, run.updated = counts
            for row in recommendations or []:
                session.add(
                    RecommendationRecord(
                        run_id=run_id,
                        repository_id=run.repository_id,
                        workload=row.workload,
                        field=row.field,
                        current=row.current,
                        proposed=row.proposed,
                        action=row.action,
                        explanation=row.explanation,
                        chart=row.chart,
                    )
                )

    def latest_recommendations(
        self, repository_id: int
    ) -> tuple[int | None, list[RecommendationRow]]:
        """The values of the repository's latest run that planned anything, and that run's
        id; (None, []) before any did."""
        with self.session() as session:
            latest = session.scalar(
                select(func.max(RecommendationRecord.run_id)).where(
                    RecommendationRecord.repository_id == repository_id
                )
            )
            if latest is None:
                return None, []
            rows = session.scalars(
                select(RecommendationRecord)
                .where(RecommendationRecord.run_id == latest)
                .order_by(RecommendationRecord.id)
            )
            return latest, [
                RecommendationRow(
                    r.workload, r.field, r.current, r.proposed, r.action, r.explanation, r.chart
                )
                for r in rows
            ]

    def runs(self, repository: RepositoryRow) -> list[tuple[str, str, int, int]]:
        """(reason, outcome, opened, updated) of every run, oldest first."""
        with self.session() as session:
            query = (
                select(Run.reason, Run.outcome, Run.opened, Run.updated)
                .where(Run.repository_id == repository.id)
                .order_by(Run.id)
            )
            return [tuple(row) for row in session.execute(query)]  # type: ignore[misc]

    def queue_depth(self) -> int:
        with self.session() as session:
            return int(session.scalar(select(func.count()).where(Job.state == QUEUED)) or 0)

    def jobs(self, repository: RepositoryRow | None = None) -> list[tuple[int, str, str, int]]:
        """(id, reason, state, attempts) of every job, oldest first."""
        with self.session() as session:
            query = select(Job.id, Job.reason, Job.state, Job.attempts).order_by(Job.id)
            if repository is not None:
                query = query.where(Job.repository_id == repository.id)
            return [tuple(row) for row in session.execute(query)]  # type: ignore[misc]


def _add_installation(session: Session, forge: str, installation: int, account: str) -> None:
    found = session.get(Installation, (installation, forge))
    if found is None:
        session.add(Installation(id=installation, forge=forge, account=account, added_at=now()))
    else:
        found.removed_at, found.account = None, account


def _remove_installation(session: Session, forge: str, installation: int) -> None:
    found = session.get(Installation, (installation, forge))
    if found is not None:
        found.removed_at = now()
    _deactivate(session, Repository.forge == forge, Repository.installation_id == installation)


def _add_repository(
    session: Session, forge: str, full_name: str, installation: int | None
) -> Repository:
    found = session.scalar(
        select(Repository).where(Repository.forge == forge, Repository.full_name == full_name)
    )
    if found is None:
        found = Repository(
            forge=forge, full_name=full_name, installation_id=installation, added_at=now()
        )
        session.add(found)
    found.active, found.installation_id = True, installation or found.installation_id
    session.flush()
    return found


def _deactivate(session: Session, *where: Any) -> None:
    """Repositories the bot no longer serves, and the jobs still waiting for them cancelled:
    the forge would refuse them anyway."""
    ids = list(session.scalars(select(Repository.id).where(*where)))
    session.execute(update(Repository).where(Repository.id.in_(ids)).values(active=False))
    session.execute(
        update(Job)
        .where(Job.repository_id.in_(ids), Job.state == QUEUED)
        .values(state=FAILED, last_error="repository removed", finished_at=now())
    )


class _NoRepository(Exception):
    """Rolls back a delivery's transaction: the caller adds the repository or ignores it."""


def _insert_delivery(session: Session, delivery: str, forge: str, event: str) -> bool:
    """Whether the delivery is new; a seen one is left as it is, and the transaction stays
    usable (no error is raised for it)."""
    values = {"id": delivery, "forge": forge, "event": event, "received_at": now()}
    # RETURNING, not rowcount: psycopg reports -1 rows for an INSERT ... ON CONFLICT.
    statement = insert(Delivery).values(**values).on_conflict_do_nothing()
    return session.execute(statement.returning(Delivery.id)).first() is not None


def _enqueue(
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


def _repository(row: Repository) -> RepositoryRow:
    return RepositoryRow(
        row.id,
        row.forge,
        row.full_name,
        row.installation_id,
        row.schedule_cron,
        row.schedule_timezone or "UTC",
    )
