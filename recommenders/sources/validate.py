"""Reading and checks every loader shares, so that a bad export fails with file, line and column.

Tables are read as text first (pyarrow's CSV reader, or Parquet) and converted column by
column: a conversion that fails can then point at the exact cell, which a typed read cannot.

Utilisation exports, the large ones, read their name and timestamp columns as categories
(pyarrow's dictionary encoding, block by block): they repeat on every row, so a column costs
a small integer per row instead of a string, and a conversion parses each distinct text
once (`distinct`). Number columns, nearly all distinct, stay Arrow text and are parsed by
Arrow; a 1 GB export is read in well under twice its size.
"""

from __future__ import annotations

import contextlib
import csv
import difflib
import itertools
import json
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from recommenders.errors import InputError

CATEGORY = pa.dictionary(pa.int32(), pa.string())
TABLE_LIMIT, JSON_LIMIT = "RIGHTSIZER_MAX_EXPORT_BYTES", "RIGHTSIZER_MAX_JSON_BYTES"
MAX_TABLE_BYTES = 4 * 2**30
"""A CSV or Parquet export: read in under twice its size (benchmarks/sources.py), so a
4 GiB export fits a job's 8 GiB memory ceiling with room for the rest of the run."""
MAX_JSON_BYTES = 256 * 2**20
"""A JSON document (an OpenCost API answer) is held whole as Python objects, ten or more
times its size."""
NULLS = frozenset({"", "NULL", "null", "None", "NaN", "nan"})
"""Cells that mean "no value" in the exports we read (FOCUS samples write NULL)."""


def read_header(path: Path) -> frozenset[str]:
    """Column names of a CSV or Parquet file, or the field names found in a JSON document."""
    _must_exist(path)
    if path.suffix == ".parquet":
        return frozenset(_parquet_schema(path).names)
    if path.suffix == ".json":
        return frozenset(_json_keys(read_json(path)))
    return frozenset(_csv_header(path))


def _csv_header(path: Path) -> list[str]:
    """A CSV's column names in order, as a person reads them: `timestamp, value` names
    `value`, not ` value`."""
    with path.open(newline="", encoding="utf-8-sig", errors="replace") as handle:
        return [name.strip() for name in next(csv.reader(handle), [])]


def read_table(
    path: Path,
    required: Iterable[str] = (),
    *,
    categorical: Iterable[str] = (),
    typed: Iterable[str] = (),
) -> pd.DataFrame:
    """The CSV or Parquet file at `path` with every column as text, the `categorical` ones
    as categories, after checking `required`. A `typed` column (one the caller converts
    with `numbers` or `timestamps`, which take either) that Parquet stores as floats or
    timestamps stays so: written out as text and parsed back, the values of a
    5,000-workload export cost a gigabyte on the way. In a CSV, a `typed` column that is
    not categorical is a number column, read as floats when every cell is a finite number:
    as text and converted after, they made a 5,000-workload export's load 0.85 s (11 %)
    slower.

    CSV cells are read verbatim (no NA guessing), so "NULL" or "" stay text for `numbers`.
    """
    names = read_header(path)
    absent = [name for name in required if name not in names]
    if absent:
        raise missing_columns(path, names, absent)
    wanted = frozenset(categorical) & names
    try:
        if path.suffix == ".parquet":
            return _read_parquet(path, wanted, frozenset(typed))
        return _read_csv(path, wanted, (frozenset(typed) & names) - wanted)
    finally:
        give_back()


def give_back() -> None:
    """Return the memory Arrow freed to the system. Its allocator (mimalloc) keeps freed
    pages for its next allocation, but what follows a read is numpy and pandas, which never
    get them: after reading a 1.5 GB export, the process held 1 GiB it would not use again."""
    pa.default_memory_pool().release_unused()


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
    _must_exist(path, (JSON_LIMIT, MAX_JSON_BYTES, "a JSON document"))
    try:
        with path.open(encoding="utf-8-sig") as handle:
            return json.load(handle)
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}:{exc.lineno}:{exc.colno}", f"not valid JSON ({exc.msg})") from exc
    except UnicodeDecodeError as exc:
        raise InputError(str(path), "not UTF-8 text") from exc
    except RecursionError as exc:
        raise InputError(str(path), "JSON nested too deeply to be an export") from exc


def distinct(text: pd.Series) -> tuple[np.ndarray, pd.Series]:
    """Each row's position among the column's distinct texts, and those texts: a
    conversion parses each once and spreads the result back with `result[codes]`."""
    if isinstance(text.dtype, pd.CategoricalDtype) and not text.hasnans:
        return text.cat.codes.to_numpy(), pd.Series(text.cat.categories, dtype=object)
    codes, uniques = pd.factorize(text, use_na_sentinel=False)
    return codes, pd.Series(np.asarray(uniques, dtype=object), dtype=object)


