"""Forecasts and the work that makes them, as bytes: numbers, text and float64 arrays, never
a pickle.

Two places keep or send them outside the process that made them: the forecast cache (a file
others may write too) and the service's fan-out (chunks of fits that any worker takes, and
their answers, through PostgreSQL). Decoding either must not be able to run code, and a
damaged or foreign blob, or one a worker of another version made, is a `ValueError`, never
a wrong forecast and never another exception.

A blob is `MAGIC`, the length of a JSON header, the header (which names its `FORMAT`), then
the arrays it describes, end to end as little-endian float64.
"""

from __future__ import annotations

import dataclasses
import json
import struct
import typing
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import numpy as np

from recommenders.forecasters.forecaster import Forecast, ForecastSettings, Job, Warm, Within

FORMAT = 2
"""Bumped whenever `Forecast` or the models change meaning: an old cache is then ignored, and
a chunk or answer from a worker of another version refused."""
MAGIC = b"RSF1"
_LENGTH = struct.Struct("<I")
FLOATS = np.dtype("<f8")
Task = tuple[Job, Warm | None]
"""One fit to make, and what the last run learnt about its series."""
T = TypeVar("T")
MAX_COUNT = 2**31
"""Above any length, hour or setting a chunk holds."""


def encode_tasks(tasks: Sequence[Task], settings: ForecastSettings) -> bytes:
    arrays: list[np.ndarray] = []
    described = []
    for job, warm in tasks:
        arrays.append(job.values)
        if job.within is not None:
            arrays += [job.within.hour, job.within.deviation]
        described.append(
            {
                "values": len(job.values),
                "steps": job.steps,
                "series": job.series_id,
                "within": None if job.within is None else len(job.within.hour),
                "warm": None if warm is None else warm_fields(warm),
            }
        )
    return _pack({"settings": dataclasses.asdict(settings), "tasks": described}, arrays)


def decode_tasks(blob: bytes) -> tuple[list[Task], ForecastSettings]:
    """The fits a chunk asks for."""
    return _decoding(_tasks, blob)


def encode_forecasts(forecasts: Sequence[Forecast]) -> bytes:
    arrays = [a for f in forecasts for a in (f.mean, f.distribution)]
    described = [
        {**forecast_fields(f), "mean": len(f.mean), "distribution": len(f.distribution)}
        for f in forecasts
    ]
    return _pack({"forecasts": described}, arrays)


def decode_forecasts(blob: bytes) -> list[Forecast]:
    return _decoding(_forecasts, blob)


def read_json(text: str | bytes) -> Any:
    """JSON, with nesting too deep for the parser a `ValueError` like any other damage."""
    try:
        return json.loads(text)
    except RecursionError as exc:
        raise ValueError("JSON nested too deep") from exc


def float_bytes(values: np.ndarray) -> bytes:
    return np.ascontiguousarray(values, dtype=FLOATS).tobytes()


def floats(blob: bytes) -> np.ndarray:
    if not isinstance(blob, bytes) or len(blob) % FLOATS.itemsize:
        raise ValueError("an array is not whole float64 values")
    return np.frombuffer(blob, dtype=FLOATS).copy()


def forecast_fields(forecast: Forecast) -> dict[str, object]:
    """A forecast's scalars: what a warm start keeps, and why the model was chosen."""
    return {
        **warm_fields(forecast.warm()),
        "reason": forecast.reason,
        "drift": forecast.drift,
        "scores": forecast.scores,
    }


def forecast_from(body: dict[str, object], mean: np.ndarray, distribution: np.ndarray) -> Forecast:
    warm = warm_from(body)
    return Forecast(
        warm.model,
        warm.params,
        mean,
        distribution,
        warm.fold_errors,
        _text(body["reason"]),
        _flag(body["drift"]),
        _numbers(body["scores"]),
        warm.age,
    )


def warm_fields(warm: Warm) -> dict[str, object]:
    return {
        "model": warm.model,
        "params": warm.params,
        "fold_errors": list(warm.fold_errors),
        "age": warm.age,
    }


def warm_from(body: object) -> Warm:
    if not isinstance(body, dict):
        raise ValueError(f"{body!r} is not a mapping")
    return Warm(
        _text(body["model"]),
        _numbers(body["params"]),
        tuple(_list(body["fold_errors"])),
        _count(body["age"]),
    )


def _decoding(read: Callable[[bytes], T], blob: bytes) -> T:
    """`read(blob)`, with a header that lacks or mistypes a field a `ValueError` too."""
    try:
        return read(blob)
    except (KeyError, TypeError) as exc:
        raise ValueError(f"a forecast blob's header lacks or mistypes {exc}") from exc


