"""`rightsizer plan`'s output: every format carries the same rows, a table fits 100 columns
without cutting a name, filters keep the rows they name, and --output writes a whole file."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
from dataclasses import replace
from html.parser import HTMLParser

from rich.console import Console
from ruamel.yaml import YAML

from bot.report import (
    plan_as_json,
    plan_csv,
    plan_html,
    plan_yaml,
    print_inventory,
    print_plan,
)
from recommenders.progress import reporting
from tests.conftest import (
    COST,
    EXPORTS_AS_OF,
    MONOREPO,
    ROOT,
    UTILISATION,
    demo_plan,
    make_repo,
    rightsizer,
)


def test_csv_and_yaml_carry_the_json_contract_row_for_row(planned):
    _, plan = planned
    rows = plan_as_json(plan)
    assert len(rows) > 20
    from_yaml = YAML(typ="safe").load(plan_yaml(plan))
    assert from_yaml == rows
    from_csv = list(csv.DictReader(io.StringIO(plan_csv(plan))))
    assert [row["field"] for row in from_csv] == [row["field"] for row in rows]
    assert [row["proposed"] for row in from_csv] == [str(row["proposed"]) for row in rows]
    reasons = [row["reasons"] for row in from_csv]
    assert reasons == [
        "; ".join(f"{r['rule']}: {r['text']}" for r in row["reasons"]) for row in rows
    ]


def test_names_from_the_repository_are_inert_in_csv_and_html(planned):
    """A workload named like a spreadsheet formula or like HTML stays text: CSV cells that a
    spreadsheet would run start with `'`, and the page escapes everything."""
    _, plan = planned
    change = plan.changes[0]
    hostile = '=HYPERLINK("http://evil.example")<img src=x>'
    workload = replace(change.workload, name=hostile)
    plan = replace(plan, changes=[replace(change, workload=workload), *plan.changes[1:]])
    (row, *_) = csv.DictReader(io.StringIO(plan_csv(plan)))
    assert row["name"] == "'" + hostile
    assert row["monthly_cost_delta"] == str(plan_as_json(plan)[0]["monthly_cost_delta"])
    page = plan_html(plan, show_skipped=True)
    assert "<img" not in page and "&lt;img src=x&gt;" in page


class _Cells(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self.rows[-1].append("")

    def handle_data(self, data: str) -> None:
        if self.rows and self.rows[-1] and "td" in self.tags[-2:]:
            self.rows[-1][-1] += data


def test_html_is_one_page_with_a_row_per_shown_change_and_nothing_live(planned):
    _, plan = planned
    page = plan_html(plan, show_skipped=False)
    parser = _Cells()
    parser.feed(page)
    applied = [c for c in plan.changes if c.decision.action != "skip"]
    assert len(parser.rows) - 1 == len(applied)  # the header, then a row per change
    assert [row[3] for row in parser.rows[1:]] == [c.field for c in applied]
    skipped = len(plan.changes) - len(applied)
    assert f"{skipped} skipped rows not shown" in page
    assert "<script" not in page and "http" not in page.replace("http-equiv", "")
    assert len(_cells(plan_html(plan, show_skipped=True))) - 1 == len(plan.changes)


def _cells(page: str) -> list[list[str]]:
    parser = _Cells()
    parser.feed(page)
    return parser.rows


def test_the_table_fits_100_columns_and_every_name_is_whole(planned):
    _, plan = planned
    console = Console(file=io.StringIO(), width=100, color_system=None)
    print_plan(console, plan, show_skipped=False)
    text = console.file.getvalue()
    tables = text.split("Total:")[0]
    assert max(len(line) for line in tables.splitlines()) <= 100
    assert "…" not in tables
    names, fields = _column(tables, 0), _column(tables, 1)
    for change in plan.changes:
        if change.decision.action != "skip":
            assert change.workload.name in names and change.field in fields
    skipped = sum(c.decision.action == "skip" for c in plan.changes)
    assert f"{skipped} skipped rows not shown (--show-skipped)." in text


def test_the_inventory_table_fits_100_columns_without_cutting_a_name(planned):
    _, plan = planned
    console = Console(file=io.StringIO(), width=100, color_system=None)
    print_inventory(console, plan.inventory)
    text = console.file.getvalue()
    assert max(len(line) for line in text.splitlines()) <= 100 and "…" not in text
    workloads = _column(text, 1)
    for workload in plan.inventory.workloads:
        assert f"{workload.namespace}/{workload.ref}" in workloads  # folded, read whole again


def _column(table: str, index: int) -> str:
    """Column `index` of a drawn table, its cells' lines joined: a folded name reads whole."""
    rows = [line.split("│") for line in table.splitlines() if line.startswith("│")]
    return "".join(row[index + 1].strip() for row in rows)


