"""The rows the store hands to the service: plain frozen dataclasses, so that nothing outside
`bot/store` holds a database session or an ORM object."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.store.tables import Repository


@dataclass(frozen=True)
class RepositoryRow:
    id: int
    forge: str
    full_name: str
    installation_id: int | None
    schedule_cron: str | None = None
    schedule_timezone: str = "UTC"


@dataclass(frozen=True)
class JobRow:
    id: int
    repository: RepositoryRow
    reason: str
    details: dict[str, Any]
    attempts: int


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
class VerdictRow:
    """One verification verdict, as the service keeps it."""

    workload: str
    sha: str
    state: str
    summary: str
    merged_at: datetime


def repository_row(row: Repository) -> RepositoryRow:
    return RepositoryRow(
        row.id,
        row.forge,
        row.full_name,
        row.installation_id,
        row.schedule_cron,
        row.schedule_timezone or "UTC",
    )
