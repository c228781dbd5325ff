"""Held groups reviewers released by ticking their box in the dashboard issue; the run
lets them through the holds that may be lifted (`bot.decisions.releases`)."""

from __future__ import annotations

from sqlalchemy import select

from bot.decisions.releases import Release
from bot.store.database import Database
from bot.store.rows import RepositoryRow
from bot.store.tables import ReleaseRecord


class Releases:
    def __init__(self, database: Database) -> None:
        self.session = database.session

    def add(self, repository: RepositoryRow, release: Release) -> None:
        with self.session() as session:
            session.add(
                ReleaseRecord(
                    repository_id=repository.id,
                    group=release.group,
                    by=release.by,
                    since=release.since,
                )
            )

    def of(self, repository: RepositoryRow) -> list[Release]:
        """Every release given for the repository, oldest first (the newest per group counts)."""
        with self.session() as session:
            rows = session.scalars(
                select(ReleaseRecord)
                .where(ReleaseRecord.repository_id == repository.id)
                .order_by(ReleaseRecord.id)
            )
            return [Release(row.group, row.by, row.since) for row in rows]
