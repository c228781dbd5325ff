"""Forecasts kept between runs: reused while a series is unchanged, warm-started when not.

A scheduled run sees the same history as the last one plus a day, or, when a webhook reruns
it, exactly the same history. The second case is a lookup by a hash of everything the
forecast depends on. The first keeps, per series id, the model the last run chose, its
parameters and its backtest errors: the new run backtests only that model with those
parameters (no estimation, no other candidates) until it is due to choose again, and the
errors' history is what drift is measured against. One file, replaced atomically, holding
only what the last run used, so it does not grow with every day's new hashes.

The file is SQLite holding numbers, text and float64 arrays as bytes, never a pickle: a
cache is written where others may write too (a shared volume), and reading one must not be
able to run code. Series ids name workloads, so the service keeps one file per repository:
one repository's history never warm-starts another's forecasts.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import tempfile
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from recommenders.errors import InputError
from recommenders.forecasters.forecaster import Forecast, ForecastSettings, Warm, Within
from recommenders.forecasters.wire import (
    FORMAT,
    float_bytes,
    floats,
    forecast_fields,
    forecast_from,
    read_json,
    warm_fields,
    warm_from,
)


def cache_key(
    values: np.ndarray, steps: int, within: Within | None, settings: ForecastSettings
) -> str:
    digest = hashlib.blake2b(digest_size=16)
    digest.update(f"{FORMAT}|{steps}|{settings!r}|".encode())
    digest.update(np.ascontiguousarray(values, dtype=float).tobytes())
    if within is not None:
        digest.update(np.ascontiguousarray(within.hour, dtype=np.int64).tobytes())
        digest.update(np.ascontiguousarray(within.deviation, dtype=float).tobytes())
    return digest.hexdigest()


class Arriving(Protocol):
    """Forecasts being fitted elsewhere: a worker's future, or a fan-out's ticket."""

    def result(self) -> list[Forecast]: ...


@dataclass(frozen=True)
class _Chunk:
    asked: tuple[tuple[str, str | None], ...]
    """(key, series id) of each forecast it answers, in order."""
    forecasts: Arriving
    sharing: list[tuple[str, str]] = field(default_factory=list)
    """(key, series id) of later series whose data equals one of the chunk's."""


