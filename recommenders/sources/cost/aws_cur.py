"""AWS Cost and Usage Reports: the legacy CUR (`lineItem/...`) and CUR 2.0 (`line_item_...`).

Both generations carry the same fields under two spellings, so one loader reads both through a
`Layout` naming each field. CUR 2.0's snake_case is also how the legacy CUR looks once AWS
writes it as Parquet for Athena (tags then come as `resource_tags_user_*` columns rather than
the `resource_tags` map), and the "aws-cur2" format reads that layout too.

BilledCost is the unblended cost, as AWS's own FOCUS export has it. EffectiveCost is the
amortized cost by the rule AWS publishes for CUR queries: reservation and Savings Plan usage at
their effective cost, the unused part of their fees, and nothing for the rows that only move
money around (Savings Plan negation and upfront fees, reservation purchases).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from recommenders.sources.cost import normalise as n
from recommenders.sources.frames import Cost
from recommenders.sources.validate import (
    missing_columns,
    numbers,
    read_header,
    read_table,
    timestamps,
)

FARGATE = re.compile(r"Fargate-(?:ARM-|Windows-)*(vCPU-Hours|GB-Hours)")
"""Fargate's task CPU and memory usage types (`USE1-Fargate-vCPU-Hours:perCPU`,
`USE1-Fargate-GB-Hours`); their pricing unit is only "hours", so the usage type says which.
Ephemeral storage (`Fargate-EphemeralStorage-GB-Hours`) does not match."""


@dataclass(frozen=True)
class Layout:
    """Where one CUR generation keeps each field."""

    start: str
    end: str
    cost: str
    currency: str
    services: tuple[str, ...]
    """ServiceName is the first of these a row has (a product name, else its code)."""
    resource: str
    amount: str
    unit: str
    usage_type: str
    line_item_type: str
    reservation_effective: str
    savings_plan_effective: str
    unused_upfront: str
    unused_recurring: str
    commitment_total: str
    commitment_used: str
    reservation_arn: str
    tag_prefix: str
    """Columns holding one tag each start with this; the rest of the name is the key."""
    user_prefix: str
    """User-defined tag keys carry this prefix in the export; it is dropped from the key."""
    tag_map: str | None
    """CUR 2.0's single map column of tags."""

    def detect(self, columns: frozenset[str]) -> bool:
        return {self.start, self.cost} <= columns

    def tag_key(self, key: str) -> str:
        return key.removeprefix(self.user_prefix)


LEGACY = Layout(
    start="lineItem/UsageStartDate",
    end="lineItem/UsageEndDate",
    cost="lineItem/UnblendedCost",
    currency="lineItem/CurrencyCode",
    services=("product/ProductName", "lineItem/ProductCode"),
    resource="lineItem/ResourceId",
    amount="lineItem/UsageAmount",
    unit="pricing/unit",
    usage_type="lineItem/UsageType",
    line_item_type="lineItem/LineItemType",
    reservation_effective="reservation/EffectiveCost",
    savings_plan_effective="savingsPlan/SavingsPlanEffectiveCost",
    unused_upfront="reservation/UnusedAmortizedUpfrontFeeForBillingPeriod",
    unused_recurring="reservation/UnusedRecurringFee",
    commitment_total="savingsPlan/TotalCommitmentToDate",
    commitment_used="savingsPlan/UsedCommitment",
    reservation_arn="reservation/ReservationARN",
    tag_prefix="resourceTags/",
    user_prefix="user:",
    tag_map=None,
)

CUR2 = Layout(
    start="line_item_usage_start_date",
    end="line_item_usage_end_date",
    cost="line_item_unblended_cost",
    currency="line_item_currency_code",
    services=("product_servicecode", "line_item_product_code"),
    resource="line_item_resource_id",
    amount="line_item_usage_amount",
    unit="pricing_unit",
    usage_type="line_item_usage_type",
    line_item_type="line_item_line_item_type",
    reservation_effective="reservation_effective_cost",
    savings_plan_effective="savings_plan_savings_plan_effective_cost",
    unused_upfront="reservation_unused_amortized_upfront_fee_for_billing_period",
    unused_recurring="reservation_unused_recurring_fee",
    commitment_total="savings_plan_total_commitment_to_date",
    commitment_used="savings_plan_used_commitment",
    reservation_arn="reservation_reservation_a_r_n",
    tag_prefix="resource_tags_",
    user_prefix="user_",
    tag_map="resource_tags",
)


