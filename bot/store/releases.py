"""Held groups reviewers released by ticking their box in the dashboard issue; the run
lets them through the holds that may be lifted (`bot.decisions.releases`)."""

from __future__ import annotations

from sqlalchemy import delete, select

from bot.decisions.releases import Release
from bot.store.database import Database
from bot.store.rows import RepositoryRow
from bot.store.tables import ReleaseRecord


class Releases:
    def __init__(self, database: Database) -> None:
        self.session = database.session

    def add(self, repository: RepositoryRow, release: Release) -> None:
        """The group's release, replacing any earlier one: only the newest counts, and a
        repository's table stays one row per group however often its box is ticked."""
        with self.session() as session:
            session.execute(
                delete(ReleaseRecord).where(
                    ReleaseRecord.repository_id == repository.id,
                    ReleaseRecord.group == release.group,
                )
            )
            session.add(
                ReleaseRecord(
                    repository_id=repository.id,
                    group=release.group,
                    by=release.by,
                    since=release.since,
                )
            )

    def of(self, repository: RepositoryRow) -> list[Release]:
        """The newest release of each group of the repository, oldest first."""
        with self.session() as session:
            rows = session.scalars(
                select(ReleaseRecord)
                .where(ReleaseRecord.repository_id == repository.id)
                .order_by(ReleaseRecord.id)
            )
            return [Release(row.group, row.by, row.since) for row in rows]
