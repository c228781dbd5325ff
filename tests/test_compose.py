"""The PR text: tables, charts, the rendered diff, commands, metadata, overrides and size."""

from __future__ import annotations

import base64
import json
import os
import re
import zlib
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from bot.charts import COLOURS, PR_POINTS, pr_chart
from bot.compose import SUMMARY_LIMIT, compose
from bot.decisions.model import RuleHit
from bot.groups import Group
from bot.manifests.edit import plan_file_changes
from bot.manifests.quantities import parse_cpu
from bot.planner import Plan, workload_key
from bot.pr_metadata import ProposedValue, PullRequestMetadata, metadata_for, read_metadata
from bot.proof import ObjectDiff, prove
from recommenders.errors import InputError
from recommenders.model import ContainerResources, UsageChart
from recommenders.strategies.base import Sizing
from recommenders.strategies.workload import CHART_POINTS, usage_chart

COMMANDS = [
    "/rightsizer rerun",
    "/rightsizer ignore <workload>",
    "/rightsizer snooze <workload> <days>",
    "/rightsizer pin <workload> <field>=<value>",
    "/rightsizer explain <workload>",
]
MERMAID = re.compile(r"```mermaid\n%%\{init:.*\}%%\n(xychart-beta\n.*?)```", re.S)


def _group(plan: Plan, environment: str | None = None, name: str = "") -> Group:
    changes = [c for c in plan.changes if environment in (None, c.workload.environment)]
    name = name or environment or "all"
    return Group(name, f"rightsizer/{name}", tuple(changes))


def _charts(body: str) -> dict[str, dict[str, list[str]]]:
    """Each chart by its y-axis title, its series by kind (x-axis, bar, line) as lists of
    items."""
    found = {}
    for block in MERMAID.findall(body):
        title = re.search(r'y-axis "([^"]+)"', block).group(1)
        series: dict[str, list[str]] = {}
        for kind, items in re.findall(r"^ +(x-axis|bar|line) \[(.*)\]$", block, re.M):
            series.setdefault(kind, []).append(items)
        found[title] = series
    return found


def _details(body: str) -> dict[str, str]:
    """Each workload's collapsed details by its `<summary>`'s first words (`Kind/name`)."""
    return {
        block.split("<summary>")[1].split(" ")[0]: block
        for block in re.findall(r"<details><summary>\S+/.*?</details>", body, re.S)
    }


def test_each_workload_charts_its_costliest_request_in_a_few_labels(planned):
    _, plan = planned
    body = compose(_group(plan, "prod"), plan, "main").body
    details = _details(body)
    titles = {ref: list(_charts(block)) for ref, block in details.items()}
    flat = {
        ref: re.findall(r"^Usage steady, no chart: (.*)\.$", block, re.M)
        for ref, block in details.items()
    }
    # One chart a workload, of the request change worth the most dollars, in its details; the
    # container named only where the pod has several. Where the history is one flat band
    # (the fixture's steady services), its range in a line instead.
    assert titles == {
        "Deployment/catalog": [],
        "Deployment/checkout": ["checkout memory (MiB)"],  # the only request it changes
        "Deployment/payments": ["cpu (millicores)"],  # +$9.69 against +$0.77
        "Deployment/search": [],
        "Deployment/notifications": [],
    }
    assert flat == {
        "Deployment/catalog": ["cpu p95 per day 141–154 millicores"],  # -$23.07 against -$6.19
        "Deployment/checkout": [],
        "Deployment/payments": [],
        "Deployment/search": ["memory peak per day 792–884 MiB"],
        "Deployment/notifications": ["cpu p95 per day 150–167 millicores"],
    }
    assert body.index("| workload | field |") < body.index("<details>")  # the summary first
    payments = _charts(details["Deployment/payments"])["cpu (millicores)"]
    (labels,) = payments["x-axis"]
    labels = labels.split(",")
    assert len(labels) == PR_POINTS
    (observed,) = (items.split(",") for items in payments["bar"])
    assert len(observed) == len(labels) and "0" not in observed  # the history, no empty bars
    # 30 days in runs of four from the newest: the oldest run is the short one.
    assert labels[:3] == ['"10-28"', '"10-30"', '"11-03"'] and labels[-1] == '"11-23"'
    proposed, current = (set(items.split(",")) for items in payments["line"])
    written = next(
        c.proposed
        for c in plan.changes
        if (c.workload.environment, c.workload.name, c.field)
        == ("prod", "payments", "requests.cpu")
    )
    assert proposed == {f"{parse_cpu(written) * 1000:g}"}  # what the manifest gets, flat
    assert current == {"250"}
    # Each series in the colour its caption names, the proposed line apart from today's.
    block = details["Deployment/payments"]
    palette = re.search(r'"plotColorPalette":"([^"]+)"', block).group(1).split(",")
    assert palette == [COLOURS[role][0] for role in ("observed", "proposed", "current")]
    assert (
        "Bars (sky-blue): p95 per day, highest of every 4. Lines: proposed (green), today (pink)."
        in block
    )
    assert not any(ref.endswith("/frontend") for ref in details)  # nothing to change


