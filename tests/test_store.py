"""The service's database: PostgreSQL only, the schema made and changed by Alembic, and the
embedded server a trial gets when no database is configured."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, text

from bot.decisions.releases import Release
from bot.service.metrics import StoreCollector
from bot.service.settings import load_settings
from bot.store import Store
from bot.store.database import MIGRATIONS, sqlalchemy_url
from bot.store.rows import VerdictRow
from bot.store.tables import Base, ours
from recommenders.errors import InputError
from tests.conftest import ROOT
from tests.postgres_server import new_database


def test_the_migrations_make_exactly_the_tables_the_code_reads(database: str) -> None:
    """A model changed without a migration (or the reverse) is a diff here."""
    store = Store(database)
    with store.engine.connect() as connection:
        assert (
            compare_metadata(
                MigrationContext.configure(connection, opts={"include_name": ours}), Base.metadata
            )
            == []
        )
        version = connection.execute(text("select version_num from alembic_version")).scalar()
    head = ScriptDirectory(str(MIGRATIONS)).get_current_head()
    assert version == head


def test_processes_starting_together_migrate_once_and_all_start(postgres_server: str) -> None:
    """The web process and the workers start at the same moment on an empty database (here
    threads, each with its own engine and so its own PostgreSQL session, as processes have):
    the advisory lock lets one migrate while the others wait, then find nothing to do."""
    database = new_database(postgres_server, migrated=False)
    failures: list[BaseException] = []

    def start() -> None:
        try:
            Store(database).engine.dispose()
        except BaseException as exc:  # collected: a thread's error would be lost
            failures.append(exc)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert failures == []
    engine = create_engine(database)
    with engine.connect() as connection:
        assert connection.execute(text("select count(*) from alembic_version")).scalar() == 1
    engine.dispose()


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgresql://u:p@db:5432/rs", "postgresql+psycopg://u:p@db:5432/rs"),
        ("postgres://u@db/rs", "postgresql+psycopg://u@db/rs"),
        ("postgresql+psycopg://u@db/rs", "postgresql+psycopg://u@db/rs"),
    ],
)
def test_postgresql_urls_as_operators_write_them_get_the_driver(given: str, expected: str) -> None:
    assert sqlalchemy_url(given) == expected


@pytest.mark.parametrize(
    ("given", "said"),
    [
        ("sqlite:///rightsizer.db", "SQLite is no longer supported: unset it"),
        ("mysql://u@db/rs", "'mysql' is not a PostgreSQL URL"),
    ],
)
def test_a_database_that_is_not_postgresql_is_refused_at_start_naming_the_setting(
    given: str, said: str
) -> None:
    with pytest.raises(InputError, match=rf"RIGHTSIZER_DATABASE_URL: {said}"):
        load_settings({"RIGHTSIZER_DATABASE_URL": given})


def test_the_database_url_stays_out_of_the_settings_repr() -> None:
    settings = load_settings({"RIGHTSIZER_DATABASE_URL": "postgresql://u:s3cret@db/rs"})
    assert "s3cret" not in repr(settings)


@pytest.mark.slow
def test_without_a_url_an_embedded_postgresql_keeps_state_in_the_data_directory() -> None:
    """What `rightsizer serve` does on a trial: two processes one after the other, each
    starting the embedded server in the same directory; the second finds what the first
    wrote, and no server outlives either."""
    write = (
        "from pathlib import Path; import sys;"
        "from bot.store.database import database_url; from bot.store import Store;"
        "Store(database_url(None, Path(sys.argv[1]))).repositories.add('github', 'acme/infra', 7)"
    )
    read = (
        "from pathlib import Path; import sys;"
        "from bot.store.database import database_url; from bot.store import Store;"
        "store = Store(database_url(None, Path(sys.argv[1])));"
        "print([r.full_name for r in store.repositories.active()])"
    )
    with tempfile.TemporaryDirectory(prefix="rs-data-") as data:
        for code in (write, read):
            done = subprocess.run(
                [sys.executable, "-c", code, data], cwd=ROOT, capture_output=True, text=True
            )
            assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == "['acme/infra']"
        assert (Path(data) / "postgres" / "PG_VERSION").is_file()
        assert not (Path(data) / "postgres" / "postmaster.pid").exists()  # stopped at exit


def test_a_group_keeps_its_newest_release_only(database: str) -> None:
    """Ticking a group's box again replaces its release: one row per group, the newest."""
    store = Store(database)
    repository = store.repositories.add("github", "acme/infra", 1)
    first = datetime(2026, 12, 1, tzinfo=UTC)
    store.releases.add(repository, Release("prod", "ada", first))
    store.releases.add(repository, Release("dev", "ada", first))
    store.releases.add(repository, Release("prod", "bob", first + timedelta(days=2)))
    other = store.repositories.add("github", "acme/other", 1)
    store.releases.add(other, Release("prod", "eve", first))
    assert store.releases.of(repository) == [
        Release("dev", "ada", first),
        Release("prod", "bob", first + timedelta(days=2)),
    ]
    assert [r.by for r in store.releases.of(other)] == ["eve"]


def test_a_verdict_replaces_the_last_one_for_its_commit_and_workload_and_is_counted(
    database: str,
) -> None:
    """A watch goes from pending to healthy or regressed in place; /metrics counts states."""
    store = Store(database)
    repository = store.repositories.add("github", "acme/infra", 1)
    merged = datetime(2026, 11, 20, 10, 30, tzinfo=UTC)
    api = VerdictRow("prod/shop/Deployment/api", "a1b2c3d", "pending", "watching", merged)
    web = VerdictRow("prod/shop/Deployment/web", "a1b2c3d", "healthy", "verified", merged)
    old = VerdictRow("prod/shop/Deployment/old", "0f0f0f0", "pending", "watching", merged)
    store.verifications.record(repository, [api, web, old])
    regressed = VerdictRow(api.workload, api.sha, "regressed", "OOM killed twice", merged)
    store.verifications.record(repository, [regressed])  # `old` aged out unjudged: dropped
    assert store.verifications.counts() == [
        ("github", "acme/infra", "healthy", 1),
        ("github", "acme/infra", "regressed", 1),
    ]
    scraped = {
        tuple(sample.labels.values()): sample.value
        for family in StoreCollector(store).collect()
        if family.name == "rightsizer_verified_changes"
        for sample in family.samples
    }
    assert scraped == {
        ("github", "acme/infra", "healthy"): 1,
        ("github", "acme/infra", "regressed"): 1,
    }
