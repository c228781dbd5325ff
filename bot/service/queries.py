"""What the dashboard shows, read from the Store: installations, repositories with their last
run and open PRs, recent runs, and a repository's latest recommendations with their charts.

Every function opens its own short read-only session and returns frozen dataclasses, so no
ORM object (and no lazy load) leaves this module. A recommendation's chart is kept as JSON
(`dataclasses.asdict` of a `UsageChart`); it is read back into a `UsageChart`, or None when it
is absent or not a chart, so one bad row cannot break the page.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select

from bot.store import Store
from bot.store.rows import VerdictRow
from bot.store.tables import Installation, PullRequestRecord, Repository, Run
from recommenders.model import METRICS, UsageChart

OPEN = "open"


@dataclass(frozen=True)
class InstallationView:
    forge: str
    id: int
    account: str
    added_at: datetime
    removed_at: datetime | None

    @property
    def active(self) -> bool:
        return self.removed_at is None


@dataclass(frozen=True)
class RunView:
    id: int
    repository_id: int
    repository: str
    """The repository's full name."""
    reason: str
    outcome: str
    started_at: datetime
    finished_at: datetime | None
    changes: int
    opened: int
    updated: int
    message: str

    @property
    def seconds(self) -> float | None:
        """How long it ran; None while it runs."""
        if self.finished_at is None:
            return None
        return max((self.finished_at - self.started_at).total_seconds(), 0.0)


@dataclass(frozen=True)
class PullView:
    repository_id: int
    repository: str
    number: int
    branch: str
    state: str
    url: str
    updated_at: datetime


@dataclass(frozen=True)
class RepositoryView:
    id: int
    forge: str
    full_name: str
    installation_id: int | None
    active: bool
    added_at: datetime
    last_run: RunView | None
    open_pulls: tuple[PullView, ...]


@dataclass(frozen=True)
class RecommendationView:
    workload: str
    field: str
    current: float
    """In base units (cores, bytes), or the plain number (replicas, percent)."""
    proposed: float
    action: str
    explanation: str
    chart: UsageChart | None


@dataclass(frozen=True)
class WorkloadView:
    workload: str
    recommendations: tuple[RecommendationView, ...]
    charts: tuple[UsageChart, ...]
    """One per (container, metric), in the order the rows carry them."""


@dataclass(frozen=True)
class RepositoryDetail:
    repository: RepositoryView
    recommendations_run: RunView | None
    """The run the recommendations come from: the latest that stored any."""
    workloads: tuple[WorkloadView, ...]
    runs: tuple[RunView, ...]
    """The repository's recent runs, newest first."""
    verifications: tuple[VerdictRow, ...] = ()
    """What became of the bot's merged changes, the newest merge first."""


@dataclass(frozen=True)
class Overview:
    installations: tuple[InstallationView, ...]
    repositories: tuple[RepositoryView, ...]
    recent_runs: tuple[RunView, ...]
    open_pulls: tuple[PullView, ...]
    queue_depth: int


def installations(store: Store) -> list[InstallationView]:
    """Every installation, active ones first, then by forge and account."""
    with store.session() as session:
        rows = session.scalars(select(Installation)).all()
        views = [
            InstallationView(
                row.forge, row.id, row.account, _utc(row.added_at), _maybe_utc(row.removed_at)
            )
            for row in rows
        ]
    return sorted(views, key=lambda i: (not i.active, i.forge, i.account.lower(), i.id))


def open_pulls(store: Store, repository_id: int | None = None) -> list[PullView]:
    """PRs the bot last saw open, most recently updated first."""
    with store.session() as session:
        query = (
            select(PullRequestRecord, Repository.full_name)
            .join(Repository, Repository.id == PullRequestRecord.repository_id)
            .where(PullRequestRecord.state == OPEN)
            .order_by(PullRequestRecord.updated_at.desc(), PullRequestRecord.number.desc())
        )
        if repository_id is not None:
            query = query.where(PullRequestRecord.repository_id == repository_id)
        return [_pull(row, name) for row, name in session.execute(query)]


