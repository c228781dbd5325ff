"""What became of the bot's merged changes (verification after merge): the latest verdict of
each workload's change in each merged commit, kept after the usage that judged it has aged
out of the window, and counted by state for `/metrics`."""

from __future__ import annotations

from sqlalchemy import func, select

from bot.store.database import Database, now
from bot.store.rows import RepositoryRow, VerdictRow
from bot.store.tables import Repository, VerificationRecord


class Verifications:
    def __init__(self, database: Database) -> None:
        self.session = database.session

    def record(self, repository: RepositoryRow, verdicts: list[VerdictRow]) -> None:
        """Each verdict replaces the one before for the same commit and workload: a pending
        watch becomes healthy or regressed, a regressed one reverted. A watch this run no
        longer reports (its merge aged out before it could be judged) is dropped, so that
        nothing stays pending on `/metrics` for ever; a judged one is kept as history."""
        with self.session() as session:
            judged = {(v.sha, v.workload) for v in verdicts}
            for stale in session.scalars(
                select(VerificationRecord).where(
                    VerificationRecord.repository_id == repository.id,
                    VerificationRecord.state == "pending",
                )
            ):
                if (stale.sha, stale.workload) not in judged:
                    session.delete(stale)
            for verdict in verdicts:
                key = (repository.id, verdict.sha, verdict.workload)
                found = session.get(VerificationRecord, key)
                if found is None:
                    found = VerificationRecord(
                        repository_id=repository.id, sha=verdict.sha, workload=verdict.workload
                    )
                    session.add(found)
                found.state, found.summary = verdict.state, verdict.summary
                found.merged_at, found.updated_at = verdict.merged_at, now()

    def of(self, repository_id: int) -> list[VerdictRow]:
        """The repository's verdicts, the newest merge first, for its dashboard page."""
        with self.session() as session:
            rows = session.scalars(
                select(VerificationRecord)
                .where(VerificationRecord.repository_id == repository_id)
                .order_by(VerificationRecord.merged_at.desc(), VerificationRecord.workload)
            )
            return [
                VerdictRow(row.workload, row.sha, row.state, row.summary, row.merged_at)
                for row in rows
            ]

    def counts(self) -> list[tuple[str, str, str, int]]:
        """(forge, repository, state, verdicts) of every active repository."""
        with self.session() as session:
            query = (
                select(
                    Repository.forge,
                    Repository.full_name,
                    VerificationRecord.state,
                    func.count(),
                )
                .join(VerificationRecord, VerificationRecord.repository_id == Repository.id)
                .where(Repository.active.is_(True))
                .group_by(Repository.forge, Repository.full_name, VerificationRecord.state)
                .order_by(Repository.forge, Repository.full_name, VerificationRecord.state)
            )
            return [tuple(row) for row in session.execute(query)]  # type: ignore[misc]
