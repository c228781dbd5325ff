"""FOCUS 1.x exports (CSV or Parquet): the FinOps Foundation's common billing columns.

Already the shape everything downstream reads, so loading is validation: the mandatory cost
and period columns must be there and parse, `Tags` must be JSON objects, and `x_` columns
(provider extensions) are kept for whoever reads the frame next.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from recommenders.errors import InputError
from recommenders.sources.frames import COST_COLUMNS, Cost
from recommenders.sources.validate import NULLS, numbers, read_table, timestamps, where

REQUIRED = (
    "BilledCost", "EffectiveCost", "BillingCurrency", "ChargePeriodStart", "ChargePeriodEnd",
)  # fmt: skip
TEXT = ("BillingCurrency", "ServiceName", "ResourceId", "ConsumedUnit")


class FocusFormat:
    name = "focus"
    description = "FOCUS 1.x cost and usage export"

    def detect(self, columns: frozenset[str]) -> bool:
        return {"BilledCost", "ChargePeriodStart", "BillingCurrency"} <= columns

    def load(self, path: Path) -> Cost:
        raw = read_table(path, REQUIRED)
        frame = pd.DataFrame(index=raw.index)
        for column in ("ChargePeriodStart", "ChargePeriodEnd"):
            frame[column] = timestamps(raw, column, path)
        for column in ("BilledCost", "EffectiveCost"):
            frame[column] = numbers(raw, column, path, negative=True)
        for column in TEXT:
            frame[column] = _text(raw, column)
        frame["ConsumedQuantity"] = (
            numbers(raw, "ConsumedQuantity", path, negative=True, empty=True)
            if "ConsumedQuantity" in raw.columns
            else np.nan
        )
        frame["Tags"] = _tags(raw, path)
        frame = frame[list(COST_COLUMNS)]
        extensions = [column for column in raw.columns if column.startswith("x_")]
        return Cost(pd.concat([frame, raw[extensions]], axis=1), path, self.name, len(raw))


def _text(raw: pd.DataFrame, column: str) -> pd.Series:
    if column not in raw.columns:
        return pd.Series("", index=raw.index)
    return raw[column].where(~raw[column].isin(NULLS), "")


def _tags(raw: pd.DataFrame, path: Path) -> list[dict[str, str]]:
    if "Tags" not in raw.columns:
        return [{} for _ in range(len(raw))]
    parsed: list[dict[str, str]] = []
    for row, text in enumerate(raw["Tags"]):
        if text in NULLS:
            parsed.append({})
            continue
        try:
            tags = json.loads(text)
        except json.JSONDecodeError:
            tags = None
        if not isinstance(tags, dict):
            raise InputError(where(path, row), f"column Tags: {text!r} is not a JSON object")
        parsed.append({str(key): str(value) for key, value in tags.items()})
    return parsed