def recent_runs(store: Store, limit: int = 20, repository_id: int | None = None) -> list[RunView]:
    """The newest runs first (of one repository, or of all)."""
    with store.session() as session:
        query = (
            select(Run, Repository.full_name)
            .join(Repository, Repository.id == Run.repository_id)
            .order_by(Run.id.desc())
            .limit(limit)
        )
        if repository_id is not None:
            query = query.where(Run.repository_id == repository_id)
        return [_run(row, name) for row, name in session.execute(query)]


def repositories(store: Store, include_inactive: bool = True) -> list[RepositoryView]:
    """Repositories with their last run and open PRs: active ones first, then by name."""
    with store.session() as session:
        query = select(Repository)
        if not include_inactive:
            query = query.where(Repository.active.is_(True))
        rows = session.scalars(query).all()
        latest = select(func.max(Run.id).label("id")).group_by(Run.repository_id).subquery("latest")
        last_runs = {
            run.repository_id: run
            for run in session.scalars(select(Run).join(latest, latest.c.id == Run.id))
        }
        names = {row.id: row.full_name for row in rows}
        pulls: dict[int, list[PullView]] = {}
        for pull in session.scalars(
            select(PullRequestRecord)
            .where(PullRequestRecord.state == OPEN)
            .order_by(PullRequestRecord.number)
        ):
            if pull.repository_id in names:
                pulls.setdefault(pull.repository_id, []).append(
                    _pull(pull, names[pull.repository_id])
                )
        views = [
            _repository_view(
                row,
                _run(last_runs[row.id], row.full_name) if row.id in last_runs else None,
                tuple(pulls.get(row.id, ())),
            )
            for row in rows
        ]
    return sorted(views, key=lambda r: (not r.active, r.forge, r.full_name.lower(), r.id))


def latest_recommendations(
    store: Store, repository_id: int
) -> tuple[RunView | None, list[RecommendationView]]:
    """The recommendations of the repository's latest run that stored any, in the order they
    were stored, and that run; (None, []) when no run stored any."""
    run_id, rows = store.runs.latest_recommendations(repository_id)
    if run_id is None:
        return None, []
    with store.session() as session:
        found = session.execute(
            select(Run, Repository.full_name)
            .join(Repository, Repository.id == Run.repository_id)
            .where(Run.id == run_id)
        ).first()
        run = _run(found[0], found[1]) if found is not None else None
    return run, [
        RecommendationView(
            row.workload,
            row.field,
            row.current,
            row.proposed,
            row.action,
            row.explanation,
            chart_from_json(row.chart),
        )
        for row in rows
    ]


def repository_detail(store: Store, repository_id: int, runs: int = 10) -> RepositoryDetail | None:
    """Everything the repository page shows; None when there is no such repository."""
    with store.session() as session:
        row = session.get(Repository, repository_id)
        if row is None:
            return None
        last = session.scalar(
            select(Run).where(Run.repository_id == repository_id).order_by(Run.id.desc()).limit(1)
        )
        last_run = _run(last, row.full_name) if last is not None else None
    view = _repository_view(row, last_run, tuple(open_pulls(store, repository_id)))
    run, recommendations = latest_recommendations(store, repository_id)
    return RepositoryDetail(
        repository=view,
        recommendations_run=run,
        workloads=tuple(group_by_workload(recommendations)),
        runs=tuple(recent_runs(store, runs, repository_id)),
        verifications=tuple(store.verifications.of(repository_id)),
    )


def overview(store: Store, runs: int = 20) -> Overview:
    """Everything the dashboard's front page shows."""
    return Overview(
        installations=tuple(installations(store)),
        repositories=tuple(repositories(store)),
        recent_runs=tuple(recent_runs(store, runs)),
        open_pulls=tuple(open_pulls(store)),
        queue_depth=store.queue.depth(),
    )


