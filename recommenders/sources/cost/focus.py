"""FOCUS 1.x exports (CSV or Parquet): the FinOps Foundation's common billing columns.

Already the shape everything downstream reads, so loading is validation: the mandatory cost
and period columns must be there and parse, `Tags` must be JSON objects, and `x_` columns
(provider extensions) are kept for whoever reads the frame next.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from recommenders.sources.cost import normalise as n
from recommenders.sources.frames import COST_COLUMNS, Cost
from recommenders.sources.validate import numbers, read_table, timestamps

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
            frame[column] = n.text(raw, column if column in raw.columns else None)
        frame["ConsumedQuantity"] = (
            numbers(raw, "ConsumedQuantity", path, negative=True, empty=True)
            if "ConsumedQuantity" in raw.columns
            else np.nan
        )
        frame["Tags"] = n.tags_from_cells(raw, "Tags" if "Tags" in raw.columns else None, path)
        frame = frame[list(COST_COLUMNS)]
        extensions = [column for column in raw.columns if column.startswith("x_")]
        return Cost(pd.concat([frame, raw[extensions]], axis=1), path, self.name, len(raw))