def _tasks(blob: bytes) -> tuple[list[Task], ForecastSettings]:
    header, arrays = _unpack(blob)
    settings = _settings(header.get("settings"))
    tasks: list[Task] = []
    for body in _items(header.get("tasks")):
        values = _finite(arrays.take(_count(body["values"])))
        within = None
        if body["within"] is not None:
            samples = _count(body["within"])
            hour = _finite(arrays.take(samples))
            if np.any(hour != np.round(hour)) or np.any((hour < 0) | (hour >= len(values))):
                raise ValueError("a sample's hour is not a whole hour of its series")
            within = Within(hour.astype(np.int64), _finite(arrays.take(samples)))
        warm = None if body["warm"] is None else warm_from(body["warm"])
        series = body["series"]
        if series is not None and not isinstance(series, str):
            raise ValueError(f"series id {series!r} is not text")
        tasks.append((Job(values, _count(body["steps"]), series, within), warm))
    arrays.finished()
    return tasks, settings


def _forecasts(blob: bytes) -> list[Forecast]:
    header, arrays = _unpack(blob)
    found = []
    for body in _items(header.get("forecasts")):
        mean = arrays.take(_count(body["mean"]))
        found.append(forecast_from(body, mean, arrays.take(_count(body["distribution"]))))
    arrays.finished()
    return found


class _Arrays:
    """The arrays after a header, taken in the order the header lists them."""

    def __init__(self, values: np.ndarray) -> None:
        self.values = values
        self.at = 0

    def take(self, count: int) -> np.ndarray:
        if self.at + count > len(self.values):
            raise ValueError("the header lists more values than the blob holds")
        self.at += count
        return self.values[self.at - count : self.at].copy()

    def finished(self) -> None:
        if self.at != len(self.values):
            raise ValueError("the blob holds values its header does not list")


def _pack(header: dict[str, object], arrays: list[np.ndarray]) -> bytes:
    text = json.dumps({"format": FORMAT, **header}, separators=(",", ":")).encode()
    return b"".join([MAGIC, _LENGTH.pack(len(text)), text, *map(float_bytes, arrays)])


def _unpack(blob: bytes) -> tuple[dict[str, object], _Arrays]:
    if not isinstance(blob, bytes) or not blob.startswith(MAGIC):
        raise ValueError("not a forecast blob")
    start = len(MAGIC) + _LENGTH.size
    if len(blob) < start:
        raise ValueError("a forecast blob cut short")
    (length,) = _LENGTH.unpack_from(blob, len(MAGIC))
    if start + length > len(blob):
        raise ValueError("a forecast blob's header runs past its end")
    header = read_json(blob[start : start + length])
    if not isinstance(header, dict):
        raise ValueError("a forecast blob's header is not a mapping")
    if header.get("format") != FORMAT:
        raise ValueError(f"format {header.get('format')!r}, not {FORMAT}: another version's")
    return header, _Arrays(floats(blob[start + length :]))


def _settings(body: object) -> ForecastSettings:
    if not isinstance(body, dict):
        raise ValueError("a chunk names no forecast settings")
    kinds = typing.get_type_hints(ForecastSettings)
    if set(body) != set(kinds):
        raise ValueError(f"forecast settings {sorted(body)} are not {sorted(kinds)}")
    numbers: dict[str, Any] = {
        k: (_number(v) if kinds[k] is float else _count(v)) for k, v in body.items()
    }
    return ForecastSettings(**numbers)


def _items(value: object) -> list[dict[str, object]]:
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise ValueError(f"{value!r} is not a list of mappings")
    return value


def _finite(values: np.ndarray) -> np.ndarray:
    if not np.all(np.isfinite(values)):
        raise ValueError("an array holds NaN or infinity")
    return values


def _count(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < MAX_COUNT:
        raise ValueError(f"{str(value)[:40]!r} is not a count")
    return value


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not text")
    return value


def _flag(value: object) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{value!r} is not true or false")
    return value


def _number(value: object) -> float:
    """Any float the models wrote (a score may be NaN where a series' mean is 0), but a
    number JSON holds that no float can is refused."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{value!r} is not a number")
    try:
        return float(value)
    except OverflowError as exc:
        raise ValueError("a number too large for a float") from exc


def _numbers(value: object) -> dict[str, float]:
    if not isinstance(value, dict):
        raise ValueError(f"{value!r} is not a mapping")
    return {str(k): _number(v) for k, v in value.items()}


def _list(value: object) -> list[float]:
    if not isinstance(value, list):
        raise ValueError(f"{value!r} is not a list")
    return [_number(v) for v in value]
