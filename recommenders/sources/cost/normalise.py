"""What the native cloud exports share on their way into FOCUS columns.

Each cloud names its columns differently, but the work after the names is the same: check the
header before reading, pick whichever spelling of a column a file has, parse tag cells that
come as JSON, Python reprs or Azure's brace-less pairs, bring CPU- and memory-time quantities
to the units FOCUS readers compare, and assemble the frame with its currency checks. Keeping
that here means a rule (say, what "GB" means) is decided once for every format.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from recommenders.errors import InputError
from recommenders.sources.frames import COST_COLUMNS, Cost
from recommenders.sources.validate import NULLS, missing_columns, numbers, where

CPU_HOURS = "vCPU-Hours"
GIB_HOURS = "GiB-Hours"
GIB = 2.0**30
GB = 1e9
"""A "GB" is 10^9 bytes unless the provider documents otherwise (AWS Fargate does: its task
memory "1 GB" is 1024 MiB, so the AWS formats pass `gigabyte=GIB`)."""

CPU = "cpu"
MEMORY = "memory"


# --- reading ------------------------------------------------------------------------------


def pick(columns: Iterable[str], *names: str) -> str | None:
    """The first of `names` the header has: exactly, else ignoring case (Azure has shipped
    `ResourceId`, `resourceId` and `InstanceId` for one field)."""
    present = list(columns)
    for name in names:
        if name in present:
            return name
    folded = {column.lower(): column for column in present}
    for name in names:
        if name.lower() in folded:
            return folded[name.lower()]
    return None


def need(columns: Iterable[str], path: Path, *names: str) -> str:
    """Like `pick`, but a header with none of `names` is the user's error, on the header line."""
    found = pick(columns, *names)
    if found is None:
        raise missing_columns(path, columns, [names])
    return found


def text(frame: pd.DataFrame, column: str | None) -> pd.Series:
    """`column` as stripped text with the export's nulls as ""; all "" when there is none."""
    if column is None:
        return pd.Series("", index=frame.index, dtype=object)
    values = frame[column].astype(str).str.strip()
    return values.where(~values.isin(NULLS), "").astype(object)


def first_text(frame: pd.DataFrame, columns: Iterable[str | None]) -> pd.Series:
    """Per row, the first non-empty cell of `columns` (e.g. a product name, else its code)."""
    result = pd.Series("", index=frame.index, dtype=object)
    for column in columns:
        values = text(frame, column)
        result = result.where(result != "", values)
    return result


def quantities(frame: pd.DataFrame, column: str | None, path: Path) -> pd.Series:
    """An optional quantity column as floats (NaN for empty cells or when there is none)."""
    if column is None:
        return pd.Series(np.nan, index=frame.index, dtype=float)
    return numbers(frame, column, path, negative=True, empty=True)


# --- tags ---------------------------------------------------------------------------------


def parse_tags(cell: str) -> dict[str, str]:
    """One tag cell as a dict; raises ValueError when it is none of the shapes exports use.

    `{"k": "v"}` (Azure, FOCUS, CUR 2.0 CSV), `"k": "v","k2": "v2"` (Azure EA, no braces),
    `[{"key": "k", "value": "v"}]` (GCP labels), and the Python repr of key/value pairs that a
    Parquet map column becomes when `validate` reads every column as text.
    """
    body = cell.strip()
    if body in NULLS:
        return {}
    if body.startswith('"'):
        body = "{" + body + "}"
    return _as_tags(structured(body))


def structured(cell: str) -> Any:
    """A JSON cell, or the Python repr `validate` makes of a Parquet list or map column."""
    try:
        return json.loads(cell)
    except json.JSONDecodeError:
        try:
            return ast.literal_eval(cell)
        except (ValueError, SyntaxError) as error:
            raise ValueError("not JSON") from error


