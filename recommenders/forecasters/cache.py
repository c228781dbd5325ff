"""Forecasts kept between runs: reused while a series is unchanged, warm-started when not.

A scheduled run sees the same history as the last one plus a day, or, when a webhook reruns
it, exactly the same history. The second case is a lookup by a hash of everything the
forecast depends on. The first keeps, per series id, the model the last run chose, its
parameters and its backtest errors: the new run backtests only that model with those
parameters (no estimation, no other candidates) until it is due to choose again, and the
errors' history is what drift is measured against. One file, replaced atomically, holding
only what the last run used, so it does not grow with every day's new hashes.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from recommenders.forecasters.forecaster import Forecast, ForecastSettings, Warm, Within

FORMAT = 1
"""Bumped whenever `Forecast` or the models change meaning: an old file is then ignored."""


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


@dataclass
class ForecastCache:
    path: Path | None = None
    """None keeps it in memory for one run."""
    forecasts: dict[str, Forecast] = field(default_factory=dict)
    warm_starts: dict[str, Warm] = field(default_factory=dict)
    used: set[str] = field(default_factory=set)
    hits: int = 0

    @classmethod
    def open(cls, path: Path | None) -> ForecastCache:
        """The cache at `path`; an unreadable or older-format file is a cold start, never an
        error: it is only ever a copy of what can be recomputed."""
        cache = cls(path)
        if path is None or not path.is_file():
            return cache
        try:
            with path.open("rb") as handle:
                stored = pickle.load(handle)
        except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ValueError):
            return cache
        if isinstance(stored, dict) and stored.get("format") == FORMAT:
            cache.forecasts = stored["forecasts"]
            cache.warm_starts = stored["warm"]
        return cache

    def lookup(self, key: str) -> Forecast | None:
        found = self.forecasts.get(key)
        if found is not None:
            self.used.add(key)
            self.hits += 1
        return found

    def warm(self, series_id: str | None) -> Warm | None:
        return self.warm_starts.get(series_id) if series_id else None

    def store(self, key: str, series_id: str | None, forecast: Forecast) -> None:
        self.forecasts[key] = forecast
        self.used.add(key)
        if series_id:
            self.warm_starts[series_id] = forecast.warm()

    def save(self) -> None:
        if self.path is None:
            return
        kept = {key: self.forecasts[key] for key in self.used if key in self.forecasts}
        stored = {"format": FORMAT, "forecasts": kept, "warm": self.warm_starts}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=self.path.parent, prefix=".forecasts-")
        try:
            with os.fdopen(handle, "wb") as out:
                pickle.dump(stored, out, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(temporary, self.path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
