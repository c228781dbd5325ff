"""Azure cost details exports: EA and MCA, actual or amortized, in the spellings Azure shipped.

The same fields have been written `UsageDateTime`/`PreTaxCost`/`InstanceId` (the 2019 usage
details exports), `Date`/`CostInBillingCurrency`/`ResourceId` (EA cost details),
`date`/`costInBillingCurrency`/`resourceId` (MCA) and `date`/`cost`/`instanceId` (the retired
EA Reporting API), so each field is looked up by its spellings, ignoring case.

BilledCost and EffectiveCost are both the file's cost column: an actual-cost file holds what
was billed and an amortized one the effective cost, and the header does not say which, so
`x_ChargeType` and `x_PricingModel` are kept for a reader who needs to tell reservations apart.

Dates are read per file. ISO (`2024-03-05`) and slashed dates (`03/05/2024`) are told apart
by shape, and a file mixing the two is refused. Slashed dates are month first, as Microsoft
documents and its exports write them, unless a day above 12 proves the file day first (a
portal download in a European locale).
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from recommenders.errors import InputError
from recommenders.sources.cost import normalise as n
from recommenders.sources.frames import Cost
from recommenders.sources.validate import numbers, read_header, read_table, timestamps, where

DATE = ("UsageDateTime", "Date", "UsageDate")
COST = ("CostInBillingCurrency", "PreTaxCost", "Cost")
CURRENCY = ("BillingCurrencyCode", "BillingCurrency", "Currency")
METER = ("MeterCategory",)
SERVICE = ("MeterCategory", "ServiceName")
RESOURCE = ("ResourceId", "InstanceId")
QUANTITY = ("Quantity", "UsageQuantity", "ConsumedQuantity")
ISO = re.compile(r"\d{4}-\d{1,2}-\d{1,2}")
ISO_STYLE = "ISO (YYYY-MM-DD)"
SLASHED = re.compile(r"(\d{1,2})/(\d{1,2})/\d{4}")
SLASHED_STYLE = "slashed (MM/DD/YYYY)"
CPU_METER = re.compile(r"vCPU (?:Active |Idle )?(?:Duration|Usage)", re.IGNORECASE)
MEMORY_METER = re.compile(r"Memory (?:Active |Idle )?(?:Duration|Usage)", re.IGNORECASE)
"""Container Instances and Container Apps bill CPU and memory time on these meters."""


class AzureCostDetails:
    name = "azure"
    description = "Azure cost details export (EA or MCA, actual or amortized)"

    def detect(self, columns: frozenset[str]) -> bool:
        return all(n.pick(columns, *names) for names in (DATE, COST, METER))

    def load(self, path: Path) -> Cost:
        columns = read_header(path)
        date, cost = n.need(columns, path, *DATE), n.need(columns, path, *COST)
        currency = n.pick(columns, *CURRENCY)
        raw = read_table(path, (date, cost))
        start, notes = _dates(raw, date, path)
        billed = numbers(raw, cost, path, negative=True)
        meter = n.text(raw, n.pick(columns, "MeterName"))
        quantity, unit = _consumed(raw, columns, path, meter)
        charges = n.Charges(
            start=start,
            end=n.daily_end(start),
            billed=billed,
            effective=billed,
            currency=n.text(raw, currency),
            service=n.first_text(raw, [n.pick(columns, name) for name in SERVICE]),
            resource=n.first_text(raw, [n.pick(columns, name) for name in RESOURCE]),
            quantity=quantity,
            unit=unit,
            tags=n.tags_from_cells(raw, n.pick(columns, "Tags"), path),
            extensions={
                "MeterName": meter,
                "ChargeType": n.text(raw, n.pick(columns, "ChargeType")),
                "PricingModel": n.text(raw, n.pick(columns, "PricingModel")),
            },
        )
        return n.cost(path, self.name, charges, currency_column=currency, warnings=notes)


def _consumed(
    raw: pd.DataFrame, columns: frozenset[str], path: Path, meter: pd.Series
) -> tuple[pd.Series, pd.Series]:
    kind = pd.Series("", index=raw.index, dtype=object)
    kind[meter.str.contains(CPU_METER)] = n.CPU
    kind[meter.str.contains(MEMORY_METER)] = n.MEMORY
    quantity = n.quantities(raw, n.pick(columns, *QUANTITY), path)
    return n.consumed(quantity, n.text(raw, n.pick(columns, "UnitOfMeasure")), kind)


def _dates(raw: pd.DataFrame, column: str, path: Path) -> tuple[pd.Series, list[str]]:
    """The date column as UTC midnights, its style decided for the whole file."""
    cells = raw[column].astype(str).str.strip()
    style = pd.Series("", index=cells.index, dtype=object)
    style[cells.str.match(ISO)] = ISO_STYLE
    slashed = cells.str.extract(SLASHED).astype(float)
    style[slashed[0].notna()] = SLASHED_STYLE
    _one_style(cells, style, column, path)
    if not (style == SLASHED_STYLE).any():
        return timestamps(raw, column, path), []
    day_first = slashed[0] > 12
    if day_first.any():
        _no_month_above_12(cells, slashed[1] > 12, day_first, column, path)
        fmt, notes = (
            "%d/%m/%Y",
            [
                f"{where(path, _first(day_first))}: column {column}: {cells[day_first].iloc[0]!r} "
                "has a day above 12 first, so the file's dates are read as DD/MM/YYYY"
            ],
        )
    else:
        fmt, notes = "%m/%d/%Y", []
    return timestamps(raw.assign(**{column: cells}), column, path, formats=(fmt,)), notes


def _one_style(cells: pd.Series, style: pd.Series, column: str, path: Path) -> None:
    known = style != ""
    if not known.any():
        return
    first = _first(known)
    differs = known & (style != style.iloc[first])
    if differs.any():
        row = _first(differs)
        raise InputError(
            where(path, row),
            f"column {column}: {cells.iloc[row]!r} is a {style.iloc[row]} date but "
            f"{where(path, first)} has the {style.iloc[first]} date {cells.iloc[first]!r}; "
            "a file must use one date style (was it pasted together from two exports?)",
        )


def _no_month_above_12(
    cells: pd.Series, month_first: pd.Series, day_first: pd.Series, column: str, path: Path
) -> None:
    if month_first.any():
        row = _first(month_first)
        raise InputError(
            where(path, row),
            f"column {column}: {cells.iloc[row]!r} is month first but "
            f"{where(path, _first(day_first))} has {cells[day_first].iloc[0]!r}, which is day "
            "first; a file must use one date style",
        )


def _first(mask: pd.Series) -> int:
    return int(mask.to_numpy().argmax())


AZURE = AzureCostDetails()
