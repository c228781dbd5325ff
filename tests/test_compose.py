"""The PR text: tables, charts, the rendered diff, commands, metadata, overrides and size."""

from __future__ import annotations

import json
import os
import re
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bot.compose import SUMMARY_LIMIT, compose
from bot.config import load_config
from bot.decisions.model import RuleHit
from bot.groups import Group
from bot.inputs import SourceRequest, read_inputs
from bot.manifests.edit import plan_file_changes
from bot.manifests.quantities import parse_cpu
from bot.planner import Plan, make_plan, workload_key
from bot.policy.load import load_policy
from bot.pr_metadata import ProposedValue, PullRequestMetadata, metadata_for, read_metadata
from bot.proof import prove
from recommenders.errors import InputError
from recommenders.forecasters import ForecastCache
from recommenders.model import ContainerResources
from recommenders.strategies.base import Sizing
from recommenders.strategies.workload import CHART_POINTS, usage_chart
from tests.conftest import COST, EXPORTS_AS_OF, MONOREPO, UTILISATION, make_repo

COMMANDS = [
    "/rightsizer rerun",
    "/rightsizer ignore <workload>",
    "/rightsizer snooze <workload> <days>",
    "/rightsizer pin <workload> <field>=<value>",
    "/rightsizer explain <workload>",
]
MERMAID = re.compile(r"```mermaid\n(xychart-beta\n.*?)```", re.S)


@pytest.fixture(scope="module")
def planned(tmp_path_factory) -> tuple[Path, Plan]:
    repo = make_repo(MONOREPO, tmp_path_factory.mktemp("compose") / "monorepo")
    config = load_config(repo)
    policy = load_policy(repo, None, config.annotation_prefix)
    inputs = read_inputs(SourceRequest((UTILISATION,), (COST,), None, None, None))
    now = datetime.fromisoformat(EXPORTS_AS_OF)
    cache = ForecastCache()
    return repo, make_plan(repo, config, policy, inputs.table, inputs.prices, cache, now)


def _group(plan: Plan, environment: str | None = None, name: str = "") -> Group:
    changes = [c for c in plan.changes if environment in (None, c.workload.environment)]
    name = name or environment or "all"
    return Group(name, f"rightsizer/{name}", tuple(changes))


def _charts(body: str) -> dict[str, dict[str, list[str]]]:
    """Each chart by its title, its series by kind (x-axis, bar, line) as lists of items."""
    found = {}
    for block in MERMAID.findall(body):
        title = re.search(r'title "([^"]+)"', block).group(1)
        series: dict[str, list[str]] = {}
        for kind, items in re.findall(r"^ +(x-axis|bar|line) \[(.*)\]$", block, re.M):
            series.setdefault(kind, []).append(items)
        found[title] = series
    return found


def test_a_chart_per_changed_resource_with_bounded_points_and_flat_request_lines(planned):
    _, plan = planned
    body = compose(_group(plan, "prod"), plan, "main", []).body
    charts = _charts(body)
    payments = charts["payments cpu (millicores)"]
    (labels,) = payments["x-axis"]
    count = len(labels.split(", "))
    assert 30 <= count <= CHART_POINTS  # 30 days of history, a week ahead, one point a day
    observed, forecast = (items.split(", ") for items in payments["bar"])
    assert len(observed) == len(forecast) == count
    # History then horizon: the forecast is empty where usage was observed, and vice versa.
    # The horizon runs to a week after the run, six hours after the data ends: eight days.
    ahead = 8
    assert labels.split(", ")[-1] == '"12-04"'
    assert "needs over the next 7.25 days" in body  # as the basis says, not "7 days"
    history = [i for i, value in enumerate(observed) if value != "0"]
    assert history == list(range(count - ahead))
    assert all(value == "0" for value in forecast[: count - ahead])
    assert len(set(forecast[count - ahead :])) == 1 and forecast[-1] != "0"
    proposed, current = (set(items.split(", ")) for items in payments["line"])
    written = next(
        c.proposed
        for c in plan.changes
        if (c.workload.environment, c.workload.name, c.field)
        == ("prod", "payments", "requests.cpu")
    )
    assert proposed == {f"{parse_cpu(written) * 1000:g}"}  # what the manifest gets, flat
    assert current == {"250"}
    # Memory is charted only where the PR changes it; CPU for every container it changes.
    assert "payments memory (MiB)" in charts and "catalog memory (MiB)" in charts
    assert "checkout memory (MiB)" in charts  # the JVM heap raises it
    assert "log-shipper memory (MiB)" not in charts  # checkout changes only its HPA
    assert "search cpu (millicores)" in charts and "search memory (MiB)" in charts
    assert not any(title.startswith("frontend") for title in charts)  # nothing to change


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
    body = compose(group, plan, "main", [c.path for c in changes], diff=diff).body
    section = re.search(
        r"<details><summary>Rendered manifest diff</summary>\n\n```diff\n(.*?)```\n\n</details>",
        body,
        re.S,
    )
    assert section is not None
    lines = section.group(1).splitlines()
    label = "applications/payments/overlays/prod Deployment/payments"
    assert [line for line in lines if line.startswith(("---", "+++"))] == [
        f"--- a/{label}",
        f"+++ b/{label}",
    ]
    changed = sorted(line for line in lines if line[0] in "+-" and line[:3] not in ("---", "+++"))
    expected = sorted(
        f"{sign}            {c.field.split('.')[1]}: {value}"
        for c in payments
        for sign, value in (("-", c.current), ("+", c.proposed))
    )
    assert changed == expected
    assert "-            cpu: 250m" in changed and "-            cpu: 500m" in changed