class AwsCur:
    name = "aws-cur"
    description = "AWS Cost and Usage Report, legacy CUR (lineItem/... columns)"
    layout = LEGACY

    def detect(self, columns: frozenset[str]) -> bool:
        return self.layout.detect(columns)

    def load(self, path: Path) -> Cost:
        layout = self.layout
        columns = read_header(path)
        services = [n.pick(columns, name) for name in layout.services]
        if not any(services):
            raise missing_columns(path, columns, [layout.services])
        raw = read_table(path, (layout.start, layout.end, layout.cost, layout.currency))
        billed = numbers(raw, layout.cost, path, negative=True)
        usage_type = n.text(raw, n.pick(columns, layout.usage_type))
        quantity, unit = _consumed(raw, path, layout, usage_type)
        line_item_type = n.text(raw, n.pick(columns, layout.line_item_type))
        charges = n.Charges(
            start=timestamps(raw, layout.start, path),
            end=timestamps(raw, layout.end, path),
            billed=billed,
            effective=_effective(raw, path, layout, billed, line_item_type),
            currency=n.text(raw, layout.currency),
            service=n.first_text(raw, services),
            resource=n.text(raw, n.pick(columns, layout.resource)),
            quantity=quantity,
            unit=unit,
            tags=_tags(raw, path, layout),
            extensions={"LineItemType": line_item_type, "UsageType": usage_type},
        )
        return n.cost(path, self.name, charges, currency_column=layout.currency)


class AwsCur2(AwsCur):
    name = "aws-cur2"
    description = "AWS CUR 2.0 from Data Exports (line_item_... columns, resource_tags map)"
    layout = CUR2


def _consumed(
    raw: pd.DataFrame, path: Path, layout: Layout, usage_type: pd.Series
) -> tuple[pd.Series, pd.Series]:
    """Usage amount and unit, Fargate's task CPU and memory in vCPU-Hours and GiB-Hours.

    Fargate's "GB" is a GiB: a task definition's "1 GB" is 1024 MiB
    (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task_definition_parameters.html).
    """
    amount = n.quantities(raw, n.pick(raw.columns, layout.amount), path)
    unit = n.text(raw, n.pick(raw.columns, layout.unit))
    fargate = usage_type.str.extract(FARGATE, expand=False).fillna("")
    kind = fargate.map({"vCPU-Hours": n.CPU, "GB-Hours": n.MEMORY}).fillna("")
    return n.consumed(amount, unit.where(fargate == "", fargate), kind, gigabyte=n.GIB)


def _effective(
    raw: pd.DataFrame, path: Path, layout: Layout, billed: pd.Series, kind: pd.Series
) -> pd.Series:
    """Amortized cost per line item type; a type's columns must be there when it occurs."""

    def amount(column: str) -> pd.Series:
        if column not in raw.columns:
            raise missing_columns(path, raw.columns, [column])
        return numbers(raw, column, path, negative=True, empty=True).fillna(0.0)

    effective = billed.copy()
    rules = {
        "DiscountedUsage": lambda: amount(layout.reservation_effective),
        "SavingsPlanCoveredUsage": lambda: amount(layout.savings_plan_effective),
        "RIFee": lambda: amount(layout.unused_upfront) + amount(layout.unused_recurring),
        "SavingsPlanRecurringFee": lambda: (
            amount(layout.commitment_total) - amount(layout.commitment_used)
        ),
        "SavingsPlanNegation": lambda: pd.Series(0.0, index=raw.index),
        "SavingsPlanUpfrontFee": lambda: pd.Series(0.0, index=raw.index),
    }
    for line_item_type, value in rules.items():
        rows = kind == line_item_type
        if rows.any():
            effective[rows] = value()[rows]
    purchase = (kind == "Fee") & (n.text(raw, n.pick(raw.columns, layout.reservation_arn)) != "")
    effective[purchase] = 0.0
    return effective


def _tags(raw: pd.DataFrame, path: Path, layout: Layout) -> pd.Series:
    tags = n.prefixed_tags(raw, layout.tag_prefix, key=layout.tag_key)
    if layout.tag_map is None or layout.tag_map not in raw.columns:
        return tags
    return n.merge_tags(tags, n.tags_from_cells(raw, layout.tag_map, path, key=layout.tag_key))


AWS_CUR = AwsCur()
AWS_CUR2 = AwsCur2()