def recode(text: pd.Series, rename: Callable[[str], str]) -> pd.Series:
    """A categorical column with each distinct text renamed, two names that become one
    merged, as a categorical again (no string per row is made)."""
    codes, texts = distinct(text)
    renamed = np.array([rename(str(name)) for name in texts], dtype=object)
    categories, positions = np.unique(renamed.astype(str), return_inverse=True)
    # In the codes' own width (as many texts at most): a row's int64 position was 8 bytes
    # of fresh memory a row, 0.5 GiB for the five names of a 16-million-row export.
    merged = positions.astype(codes.dtype)[codes] if len(codes) else codes
    categorical = pd.Categorical.from_codes(merged, categories, validate=False)  # in range
    return pd.Series(categorical, index=text.index)


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
    codes = None
    if text.dtype.kind == "f":  # read as numbers already (Parquet): NaN is a null cell
        values = text.to_numpy(float)
        bad = np.isinf(values) if empty else ~np.isfinite(values)
    else:
        categorical = isinstance(text.dtype, pd.CategoricalDtype)
        codes, texts = distinct(text) if categorical else (None, text)
        values = _floats(texts)
        bad = np.isnan(values) | np.isinf(values)
        if empty:
            bad &= ~texts.isin(NULLS).to_numpy()
    if not negative:
        bad |= values < 0
    if codes is not None:
        values, bad = values[codes], bad[codes]
    if bad.any():
        problem = "is not a number" if negative else "is not a non-negative number"
        report(frame, column, pd.Series(bad, index=frame.index), path, problem)
    return pd.Series(values, index=frame.index)


def _floats(texts: pd.Series) -> np.ndarray:
    """Each text as a float, NaN where it is none. Arrow parses a column of millions in a
    fraction of pandas' time and memory; a column with one bad cell is parsed again by
    pandas, which marks the cells it cannot read instead of stopping."""
    try:
        arrow = pa.array(texts, type=pa.string(), from_pandas=True)  # Arrow's own: no copy
        return np.array(pc.cast(arrow, pa.float64()).to_numpy(), dtype=float)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pd.to_numeric(texts, errors="coerce").astype(float).to_numpy()
    finally:
        give_back()


def timestamps(
    frame: pd.DataFrame, column: str, path: Path, *, formats: tuple[str, ...] = ("ISO8601",)
) -> pd.Series:
    """`column` as UTC timestamps; the first unparseable one is reported by its line.

    Naive timestamps are taken as UTC, as every cloud export writes them. A column that mixes
    offsets (some `Z`, some `+02:00`, some none) is refused: that is two exports pasted
    together, and whichever we guessed would shift one of them.
    """
    if frame[column].dtype.kind == "M":  # stored as timestamps (Parquet): naive ones are UTC
        stamps = frame[column]
        stamps = (
            stamps.dt.tz_localize("UTC") if stamps.dt.tz is None else stamps.dt.tz_convert("UTC")
        )
        if stamps.isna().any():
            report(frame, column, stamps.isna(), path, "is not a timestamp (it is empty)")
        return stamps
    codes, texts = distinct(frame[column])
    _same_zone_style(frame, column, path, codes, texts)
    values = None
    for fmt in formats:
        parsed = pd.DatetimeIndex(pd.to_datetime(texts, utc=True, errors="coerce", format=fmt))
        values = pd.Series(parsed.take(codes), index=frame.index)
        if not parsed.isna().any():
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
    """Raise for the first row flagged in `bad`, naming its line, column and the cell as the
    file writes it (a CSV's number read as a float is looked up in the file again)."""
    row = int(bad.to_numpy().argmax())
    cell = frame[column].iloc[row]
    if path.suffix != ".parquet" and not isinstance(cell, str):
        cell = _csv_cell(path, row, column, cell)
    raise InputError(where(path, row), f"column {column}: {cell!r} {problem}")


def _csv_cell(path: Path, row: int, column: str, value: object) -> object:
    """The text of data row `row` (0-based; blank lines skipped, as Arrow skips them) in
    `column`, or `value` itself should the file not have it any more."""
    header = _csv_header(path)
    with path.open(newline="", encoding="utf-8-sig", errors="replace") as handle:
        lines = (cells for cells in csv.reader(handle) if cells)  # the header is line 0
        found = next(itertools.islice(lines, row + 1, None), None)
    position = header.index(column) if column in header else len(header)
    return found[position] if found is not None and position < len(found) else value


def _same_zone_style(
    frame: pd.DataFrame, column: str, path: Path, codes: np.ndarray, texts: pd.Series
) -> None:
    """Checked on the column's distinct texts (`distinct`): exports repeat each timestamp."""
    text = frame[column]
    style = texts.astype(str).str.extract(r"(Z|[+-]\d\d:?\d\d)$", expand=False).fillna("naive")
    style = style.where(style != "+00:00", "Z")
    if not len(style):
        return
    first = style.iloc[int(codes[0])]
    other = (style != first).to_numpy()
    if other.any():
        row = int(other[codes].argmax())
        raise InputError(
            where(path, row),
            f"column {column}: {str(text.iloc[row])!r} mixes time zones with line "
            f"{2 if path.suffix != '.parquet' else 1}'s {str(text.iloc[0])!r}; "
            "write every timestamp in one zone (UTC, ending in Z)",
        )