def test_filters_keep_the_rows_they_name_and_output_writes_the_file(planned, tmp_path):
    repo, plan = planned
    target = tmp_path / "prod-payments.json"
    result = rightsizer(
        "plan", "--repo", repo, "--utilisation", UTILISATION, "--cost", COST,
        "--format", "json", "--environment", "prod", "--workload", "Deployment/payments",
        "--workload", "search", "--output", target,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""  # the plan went to the file
    rows = json.loads(target.read_text())
    assert {(r["environment_name"], r["name"]) for r in rows} == {
        ("prod", "payments"),
        ("prod", "search"),
    }
    expected = [
        r for r in plan_as_json(plan)
        if r["environment_name"] == "prod" and r["name"] in {"payments", "search"}
    ]  # fmt: skip
    assert rows == expected
    assert not list(tmp_path.glob(".*.partial"))  # written beside, then moved over
    namespace = rightsizer(
        "plan", "--repo", repo, "--utilisation", UTILISATION, "--cost", COST,
        "--format", "csv", "--namespace", "checkout",
    )  # fmt: skip
    found = {row["namespace"] for row in csv.DictReader(io.StringIO(namespace.stdout))}
    assert namespace.returncode == 0 and found == {"checkout"}


def test_an_output_file_that_cannot_be_written_is_named(planned, tmp_path):
    repo, _ = planned
    result = rightsizer(
        "plan", "--repo", repo, "--utilisation", UTILISATION, "--cost", COST,
        "--output", tmp_path / "no-such-directory" / "plan.txt",
    )  # fmt: skip
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "no-such-directory/plan.txt: cannot be written" in result.stderr


def test_long_work_tells_its_counts_up_to_each_total(tmp_path):
    """What a terminal's bars are drawn from: every series forecast and every workload
    sized, counted up to the number there are; nothing is told with nobody listening."""
    repo = make_repo(MONOREPO, tmp_path / "monorepo")
    told: dict[str, list[tuple[int, int]]] = {}
    with reporting(lambda what, done, total: told.setdefault(what, []).append((done, total))):
        plan = demo_plan(repo)
    assert set(told) == {"Forecasting series", "Sizing workloads"}
    for counts in told.values():
        dones = [done for done, _ in counts]
        (total,) = {total for _, total in counts}
        assert dones == sorted(dones) and dones[-1] == total  # up to the end, never back
    assert told["Sizing workloads"][-1][1] == len(plan.recommendations)
    series = sum(len(r.charts) for r in plan.recommendations.values())  # a chart per series
    assert told["Forecasting series"][-1][1] == series


def test_a_terminal_sees_the_bars_and_a_pipe_does_not(planned, tmp_path):
    repo, _ = planned
    command = (
        f"{sys.executable} -m bot.cli plan --repo {repo} --utilisation {UTILISATION} "
        f"--cost {COST} --format json --output {tmp_path / 'plan.json'}"
    )
    env = {**os.environ, "RIGHTSIZER_AS_OF": EXPORTS_AS_OF, "COLUMNS": "100", "TERM": "xterm"}
    on_a_terminal = subprocess.run(
        ["script", "-qec", command, "/dev/null"], cwd=ROOT, env=env,
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert on_a_terminal.returncode == 0, on_a_terminal.stdout[-2000:]
    assert re.search(r"Forecasting series .*\d+/\d+", on_a_terminal.stdout)
    piped = rightsizer(
        "plan", "--repo", repo, "--utilisation", UTILISATION, "--cost", COST,
        "--format", "json", "--output", tmp_path / "again.json",
    )  # fmt: skip
    assert piped.returncode == 0 and "Forecasting" not in piped.stderr
