"""The public exports in ../shared/corpus load, and their totals match sums made here by hand.

Totals are recomputed with the csv/json modules and Decimal, not with the loaders' pandas
code, so a loader that drops, doubles or misreads a row fails.
"""

from __future__ import annotations

import csv
import json
from datetime import datetime, timedelta
from decimal import Decimal
from itertools import pairwise
from pathlib import Path

import pytest

from recommenders.errors import InputError
from recommenders.sources.prices import unit_prices
from recommenders.sources.registry import load_cost, load_utilisation
from recommenders.sources.summary import summarise_cost, summarise_usage
from tests.conftest import ROOT, rightsizer

CORPUS = ROOT.parent / "shared" / "corpus"
FOCUS = CORPUS / "cost" / "focus" / "FOCUS-1.0_focus_sample.csv"
OPENCOST_CSV = CORPUS / "cost" / "opencost" / "export-sample.csv"
OPENCOST_JSON = CORPUS / "cost" / "opencost" / "allocation-example-output.json"
NAB = CORPUS / "utilisation" / "nab_realAWSCloudwatch"

pytestmark = [
    pytest.mark.corpus,
    pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/corpus is not beside the checkout"),
]


def _csv_sum(path: Path, column: str) -> Decimal:
    with path.open(newline="", encoding="utf-8-sig") as handle:
        return sum(
            (Decimal(row[column]) for row in csv.DictReader(handle) if row[column] != "NULL"),
            Decimal(0),
        )


def test_focus_sample_total_currency_and_period():
    summary = summarise_cost(load_cost(FOCUS))
    assert summary.format == "focus" and summary.rows == 1000
    assert Decimal(str(summary.total_cost)) == _csv_sum(FOCUS, "BilledCost").quantize(
        Decimal("0.000001")
    )
    assert summary.currency == "USD"
    with FOCUS.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert summary.start == min(r["ChargePeriodStart"] for r in rows).replace(" ", "T") + "Z"
    assert summary.end == max(r["ChargePeriodEnd"] for r in rows).replace(" ", "T") + "Z"


def test_focus_sample_prices_only_from_lines_billed_per_vcpu_and_gib_hour():
    prices, notes = unit_prices([load_cost(FOCUS)])
    with FOCUS.open(newline="") as handle:
        units = {row["ConsumedUnit"] for row in csv.DictReader(handle)}
    # The sample bills 2 lines in vCPU-Hours and none in GiB-Hours: no full price can be set.
    assert "vCPU-Hours" in units
    assert prices == {}
    assert any("no GiB-Hours to price" in note for note in notes)


def test_opencost_csv_export_as_cost_and_as_usage():
    cost = summarise_cost(load_cost(OPENCOST_CSV))
    assert cost.format == "opencost" and cost.rows == 2
    assert Decimal(str(cost.total_cost)) == _csv_sum(OPENCOST_CSV, "TotalCost").quantize(
        Decimal("0.000001")
    )
    assert cost.workloads == 1
    usage = load_utilisation(OPENCOST_CSV)
    cpu = usage.frame[usage.frame["metric"] == "cpu_cores"]["value"]
    with OPENCOST_CSV.open(newline="") as handle:
        expected = [float(row["CPUCoreUsageAverage"]) for row in csv.DictReader(handle)]
    assert cpu.tolist() == expected
    assert set(usage.frame["kind"]) == {"Deployment"}