def test_a_pr_chart_keeps_only_series_with_something_and_cuts_a_spike_with_a_note():
    labels = tuple(f"11-{day:02}" for day in range(1, 41))
    quiet = [120.0] * 30
    quiet[13] = 2400.0  # one day twenty times the rest, far above both requests
    chart = UsageChart(
        "cpu", "app", "millicores", "p95 per day", labels,
        (*quiet, *[None] * 10), (*[None] * 30, *[150.0] * 10), 500.0, 300.0,
    )  # fmt: skip
    drawn = pr_chart(chart, 300.0, "app cpu")
    assert drawn is not None and drawn.chart.labels[-1] == "11-27"  # the history, every 4th
    assert len(drawn.chart.labels) == PR_POINTS and min(drawn.series[0].values) == 120
    assert [(s.role, s.kind) for s in drawn.series] == [
        ("observed", "bar"), ("proposed", "line"), ("current", "line")
    ]  # fmt: skip
    assert drawn.flat is None  # a spike is no flat band
    assert 500 < drawn.top < 1000  # set by the requests and the quiet days, not the spike
    assert max(drawn.series[0].values) == drawn.top  # the spike is drawn at the top...
    assert [(cut.label, cut.value) for cut in drawn.cuts] == [("11-11", 2400.0)]  # ...and named
    # Unchanged, never observed, no forecast: one line, nothing else.
    idle = replace(chart, observed=(0.0,) * 40, forecast=(None,) * 40, proposed=500.0)
    drawn = pr_chart(idle, 500.0, "app cpu")
    assert drawn is not None and [s.role for s in drawn.series] == ["proposed"]
    assert drawn.palette == COLOURS["proposed"][0] and not drawn.cuts
    assert pr_chart(replace(idle, current=0.0), 0.0, "app cpu") is None  # nothing at all to draw
    # Days that stay within a tenth of the axis draw one band: said with the daily range, the
    # statistic as it was before the chart was made coarse.
    steady = replace(chart, observed=(*[120.0, 140.0, 130.0] * 10, *[None] * 10))
    assert pr_chart(steady, 300.0, "app cpu").flat == ("p95 per day", 120.0, 140.0)
    moving = replace(steady, observed=(*[120.0, 240.0, 130.0] * 10, *[None] * 10))
    assert pr_chart(moving, 300.0, "app cpu").flat is None
    # Read against the request the PR writes, not today's: a cut from 500 to 30 over days of
    # 10 to 50 is no steady band, though the axis up to today's 500 would squash it into one.
    swinging = replace(steady, observed=(*[10.0, 50.0, 30.0] * 10, *[None] * 10))
    assert pr_chart(swinging, 30.0, "app cpu").flat is None
    idle_days = replace(steady, observed=(*[0.0] * 30, *[None] * 10))
    assert pr_chart(idle_days, 300.0, "app cpu").flat is None  # no usage is not steady usage


def test_a_chart_made_coarse_keeps_the_newest_days_whole_and_each_run_s_highest():
    labels = tuple(f"d{i}" for i in range(38))
    observed = (*[float(i) for i in range(30)], *[None] * 8)
    chart = UsageChart(
        "memory", "app", "MiB", "peak per day", labels, observed,
        (*[None] * 30, *[7.0] * 8), 1.0, 1.0,
    )  # fmt: skip
    coarse = chart.coarse(14)
    assert len(coarse.labels) == 13 and coarse.statistic == "peak per day, highest of every 3"
    # 30 days in runs of three from the newest, then the 8 days ahead in runs of three.
    assert coarse.labels == ("d0", "d3", "d6", "d9", "d12", "d15", "d18", "d21", "d24", "d27",
                             "d30", "d33", "d36")  # fmt: skip
    assert coarse.observed[:10] == tuple(float(i + 2) for i in range(0, 30, 3))
    assert coarse.observed[10:] == (None,) * 3 and coarse.forecast[10:] == (7.0,) * 3
    uneven = replace(chart, observed=(*[1.0] * 31, *[None] * 7)).coarse(14)
    assert uneven.labels[:2] == ("d0", "d1")  # the oldest run is the short one
    assert chart.coarse(40) is chart


