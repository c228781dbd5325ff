"""The last answers of `rightsizer plan`, kept beside the forecast cache.

Why: a rerun on the same repository, inputs, policy and code (a reviewer asking again, a
script polling) used to read, render and size everything again: minutes for 5,000
workloads. It now costs a stamp of each file the plan reads: a file's digest is kept by
its stamp (`bot/digests.py`), and only a file that changed is read again.

The key is a digest of everything a plan reads: every file of the repository as `plan`
reads it (the directory, not only its commits), the base branch's commit (the cooldown reads
its history), each export's bytes, the loaded config and policy (an organisation policy may
come from a URL), the output asked for, the settings that change a plan, and the code with
every installed distribution. The clock is not in the key: a plan says until when its
clock-reading rules hold (`Plan.until`), and is answered again only between the moment it
was made for and then. A file that changes while the plan is made leaves no answer behind.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterable, Mapping
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from bot.digests import FileDigests, Stamp, code_digest, repository_digest, stamp
from bot.inputs import SourceRequest
from bot.manifests.helm.charts import CACHE_VARIABLE
from recommenders.sources.validate import JSON_LIMIT, TABLE_LIMIT

KEPT = 8
"""Answers kept per file: one repository's plans for a few outputs and inputs."""
KEPT_DIGESTS = 200_000
"""File digests kept per file: every file of a few large repositories and their exports."""
_LEAVE_ALONE = frozenset(
    (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR,
     sqlite3.SQLITE_READONLY, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_PERM,
     sqlite3.SQLITE_NOMEM, sqlite3.SQLITE_INTERRUPT)
)  # fmt: skip
"""SQLite's (primary) codes for an answers file another process holds, or that cannot be
written now (no room, no memory, interrupted): left as it is. Any other error (not a
database, damaged, a table of another shape) means the file is not a cache of ours, and it
is started afresh."""
SETTINGS = (TABLE_LIMIT, JSON_LIMIT, CACHE_VARIABLE)
"""The environment a plan reads besides its inputs."""
_SCHEMA = """
CREATE TABLE IF NOT EXISTS answers (
    key TEXT PRIMARY KEY, planned_at TEXT NOT NULL, until TEXT,
    output TEXT NOT NULL, notes TEXT NOT NULL, stored REAL NOT NULL
);
DROP TABLE IF EXISTS digests;
DROP TABLE IF EXISTS file_digests_1;
CREATE TABLE IF NOT EXISTS file_digests_2 (
    path TEXT PRIMARY KEY, stamp TEXT NOT NULL, digest TEXT NOT NULL, stored REAL NOT NULL
);
"""


@dataclass(frozen=True)
class Answer:
    output: str
    """What the command printed on stdout."""
    notes: tuple[str, ...]
    """The warnings and notes it printed on stderr."""


@dataclass(frozen=True)
class PlanKey:
    digest: str
    files: str
    """The repository's `repository_digest`, for the render cache to key by too."""
    stamps: tuple[Stamp, ...]
    """Every file read for the digest, stamped before it was read: an answer is kept only
    if none of them moved while the plan was made."""
    digests: FileDigests
    """The files' digests, for the next key to reuse by their stamps."""

    def unchanged(self) -> bool:
        return self.stamps == tuple(stamp(Path(path)) for path, *_ in self.stamps)


def plan_key(
    repo: Path,
    base_branch: str,
    request: SourceRequest,
    loaded: Iterable[object],
    view: str,
    known: Mapping[Stamp, str] | None = None,
) -> PlanKey | None:
    """The key of a plan, or None when the plan reads something that has no digest (a live
    Prometheus) or cannot be read (the plan then says why). `loaded` are the parsed config
    and policy; `view` the output asked for; `known` the digests of files by their stamps
    when an earlier key read them (`PlanAnswers.digests`)."""
    if request.prometheus is not None:
        return None
    try:
        return _key(repo.resolve(), base_branch, request, loaded, view, FileDigests(known))
    except OSError:
        return None


def _key(
    repo: Path,
    base_branch: str,
    request: SourceRequest,
    loaded: Iterable[object],
    view: str,
    digests: FileDigests,
) -> PlanKey:
    digest = hashlib.sha256()

    def add(*parts: object) -> None:
        for part in parts:
            text = str(part).encode()
            digest.update(b"%d:%s" % (len(text), text))

    files = repository_digest(repo, digests)
    add(files)
    for path in (*request.utilisation, *request.cost):
        add(path.resolve(), digests.of(path))
    add(request.utilisation_format, request.cost_format, len(request.utilisation))
    add(_base_commit(repo, base_branch), *map(repr, loaded), view)
    add(*(f"{name}={os.environ.get(name)}" for name in SETTINGS))
    add(code_digest())
    return PlanKey(digest.hexdigest(), files, tuple(digests.stamps), digests)