def test_metadata_is_the_last_line_and_reads_back_as_the_trailers_say(planned):
    _, plan = planned
    group = _group(plan, "prod")
    text = compose(group, plan, "main", [])
    assert text.body.rstrip("\n").splitlines()[-1] == text.metadata.render()
    assert read_metadata(text.body) == text.metadata == metadata_for(group)
    trailers = re.findall(r"^Rightsizer-Change: (.+) (\S+) -> (\S+)$", text.commit_message, re.M)
    assert [v.change for v in text.metadata.values] == [t[0] for t in trailers]
    for value, (_, old, new) in zip(text.metadata.values, trailers, strict=True):
        assert (value.current, value.proposed) == pytest.approx((float(old), float(new)))
    assert re.fullmatch(r"[0-9a-f]{16}", text.metadata.fingerprint)
    reordered = PullRequestMetadata("prod", tuple(reversed(text.metadata.values)))
    assert reordered.fingerprint == text.metadata.fingerprint


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
    payload = json.loads(block.removeprefix("<!-- rightsizer:metadata ").removesuffix(" -->"))
    edited = dict(payload, values=[dict(payload["values"][0], proposed=1.0), payload["values"][1]])
    garbage = [
        "",
        "no block here",
        "<!-- rightsizer:metadata {not json} -->",
        "<!-- rightsizer:metadata {} -->",
        block.replace("0.455", "0.5"),  # edited by hand: the fingerprint no longer matches
        block.replace('"version":1', '"version":2'),
        block.replace('"current":2', '"current":"2"'),
        block.replace('"current":2', '"current":true'),
        f"<!-- rightsizer:metadata {json.dumps(edited)} -->",
        f"<!-- rightsizer:metadata {json.dumps(dict(payload, values={}))} -->",
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


def test_a_long_body_loses_the_diff_then_the_charts_then_workloads_but_never_the_metadata(
    planned,
):
    _, plan = planned
    group, plan = _many(plan, 2)
    diff = (
        "--- a/x\n+++ b/x\n@@ -1 +1 @@\n" + "-            cpu: 500m\n+            cpu: 400m\n" * 50
    )
    full = compose(group, plan, "main", ["x.yaml"], diff=diff, limit=10**9)
    assert (
        "```diff\n" in full.body and "```mermaid" in full.body and "more workload" not in full.body
    )

    no_diff = compose(group, plan, "main", ["x.yaml"], diff=diff, limit=len(full.body) - 1)
    assert "```diff" not in no_diff.body
    assert "diff too large, see the Files changed tab" in no_diff.body
    assert "```mermaid" in no_diff.body and "more workload" not in no_diff.body

    no_charts = compose(group, plan, "main", ["x.yaml"], diff=diff, limit=len(no_diff.body) - 1)
    assert "```mermaid" not in no_charts.body and "more workload" not in no_charts.body
    assert "diff too large" in no_charts.body

    cut = compose(group, plan, "main", ["x.yaml"], diff=diff, limit=len(no_charts.body) - 1)
    assert "…and 1 more workload (see the commit)" in cut.body
    assert len(cut.body) <= len(no_charts.body) - 1

    for text in (no_diff, no_charts, cut):
        assert text.body.rstrip("\n").splitlines()[-1] == full.metadata.render()
        assert read_metadata(text.body) == full.metadata


def test_a_group_of_many_workloads_fits_github_and_a_tiny_limit_keeps_the_metadata(planned):
    _, plan = planned
    group, plan = _many(plan, 12)
    active = len({(c.workload.overlay, c.workload.ref) for c in group.applied})
    assert active > 100
    text = compose(group, plan, "main", ["x.yaml"])
    assert len(text.body) <= 65_536 < len(compose(group, plan, "main", [], limit=10**9).body)
    more = re.search(r"…and (\d+) more workloads \(see the commit\)", text.body)
    assert more is not None
    shown = len(re.findall(r"^### \S+ in `", text.body, re.M))
    assert shown > 0 and shown + int(more.group(1)) == active
    assert read_metadata(text.body) == text.metadata == metadata_for(group)
    assert len(text.metadata.values) == len(group.applied)
    # The Check Run summary: the same tables, no charts, within its own limit.
    assert len(text.summary) <= SUMMARY_LIMIT and "```mermaid" not in text.summary
    assert text.summary.startswith("## Rightsizing `all`: ")
    assert re.search(r"…and \d+ more workloads \(see the commit\)", text.summary)

    limit = len(text.metadata.render()) + 300
    tiny = compose(group, plan, "main", ["x.yaml"], limit=limit)
    assert len(tiny.body) <= limit
    assert tiny.body.startswith("## Rightsizing `all`")
    assert read_metadata(tiny.body) == text.metadata


def test_commands_and_groups_held_back_elsewhere_are_listed(planned):
    _, plan = planned
    body = compose(_group(plan, "dev"), plan, "main", []).body
    commands = body[body.index("### Commands") :]
    assert all(f"- `{command}`" in commands for command in COMMANDS)
    assert "write access" in commands
    assert "Held back elsewhere" not in body
    waiting = ["prod: held, 3 open PRs is the limit", "staging: held, 10 PRs per hour"]
    body = compose(_group(plan, "dev"), plan, "main", [], waiting=waiting).body
    section = body[body.index("### Held back elsewhere") :].split("\n### ")[0]
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
        "{% macro workload_table(item) %}WORKLOAD {{ item.workload.ref }}\n{% endmacro %}\n"
        "{% macro usage_chart(item) %}CHART {{ item.chart.container }}\n{% endmacro %}\n"
    )
    built_in = compose(group, plan, "main", [])
    text = compose(group, plan, "main", [], repo=tmp_path)
    assert text.title == "chore(resources): dev rightsized" != built_in.title
    assert "WORKLOAD Deployment/" in text.body and "WORKLOAD Deployment/" in text.summary
    assert "CHART " in text.body and "| field |" not in text.body
    assert "### How to roll back" in text.body  # pr_body.md.j2 is still the built-in one
    assert text.commit_message == built_in.commit_message
    assert read_metadata(text.body) == built_in.metadata