def test_the_chart_history_is_downsampled_to_fit_whatever_its_length():
    container = ContainerResources("app", {"cpu": 0.5}, {})
    sizing = Sizing(0.3, None, "basis", guard=0.25)
    for hours, width in [(24 * 120, "3 days"), (24 * 30, "day"), (36, "4 h")]:
        index = pd.date_range("2026-01-01", periods=hours, freq="1h", tz="UTC")
        series = pd.Series([0.1 + (i % 24) / 100 for i in range(hours)], index=index)
        chart = usage_chart(container, "cpu", series, sizing)
        assert chart is not None
        assert len(chart.labels) == len(chart.observed) == len(chart.forecast) <= CHART_POINTS
        assert chart.statistic == f"p95 per {width}"
        assert (chart.current, chart.proposed, chart.unit) == (500.0, 300.0, "millicores")
        assert {v for v in chart.forecast if v is not None} == {250.0}
        assert chart.observed[0] is not None and chart.observed[-1] is None
    assert usage_chart(container, "cpu", series, Sizing(0.3, None, "b")).forecast == (
        (None,) * len(chart.labels)
    )


def test_chart_buckets_are_what_resampling_gives_with_gaps_and_partial_days():
    rng = np.random.default_rng(3)
    container = ContainerResources("app", {"cpu": 0.5, "memory": 2**30}, {})
    for hours, start in [(24 * 45, "2026-01-01 07:00"), (50, "2026-03-01 23:00"), (1, "2026")]:
        index = pd.date_range(start, periods=hours, freq="1h", tz="UTC")
        series = pd.Series(rng.lognormal(0, 1, hours), index=index)
        series = series[rng.uniform(size=hours) > 0.3] if hours > 1 else series
        for metric in ("cpu", "memory"):
            chart = usage_chart(container, metric, series, Sizing(0.3, None, "b", guard=1))
            assert chart is not None
            width = pd.Timedelta(chart.statistic.split(" per ")[1].replace("day", "1 day"))
            buckets = series.resample(width, origin="start_day")
            expected = buckets.quantile(0.95) if metric == "cpu" else buckets.max()
            scale = 1000 if metric == "cpu" else 1 / 2**20
            shown = [None if np.isnan(v) else round(float(v) * scale, 1) for v in expected]
            history = chart.observed[: chart.forecast.count(None)]
            assert history == tuple(shown[-len(history) :]) and history[-1] is not None


def test_the_diff_section_shows_exactly_the_changed_lines(planned):
    repo, plan = planned
    group = _group(plan, "prod")
    payments = [c for c in group.applied if c.workload.name == "payments"]
    edits = [c.edit for c in payments]
    changes = plan_file_changes(plan.inventory, edits, repo)
    diff = prove(repo, plan.inventory, changes, edits)
    body = compose(group, plan, "main", diff=diff).body
    section = re.search(r"```diff\n(.*?)```", _details(body)["Deployment/payments"], re.S)
    assert section is not None and body.count("```diff") == 1  # in the workload's details
    lines = section.group(1).splitlines()
    # Hunks headed by the object (in its own environment's details), not by line ranges of
    # a render nobody has open.
    assert all(line == "@@ Deployment/payments @@" for line in lines if line.startswith("@@"))
    assert lines[0].startswith("@@") and not any(line.startswith(("---", "+++")) for line in lines)
    changed = sorted(line for line in lines if line[0] in "+-")
    expected = sorted(
        f"{sign}  {c.field.split('.')[1]}: {value}"
        for c in payments
        for sign, value in (("-", c.current), ("+", c.proposed))
    )
    assert changed == expected
    assert "-  cpu: 250m" in changed and "-  cpu: 500m" in changed
    # Shifted left by what the hunk's lines share: the parent at the margin, its keys under it.
    assert {line for line in lines if line[0] == " "} == {" limits:", " requests:"}