class PlanAnswers:
    """An SQLite file of a few answers by key; one that cannot be read or written is no
    answer, never an error: every answer can be made again."""

    def __init__(self, path: Path | None) -> None:
        self.path = path

    @classmethod
    def beside(cls, forecast_cache: Path | None) -> PlanAnswers:
        return cls(None if forecast_cache is None else Path(f"{forecast_cache}.plans"))

    def find(self, key: PlanKey, now: datetime) -> Answer | None:
        row = self._read(
            "SELECT planned_at, until, output, notes FROM answers WHERE key = ?", (key.digest,)
        )
        if not row:
            return None
        planned_at, until, output, notes = row[0]
        if now < datetime.fromisoformat(planned_at):
            return None
        if until is not None and now >= datetime.fromisoformat(until):
            return None
        return Answer(output, tuple(json.loads(notes)))

    def digests(self) -> dict[Stamp, str]:
        """The digests earlier keys kept, by the stamps of the files they are of."""
        rows = self._read("SELECT path, stamp, digest FROM file_digests_2")
        try:
            return {(path, *json.loads(numbers)): digest for path, numbers, digest in rows}
        except (TypeError, ValueError):  # not written by us: every file is read again
            return {}

    def remember(self, key: PlanKey) -> None:
        """Keep the key's digests for the next key, when it computed some a next one could
        reuse: once an export or a file has been read, a rerun only stamps it. By path, so
        that plans of other inputs on one cache keep theirs; the least recently kept go
        beyond `KEPT_DIGESTS`. The stamp's numbers are text: an inode may pass SQLite's
        64-bit integers."""
        if self.path is None or not key.digests.learned():
            return
        stored = time.time()
        rows = [
            (path, json.dumps(numbers), digest, stored)
            for (path, *numbers), digest in key.digests.found.items()
        ]

        def write(db: sqlite3.Connection) -> None:
            db.executemany("INSERT OR REPLACE INTO file_digests_2 VALUES (?, ?, ?, ?)", rows)
            _keep_newest(db, "file_digests_2", "path", KEPT_DIGESTS)

        self._write(write)

    def keep(
        self, key: PlanKey, answer: Answer, planned_at: datetime, until: datetime | None
    ) -> None:
        if self.path is None or not key.unchanged():
            return
        row = (
            key.digest,
            planned_at.isoformat(),
            until.isoformat() if until else None,
            answer.output,
            json.dumps(answer.notes),
            time.time(),
        )

        def write(db: sqlite3.Connection) -> None:
            db.execute("INSERT OR REPLACE INTO answers VALUES (?, ?, ?, ?, ?, ?)", row)
            _keep_newest(db, "answers", "key", KEPT)

        self._write(write)

    def _read(self, query: str, parameters: tuple[object, ...] = ()) -> list[Any]:
        """The query's rows; none from a file that is missing or not a cache of ours."""
        if self.path is None or not self.path.is_file():
            return []
        try:
            with closing(
                sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True)
            ) as db:
                return db.execute(query, parameters).fetchall()
        except sqlite3.Error:
            return []

    def _write(self, write: Callable[[sqlite3.Connection], None]) -> None:
        """Nothing is kept where nothing can be written (a read-only cache, another
        process holding the file): an answer is made again, never an error."""
        assert self.path is not None
        try:
            self._transaction(write)
        except sqlite3.Error as exc:
            if getattr(exc, "sqlite_errorcode", 0) & 0xFF in _LEAVE_ALONE:
                return  # busy, or no room: leave it to the next run
            with contextlib.suppress(OSError, sqlite3.Error):
                self.path.unlink(missing_ok=True)  # not a cache of ours: start it afresh
                self._transaction(write)
        except OSError:
            return

    def _transaction(self, write: Callable[[sqlite3.Connection], None]) -> None:
        assert self.path is not None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.touch(mode=0o600)  # as private as the forecast cache beside it
        with closing(sqlite3.connect(self.path)) as db, db:
            db.executescript(_SCHEMA)
            write(db)


def _keep_newest(db: sqlite3.Connection, table: str, key: str, kept: int) -> None:
    """Drop all but the `kept` rows of `table` (one of ours) stored last."""
    db.execute(
        f"DELETE FROM {table} WHERE {key} NOT IN "
        f"(SELECT {key} FROM {table} ORDER BY stored DESC LIMIT ?)",
        (kept,),
    )


def _base_commit(repo: Path, branch: str) -> str:
    """The commit whose history the cooldown reads; none outside git."""
    found = subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "--verify", "--quiet", f"{branch}^{{commit}}"],
        capture_output=True,
        text=True,
        check=False,
    )
    return found.stdout.strip() or "none"
