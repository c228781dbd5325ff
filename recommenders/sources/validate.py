"""Reading and checks every loader shares, so that a bad export fails with file, line and column.

Tables are read as text first (pyarrow's CSV reader, or Parquet) and converted column by
column: a conversion that fails can then point at the exact cell, which a typed read cannot.
"""

from __future__ import annotations

import csv
import difflib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from recommenders.errors import InputError

NULLS = frozenset({"", "NULL", "null", "None", "NaN", "nan"})
"""Cells that mean "no value" in the exports we read (FOCUS samples write NULL)."""


def read_header(path: Path) -> frozenset[str]:
    """Column names of a CSV or Parquet file, or the field names found in a JSON document."""
    _must_exist(path)
    if path.suffix == ".parquet":
        return frozenset(_parquet_schema(path).names)
    if path.suffix == ".json":
        return frozenset(_json_keys(read_json(path)))
    with path.open(newline="", encoding="utf-8-sig", errors="replace") as handle:
        first = next(csv.reader(handle), [])
    return frozenset(name.strip() for name in first)


def read_table(path: Path, required: Iterable[str] = ()) -> pd.DataFrame:
    """The CSV or Parquet file at `path` with every column as text, after checking `required`.

    CSV cells are read verbatim (no NA guessing), so "NULL" or "" stay text for `numbers`.
    """
    names = read_header(path)
    absent = [name for name in required if name not in names]
    if absent:
        raise missing_columns(path, names, absent)
    return _read_parquet(path) if path.suffix == ".parquet" else _read_csv(path, names)


def missing_columns(
    path: Path, present: Iterable[str], wanted: Iterable[str | tuple[str, ...]]
) -> InputError:
    """The error for a header without `wanted` columns (a tuple: any one of its spellings),
    on the header line, with the closest column the header does have."""
    columns = sorted(present)
    folded = {column.casefold().replace("_", ""): column for column in columns}
    groups = [(name,) if isinstance(name, str) else name for name in wanted]
    hints = []
    for spellings in groups:
        for spelling in spellings:
            same = folded.get(spelling.casefold().replace("_", ""))
            close = difflib.get_close_matches(spelling.casefold(), list(folded), n=1, cutoff=0.75)
            if same or close:
                hints.append(f"{same or folded[close[0]]!r} for {spelling!r}")
                break
    hint = f" (did you mean {', '.join(hints)}?)" if hints else ""
    return InputError(
        str(path) if path.suffix == ".parquet" else f"{path}:1",
        f"missing column(s) {', '.join(' or '.join(group) for group in groups)}; "
        f"the header has {_listed(columns)}{hint}",
    )


def read_json(path: Path) -> Any:
    _must_exist(path)
    try:
        with path.open(encoding="utf-8-sig") as handle:
            return json.load(handle)
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}:{exc.lineno}:{exc.colno}", f"not valid JSON ({exc.msg})") from exc
    except UnicodeDecodeError as exc:
        raise InputError(str(path), "not UTF-8 text") from exc
    except RecursionError as exc:
        raise InputError(str(path), "JSON nested too deeply to be an export") from exc


def numbers(
    frame: pd.DataFrame,
    column: str,
    path: Path,
    *,
    negative: bool = False,
    empty: bool = False,
) -> pd.Series:
    """`column` as floats; the first cell that is not a number is reported by its line.

    Costs may be `negative` (credits, refunds); optional columns may be `empty` (NaN).
    """
    text = frame[column]
    values = pd.to_numeric(text, errors="coerce")
    blank = text.isin(NULLS) if empty else pd.Series(False, index=text.index)
    bad = (values.isna() & ~blank) | (values.isin([float("inf"), float("-inf")]))
    if not negative:
        bad |= values < 0
    if bad.any():
        problem = "is not a number" if negative else "is not a non-negative number"
        report(frame, column, bad, path, problem)
    return values.astype(float)


def timestamps(
    frame: pd.DataFrame, column: str, path: Path, *, formats: tuple[str, ...] = ("ISO8601",)
) -> pd.Series:
    """`column` as UTC timestamps; the first unparseable one is reported by its line.

    Naive timestamps are taken as UTC, as every cloud export writes them. A column that mixes
    offsets (some `Z`, some `+02:00`, some none) is refused: that is two exports pasted
    together, and whichever we guessed would shift one of them.
    """
    text = frame[column]
    _same_zone_style(frame, column, path)
    values = None
    for fmt in formats:
        values = pd.to_datetime(text, utc=True, errors="coerce", format=fmt)
        if not values.isna().any():
            return values
    assert values is not None
    names = " or ".join("ISO 8601" if fmt == "ISO8601" else fmt for fmt in formats)
    report(frame, column, values.isna(), path, f"is not a timestamp ({names})")
    return values