def _read_csv(path: Path, categorical: frozenset[str], numeric: frozenset[str]) -> pd.DataFrame:
    """`numeric` columns as floats if every cell is a finite number, else every column
    that is not `categorical` as text: the conversions after the read then find the cell
    that is not a number and name it, or let the optional ones be empty."""
    header = _csv_header(path)
    if len(set(header)) < len(header):
        twice = sorted({name for name in header if header.count(name) > 1})
        raise InputError(f"{path}:1", f"column(s) {', '.join(twice)} appear twice in the header")
    table = None
    if numeric:
        # A cell that is not a number, or a file that is not CSV: read as text below.
        with contextlib.suppress(pa.ArrowInvalid):
            table = _csv_table(path, header, categorical, numeric)
        if table is not None and not all(_finite(table.column(name)) for name in numeric):
            table = None  # "nan" or "inf": what they mean is the caller's to say
    if table is None:
        try:
            table = _csv_table(path, header, categorical, frozenset())
        except pa.ArrowInvalid as exc:
            problem = _csv_problem(path) or InputError(
                str(path), f"not a readable CSV file ({exc})"
            )
            raise problem from exc
    return table.to_pandas(split_blocks=True, self_destruct=True)  # Arrow's copy freed as it goes


def _csv_table(
    path: Path, header: list[str], categorical: frozenset[str], numeric: frozenset[str]
) -> pa.Table:
    """The CSV with its columns named by `header` (stripped, each once)."""
    types = {
        name: CATEGORY if name in categorical else pa.float64() if name in numeric else pa.string()
        for name in header
    }
    return pa_csv.read_csv(
        path,
        read_options=pa_csv.ReadOptions(column_names=header, skip_rows=1),
        convert_options=pa_csv.ConvertOptions(
            column_types=types,
            null_values=[],  # an empty number cell fails the read instead of becoming NaN
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        ),
    )


def _finite(column: pa.ChunkedArray) -> bool:
    return column.null_count == 0 and bool(pc.all(pc.is_finite(column), min_count=0).as_py())


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


def _read_parquet(
    path: Path, categorical: frozenset[str], typed: frozenset[str] = frozenset()
) -> pd.DataFrame:
    """Every column as text, as a CSV's: timestamps written in ISO 8601 (UTC), nulls as "".
    `categorical` text columns are read as Parquet's dictionaries, without a string a row;
    `typed` float and timestamp columns stay as they are (a null is NaN or NaT)."""
    schema = _parquet_schema(path)
    texts = [f.name for f in schema if f.name in categorical and pa.types.is_string(f.type)]
    try:
        table = pq.read_table(path, read_dictionary=texts)
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputError(str(path), f"not a readable Parquet file ({exc})") from exc
    frame = table.to_pandas(split_blocks=True, self_destruct=True)
    for column in frame.columns:
        values = frame[column]
        if column in texts:
            if values.hasnans:
                if "" not in values.cat.categories:
                    values = values.cat.add_categories([""])
                frame[column] = values.fillna("")
            continue
        if column in typed and values.dtype.kind in "fM":
            continue
        if values.dtype.kind == "M":
            if values.dt.tz is None:
                values = values.dt.tz_localize("UTC")
            values = values.dt.strftime("%Y-%m-%dT%H:%M:%SZ")
        frame[column] = values.astype(str).where(values.notna(), "")
        if column in categorical:
            frame[column] = frame[column].astype("category")
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


def _must_exist(
    path: Path, limit: tuple[str, int, str] = (TABLE_LIMIT, MAX_TABLE_BYTES, "an export")
) -> None:
    """The file is there and within its size limit (the variable that sets it, its
    default, what it is), checked before a byte is parsed."""
    if not path.is_file():
        raise InputError(str(path), "no such file")
    variable, default, what = limit
    most, size = _limit(variable, default), path.stat().st_size
    if size > most:
        raise InputError(
            str(path),
            f"is {_bytes(size)}, over the limit of {_bytes(most)} for {what}; "
            f"split it by time or cluster, or raise {variable}",
        )


def _bytes(count: int) -> str:
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if count >= size:
            return f"{count / size:,.1f} {unit}".replace(".0 ", " ")
    return f"{count} bytes"


def _limit(variable: str, default: int) -> int:
    text = os.environ.get(variable, "").strip()
    if not text:
        return default
    if not text.isdigit():
        raise InputError(variable, f"{text!r} is not a number of bytes")
    return int(text)