def test_metadata_is_the_last_line_and_reads_back_as_the_trailers_say(planned):
    _, plan = planned
    group = _group(plan, "prod")
    text = compose(group, plan, "main")
    assert text.body.rstrip("\n").splitlines()[-1] == text.metadata.render()
    assert read_metadata(text.body) == text.metadata == metadata_for(group)
    trailers = re.findall(r"^Rightsizer-Change: (.+) (\S+) -> (\S+)$", text.commit_message, re.M)
    assert [v.change for v in text.metadata.values] == [t[0] for t in trailers]
    for value, (_, old, new) in zip(text.metadata.values, trailers, strict=True):
        assert (value.current, value.proposed) == pytest.approx((float(old), float(new)))
    assert re.fullmatch(r"[0-9a-f]{16}", text.metadata.fingerprint)
    reordered = PullRequestMetadata("prod", tuple(reversed(text.metadata.values)))
    assert reordered.fingerprint == text.metadata.fingerprint


def _block(payload: dict) -> str:
    """A version 3 block around `payload`, packed as the bot packs it."""
    packed = base64.b64encode(zlib.compress(json.dumps(payload).encode())).decode()
    return f"<!-- rightsizer:metadata v3:{packed} -->"


def _payload(block: str) -> dict:
    packed = block.removeprefix("<!-- rightsizer:metadata v3:").removesuffix(" -->")
    return json.loads(zlib.decompress(base64.b64decode(packed)))


def test_read_metadata_refuses_garbage_and_edited_blocks():
    metadata = PullRequestMetadata(
        "prod",
        (
            ProposedValue("prod/payments/Deployment/payments payments requests.cpu", 0.25, 0.455),
            ProposedValue("prod/a--b/Deployment/x - hpa.minReplicas", 2, 3),
        ),
    )
    block = metadata.render()
    assert "--" not in block[4:-3]  # nothing inside may close the comment early
    assert read_metadata(f"body\n\n{block}\n") == metadata
    payload = _payload(block)
    assert set(payload) == {"group", "workloads"} and payload["workloads"] == {
        "prod/payments/Deployment/payments": [["payments requests.cpu", 0.25, 0.455]],
        "prod/a--b/Deployment/x": [["- hpa.minReplicas", 2, 3]],  # whole numbers stay whole
    }
    # Blocks versions 1 and 2 wrote (PRs opened before version 3) still read back.
    version_1 = {
        "version": 1, "group": "prod", "fingerprint": metadata.fingerprint,
        "values": [{"change": v.change, "current": v.current, "proposed": v.proposed}
                   for v in metadata.values],
    }  # fmt: skip
    version_2 = dict(payload, version=2, fingerprint=metadata.fingerprint)
    assert read_metadata(f"<!-- rightsizer:metadata {json.dumps(version_1)} -->") == metadata
    assert read_metadata(replace(metadata, version=2).render()) == metadata
    workloads = payload["workloads"]
    edited = dict(
        payload,
        workloads=dict(workloads, **{"prod/a--b/Deployment/x": [["- hpa.minReplicas", 2, 4]]}),
    )
    edited_2 = dict(edited, version=2, fingerprint=metadata.fingerprint)
    deflated = base64.b64decode(block.removeprefix("<!-- rightsizer:metadata v3:")[:-4])
    tampered = deflated[:-1] + bytes([deflated[-1] ^ 1])  # the Adler-32 trailer's last byte
    bomb = zlib.compress(b'{"group":"' + b"x" * (2 << 20) + b'"}')
    garbage = [
        "",
        "no block here",
        "<!-- rightsizer:metadata {not json} -->",
        "<!-- rightsizer:metadata {} -->",
        "<!-- rightsizer:metadata v3:not-base64! -->",
        "<!-- rightsizer:metadata v3:bm90IGRlZmxhdGVk -->",  # base64, not deflate
        block[:40] + " -->",  # cut short
        f"<!-- rightsizer:metadata v3:{base64.b64encode(tampered).decode()} -->",  # checksum
        f"<!-- rightsizer:metadata v3:{base64.b64encode(deflated + b'more').decode()} -->",
        _block(dict(payload, workloads={"k": [["- f", 10**400, 3]]})),  # no float holds it
        f"<!-- rightsizer:metadata {json.dumps(dict(edited_2, fingerprint=None))} -->",
        f"{block}\n<!-- rightsizer:metadata {{unclosed",  # the last marker is the block
        f"<!-- rightsizer:metadata {json.dumps(edited_2)} -->",  # fingerprint no longer matches
        _block(version_2),  # a plain version's payload in version 3's form
        f"<!-- rightsizer:metadata {json.dumps(dict(payload, version=3))} -->",
        f"<!-- rightsizer:metadata {json.dumps(payload)} -->",  # and the other way round
        f"<!-- rightsizer:metadata v3:{base64.b64encode(bomb).decode()} -->",  # inflates to 2 MiB
        _block(dict(payload, workloads={"k": [["- f", "2", 3]]})),
        _block(dict(payload, workloads={"k": [["- f", True, 3]]})),
        _block(dict(payload, workloads={"k": [["- f", 2]]})),
        _block(dict(payload, workloads=[])),
        f"<!-- rightsizer:metadata {json.dumps(dict(version_1, values={}))} -->",
        "<!-- rightsizer:metadata {" + '"a":[' * 100_000 + " -->",
    ]
    for body in garbage:
        assert read_metadata(body) is None, body[:80]


