"""What the commands print: the plan and the inventory as tables (rich) or JSON contracts."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from rich.console import Console
from rich.table import Table
from rich.text import Text
from ruamel.yaml import YAML

from bot.compose import money
from bot.manifests.gitops import clusters_of
from bot.manifests.model import Inventory, Workload
from bot.markdown import inert
from bot.planner import Plan, unmatched_notes
from bot.policy import Policy
from bot.policy.check import PolicyReport
from bot.policy.documents import shown
from bot.resources import data_dir
from recommenders.backtest import Score
from recommenders.model import UnitPrices
from recommenders.sources.summary import SourceSummary
from recommenders.strategies import STRATEGIES
from recommenders.strategies.settings import describe_settings

PLAN_JSON_KEYS = [
    "environment", "environment_name", "kind", "name", "namespace", "container", "field",
    "current", "proposed", "wanted", "action", "reasons", "basis", "monthly_cost_delta",
    "file", "line",
]  # fmt: skip


def plan_as_json(result: Plan) -> list[dict[str, Any]]:
    """The documented plan contract: one object per field the plan has a decision about."""
    rows = []
    for change in result.changes:
        workload, decision = change.workload, change.decision
        values = (
            workload.overlay,
            workload.environment,
            workload.kind,
            workload.name,
            workload.namespace,
            change.container,
            change.field,
            change.current,
            change.proposed,
            change.wanted,
            decision.action,
            [{"rule": hit.rule, "text": hit.text} for hit in decision.rules],
            decision.recommendation.basis,
            round(decision.monthly_cost_delta, 2) + 0.0,
            change.origin.file if change.origin else None,
            change.origin.line if change.origin else None,
        )
        rows.append(dict(zip(PLAN_JSON_KEYS, values, strict=True)))
    return rows


def _table(title: str, *columns: str, right: tuple[str, ...] = ()) -> Table:
    """A table whose cells wrap at spaces and fold only a word longer than their column:
    whatever the terminal's width (100 columns and less), no name is ever cut."""
    table = Table(title=title)
    for column in columns:
        table.add_column(column, overflow="fold", justify="right" if column in right else "left")
    return table


def _cells(*values: str) -> list[Text]:
    """Cells as plain text: a name from a repository or an export is never rich markup."""
    return [Text(value) for value in values]


def print_plan(out: Console, result: Plan, show_skipped: bool = True) -> None:
    """The plan as a table per environment that fits 100 columns by wrapping cells at spaces
    (a field is `container field`), folding only a word longer than its column, never
    cutting a name; rows the plan skips only with `show_skipped` (a count otherwise)."""
    shown = [c for c in result.changes if show_skipped or c.decision.action != "skip"]
    environments = sorted({c.workload.environment for c in shown})
    for environment in environments:
        table = Table(title=f"Rightsizer plan: {environment}", title_justify="left")
        table.add_column("workload", overflow="fold")
        table.add_column("field", overflow="fold", min_width=len("hpa.minReplicas") + 2)
        table.add_column("current → proposed", overflow="fold")
        table.add_column("$/month", justify="right", no_wrap=True)
        table.add_column("action", no_wrap=True)
        table.add_column("rules", overflow="fold")
        for change in shown:
            if change.workload.environment != environment:
                continue
            decision = change.decision
            cells = (
                change.workload.name,
                f"{change.container} {change.field}" if change.container else change.field,
                change.shown,
                money(decision.monthly_cost_delta),
                decision.action,
                ", ".join(hit.rule for hit in decision.rules),
            )
            table.add_row(*_cells(*cells))
        out.print(table)
    hidden = len(result.changes) - len(shown)
    if hidden:
        out.print(f"{hidden} skipped row{'s' if hidden != 1 else ''} not shown (--show-skipped).")
    out.print(f"Total: {money(result.monthly_cost_delta)} per month.")
    print_findings(out, result)


