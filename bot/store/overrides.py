"""Reviewers' standing commands (ignore, snooze, pin) per repository: applied after the
policy on every later run."""

from __future__ import annotations

from dataclasses import fields

from sqlalchemy import select

from bot.decisions.overrides import Override
from bot.store.database import Database
from bot.store.rows import RepositoryRow
from bot.store.tables import OverrideRecord


class Overrides:
    def __init__(self, database: Database) -> None:
        self.session = database.session

    def add(self, repository: RepositoryRow, override: Override) -> None:
        with self.session() as session:
            session.add(
                OverrideRecord(
                    repository_id=repository.id,
                    **{f.name: getattr(override, f.name) for f in fields(Override)},
                )
            )

    def of(self, repository: RepositoryRow) -> list[Override]:
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