def _many(plan: Plan, copies: int) -> tuple[Group, Plan]:
    """Every environment's changes, for `copies` renamed copies of each workload."""
    changes, recommendations = [], dict(plan.recommendations)
    for i in range(copies):
        for change in plan.changes:
            workload = replace(change.workload, name=f"{change.workload.name}-{i}")
            recommendations[workload_key(workload)] = plan.recommendations[
                workload_key(change.workload)
            ]
            changes.append(replace(change, workload=workload))
    many = replace(plan, changes=changes, recommendations=recommendations)
    return Group("all", "rightsizer/all", tuple(changes)), many


def test_a_long_body_loses_charts_then_diffs_then_details_then_rows_never_the_metadata(
    planned,
):
    _, plan = planned
    group, plan = _many(plan, 2)
    workload = group.applied[0].workload
    line = "-            cpu: 500m\n+            cpu: 400m\n"
    diff = [ObjectDiff(workload.environment_id, workload.kind, workload.name, line * 50)]
    full = compose(group, plan, "main", diff=diff, limit=10**9)
    assert all(part in full.body for part in ("```diff\n", "```mermaid", "<details><summary>D"))

    no_charts = compose(group, plan, "main", diff=diff, limit=len(full.body) - 1)
    assert "```mermaid" not in no_charts.body and "```diff" in no_charts.body

    no_diffs = compose(group, plan, "main", diff=diff, limit=len(no_charts.body) - 1)
    assert "```diff" not in no_diffs.body and "<details><summary>D" in no_diffs.body

    rows = compose(group, plan, "main", diff=diff, limit=len(no_diffs.body) - 1)
    assert "<details><summary>D" not in rows.body and "more workload" not in rows.body
    summary = [line for line in full.body.splitlines() if line.startswith("| `")]
    assert [line for line in rows.body.splitlines() if line.startswith("| `")] == summary

    cut = compose(group, plan, "main", diff=diff, limit=len(rows.body) - 1)
    assert "…and 1 more workload (see the commit)" in cut.body
    assert len(cut.body) <= len(rows.body) - 1

    for text in (no_charts, no_diffs, rows, cut):
        assert text.body.rstrip("\n").splitlines()[-1] == full.metadata.render()
        assert read_metadata(text.body) == full.metadata