def plan_csv(result: Plan) -> str:
    """The JSON contract's rows as CSV, a reason per `rule: text` joined by `; `, for a
    spreadsheet. Text a spreadsheet would run as a formula (a workload or file name from the
    repository that starts with `=`, `+`, `-`, `@`) starts with `'` instead, as OWASP
    advises against CSV injection; numbers stay numbers."""
    rows = plan_as_json(result)
    text = io.StringIO()
    writer = csv.DictWriter(text, PLAN_JSON_KEYS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        reasons = "; ".join(f"{r['rule']}: {r['text']}" for r in row["reasons"])
        writer.writerow(
            {key: _inert_cell(value) for key, value in (row | {"reasons": reasons}).items()}
        )
    return text.getvalue()


def _inert_cell(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def plan_yaml(result: Plan) -> str:
    """The JSON contract's rows as a YAML list."""
    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    yaml.sort_base_mapping_type_on_output = False  # type: ignore[assignment]
    text = io.StringIO()
    yaml.dump(plan_as_json(result), text)
    return text.getvalue()


def plan_html(result: Plan, show_skipped: bool) -> str:
    """One self-contained page: the table, the total and the findings, every value escaped."""
    env = Environment(
        loader=FileSystemLoader(data_dir("templates")),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    changes = [c for c in result.changes if show_skipped or c.decision.action != "skip"]
    return env.get_template("plan.html.j2").render(
        changes=changes,
        hidden=len(result.changes) - len(changes),
        total=money(result.monthly_cost_delta),
        money=money,
        findings=findings(result),
    )


def print_findings(out: Console, result: Plan) -> None:
    """What the plan found wrong with its inputs. Shown however quiet the output."""
    for kind, text in findings(result):
        out.print(Text.assemble((f"{kind}:", "yellow"), " ", text), soft_wrap=True)


def findings(result: Plan) -> list[tuple[str, str]]:
    """What the plan found wrong with its inputs, as (kind, text): stale data, workloads
    without usage, usage that matched nothing, manifests it skipped."""
    stale = {
        hit.text for c in result.changes for hit in c.decision.rules if hit.rule == "stale-data"
    }
    found = [("stale data", text) for text in sorted(stale)]
    found += [("no usage data", f"for {w.environment} {w.ref}") for w in result.without_usage]
    found += [("unmatched", note) for note in unmatched_notes(result)]
    found += [("skipped", problem) for problem in result.inventory.problems]
    return found


def inventory_as_json(inventory: Inventory) -> list[dict[str, Any]]:
    """The documented inventory contract: one object per workload and environment."""
    return [_workload_json(workload) for workload in inventory.workloads]


def _workload_json(workload: Workload) -> dict[str, Any]:
    deployment = workload.deployment
    hpa = workload.hpa
    provenance = {}
    for name, container, tracked in workload.fields():
        if tracked.origin is not None:
            key = f"containers.{container}.{name}" if container else name
            origin = tracked.origin
            provenance[key] = {"file": origin.file, "line": origin.line, "path": origin.yaml_path}
    helm = workload.helm
    return {
        "environment": workload.overlay,
        "values_file": workload.values_file,
        "environment_name": workload.environment,
        "cluster": deployment.cluster if deployment else None,
        "clusters": list(clusters_of(deployment)),
        "deployed_by": deployment.source if deployment else None,
        "kind": workload.kind,
        "name": workload.name,
        "namespace": workload.namespace,
        "containers": [
            {
                "name": container.name,
                "requests": _bound(container.resources, "requests"),
                "limits": _bound(container.resources, "limits"),
            }
            for container in workload.containers
        ],
        "replicas": workload.replicas.raw if workload.replicas else None,
        "hpa": None
        if hpa is None
        else {
            "kind": hpa.kind,
            "name": hpa.name,
            **{name.removeprefix("hpa."): t.raw for name, t in hpa.fields.items()},
        },
        "provenance": provenance,
        "helm": None
        if helm is None
        else {
            "release": helm.release.name,
            "chart": helm.release.chart_ref,
            "values": {
                f"containers.{container}.{name}" if container else name: ".".join(map(str, key))
                for (container, name), key in helm.paths.items()
            },
            "resources": {c: ".".join(map(str, k)) for c, k in helm.resources_paths.items()},
        },
        "verified": workload.unverified is None,
        "problem": workload.unverified,
    }


def _bound(resources: dict[str, Any], bound: str) -> dict[str, Any]:
    return {
        name.split(".")[1]: tracked.raw
        for name, tracked in resources.items()
        if name.startswith(f"{bound}.")
    }


INVENTORY_COLUMNS = (
    "environment",
    "workload",
    "container",
    "requests",
    "limits",
    "scaling",
    "set in",
)


def _inventory_rows(inventory: Inventory) -> Iterator[tuple[Workload, tuple[str, ...]]]:
    """One row per container; a workload's own cells on its first container's row only."""
    for workload in inventory.workloads:
        for index, container in enumerate(workload.containers):
            cpu = container.resources.get("requests.cpu")
            first = index == 0
            yield (
                workload,
                (
                    workload.environment if first else "",
                    f"{workload.namespace}/{workload.ref}" if first else "",
                    container.name,
                    _pair(container.resources, "requests"),
                    _pair(container.resources, "limits"),
                    _scaling(workload) if first else "",
                    str(cpu.origin) if cpu and cpu.origin else "",
                ),
            )


def print_inventory(out: Console, inventory: Inventory) -> None:
    table = _table("Rightsizer inventory", *INVENTORY_COLUMNS)
    for workload, row in _inventory_rows(inventory):
        cells = _cells(*row)
        if row[1] and workload.unverified is not None:
            cells[1].append(" (unverified)", style="red")
        table.add_row(*cells)
    out.print(table)
    for problem in inventory.problems:
        out.print(f"[yellow]problem:[/yellow] {problem}", markup=True, highlight=False)


def inventory_markdown(inventory: Inventory) -> str:
    """The inventory as a Markdown table, every cell whole and inert (names come from the
    repository), for an issue, a wiki page or a PR comment."""
    lines = [
        "| " + " | ".join(INVENTORY_COLUMNS) + " |",
        "| " + " | ".join("---" for _ in INVENTORY_COLUMNS) + " |",
    ]
    for workload, row in _inventory_rows(inventory):
        cells = list(row)
        if cells[1] and workload.unverified is not None:
            cells[1] += " (unverified)"
        lines.append("| " + " | ".join(inert(cell) for cell in cells) + " |")
    lines += ["", *(f"- problem: {inert(problem)}" for problem in inventory.problems)]
    return "\n".join(lines).rstrip() + "\n"


def _pair(resources: dict[str, Any], bound: str) -> str:
    values = _bound(resources, bound)
    return " ".join(f"{k}={v}" for k, v in sorted(values.items())) or "-"


def _scaling(workload: Workload) -> str:
    if workload.hpa is not None:
        fields = workload.hpa.fields
        minimum, maximum = fields.get("hpa.minReplicas"), fields.get("hpa.maxReplicas")
        target = fields.get("hpa.cpuUtilization")
        bounds = f"{minimum.raw if minimum else '?'}-{maximum.raw if maximum else '?'}"
        kind = "HPA" if workload.hpa.kind == "HorizontalPodAutoscaler" else workload.hpa.kind
        return f"{kind} {bounds}" + (f" @{target.raw}% cpu" if target else "")
    return f"replicas {workload.replicas.raw}" if workload.replicas else "-"


def print_sources(
    out: Console, summaries: list[SourceSummary], prices: dict[str, UnitPrices], notes: list[str]
) -> None:
    columns = ("source", "format", "rows", "workloads", "from", "to", "gaps", "total cost")
    table = _table("Sources", *columns, right=("rows", "gaps"))
    for summary in summaries:
        cost = (
            f"{summary.total_cost:,.2f} {summary.currency or ''}".strip()
            if summary.total_cost is not None
            else ""
        )
        table.add_row(
            *_cells(
                summary.source,
                summary.format,
                f"{summary.rows:,}",
                f"{summary.workloads:,}",
                summary.start or "",
                summary.end or "",
                "" if summary.gaps is None else f"{summary.gaps:,}",
                cost,
            )
        )
    out.print(table)
    for summary in summaries:
        for warning in summary.warnings:
            out.print(f"[yellow]warning[/yellow] {summary.source}: {warning}", highlight=False)
    for environment, price in sorted(prices.items()):
        out.print(
            f"unit prices for {environment or 'every environment'}: "
            f"${price.cpu_core_hour:.4f} per core-hour, ${price.memory_gib_hour:.5f} per "
            f"GiB-hour ({price.source})",
            highlight=False,
        )
    for note in notes:
        out.print(f"[yellow]prices[/yellow] {note}", highlight=False)


def print_backtest(out: Console, scores: list[Score], series: int) -> None:
    title = f"Backtest: {series} series, p95 pinball loss over the series' mean (lower is better)"
    numbers = ("windows", "pinball", "violations", "bad windows", "vs vpa", "vs oracle")
    table = _table(title, "strategy", *numbers, right=numbers)
    for row in sorted(scores, key=lambda s: s.pinball):
        table.add_row(
            row.strategy,
            f"{row.windows:,}",
            f"{row.pinball:.4f}",
            f"{row.violation_rate:.1%}",
            f"{row.bad_windows:.1%}",
            "–" if row.capacity_vs_vpa is None else f"{row.capacity_vs_vpa:.2f}×",
            f"{row.capacity_vs_oracle:.2f}×",
        )
    out.print(table)
    out.print(
        "violations: share of horizon samples above capacity; bad windows: more than 20 % of "
        "a horizon above it; vs: mean capacity relative to vpa and to the oracle (the "
        "horizon's own p95).",
        highlight=False,
    )


def print_strategies(out: Console) -> None:
    for name, cls in STRATEGIES.items():
        out.print(f"[bold]{name}[/bold]: {cls.description}", highlight=False)
        for setting, default, low, high, text in describe_settings(cls.settings_type):
            out.print(f"  {setting} = {default:g}  [{low:g}, {high:g}]  {text}", highlight=False)


def print_policy_report(out: Console, policy: Policy, report: PolicyReport) -> None:
    out.print(f"policy layers: {policy.source}", highlight=False)
    for problem in report.problems:
        out.print(f"[red]error[/red] {problem}", highlight=False)
    for conflict in report.conflicts:
        out.print(f"[yellow]conflict[/yellow] {conflict.describe()}", highlight=False)
    for where in report.unknown:
        out.print(
            f"[yellow]not read[/yellow] {where}: not a Rightsizer annotation", highlight=False
        )
    if not report.problems and not report.conflicts:
        out.print("every document and annotation is valid; no conflicts", highlight=False)
    for workload, found in report.explained:
        where = f"{workload.ref} in {workload.namespace} ({workload.environment})"
        table = _table(where, "rule", "value", "set by", "layer")
        for key, setting in sorted(found.effective.provenance.items()):
            table.add_row(*_cells(key, shown(key, setting.value), setting.where, setting.layer))
        out.print(table)
        if found.model is not None:
            model = found.model
            text = f"prediction model: {model.strategy} {model.settings} ({model.where})"
            out.print(text, highlight=False)
        if found.held_back is not None:
            out.print(f"held back: {found.held_back.rule}: {found.held_back.text}", highlight=False)
