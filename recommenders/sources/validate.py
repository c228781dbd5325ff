"""Checks every loader shares, so that a bad export fails with its file, line and column."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from recommenders.errors import InputError


def read_csv(path: Path, required: tuple[str, ...]) -> pd.DataFrame:
    """The CSV at `path` as text columns, after checking that the `required` columns exist."""
    if not path.is_file():
        raise InputError(str(path), "no such file")
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise InputError(str(path), f"not a readable CSV file ({exc})") from exc
    missing = [column for column in required if column not in frame.columns]
    if missing:
        raise InputError(
            str(path),
            f"missing column(s) {', '.join(missing)}; expected header: {','.join(required)}",
        )
    return frame


def numbers(frame: pd.DataFrame, column: str, path: Path) -> pd.Series:
    """`column` as floats; the first cell that is not a number is reported by its CSV line."""
    values = pd.to_numeric(frame[column], errors="coerce")
    bad = values.isna() | (values < 0)
    if bad.any():
        _report(frame, column, bad, path, "is not a non-negative number")
    return values.astype(float)


def timestamps(frame: pd.DataFrame, column: str, path: Path) -> pd.Series:
    """`column` as UTC timestamps; the first unparseable one is reported by its CSV line."""
    values = pd.to_datetime(frame[column], utc=True, errors="coerce", format="ISO8601")
    bad = values.isna()
    if bad.any():
        _report(frame, column, bad, path, "is not an ISO 8601 timestamp")
    return values


def _report(frame: pd.DataFrame, column: str, bad: pd.Series, path: Path, problem: str) -> None:
    row = int(bad.to_numpy().argmax())
    line = row + 2  # the header is line 1
    raise InputError(f"{path}:{line}", f"column {column}: {frame[column].iloc[row]!r} {problem}")