def test_a_group_of_many_workloads_fits_github_with_every_row_and_a_tiny_limit_keeps_the_metadata(
    planned,
):
    _, plan = planned
    group, plan = _many(plan, 12)
    active = {(c.workload.name, c.workload.environment) for c in group.applied}
    assert len(active) > 100
    text = compose(group, plan, "main")
    assert len(text.body) <= 65_536 < len(compose(group, plan, "main", limit=10**9).body)
    # Every workload's rows, the details gone.
    rows = set(re.findall(r"^\| `([^`]+) \((\w+)\)` \|", text.body, re.M))
    assert rows == active and "<details><summary>D" not in text.body
    assert "more workload" not in text.body
    # Where even the rows do not fit: as many workloads as fit, then a count of the rest.
    half = compose(group, plan, "main", limit=len(text.body) // 2)
    rows = set(re.findall(r"^\| `([^`]+) \((\w+)\)` \|", half.body, re.M))
    more = re.search(r"…and (\d+) more workloads \(see the commit\)", half.body)
    assert more is not None and rows < active and len(rows) + int(more.group(1)) == len(active)
    assert read_metadata(text.body) == text.metadata == metadata_for(group)
    assert len(text.metadata.values) == len(group.applied)
    # The Check Run summary: the same table, no charts, within its own limit.
    assert len(text.summary) <= SUMMARY_LIMIT and "```mermaid" not in text.summary
    assert text.summary.startswith("## Rightsizing `all`: ")

    limit = len(text.metadata.render()) + 300
    tiny = compose(group, plan, "main", limit=limit)
    assert len(tiny.body) <= limit
    assert tiny.body.startswith("## Rightsizing `all`")
    assert read_metadata(tiny.body) == text.metadata


def test_commands_and_groups_held_back_elsewhere_are_listed(planned):
    _, plan = planned
    body = compose(_group(plan, "dev"), plan, "main").body
    commands = body[body.index("Comment `/rightsizer <command>` (write access)") :]
    assert all(f"`{command.removeprefix('/rightsizer ')}`" in commands for command in COMMANDS)
    assert "Held back elsewhere" not in body
    waiting = ["prod: held, 3 open PRs is the limit", "staging: held, 10 PRs per hour"]
    body = compose(_group(plan, "dev"), plan, "main", waiting=waiting).body
    section = body[body.index("**Held back elsewhere:**") :].split("\n\n")[0]
    assert [line for line in section.splitlines() if line.startswith("- ")] == [
        f"- {line}" for line in waiting
    ]


def test_a_repo_overrides_a_template_and_keeps_the_others(planned, tmp_path):
    _, plan = planned
    group = _group(plan, "dev")
    templates = tmp_path / ".rightsizer" / "templates"
    templates.mkdir(parents=True)
    (templates / "pr_title.txt.j2").write_text("chore(resources): {{ group.name }} rightsized\n")
    (templates / "pr_parts.md.j2").write_text(
        "{% macro summary_table(workloads) %}{% for item in workloads %}"
        "WORKLOAD {{ item.workload.ref }}\n{% endfor %}{% endmacro %}\n"
        "{% macro workload_details(item, charts, diffs) %}CHART {{ item.chart.chart.container }}"
        "\n{% endmacro %}\n"
    )
    built_in = compose(group, plan, "main")
    text = compose(group, plan, "main", repo=tmp_path)
    assert text.title == "chore(resources): dev rightsized" != built_in.title
    assert "WORKLOAD Deployment/" in text.body and "WORKLOAD Deployment/" in text.summary
    assert "CHART " in text.body and "| field |" not in text.body
    assert "Roll back by reverting" in text.body  # pr_body.md.j2 is still the built-in one
    assert text.commit_message == built_in.commit_message
    assert read_metadata(text.body) == built_in.metadata


def test_a_repo_body_that_imports_the_parts_without_context_still_renders(planned, tmp_path):
    """A repository's copy of an older pr_body.md.j2 imports pr_parts without context: each
    workload's details then say their own usage window and confidence."""
    _, plan = planned
    group = _group(plan, "prod")
    templates = tmp_path / ".rightsizer" / "templates"
    templates.mkdir(parents=True)
    (templates / "pr_body.md.j2").write_text(
        '{% import "pr_parts.md.j2" as parts %}OURS\n\n'
        "{% for item in workloads %}{{ parts.workload_details(item, charts, diffs) }}\n"
        "{% endfor %}"
    )
    body = compose(group, plan, "main", repo=tmp_path).body
    details = _details(body)
    assert body.startswith("OURS") and len(details) == 5
    assert all(
        re.search(r"^Usage 2026-10-28 to 2026-11-26 \(30 days\)\.$", block, re.M)
        and ", confidence high</summary>" in block
        for block in details.values()
    )


def test_a_repo_template_cannot_reach_outside_the_repo_or_the_sandbox(planned, tmp_path):
    _, plan = planned
    group = _group(plan, "dev")
    templates = tmp_path / ".rightsizer" / "templates"
    templates.mkdir(parents=True)
    secret = tmp_path.parent / f"{tmp_path.name}-secret.txt"
    secret.write_text("TOKEN")
    os.symlink(secret, templates / "pr_title.txt.j2")
    with pytest.raises(InputError, match="symlink"):
        compose(group, plan, "main", repo=tmp_path)
    (templates / "pr_title.txt.j2").unlink()
    (templates / "pr_title.txt.j2").write_text("{{ group.__class__.__init__.__globals__ }}")
    with pytest.raises(InputError, match=r"template pr_title\.txt\.j2"):
        compose(group, plan, "main", repo=tmp_path)


@pytest.mark.parametrize(
    ("title", "said"),
    [
        (
            "{% for i in range(2000) %}{% for j in range(2000) %}{% endfor %}{% endfor %}",
            "over the budget of 1,000,000 loop items and calls",
        ),
        (
            "{% macro f(n) %}{{ f(n) }}{{ f(n) }}{% endmacro %}{{ f(1) }}",
            "macros call each other too deeply",
        ),
        (
            "{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}"
            "{{ f(40) }}",
            "over the budget of 1,000,000 loop items and calls",
        ),
        ("{{ 'x' * 10**9 }}", "a repetition would make 1,000,000,000 items"),
        ("{{ [1] * 10**9 }}", "a repetition would make 1,000,000,000 items"),
        ("{{ 2 ** 100000000 }}", "an exponent of 100000000 is over the limit of 64"),
        ("{% for i in range(10**6) %}x{% endfor %}", "range of 1,000,000 items is over"),
        (
            "{% for i in range(99999) %}{{ 'x' * 99 }}{% endfor %}",
            "output over 4,000,000 characters",
        ),
    ],
)
def test_a_repo_template_that_would_hang_or_flood_is_stopped_by_name(
    planned, tmp_path, title, said
):
    _, plan = planned
    templates = tmp_path / ".rightsizer" / "templates"
    templates.mkdir(parents=True)
    (templates / "pr_title.txt.j2").write_text(title)
    with pytest.raises(InputError) as error:
        compose(_group(plan, "dev"), plan, "main", repo=tmp_path)
    assert error.value.where.startswith("template pr_title.txt.j2")
    assert said in error.value.problem


def test_reasons_and_names_from_the_repository_add_no_markup(planned):
    """A freeze reason, a policy's text, a workload's name or namespace is the repository's
    to write: in the body, tables and `<summary>` lines alike, it reads as written, and a
    real parser finds no link, image, HTML or extra cell."""
    from markdown_it import MarkdownIt

    _, plan = planned
    group = _group(plan, "dev")
    hostile = (
        "[win](https://evil.example) ![x](https://evil.example/x.png) <img src=x> @everyone | x"
    )
    at = next(i for i, c in enumerate(group.changes) if c.decision.action != "skip")
    hit = RuleHit("freeze", f"frozen: {hostile}")
    original = group.changes[at].workload
    workload = replace(original, name="a<img src=x>@everyone", namespace="<b>x</b>#12")
    recommendations = dict(plan.recommendations)
    recommendations[workload_key(workload)] = plan.recommendations[workload_key(original)]
    plan = replace(plan, recommendations=recommendations)
    changes = [
        replace(change, workload=workload) if change.workload == original else change
        for change in group.changes
    ]
    changes[at] = replace(changes[at], decision=replace(changes[at].decision, rules=(hit,)))
    group = replace(group, changes=tuple(changes))
    text = compose(group, plan, "main", waiting=[f"prod: {hostile}"])
    for markdown in (text.body, text.summary):
        html = MarkdownIt("commonmark").enable("table").render(markdown)
        html = re.sub(r"<!--.*?-->", "", html, flags=re.S)  # the metadata: JSON, never shown
        assert "a&lt;img src=x&gt;" in html  # the words are there...
        assert "evil.example" in html or markdown == text.summary  # (no reasons in a summary)
        for tag in ("<a ", "<img", "<b>", "<script"):
            assert tag not in html  # ...and none of them is markup
        prose = re.sub(r"<code>.*?</code>", "", html)  # a forge links no mention in code
        assert "@everyone" not in prose.replace("\u200b", "_") and "#12" not in prose
        for table in html.split("<table>")[1:]:
            rows = table.split("</table>")[0].split("<tr>")[1:]
            assert len({row.count("<td") + row.count("<th") for row in rows}) == 1
            assert rows[0].count("<th") in (5, 3)  # the summary's columns, or the details'
