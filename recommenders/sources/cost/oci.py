"""Oracle Cloud Infrastructure cost reports (the daily CSVs in the usage-report bucket).

BilledCost and EffectiveCost are `cost/myCost`, the line item's cost at the tenancy's price;
overage (`cost/myCostOverage`) is what part of it exceeded a commitment, not an addition.
ConsumedQuantity is `usage/billedQuantity` in `cost/billingUnitReadable`: memory rows
("ONE GiB HOURS MEMORY") read GiB-Hours, while OCPU hours keep their unit, since an OCPU is two
vCPUs on x86 shapes but one on Arm and the row does not say which. Tags are the `tags/...`
columns, keyed `namespace.key` for defined tags and `key` for free-form ones.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from recommenders.sources.cost import normalise as n
from recommenders.sources.frames import Cost
from recommenders.sources.validate import numbers, read_table, timestamps

REQUIRED = (
    "lineItem/intervalUsageStart", "lineItem/intervalUsageEnd", "product/service",
    "cost/myCost", "cost/currencyCode",
)  # fmt: skip
TAG_PREFIX = "tags/"
MEMORY_UNIT = re.compile(r"\bMEMORY\b", re.IGNORECASE)


class OciCostReport:
    name = "oci"
    description = "Oracle Cloud Infrastructure cost report"

    def detect(self, columns: frozenset[str]) -> bool:
        return {"lineItem/intervalUsageStart", "cost/myCost"} <= columns

    def load(self, path: Path) -> Cost:
        raw = read_table(path, REQUIRED)
        billed = numbers(raw, "cost/myCost", path, negative=True)
        unit = n.text(raw, n.pick(raw.columns, "cost/billingUnitReadable"))
        kind = pd.Series("", index=raw.index, dtype=object)
        kind[unit.str.contains(MEMORY_UNIT)] = n.MEMORY
        quantity, unit = n.consumed(
            n.quantities(raw, n.pick(raw.columns, "usage/billedQuantity"), path), unit, kind
        )
        charges = n.Charges(
            start=timestamps(raw, "lineItem/intervalUsageStart", path),
            end=timestamps(raw, "lineItem/intervalUsageEnd", path),
            billed=billed,
            effective=billed,
            currency=n.text(raw, "cost/currencyCode"),
            service=n.text(raw, "product/service"),
            resource=n.text(raw, n.pick(raw.columns, "product/resourceId")),
            quantity=quantity,
            unit=unit,
            tags=n.prefixed_tags(raw, TAG_PREFIX),
            extensions={
                "Description": n.text(raw, n.pick(raw.columns, "product/Description")),
                "CompartmentName": n.text(raw, n.pick(raw.columns, "product/compartmentName")),
            },
        )
        return n.cost(path, self.name, charges, currency_column="cost/currencyCode")


OCI = OciCostReport()
