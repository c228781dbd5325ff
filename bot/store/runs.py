"""Runs and what they planned: each run's start, end, outcome and counts, every value it
planned (the dashboard's and `explain`'s source), and the PRs the bot opened with their
latest state."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select, update

from bot.store.database import Database, now
from bot.store.rows import JobRow, RecommendationRow, RepositoryRow
from bot.store.tables import PullRequestRecord, RecommendationRecord, Repository, Run


class Runs:
    def __init__(self, database: Database) -> None:
        self.session = database.session

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

    def start(self, job: JobRow) -> int:
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

    def abandon(self, job_id: int, message: str) -> None:
        """The runs a dead worker left unfinished for `job_id`, closed as failed."""
        with self.session() as session:
            session.execute(
                update(Run)
                .where(Run.job_id == job_id, Run.finished_at.is_(None))
                .values(outcome="failed", message=message, finished_at=now())
            )

    def finish(
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

    def of(self, repository: RepositoryRow) -> list[tuple[str, str, int, int]]:
        """(reason, outcome, opened, updated) of every run, oldest first."""
        with self.session() as session:
            query = (
                select(Run.reason, Run.outcome, Run.opened, Run.updated)
                .where(Run.repository_id == repository.id)
                .order_by(Run.id)
            )
            return [tuple(row) for row in session.execute(query)]  # type: ignore[misc]

    def last_successes(self) -> list[tuple[str, str, datetime]]:
        """(forge, repository, end) of each active repository's last run that ended well."""
        with self.session() as session:
            query = (
                select(Repository.forge, Repository.full_name, func.max(Run.finished_at))
                .join(Run, Run.repository_id == Repository.id)
                .where(Repository.active.is_(True), Run.outcome == "ok")
                .group_by(Repository.forge, Repository.full_name)
                .order_by(Repository.forge, Repository.full_name)
            )
            return [tuple(row) for row in session.execute(query)]  # type: ignore[misc]
