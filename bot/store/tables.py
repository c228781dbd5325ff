"""The service's tables. Alembic migrations (`bot/store/migrations`) create and change them;
these classes are what the code reads and writes, and a test checks that the two agree."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

RUNNING = "running"


class Base(DeclarativeBase):
    pass


def ours(name: str | None, kind: str, parents: object) -> bool:
    """Alembic's filter: procrastinate's tables share the database and are its own."""
    return not (name or "").startswith("procrastinate_")


class Installation(Base):
    __tablename__ = "installations"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    forge: Mapped[str] = mapped_column(String(16), primary_key=True)
    account: Mapped[str] = mapped_column(String(255))
    added_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    removed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class ApiBudgetRecord(Base):
    """One installation's API budget as the workers share it (`budgets.py`)."""

    __tablename__ = "api_budgets"
    forge: Mapped[str] = mapped_column(String(16), primary_key=True)
    installation_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    remaining: Mapped[int | None] = mapped_column(Integer, nullable=True)
    resets_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    reserved: Mapped[int] = mapped_column(Integer, default=0)


class Repository(Base):
    __tablename__ = "repositories"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    forge: Mapped[str] = mapped_column(String(16))
    full_name: Mapped[str] = mapped_column(String(255))
    installation_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    added_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    schedule_cron: Mapped[str | None] = mapped_column(String(128), nullable=True)
    schedule_timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    scheduled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    """When a scheduled run was last queued, by whichever web replica got there first."""
    __table_args__ = (Index("repository_name", "forge", "full_name", unique=True),)


class Run(Base):
    __tablename__ = "runs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[int] = mapped_column(BigInteger)
    """procrastinate's job id; no foreign key: the engine may delete jobs it finished."""
    repository_id: Mapped[int] = mapped_column(ForeignKey("repositories.id"))
    reason: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    outcome: Mapped[str] = mapped_column(String(16), default=RUNNING)
    changes: Mapped[int] = mapped_column(Integer, default=0)
    opened: Mapped[int] = mapped_column(Integer, default=0)
    updated: Mapped[int] = mapped_column(Integer, default=0)
    message: Mapped[str] = mapped_column(Text, default="")


class Delivery(Base):
    __tablename__ = "deliveries"
    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    forge: Mapped[str] = mapped_column(String(16))
    event: Mapped[str] = mapped_column(String(64))
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class PullRequestRecord(Base):
    __tablename__ = "pull_requests"
    repository_id: Mapped[int] = mapped_column(ForeignKey("repositories.id"), primary_key=True)
    number: Mapped[int] = mapped_column(Integer, primary_key=True)
    branch: Mapped[str] = mapped_column(String(255))
    state: Mapped[str] = mapped_column(String(16))
    url: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class RecommendationRecord(Base):
    __tablename__ = "recommendations"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"))
    repository_id: Mapped[int] = mapped_column(ForeignKey("repositories.id"))
    workload: Mapped[str] = mapped_column(String(512))
    field: Mapped[str] = mapped_column(String(128))
    current: Mapped[float] = mapped_column(Float)
    proposed: Mapped[float] = mapped_column(Float)
    action: Mapped[str] = mapped_column(String(16))
    explanation: Mapped[str] = mapped_column(Text, default="")
    chart: Mapped[str] = mapped_column(Text, default="")


class OverrideRecord(Base):
    __tablename__ = "overrides"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    repository_id: Mapped[int] = mapped_column(ForeignKey("repositories.id"))
    kind: Mapped[str] = mapped_column(String(16))
    workload_kind: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(253))
    namespace: Mapped[str | None] = mapped_column(String(63), nullable=True)
    environment: Mapped[str | None] = mapped_column(String(128), nullable=True)
    field: Mapped[str | None] = mapped_column(String(128), nullable=True)
    value: Mapped[str | None] = mapped_column(String(64), nullable=True)
    by: Mapped[str] = mapped_column(String(255))
    since: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class ReleaseRecord(Base):
    __tablename__ = "releases"
    __table_args__ = (UniqueConstraint("repository_id", "group", name="releases_one_per_group"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    repository_id: Mapped[int] = mapped_column(ForeignKey("repositories.id"))
    group: Mapped[str] = mapped_column(String(512))
    by: Mapped[str] = mapped_column(String(255))
    since: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class VerificationRecord(Base):
    """What became of one workload's change in one merged bot commit, as the last run that
    judged it said (bot.decisions.verification)."""

    __tablename__ = "verifications"
    repository_id: Mapped[int] = mapped_column(ForeignKey("repositories.id"), primary_key=True)
    sha: Mapped[str] = mapped_column(String(64), primary_key=True)
    workload: Mapped[str] = mapped_column(String(1024), primary_key=True)
    state: Mapped[str] = mapped_column(String(16))
    summary: Mapped[str] = mapped_column(Text)
    merged_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ForecastChunk(Base):
    """Fits a big run shares with every worker (`bot/service/fanout.py`): the work as the
    run sent it, and the forecasts once some worker made them. Deleted when the run ends."""

    __tablename__ = "forecast_chunks"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(Integer, index=True)
    tasks: Mapped[bytes] = mapped_column(LargeBinary)
    result: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    claimed_by: Mapped[str | None] = mapped_column(String(255), nullable=True)
    claimed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