@dataclass
class ForecastCache:
    path: Path | None = None
    """None keeps it in memory for one run."""
    forecasts: dict[str, Forecast] = field(default_factory=dict)
    warm_starts: dict[str, Warm] = field(default_factory=dict)
    used: set[str] = field(default_factory=set)
    arriving: dict[str, _Chunk] = field(default_factory=dict)
    """Keys that a chunk on its way will answer, received when one of them is collected."""
    fitted: dict[str, str | None] = field(default_factory=dict)
    """Keys fitted in this run or on their way, rather than read from the file, with the
    series each was first fitted for."""
    hits: int = 0
    problem: str | None = None
    """Why the file at `path` was not used (damaged, not a cache): the run starts cold."""

    @classmethod
    def open(cls, path: Path | None) -> ForecastCache:
        """The cache at `path`; an unreadable or older-format file is a cold start with a
        `problem` to warn about, never an error: it is only a copy of what can be
        recomputed, and the next save replaces it."""
        cache = cls(path)
        if path is not None and path.is_dir():
            raise InputError(str(path), "is a directory; name a file for the forecast cache")
        if path is None or not path.is_file():
            return cache
        try:
            with closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)) as db:
                stored = dict(db.execute("SELECT name, value FROM meta"))
                if stored.get("format") != str(FORMAT):
                    return cache  # an older format: its forecasts mean something else
                cache.forecasts = {
                    key: forecast_from(read_json(body), floats(mean), floats(distribution))
                    for key, body, mean, distribution in db.execute(
                        "SELECT key, body, mean, distribution FROM forecasts"
                    )
                }
                cache.warm_starts = {
                    series: warm_from(read_json(body))
                    for series, body in db.execute("SELECT series, body FROM warm")
                }
        except (sqlite3.Error, ValueError, KeyError, TypeError) as exc:
            cache.forecasts, cache.warm_starts = {}, {}
            cache.problem = f"{path}: not a readable forecast cache ({exc}); starting cold"
        return cache

    def known(self, key: str, series_id: str | None = None) -> bool:
        """Whether `key`'s forecast is here or on its way: a hit, not fitted again. A series
        whose data equals one fitted in this run (an HPA's demand and its one container's
        CPU, at one replica) shares that fit, and takes its warm start for the next run."""
        if key in self.fitted:
            if series_id and series_id != self.fitted[key]:
                if (chunk := self.arriving.get(key)) is not None:
                    chunk.sharing.append((key, series_id))
                else:
                    self.warm_starts[series_id] = self.forecasts[key].warm()
        elif key not in self.forecasts:
            return False
        self.used.add(key)
        self.hits += 1
        return True

    def expect(self, asked: list[tuple[str, str | None]], forecasts: Arriving) -> None:
        """`forecasts` will answer each (key, series id) of `asked`, in order."""
        chunk = _Chunk(tuple(asked), forecasts)
        for key, series_id in asked:
            self.arriving[key] = chunk
            self.fitted.setdefault(key, series_id)

    def collect(self, key: str) -> Forecast:
        """`key`'s forecast, known to be here or on its way: waited for only now, so that a
        plan sizes its first workloads while the workers still fit the last ones'."""
        chunk = self.arriving.get(key)
        if chunk is not None:
            self._receive(chunk)
        return self.forecasts[key]

    def settle(self) -> None:
        """Every forecast on its way received: a fit nobody collected still warm-starts the
        next run, and a fan-out's chunks are all answered before its run ends."""
        while self.arriving:
            self._receive(next(iter(self.arriving.values())))

    def _receive(self, chunk: _Chunk) -> None:
        answers = chunk.forecasts.result()
        for (key, series_id), found in zip(chunk.asked, answers, strict=True):
            self.arriving.pop(key, None)
            self.store(key, series_id, found)
        for key, series_id in chunk.sharing:
            self.warm_starts[series_id] = self.forecasts[key].warm()

    def warm(self, series_id: str | None) -> Warm | None:
        return self.warm_starts.get(series_id) if series_id else None

    def store(self, key: str, series_id: str | None, forecast: Forecast) -> None:
        self.forecasts[key] = forecast
        self.used.add(key)
        self.fitted.setdefault(key, series_id)
        if series_id:
            self.warm_starts[series_id] = forecast.warm()

    def save(self) -> None:
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=self.path.parent, prefix=".forecasts-")
        os.close(handle)
        try:
            with closing(sqlite3.connect(temporary)) as db, db:
                db.executescript(_SCHEMA)
                db.execute("INSERT INTO meta VALUES ('format', ?)", (str(FORMAT),))
                db.executemany(
                    "INSERT INTO forecasts VALUES (?, ?, ?, ?)",
                    [
                        (
                            key,
                            json.dumps(forecast_fields(f)),
                            float_bytes(f.mean),
                            float_bytes(f.distribution),
                        )
                        for key in sorted(self.used)
                        if (f := self.forecasts.get(key)) is not None
                    ],
                )
                db.executemany(
                    "INSERT INTO warm VALUES (?, ?)",
                    [
                        (series, json.dumps(warm_fields(w)))
                        for series, w in self.warm_starts.items()
                    ],
                )
            os.replace(temporary, self.path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise


_SCHEMA = """
CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE forecasts (
    key TEXT PRIMARY KEY, body TEXT NOT NULL, mean BLOB NOT NULL, distribution BLOB NOT NULL
);
CREATE TABLE warm (series TEXT PRIMARY KEY, body TEXT NOT NULL);
"""
