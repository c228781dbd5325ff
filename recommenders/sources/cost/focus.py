"""FOCUS 1.x exports (CSV or Parquet): the FinOps Foundation's common billing columns.

Already the shape everything downstream reads, so loading is validation: the mandatory cost
and period columns must be there and parse, `Tags` must be JSON objects, and `x_` columns
(provider extensions) are kept for whoever reads the frame next.
"""

from __future__ import annotations

from pathlib import Path

from recommenders.sources.cost import normalise as n
from recommenders.sources.frames import Cost
from recommenders.sources.validate import numbers, read_table, timestamps

REQUIRED = (
    "BilledCost", "EffectiveCost", "BillingCurrency", "ChargePeriodStart", "ChargePeriodEnd",
)  # fmt: skip


class FocusFormat:
    name = "focus"
    description = "FOCUS 1.x cost and usage export"

    def detect(self, columns: frozenset[str]) -> bool:
        return {"BilledCost", "ChargePeriodStart", "BillingCurrency"} <= columns

    def load(self, path: Path) -> Cost:
        raw = read_table(path, REQUIRED)
        columns = raw.columns

        def optional(column: str) -> str | None:
            return column if column in columns else None

        charges = n.Charges(
            start=timestamps(raw, "ChargePeriodStart", path),
            end=timestamps(raw, "ChargePeriodEnd", path),
            billed=numbers(raw, "BilledCost", path, negative=True),
            effective=numbers(raw, "EffectiveCost", path, negative=True),
            currency=n.text(raw, "BillingCurrency"),
            service=n.text(raw, optional("ServiceName")),
            resource=n.text(raw, optional("ResourceId")),
            quantity=n.quantities(raw, optional("ConsumedQuantity"), path),
            unit=n.text(raw, optional("ConsumedUnit")),
            tags=n.tags_from_cells(raw, optional("Tags"), path),
            extensions={c.removeprefix("x_"): raw[c] for c in columns if c.startswith("x_")},
        )
        return n.cost(path, self.name, charges, currency_column="BillingCurrency")