def _as_tags(value: Any) -> dict[str, str]:
    if isinstance(value, dict):
        return {str(k): "" if v is None else str(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        pairs = {}
        for item in value:
            if isinstance(item, dict) and "key" in item:
                pairs[str(item["key"])] = "" if item.get("value") is None else str(item["value"])
            elif isinstance(item, (list, tuple)) and len(item) == 2:
                pairs[str(item[0])] = "" if item[1] is None else str(item[1])
            else:
                raise ValueError(f"{item!r} is not a key/value pair")
        return pairs
    raise ValueError("not a JSON object or list of key/value pairs")


def tags_from_cells(
    frame: pd.DataFrame,
    column: str | None,
    path: Path,
    key: Callable[[str], str] = str,
) -> pd.Series:
    """`column`'s tag cells as dicts, the first bad one reported by line; `key` renames keys."""
    if column is None:
        return _no_tags(frame)
    parsed = []
    for row, cell in enumerate(frame[column].astype(str)):
        try:
            tags = parse_tags(cell)
        except ValueError as error:
            raise InputError(where(path, row), f"column {column}: {cell!r} is {error}") from error
        parsed.append({key(k): v for k, v in tags.items()})
    return pd.Series(parsed, index=frame.index, dtype=object)


def tags_from_columns(frame: pd.DataFrame, keys: Mapping[str, str]) -> pd.Series:
    """Tags kept one per column (`resourceTags/user:team`, `tags/Oracle-Tags.CreatedBy`):
    `keys` maps each column to its tag key; empty cells are no tag."""
    if not keys:
        return _no_tags(frame)
    columns = {key: text(frame, column) for column, key in keys.items()}
    rows = [
        {key: value for key, value in zip(columns, values, strict=True) if value}
        for values in zip(*columns.values(), strict=True)
    ]
    return pd.Series(rows, index=frame.index, dtype=object)


def prefixed_tags(frame: pd.DataFrame, prefix: str, key: Callable[[str], str] = str) -> pd.Series:
    """Tags from every column named `prefix` + key (`resourceTags/user:team`, `tags/team`)."""
    keys = {c: key(c.removeprefix(prefix)) for c in frame.columns if c.startswith(prefix)}
    return tags_from_columns(frame, keys)


def merge_tags(first: pd.Series, second: pd.Series) -> pd.Series:
    return pd.Series(
        [a | b for a, b in zip(first, second, strict=True)], index=first.index, dtype=object
    )


def _no_tags(frame: pd.DataFrame) -> pd.Series:
    return pd.Series([{} for _ in range(len(frame))], index=frame.index, dtype=object)


# --- units --------------------------------------------------------------------------------

_SECONDS = {"second": 1, "seconds": 1, "minute": 60, "minutes": 60}
_SECONDS |= {"hour": 3600, "hours": 3600, "hr": 3600, "hrs": 3600}
_BYTES = {"byte": 1.0, "bytes": 1.0, "mib": 2.0**20, "gib": GIB, "gibibyte": GIB}
_GIGABYTES = ("gb", "gigabyte", "gigabytes")
_COUNTS = {"one": 1.0}
"""OCI writes its units in words: "ONE GiB HOURS MEMORY"."""


@dataclass(frozen=True)
class _Unit:
    """A time-based unit as exports spell it: `10 Hours`, `GB-Hours`, `byte-seconds`."""

    block: float
    """How many of the unit one quantity counts (Azure prices some meters per 100 hours)."""
    seconds: float
    size: float | None
    """Bytes per quantity for memory-time units; None for plain time (CPU) units."""


@cache
def _parse_unit(unit: str, gigabyte: float) -> _Unit | None:
    words = [word for word in re.split(r"[\s\-/_]+", unit.strip().lower()) if word]
    block, seconds, size = 1.0, None, None
    for position, word in enumerate(words):
        if position == 0 and (re.fullmatch(r"\d+(\.\d+)?", word) or word in _COUNTS):
            block = _COUNTS.get(word) or float(word)
        elif word in _SECONDS and seconds is None:
            seconds = float(_SECONDS[word])
        elif word in _GIGABYTES:
            size = gigabyte
        elif word in _BYTES:
            size = _BYTES[word]
    if seconds is None:
        return None
    return _Unit(block, seconds, size)


def consumed(
    quantity: pd.Series, unit: pd.Series, kind: pd.Series, *, gigabyte: float = GB
) -> tuple[pd.Series, pd.Series]:
    """ConsumedQuantity and ConsumedUnit: rows whose `kind` is CPU (or MEMORY) and whose unit
    is CPU time (or memory time) become vCPU-Hours (or GiB-Hours); all else keeps its unit.

    The format says which rows are CPU or memory from its own evidence (SKU, meter, usage
    type): a unit alone cannot, since an Azure VM's "1 Hour" is an instance hour.
    """
    factors = pd.Series(np.nan, index=quantity.index, dtype=float)
    units = unit.astype(object).copy()
    for (text_unit, row_kind), rows in unit.groupby([unit, kind], sort=False).groups.items():
        if row_kind not in (CPU, MEMORY):
            continue
        parsed = _parse_unit(str(text_unit), gigabyte)
        if parsed is None or (parsed.size is None) != (row_kind == CPU):
            continue
        size = 1.0 if parsed.size is None else parsed.size / GIB
        factors[rows] = parsed.block * parsed.seconds / 3600 * size
        units[rows] = CPU_HOURS if row_kind == CPU else GIB_HOURS
    scaled = quantity.where(factors.isna(), quantity * factors)
    return scaled.astype(float), units


# --- the frame ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Charges:
    """One export's rows in FOCUS terms, each field a Series over the file's rows."""

    start: pd.Series
    end: pd.Series
    billed: pd.Series
    effective: pd.Series
    currency: pd.Series
    service: pd.Series
    resource: pd.Series
    quantity: pd.Series
    unit: pd.Series
    tags: pd.Series
    extensions: Mapping[str, pd.Series] = field(default_factory=dict)
    """`x_` columns worth keeping (line item type, SKU, credits)."""


def cost(
    path: Path,
    format_name: str,
    charges: Charges,
    *,
    currency_column: str | None,
    warnings: Iterable[str] = (),
) -> Cost:
    """The `Cost` of a native export: COST_COLUMNS in order, then the `x_` extensions.

    A row without a currency takes the file's only one (with a warning); a file with several
    currencies is loaded as it is, with a warning, since converting is not ours to guess.
    """
    notes = list(warnings)
    currency = _currency(charges.currency, path, currency_column, notes)
    columns = {
        "ChargePeriodStart": charges.start,
        "ChargePeriodEnd": charges.end,
        "BilledCost": charges.billed.astype(float),
        "EffectiveCost": charges.effective.astype(float),
        "BillingCurrency": currency,
        "ServiceName": charges.service,
        "ResourceId": charges.resource,
        "ConsumedQuantity": charges.quantity.astype(float),
        "ConsumedUnit": charges.unit,
        "Tags": charges.tags,
    }
    extensions = {f"x_{name}": values for name, values in charges.extensions.items()}
    frame = pd.DataFrame(columns | extensions)[[*COST_COLUMNS, *extensions]]
    return Cost(frame.reset_index(drop=True), path, format_name, len(frame), notes)


def _currency(currency: pd.Series, path: Path, column: str | None, notes: list[str]) -> pd.Series:
    if column is None:
        notes.append(f"{path}: no currency column; BillingCurrency is left empty")
        return currency
    known = sorted(set(currency) - {""})
    blank = currency == ""
    if len(known) > 1:
        notes.append(
            f"{path}: column {column} mixes currencies ({', '.join(known)}); "
            "costs are kept in their own currency, not converted"
        )
    if blank.any() and known:
        first = where(path, int(blank.to_numpy().argmax()))
        fill = known[0] if len(known) == 1 else ""
        taken = f"taken as {fill}, the file's only currency" if fill else "left empty"
        notes.append(f"{first}: {int(blank.sum())} row(s) have an empty {column}; {taken}")
        return currency.where(~blank, fill)
    if blank.all() and len(currency):
        notes.append(f"{path}: column {column} is empty on every row; BillingCurrency is empty")
    return currency


def allocation_rows(
    start: pd.Series,
    end: pd.Series,
    tags: Iterable[dict[str, str]],
    resource: pd.Series,
    service: str,
    cost: pd.Series,
    currency: str,
    quantity: pd.Series | None = None,
    unit: str = "",
) -> pd.DataFrame:
    """One Kubernetes cost per allocation (CPU, memory, GPU, ...) as FOCUS rows. Allocation
    exports have no billing amortisation, so billed and effective cost are the same."""
    return pd.DataFrame(
        {
            "ChargePeriodStart": start,
            "ChargePeriodEnd": end,
            "BilledCost": cost,
            "EffectiveCost": cost,
            "BillingCurrency": currency,
            "ServiceName": service,
            "ResourceId": resource,
            "ConsumedQuantity": np.nan if quantity is None else quantity.astype(float),
            "ConsumedUnit": unit,
            "Tags": list(tags),
        }
    )[list(COST_COLUMNS)]


def daily_end(start: pd.Series) -> pd.Series:
    """The end of a one-day charge period, for exports that give only the date."""
    return start + pd.Timedelta(days=1)
