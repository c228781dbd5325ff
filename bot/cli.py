"""The `rightsizer` command line: plan (read-only) and run (plan, then branches and PRs)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markdown import Markdown
from rich.progress import track
from rich.table import Table

from bot.compose import compose, money
from bot.config import RepoConfig, load_config
from bot.forges import FORGES, LocalForge
from bot.groups import group_changes
from bot.manifests.model import Workload
from bot.planner import Plan, make_plan
from bot.policy import load_policy
from bot.run import group_file_changes, publish
from bot.workspace import Workspace
from recommenders.errors import InputError
from recommenders.sources.cost_csv import load_unit_prices
from recommenders.sources.utilisation_csv import load_utilisation

app = typer.Typer(
    help="Rightsizer: right-size Kubernetes workloads from usage data, through pull requests.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console(width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True)


class Format(StrEnum):
    table = "table"
    json = "json"
    markdown = "markdown"


RepoOption = Annotated[
    Path, typer.Option("--repo", help="The infrastructure repository (a git checkout).")
]
UtilisationOption = Annotated[
    Path, typer.Option("--utilisation", help="Utilisation export (long CSV, see README).")
]
CostOption = Annotated[
    Path | None,
    typer.Option("--cost", help="Daily cost export; without it the config's price table is used."),
]


def _plan(repo: Path, utilisation: Path, cost: Path | None) -> tuple[RepoConfig, Plan]:
    """Everything a run reads, validated before anything is written."""
    config = load_config(repo)
    policy = load_policy(repo)
    usage = load_utilisation(utilisation)
    prices = load_unit_prices(cost) if cost is not None else {}
    plan = make_plan(repo, config, policy, usage, prices, progress=_progress)
    return config, plan


def _progress(workloads: Iterable[Workload]) -> Iterable[Workload]:
    return track(list(workloads), description="Forecasting", console=err, transient=True)


@app.command()
def plan(
    repo: RepoOption,
    utilisation: UtilisationOption,
    cost: CostOption = None,
    output: Annotated[Format, typer.Option("--format", help="table, json or markdown.")] = (
        Format.table
    ),
) -> None:
    """Show what Rightsizer would change, and why, without writing anything.

    Example: rightsizer plan --repo ./infra --utilisation usage.csv --cost cost.csv --format json
    """
    Workspace(repo)
    config, result = _plan(repo, utilisation, cost)
    if output is Format.json:
        out.print_json(json.dumps(plan_as_json(result)))
    elif output is Format.markdown:
        for group in group_changes(result, config):
            files = [change.path for change in group_file_changes(result, group, repo)]
            text = compose(group, result, config.base_branch, files)
            sys.stdout.write(f"# {text.title}\n\n{text.body}\n")
    else:
        _print_table(result)


@app.command()
def run(
    repo: RepoOption,
    utilisation: UtilisationOption,
    cost: CostOption = None,
    forge: Annotated[str, typer.Option("--forge", help="Where PRs go: " + ", ".join(FORGES))] = (
        "local"
    ),
    pr_dir: Annotated[
        Path, typer.Option("--pr-dir", help="local forge: where PR texts are written.")
    ] = Path("pull-requests"),
) -> None:
    """Plan, then write one branch and PR per group; a rerun updates them in place.

    Example: rightsizer run --repo ./infra --utilisation usage.csv --cost cost.csv --forge local
    """
    if forge not in FORGES:
        raise InputError("--forge", f"unknown forge {forge!r}; known: {', '.join(FORGES)}")
    workspace = Workspace(repo)
    base = workspace.base_commit(load_config(repo).base_branch)
    config, result = _plan(repo, utilisation, cost)
    _print_table(result)
    results = publish(result, workspace, base, LocalForge(workspace, pr_dir), config)
    for item in results:
        out.rule(f"{item.branch}: branch {item.branch_outcome}, PR {item.pull_request}")
        if item.text is not None:
            out.print(Markdown(f"# {item.text.title}\n\n{item.text.body}"))
        out.print(f"[bold]{item.location}[/bold]")
    if not results:
        out.print("Nothing to change: every workload is within its guardrails.")
    if any(item.branch_outcome == "failed" for item in results):
        raise typer.Exit(1)


def plan_as_json(result: Plan) -> list[dict[str, Any]]:
    """The documented plan contract: one object per field the plan has a decision about."""
    rows = []
    for change in result.changes:
        workload, decision = change.workload, change.decision
        rows.append(
            {
                "environment": workload.environment,
                "overlay": workload.overlay,
                "kind": workload.kind,
                "name": workload.name,
                "namespace": workload.namespace,
                "container": change.container,
                "field": change.field,
                "current": change.current,
                "proposed": change.proposed,
                "action": decision.action,
                "reasons": [{"rule": hit.rule, "text": hit.text} for hit in decision.rules],
                "basis": decision.recommendation.basis,
                "monthly_cost_delta": round(decision.monthly_cost_delta, 2),
                "file": change.origin.file if change.origin else None,
                "line": change.origin.line if change.origin else None,
            }
        )
    return rows


def _print_table(result: Plan) -> None:
    table = Table(title="Rightsizer plan", show_lines=False)
    for column in ("environment", "workload", "container", "field", "current → proposed"):
        table.add_column(column)
    table.add_column("$/month", justify="right")
    table.add_column("action")
    table.add_column("rules")
    for change in result.changes:
        decision = change.decision
        table.add_row(
            change.workload.environment,
            change.workload.name,
            change.container or "",
            change.field,
            f"{change.current} → {change.proposed}",
            money(decision.monthly_cost_delta),
            decision.action,
            ", ".join(hit.rule for hit in decision.rules),
        )
    out.print(table)
    out.print(f"Total: {money(result.monthly_cost_delta)} per month.")
    for workload in result.without_usage:
        out.print(f"[yellow]no usage data[/yellow] for {workload.environment} {workload.ref}")
    for key in result.unmatched_usage:
        out.print(f"[yellow]usage matches no workload in the repo:[/yellow] {key}")
    for problem in result.inventory.problems:
        out.print(f"[yellow]skipped:[/yellow] {problem}")


def main() -> None:
    try:
        app()
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
