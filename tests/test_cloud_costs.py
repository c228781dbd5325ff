"""The clouds' own cost exports load into FOCUS columns, and a broken copy of each names the
file, line and column. Totals are recomputed here with csv and decimal, not with the loader."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from recommenders.errors import InputError
from recommenders.sources.base import CostFormat
from recommenders.sources.cost.aws_cur import AWS_CUR, AWS_CUR2
from recommenders.sources.cost.azure import AZURE
from recommenders.sources.cost.gcp import GCP
from recommenders.sources.cost.oci import OCI
from recommenders.sources.frames import COST_COLUMNS
from recommenders.sources.registry import COST_FORMATS
from recommenders.sources.validate import read_header
from tests.conftest import FIXTURES, ROOT

COST = FIXTURES / "cost"
CORPUS = ROOT.parent / "shared" / "corpus" / "cost"
CUR_SAMPLE = CORPUS / "aws-cur" / "sample-anonymous-aws-export-dataset.csv"
NATIVE: tuple[CostFormat, ...] = (AWS_CUR, AWS_CUR2, AZURE, GCP, OCI)
corpus = pytest.mark.skipif(
    not CORPUS.is_dir(), reason="../shared/corpus is not beside the checkout"
)


@dataclass(frozen=True)
class Sample:
    file: str
    format: CostFormat
    cost: str
    date: str
    text: str
    """A text column, for the invalid UTF-8 copy."""
    currency: str
    start: str
    end: str


SAMPLES = [
    Sample("aws-cur.csv", AWS_CUR, "lineItem/UnblendedCost", "lineItem/UsageStartDate",
           "product/ProductName", "USD", "2026-03-02", "2026-03-04"),
    Sample("aws-cur2.csv", AWS_CUR2, "line_item_unblended_cost", "line_item_usage_start_date",
           "product_servicecode", "USD", "2026-03-02 00:00", "2026-03-02 02:00"),
    Sample("azure-ea-legacy.csv", AZURE, "PreTaxCost", "UsageDateTime", "MeterCategory", "GBP",
           "2026-03-02", "2026-03-04"),
    Sample("azure-ea.csv", AZURE, "CostInBillingCurrency", "Date", "MeterCategory", "EUR",
           "2026-03-02", "2026-03-04"),
    Sample("azure-mca-amortized.csv", AZURE, "costInBillingCurrency", "date", "meterCategory",
           "EUR", "2026-03-11", "2026-03-14"),
    Sample("gcp.csv", GCP, "cost", "usage_start_time", "service.description", "EUR",
           "2026-03-02 00:00", "2026-03-02 02:00"),
    Sample("oci.csv", OCI, "cost/myCost", "lineItem/intervalUsageStart", "product/service", "GBP",
           "2026-03-02 00:00", "2026-03-02 03:00"),
]  # fmt: skip
IDS = [sample.file for sample in SAMPLES]
FORMATS = {sample.file: sample.format for sample in SAMPLES}


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8-sig") as handle:
        return list(csv.DictReader(handle))


def _independent_total(path: Path, cost: str) -> Decimal:
    total = Decimal(0)
    for row in _rows(path):
        total += Decimal(row[cost])
        if row.get("credits"):
            total += sum(
                (Decimal(str(c["amount"])) for c in json.loads(row["credits"])), Decimal(0)
            )
    return total


def _claims(path: Path) -> list[str]:
    formats = {f.name: f for f in (*COST_FORMATS.values(), *NATIVE)}
    return sorted(name for name, f in formats.items() if f.detect(read_header(path)))


@pytest.mark.parametrize("sample", SAMPLES, ids=IDS)
def test_each_sample_is_its_format_alone_and_totals_match(sample: Sample) -> None:
    path = COST / sample.file
    assert _claims(path) == [sample.format.name]
    loaded = sample.format.load(path)
    frame = loaded.frame
    assert tuple(frame.columns[: len(COST_COLUMNS)]) == COST_COLUMNS
    assert all(column.startswith("x_") for column in frame.columns[len(COST_COLUMNS) :])
    assert loaded.rows == len(_rows(path)) == len(frame)
    assert loaded.warnings == []
    assert frame["BilledCost"].sum() == pytest.approx(
        float(_independent_total(path, sample.cost)), abs=1e-9
    )
    assert set(frame["BillingCurrency"]) == {sample.currency}
    assert frame["ChargePeriodStart"].min() == pd.Timestamp(sample.start, tz="UTC")
    assert frame["ChargePeriodEnd"].max() == pd.Timestamp(sample.end, tz="UTC")
    assert all(isinstance(tags, dict) for tags in frame["Tags"])


@corpus
@pytest.mark.corpus
def test_the_real_cur_sample_loads_with_its_unblended_total() -> None:
    assert _claims(CUR_SAMPLE) == ["aws-cur"]
    loaded = AWS_CUR.load(CUR_SAMPLE)
    assert loaded.rows == len(_rows(CUR_SAMPLE))
    expected = _independent_total(CUR_SAMPLE, "lineItem/UnblendedCost")
    assert loaded.frame["BilledCost"].sum() == pytest.approx(float(expected), abs=1e-9)
    assert set(loaded.frame["BillingCurrency"]) == {"USD"}
    assert (loaded.frame["ResourceId"] == "").all()  # the sample was exported without IDs


@corpus
@pytest.mark.corpus
@pytest.mark.parametrize(
    "export", ["focus/FOCUS-1.0_focus_sample.csv", "opencost/export-sample.csv"]
)
def test_no_native_format_claims_focus_or_opencost(export: str) -> None:
    header = read_header(CORPUS / export)
    assert [f.name for f in NATIVE if f.detect(header)] == []


def test_amortized_cost_follows_the_line_item_type() -> None:
    frame = AWS_CUR.load(COST / "aws-cur.csv").frame.set_index("x_LineItemType")
    effective = frame.groupby(level=0)["EffectiveCost"].sum()
    assert effective["DiscountedUsage"] == pytest.approx(5.52)
    assert effective["RIFee"] == 0  # nothing of the reservation went unused
    assert effective["Fee"] == 0  # the upfront purchase is amortized into DiscountedUsage
    assert effective["SavingsPlanNegation"] == 0
    assert effective["SavingsPlanCoveredUsage"] == pytest.approx(1.3601 + 0.2987)
    assert effective["SavingsPlanRecurringFee"] == pytest.approx(2.4 - 1.6588)
    assert frame["EffectiveCost"].sum() == pytest.approx(21.3272845)


UNITS = [
    # Fargate's "GB" is 1024 MiB, so its GB-Hours are GiB-Hours as they are.
    ("aws-cur.csv", "x_UsageType", "USE1-Fargate-GB-Hours", 96.0, "GiB-Hours"),
    ("aws-cur.csv", "x_UsageType", "USE1-Fargate-vCPU-Hours:perCPU", 48.0, "vCPU-Hours"),
    ("aws-cur.csv", "x_UsageType", "USE1-Fargate-EphemeralStorage-GB-Hours", 480.0, "hours"),
    ("aws-cur2.csv", "x_UsageType", "EU-Fargate-GB-Hours", 1.0, "GiB-Hours"),
    # Azure's "GB" is not documented as binary: 8 GB is 7.45 GiB.
    ("azure-ea-legacy.csv", "x_MeterName", "Standard Memory Duration", 7.450581, "GiB-Hours"),
    ("azure-ea-legacy.csv", "x_MeterName", "Standard vCPU Duration", 2.0, "vCPU-Hours"),
    ("azure-ea-legacy.csv", "x_MeterName", "D4s v3", 0.24, "100 Hours"),
    ("azure-ea.csv", "x_MeterName", "Standard vCPU Active Usage", 24.0, "vCPU-Hours"),
    ("azure-ea.csv", "x_MeterName", "D8s v5", 48.0, "1 Hour"),
    ("gcp.csv", "x_SkuDescription", "N2 Instance Core running in Belgium", 2.0, "vCPU-Hours"),
    ("gcp.csv", "x_SkuDescription", "N2 Instance Ram running in Belgium", 8.0, "GiB-Hours"),
    ("gcp.csv", "x_SkuDescription", "Autopilot Pod mCPU Requests (europe-west1)", 0.5,
     "vCPU-Hours"),
    ("gcp.csv", "x_SkuDescription", "Licensing Fee for Ubuntu Pro (CPU cost)", 3600.0, "seconds"),
    ("gcp.csv", "x_SkuDescription", "Storage PD Capacity", 386547056640000.0, "byte-seconds"),
    ("oci.csv", "x_Description", "Compute - Standard - E5 - Memory", 16.0, "GiB-Hours"),
    ("oci.csv", "x_Description", "Compute - Standard - E5 - OCPU", 2.0, "ONE HOURS OCPUS"),
]  # fmt: skip


@pytest.mark.parametrize(("file", "column", "value", "quantity", "unit"), UNITS)
def test_cpu_and_memory_time_read_vcpu_hours_and_gib_hours_and_nothing_else_does(
    file, column, value, quantity, unit
) -> None:
    frame = FORMATS[file].load(COST / file).frame
    row = frame[frame[column] == value].iloc[0]
    assert (row["ConsumedQuantity"], row["ConsumedUnit"]) == (pytest.approx(quantity), unit)


TAGS = [
    ("aws-cur.csv", 17, {"environment": "prod", "team": "web"}),
    ("aws-cur.csv", 0, {"aws:eks:cluster-name": "prod-eks", "environment": "prod",
                        "team": "checkout"}),
    ("aws-cur2.csv", 0, {"environment": "staging", "team": "payments"}),
    ("azure-ea-legacy.csv", 0, {"environment": "prod", "team": "checkout"}),
    ("azure-ea.csv", 0, {"environment": "prod", "team": "web", "aks-managed-poolName": "system"}),
    ("azure-mca-amortized.csv", 12, {}),
    ("gcp.csv", 4, {"goog-k8s-cluster-name": "autopilot-prod"}),
    ("oci.csv", 9, {"Finance.CostCenter": "CC-2201", "team": "platform"}),
]  # fmt: skip


@pytest.mark.parametrize(("file", "row", "tags"), TAGS)
def test_tags_are_plain_dicts_whatever_their_spelling(file, row, tags) -> None:
    assert FORMATS[file].load(COST / file).frame["Tags"][row] == tags


def test_gcp_credits_are_in_billed_cost_and_kept_beside_it() -> None:
    frame = GCP.load(COST / "gcp.csv").frame
    assert frame["x_Credits"].sum() == pytest.approx(-0.222846)
    assert frame["x_Cost"].sum() == pytest.approx(1.155402)
    assert (frame["BilledCost"] == frame["x_Cost"] + frame["x_Credits"]).all()


def test_cur2_as_parquet_reads_its_tag_map(tmp_path) -> None:
    table = pa.table(
        {
            "line_item_usage_start_date": pa.array(
                [pd.Timestamp("2026-03-02")], pa.timestamp("ms")
            ),
            "line_item_usage_end_date": pa.array([pd.Timestamp("2026-03-03")], pa.timestamp("ms")),
            "line_item_unblended_cost": [1.25],
            "line_item_currency_code": ["USD"],
            "line_item_product_code": ["AmazonEKS"],
            "resource_tags": pa.array(
                [[("user_team", "search")]], pa.map_(pa.string(), pa.string())
            ),
        }
    )
    path = tmp_path / "cur2.parquet"
    pq.write_table(table, path)
    frame = AWS_CUR2.load(path).frame
    assert frame["Tags"][0] == {"team": "search"}
    assert frame["ChargePeriodStart"][0] == pd.Timestamp("2026-03-02", tz="UTC")


# --- broken copies --------------------------------------------------------------------------


def _copy(tmp_path: Path, sample: Sample, change, encoding_marker: str | None = None) -> Path:
    rows = _rows(COST / sample.file)
    header = list(rows[0])
    header, body = change(header, [[row[name] for name in header] for row in rows])
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(body)
    data = out.getvalue().encode()
    if encoding_marker:
        data = data.replace(encoding_marker.encode(), b"Caf\xe9")
    path = tmp_path / sample.file
    path.write_bytes(data)
    return path


def _error(sample: Sample, path: Path) -> InputError:
    with pytest.raises(InputError) as error:
        sample.format.load(path)
    return error.value


@pytest.mark.parametrize("sample", SAMPLES, ids=IDS)
def test_a_deleted_or_misspelt_cost_column_is_named_on_the_header_line(tmp_path, sample) -> None:
    def delete(header, body):
        keep = [i for i, name in enumerate(header) if name != sample.cost]
        return [header[i] for i in keep], [[row[i] for i in keep] for row in body]

    error = _error(sample, _copy(tmp_path, sample, delete))
    assert error.where == f"{tmp_path / sample.file}:1"
    assert sample.cost.lower() in error.problem.lower()

    misspelt = sample.cost[:-2] + sample.cost[-1] + sample.cost[-2]
    error = _error(
        sample,
        _copy(tmp_path, sample, lambda h, b: ([misspelt if n == sample.cost else n for n in h], b)),
    )
    assert error.where == f"{tmp_path / sample.file}:1"
    assert f"did you mean {misspelt!r}" in error.problem


def _set(column: str, row: int, value: str):
    def change(header, body):
        body[row][header.index(column)] = value
        return header, body

    return change


@pytest.mark.parametrize("sample", SAMPLES, ids=IDS)
def test_a_bad_cost_or_date_names_its_line_and_column(tmp_path, sample) -> None:
    error = _error(sample, _copy(tmp_path, sample, _set(sample.cost, 2, "twelve")))
    assert error.where == f"{tmp_path / sample.file}:4"
    assert f"column {sample.cost}: 'twelve'" in error.problem

    error = _error(sample, _copy(tmp_path, sample, _set(sample.date, 1, "yesterday")))
    assert error.where == f"{tmp_path / sample.file}:3"
    assert f"column {sample.date}: 'yesterday'" in error.problem


@pytest.mark.parametrize("sample", SAMPLES, ids=IDS)
def test_an_extra_field_or_invalid_utf8_names_its_line_and_column(tmp_path, sample) -> None:
    def extra(header, body):
        body[4].append("surplus")
        return header, body

    error = _error(sample, _copy(tmp_path, sample, extra))
    assert error.where == f"{tmp_path / sample.file}:6"
    last_column = list(_rows(COST / sample.file)[0])[-1]
    assert f"'surplus' comes after the last column, {last_column}" in error.problem

    path = _copy(tmp_path, sample, _set(sample.text, 3, "MARKER"), encoding_marker="MARKER")
    error = _error(sample, path)
    assert error.where == f"{path}:5"
    assert f"column {sample.text}: not UTF-8" in error.problem


AZURE_EA = SAMPLES[3]


def test_azure_dates_mixing_us_and_iso_are_refused_at_the_line(tmp_path) -> None:
    error = _error(AZURE_EA, _copy(tmp_path, AZURE_EA, _set("Date", 5, "2026-03-03")))
    assert error.where == f"{tmp_path / AZURE_EA.file}:7"
    assert "column Date: '2026-03-03'" in error.problem and "03/02/2026" in error.problem


def test_azure_ambiguous_dates_are_month_first_and_a_day_above_12_proves_day_first(tmp_path):
    assert AZURE.load(COST / AZURE_EA.file).frame["ChargePeriodStart"][0] == pd.Timestamp(
        "2026-03-02", tz="UTC"
    )
    path = _copy(tmp_path, AZURE_EA, _set("Date", 4, "13/03/2026"))
    loaded = AZURE.load(path)
    assert loaded.frame["ChargePeriodStart"][4] == pd.Timestamp("2026-03-13", tz="UTC")
    assert loaded.frame["ChargePeriodStart"][0] == pd.Timestamp("2026-02-03", tz="UTC")
    assert loaded.warnings == [
        f"{path}:6: column Date: '13/03/2026' has a day above 12 first, "
        "so the file's dates are read as DD/MM/YYYY"
    ]

    def contradict(header, body):
        body[4][header.index("Date")] = "13/03/2026"
        body[7][header.index("Date")] = "03/14/2026"
        return header, body

    error = _error(AZURE_EA, _copy(tmp_path, AZURE_EA, contradict))
    assert error.where == f"{tmp_path / AZURE_EA.file}:9"


def test_azure_plain_cost_column_without_a_currency_loads_with_a_warning(tmp_path) -> None:
    legacy = SAMPLES[2]

    def older(header, body):
        keep = [i for i, name in enumerate(header) if name != "Currency"]
        renamed = ["Cost" if name == "PreTaxCost" else name for name in header]
        return [renamed[i] for i in keep], [[row[i] for i in keep] for row in body]

    path = _copy(tmp_path, legacy, older)
    loaded = AZURE.load(path)
    assert loaded.frame["BilledCost"].sum() == pytest.approx(11.368928)
    assert loaded.warnings == [f"{path}: no currency column; BillingCurrency is left empty"]


def test_empty_and_mixed_currencies_are_warnings(tmp_path) -> None:
    gcp = SAMPLES[5]
    path = _copy(tmp_path, gcp, _set("currency", 3, ""))
    loaded = GCP.load(path)
    assert set(loaded.frame["BillingCurrency"]) == {"EUR"}
    assert loaded.warnings == [
        f"{path}:5: 1 row(s) have an empty currency; taken as EUR, the file's only currency"
    ]
    path = _copy(tmp_path, gcp, _set("currency", 3, "USD"))
    assert GCP.load(path).warnings == [
        f"{path}: column currency mixes currencies (EUR, USD); "
        "costs are kept in their own currency, not converted"
    ]