def where(path: Path, row: int) -> str:
    """A frame row as a place a user can find: `file:line` for CSV, `file row N` for Parquet."""
    if path.suffix == ".parquet":
        return f"{path} row {row + 1}"
    return f"{path}:{row + 2}"  # the header is line 1


def report(frame: pd.DataFrame, column: str, bad: pd.Series, path: Path, problem: str) -> None:
    """Raise for the first row flagged in `bad`, naming its line, column and the cell itself."""
    row = int(bad.to_numpy().argmax())
    raise InputError(where(path, row), f"column {column}: {frame[column].iloc[row]!r} {problem}")


def _same_zone_style(frame: pd.DataFrame, column: str, path: Path) -> None:
    text = frame[column].astype(str)
    distinct = pd.Series(text.unique())  # exports repeat each timestamp per series: check once
    style = distinct.str.extract(r"(Z|[+-]\d\d:?\d\d)$", expand=False).fillna("naive")
    style = style.where(style != "+00:00", "Z")
    others = distinct[(style != style.iloc[0]).to_numpy()] if len(style) else distinct[:0]
    if len(others):
        row = int(text.isin(others).to_numpy().argmax())
        raise InputError(
            where(path, row),
            f"column {column}: {text.iloc[row]!r} mixes time zones with line "
            f"{2 if path.suffix != '.parquet' else 1}'s {text.iloc[0]!r}; "
            "write every timestamp in one zone (UTC, ending in Z)",
        )


def _read_csv(path: Path, names: frozenset[str]) -> pd.DataFrame:
    try:
        table = pa_csv.read_csv(
            path,
            convert_options=pa_csv.ConvertOptions(
                column_types={name: pa.string() for name in names},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except pa.ArrowInvalid as exc:
        problem = _csv_problem(path) or InputError(str(path), f"not a readable CSV file ({exc})")
        raise problem from exc
    return table.to_pandas()


def _csv_problem(path: Path) -> InputError | None:
    """The line and column pyarrow choked on: it names the row's text, not its number.
    Undecodable bytes are kept as surrogates so the scan can point at the cell."""
    with path.open(newline="", encoding="utf-8-sig", errors="surrogateescape") as handle:
        reader = csv.reader(handle)
        names = next(reader, [])
        if any(_undecodable(name) for name in names):
            return InputError(
                f"{path}:1", "the header is not UTF-8 text (save the export as UTF-8)"
            )
        try:
            for row in reader:
                bad = next((i for i, cell in enumerate(row) if _undecodable(cell)), None)
                if bad is not None and bad < len(names):
                    return InputError(
                        f"{path}:{reader.line_num}",
                        f"column {names[bad]}: not UTF-8 text (save the export as UTF-8)",
                    )
                if row and len(row) != len(names):
                    return InputError(f"{path}:{reader.line_num}", _width_problem(row, names))
        except csv.Error as error:
            return InputError(f"{path}:{reader.line_num}", f"not a readable CSV line ({error})")
    return None


def _undecodable(cell: str) -> bool:
    return any("\udc80" <= char <= "\udcff" for char in cell)


def _width_problem(row: list[str], names: list[str]) -> str:
    if len(row) > len(names):
        return (
            f"has {len(row)} fields where the header has {len(names)}: "
            f"{row[len(names)]!r} comes after the last column, {names[-1]}"
        )
    return (
        f"has {len(row)} fields where the header has {len(names)}: "
        f"no value for column {names[len(row)]}"
    )


def _read_parquet(path: Path) -> pd.DataFrame:
    try:
        table = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputError(str(path), f"not a readable Parquet file ({exc})") from exc
    frame = table.to_pandas()
    for column in frame.columns:
        if frame[column].dtype.kind == "M":
            values = frame[column]
            if values.dt.tz is None:
                values = values.dt.tz_localize("UTC")
            frame[column] = values.dt.strftime("%Y-%m-%dT%H:%M:%SZ")
        frame[column] = frame[column].astype(str).where(frame[column].notna(), "")
    return frame


def _parquet_schema(path: Path) -> pa.Schema:
    try:
        return pq.read_schema(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputError(str(path), f"not a readable Parquet file ({exc})") from exc


def _json_keys(document: Any, depth: int = 0) -> set[str]:
    """Field names down to a few levels: enough to recognise an API response's shape."""
    if depth > 4:
        return set()
    if isinstance(document, dict):
        keys = set(document)
        for value in list(document.values())[:3]:
            keys |= _json_keys(value, depth + 1)
        return keys
    if isinstance(document, list) and document:
        return _json_keys(document[0], depth + 1)
    return set()


def _listed(columns: Iterable[str], limit: int = 12) -> str:
    names = list(columns)
    return ", ".join(names[:limit]) + (f", ... ({len(names)} in all)" if len(names) > limit else "")


def _must_exist(path: Path) -> None:
    if not path.is_file():
        raise InputError(str(path), "no such file")