def test_a_repo_template_cannot_reach_outside_the_repo_or_the_sandbox(planned, tmp_path):
    _, plan = planned
    group = _group(plan, "dev")
    templates = tmp_path / ".rightsizer" / "templates"
    templates.mkdir(parents=True)
    secret = tmp_path.parent / f"{tmp_path.name}-secret.txt"
    secret.write_text("TOKEN")
    os.symlink(secret, templates / "pr_title.txt.j2")
    with pytest.raises(InputError, match="symlink"):
        compose(group, plan, "main", [], repo=tmp_path)
    (templates / "pr_title.txt.j2").unlink()
    (templates / "pr_title.txt.j2").write_text("{{ group.__class__.__init__.__globals__ }}")
    with pytest.raises(InputError, match=r"template pr_title\.txt\.j2"):
        compose(group, plan, "main", [], repo=tmp_path)


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
        compose(_group(plan, "dev"), plan, "main", [], repo=tmp_path)
    assert error.value.where.startswith("template pr_title.txt.j2")
    assert said in error.value.problem


def test_reasons_and_paths_from_the_repository_add_no_markup(planned):
    """A freeze reason, a policy's text or a file name is the repository's to write: in the
    body it reads as written, and a real parser finds no link, image, HTML or extra cell."""
    from markdown_it import MarkdownIt

    _, plan = planned
    group = _group(plan, "dev")
    hostile = (
        "[win](https://evil.example) ![x](https://evil.example/x.png) <img src=x> @everyone | x"
    )
    at = next(i for i, c in enumerate(group.changes) if c.decision.action != "skip")
    hit = RuleHit("freeze", f"frozen: {hostile}")
    changed = replace(group.changes[at], decision=replace(group.changes[at].decision, rules=(hit,)))
    group = replace(group, changes=(*group.changes[:at], changed, *group.changes[at + 1 :]))
    files = ["apps/`x`/[a](b).yaml", "apps/<b>bold</b>.yaml"]
    text = compose(group, plan, "main", files, waiting=[f"prod: {hostile}"])
    for markdown in (text.body, text.summary):
        html = MarkdownIt("commonmark").enable("table").render(markdown)
        assert "evil.example" in html  # the words are there...
        for tag in ("<a ", "<img", "<b>", "<script"):
            assert tag not in html  # ...and none of them is markup
        assert "@everyone" not in html.replace("\u200b", "_")
        for table in html.split("<table>")[1:]:
            rows = table.split("</table>")[0].split("<tr>")[1:]
            assert {row.count("<td") + row.count("<th") for row in rows} == {8}
    assert "<code>apps/`x`/[a](b).yaml</code>" in MarkdownIt().render(text.body)
