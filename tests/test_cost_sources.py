"""FOCUS and OpenCost cost data: detected from the header, and every corruption reported by place.

The corrupted copies are made here from real public exports (fixtures/cost/public), one fault
each, so each error message is checked against the file and line that holds the fault.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from recommenders.errors import InputError
from recommenders.sources.registry import load_cost, load_utilisation
from tests.conftest import FIXTURES

PUBLIC = FIXTURES / "cost" / "public"
FOCUS = PUBLIC / "focus-1.0-sample-20.csv"
OPENCOST = PUBLIC / "export-sample.csv"
ALLOCATION = PUBLIC / "allocation-example-output.json"


def _rows(path: Path) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8-sig") as handle:
        return list(csv.reader(handle))


def _write(tmp_path: Path, rows: list[list[str]], name: str) -> Path:
    path = tmp_path / name
    with path.open("w", newline="") as handle:
        csv.writer(handle).writerows(rows)
    return path


def _set(rows: list[list[str]], line: int, column: str, value: str) -> list[list[str]]:
    changed = [list(row) for row in rows]
    changed[line - 1][rows[0].index(column)] = value
    return changed


@pytest.mark.parametrize(
    ("source", "expected"),
    [(FOCUS, "focus"), (OPENCOST, "opencost"), (ALLOCATION, "opencost-allocation")],
)
def test_formats_are_detected_from_the_header(source, expected):
    assert load_cost(source).format == expected


@pytest.mark.parametrize(
    ("source", "line", "column", "value", "problem"),
    [
        (FOCUS, 7, "BilledCost", "12,50", "column BilledCost: '12,50' is not a number"),
        (FOCUS, 4, "ChargePeriodStart", "18/09/2024", "column ChargePeriodStart: '18/09/2024'"),
        (FOCUS, 3, "ChargePeriodEnd", "2024-09-18T23:00:00+02:00", "mixes time zones"),
        (FOCUS, 9, "Tags", "application=web", "column Tags: 'application=web' is not JSON"),
        (OPENCOST, 3, "CPUCost", "", "column CPUCost: '' is not a number"),
        (OPENCOST, 2, "CPUCoreUsageAverage", "-0.1", "is not a non-negative number"),
        (OPENCOST, 2, "Labels", "app=opencost", "column Labels: 'app=opencost' is not JSON"),
        (OPENCOST, 3, "Date", "01/02/2023", "column Date: '01/02/2023' is not a timestamp"),
    ],
)
def test_a_corrupted_cell_is_reported_by_line_and_column(
    tmp_path, source, line, column, value, problem
):
    path = _write(tmp_path, _set(_rows(source), line, column, value), source.name)
    with pytest.raises(InputError) as error:
        load_cost(path)
    assert error.value.where == f"{path}:{line}"
    assert problem in error.value.problem


@pytest.mark.parametrize("source", [FOCUS, OPENCOST])
def test_a_missing_or_misspelt_column_is_named(tmp_path, source):
    rows = _rows(source)
    required = "BilledCost" if source is FOCUS else "CPUCost"
    misspelt = [[cell if cell != required else required.lower() for cell in rows[0]], *rows[1:]]
    path = _write(tmp_path, misspelt, source.name)
    with pytest.raises(InputError) as error:
        load_cost(path, "focus" if source is FOCUS else "opencost")
    assert error.value.where == f"{path}:1"
    assert f"missing column(s) {required}" in error.value.problem
    assert f"did you mean {required.lower()!r}" in error.value.problem


def test_a_row_with_an_extra_field_names_its_line(tmp_path):
    rows = _rows(OPENCOST)
    rows[2].append("surplus")
    path = _write(tmp_path, rows, "export.csv")
    with pytest.raises(InputError) as error:
        load_cost(path)
    assert error.value.where == f"{path}:3"
    assert "has 24 fields where the header has 23" in error.value.problem


def test_invalid_utf8_is_named(tmp_path):
    path = tmp_path / "export.csv"
    path.write_bytes(OPENCOST.read_bytes().replace(b"my-team", b"my-t\xe9am", 1))
    with pytest.raises(InputError, match=r"not UTF-8"):
        load_cost(path)


def test_broken_allocation_json_names_line_and_field(tmp_path):
    text = ALLOCATION.read_text()
    truncated = tmp_path / "truncated.json"
    truncated.write_text(text[: len(text) // 2])
    with pytest.raises(InputError) as error:
        load_cost(truncated, "opencost-allocation")
    assert error.value.where.startswith(f"{truncated}:") and "not valid JSON" in error.value.problem
    document = json.loads(text)
    document["data"][0]["opencost"]["cpuCost"] = "cheap"
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps(document))
    with pytest.raises(InputError, match=r"data\[0\]\.opencost\.cpuCost: 'cheap' is not a number"):
        load_cost(wrong)


def test_opencost_usage_maps_pods_to_their_controller_and_lists_bare_pods(tmp_path):
    rows = _rows(OPENCOST)
    bare = _set(rows, 3, "ControllerName", "")
    bare = _set(bare, 3, "Pod", "debug-shell")
    usage = load_utilisation(_write(tmp_path, bare, "export.csv"))
    assert set(usage.frame["workload"]) == {"opencost"}
    assert any("opencost/debug-shell" in warning for warning in usage.warnings)
    replicas = usage.frame[usage.frame["metric"] == "replicas"]
    assert replicas["value"].tolist() == [1.0]