def test_opencost_allocation_json_totals_and_what_it_cannot_map():
    document = json.loads(OPENCOST_JSON.read_text())
    allocations = [a for step in document["data"] for a in step.values()]
    cost = load_cost(OPENCOST_JSON)
    summary = summarise_cost(cost)
    assert summary.format == "opencost-allocation"
    assert summary.total_cost == pytest.approx(sum(a["totalCost"] for a in allocations), abs=1e-6)
    cpu = cost.frame[cost.frame["ConsumedUnit"] == "vCPU-Hours"]
    assert cpu["ConsumedQuantity"].sum() == pytest.approx(
        sum(a["cpuCoreHours"] for a in allocations)
    )
    prices, _ = unit_prices([cost])
    total_cpu = sum(a["cpuCost"] for a in allocations) / sum(a["cpuCoreHours"] for a in allocations)
    assert prices["default-cluster"].cpu_core_hour == pytest.approx(total_cpu)
    usage = load_utilisation(OPENCOST_JSON)
    assert usage.frame.empty  # aggregated by namespace/controller: no per-pod usage to read
    assert any("no controller" in w and "kube-system" in w for w in usage.warnings)


@pytest.mark.parametrize(
    "series", sorted(p.name for p in NAB.glob("*.csv")) if NAB.is_dir() else []
)
def test_a_real_cloudwatch_series_keeps_every_sample_and_counts_its_gaps(series, tmp_path):
    source = NAB / series
    with source.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    # CPU % becomes cores of a one-core pod; byte and count series become memory above a
    # 256 MiB floor, so that each lands in a metric whose unit checks it passes.
    if "cpu" in series:
        metric, scale, offset = "cpu_cores", Decimal("0.01"), Decimal("0.001")
    else:
        metric, scale, offset = "memory_bytes", Decimal(1), Decimal(256 * 2**20)
    path = tmp_path / "usage.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["timestamp", "cluster", "namespace", "kind", "workload", "container",
                         "metric", "value"])  # fmt: skip
        for row in rows:
            value = str(Decimal(row["value"]) * scale + offset)
            writer.writerow([row["timestamp"], "prod", "shop", "Deployment", "api", "api",
                             metric, value])  # fmt: skip
    stamps = [datetime.fromisoformat(row["timestamp"]) for row in rows]
    repeated = next((i for i in range(1, len(stamps)) if stamps[i] in stamps[i - 12 : i]), None)
    if repeated is not None:
        # ec2_disk_write_bytes repeats 03:00 twelve times where US clocks skipped an hour on
        # 2014-03-09: a real export's DST artefact, which must be refused, not averaged away.
        with pytest.raises(InputError) as error:
            load_utilisation(path)
        assert error.value.where == f"{path}:{repeated + 2}"
        assert f"second value at {stamps[repeated]:%Y-%m-%dT%H:%M:%SZ}" in error.value.problem
        return
    usage = load_utilisation(path)
    summary = summarise_usage(usage)
    step = timedelta(minutes=5)
    missing = sum(round((b - a) / step) - 1 for a, b in pairwise(stamps) if b - a > step)
    assert summary.rows == len(rows) and summary.workloads == 1
    assert summary.start == stamps[0].strftime("%Y-%m-%dT%H:%M:%SZ")
    assert summary.end == stamps[-1].strftime("%Y-%m-%dT%H:%M:%SZ")
    assert summary.gaps == missing
    assert bool(usage.warnings) == (missing > 0)
    expected = sum(Decimal(row["value"]) * scale + offset for row in rows)
    assert float(usage.frame["value"].sum()) == pytest.approx(float(expected), rel=1e-12)


def test_sources_check_json_contract_from_the_command_line():
    result = rightsizer(
        "sources", "check", "--cost", FOCUS, "--cost", OPENCOST_JSON, "--utilisation",
        OPENCOST_CSV, "--format", "json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    summaries = json.loads(result.stdout)
    assert [s["format"] for s in summaries] == ["opencost", "focus", "opencost-allocation"]
    for summary in summaries:
        assert {"rows", "workloads", "start", "end", "total_cost", "currency", "warnings"} <= set(
            summary
        )
    assert summaries[0]["total_cost"] is None and summaries[0]["kind"] == "utilisation"
    assert summaries[1]["total_cost"] == pytest.approx(float(_csv_sum(FOCUS, "BilledCost")))