def group_by_workload(rows: list[RecommendationView]) -> list[WorkloadView]:
    """Rows grouped per workload in first-seen order, with each distinct chart once.

    As in the PR, a chart's proposed line is the value decided for the request (after every
    guardrail; today's value when the change is skipped), not the strategy's wish that the
    stored chart carries; a chart only a limit's row carries keeps its own."""
    grouped: dict[str, list[RecommendationView]] = {}
    for row in rows:
        grouped.setdefault(row.workload, []).append(row)
    views = []
    for workload, items in grouped.items():
        charts: dict[tuple[str, str], UsageChart] = {}
        for item in items:
            if item.chart is None:
                continue
            key = (item.chart.container, item.chart.metric)
            if _is_request(item, item.chart):
                proposed = (
                    item.chart.current
                    if item.action == "skip"
                    else item.chart.display(item.proposed)
                )
                charts[key] = dataclasses.replace(item.chart, proposed=proposed)
            else:
                charts.setdefault(key, item.chart)
        views.append(WorkloadView(workload, tuple(items), tuple(charts.values())))
    return views


def _is_request(row: RecommendationView, chart: UsageChart) -> bool:
    """Whether the row sets the request the chart is about (`<container> requests.cpu`)."""
    return row.field.split()[-1:] == [f"requests.{chart.metric}"]


def chart_from_json(text: str | None) -> UsageChart | None:
    """The `UsageChart` stored as `json.dumps(dataclasses.asdict(chart))`; None when the
    text is empty or is not such a chart."""
    if not text:
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    try:
        labels = tuple(str(label) for label in _sequence(data["labels"]))
        observed = tuple(_optional_number(v) for v in _sequence(data["observed"]))
        forecast = tuple(_optional_number(v) for v in _sequence(data["forecast"]))
        metric = data["metric"]
        if metric not in METRICS:
            return None
        return UsageChart(
            metric=metric,
            container=str(data["container"]),
            unit=str(data["unit"]),
            statistic=str(data.get("statistic", "")),
            labels=labels,
            observed=_fit(observed, len(labels)),
            forecast=_fit(forecast, len(labels)),
            current=_number(data["current"]),
            proposed=_number(data["proposed"]),
            horizon_hours=_number(data.get("horizon_hours", 168.0)),
        )
    except (KeyError, TypeError, ValueError):
        return None


def _sequence(value: Any) -> list[Any]:
    if not isinstance(value, list | tuple):
        raise TypeError("not a list")
    return list(value)


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError("not a number")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError("not finite")
    return number


def _optional_number(value: Any) -> float | None:
    if value is None:
        return None
    try:
        return _number(value)
    except ValueError:
        return None  # NaN or infinity: a gap, as a bucket without samples


def _fit(values: tuple[float | None, ...], length: int) -> tuple[float | None, ...]:
    """A series as long as the labels: cut, or padded with gaps."""
    return values[:length] + (None,) * max(length - len(values), 0)


def _utc(value: datetime) -> datetime:
    """PostgreSQL answers in its session's time zone; the dashboard shows UTC."""
    return value.astimezone(UTC)


def _maybe_utc(value: datetime | None) -> datetime | None:
    return None if value is None else _utc(value)


def _run(row: Run, repository: str) -> RunView:
    return RunView(
        id=row.id,
        repository_id=row.repository_id,
        repository=repository,
        reason=row.reason,
        outcome=row.outcome,
        started_at=_utc(row.started_at),
        finished_at=_maybe_utc(row.finished_at),
        changes=row.changes or 0,
        opened=row.opened or 0,
        updated=row.updated or 0,
        message=row.message or "",
    )


def _pull(row: PullRequestRecord, repository: str) -> PullView:
    return PullView(
        repository_id=row.repository_id,
        repository=repository,
        number=row.number,
        branch=row.branch,
        state=row.state,
        url=row.url,
        updated_at=_utc(row.updated_at),
    )


def _repository_view(
    row: Repository, last_run: RunView | None, pulls: tuple[PullView, ...]
) -> RepositoryView:
    return RepositoryView(
        id=row.id,
        forge=row.forge,
        full_name=row.full_name,
        installation_id=row.installation_id,
        active=bool(row.active),
        added_at=_utc(row.added_at),
        last_run=last_run,
        open_pulls=pulls,
    )
