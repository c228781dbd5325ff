"""The `rightsizer` command line: plan (read-only) and run (plan, then branches and PRs)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markdown import Markdown
from rich.progress import track

from bot.compose import compose
from bot.config import RepoConfig, load_config
from bot.forges import FORGES, LocalForge
from bot.groups import group_changes
from bot.manifests.model import Workload
from bot.planner import Plan, make_plan
from bot.policy import load_policy
from bot.proof import ProofFailed, inspect
from bot.report import inventory_as_json, plan_as_json, print_inventory, print_plan
from bot.run import group_file_changes, publish
from bot.setter import apply, edits_for, find_workload, parse_assignments
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


def _plan(repo: Path, config: RepoConfig, utilisation: Path, cost: Path | None) -> Plan:
    """Everything a run reads, validated before anything is written."""
    policy = load_policy(repo)
    usage = load_utilisation(utilisation)
    prices = load_unit_prices(cost) if cost is not None else {}
    return make_plan(repo, config, policy, usage, prices, progress=_progress)


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
    config = load_config(repo)
    result = _plan(repo, config, utilisation, cost)
    if output is Format.json:
        out.print_json(json.dumps(plan_as_json(result)))
    elif output is Format.markdown:
        for group in group_changes(result, config):
            files = [change.path for change in group_file_changes(result, group, repo)]
            text = compose(group, result, config.base_branch, files)
            sys.stdout.write(f"# {text.title}\n\n{text.body}\n")
    else:
        print_plan(out, result)


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
    config = load_config(repo)
    base = workspace.base_commit(config.base_branch)
    result = _plan(repo, config, utilisation, cost)
    print_plan(out, result)
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


@app.command()
def inventory(
    repo: RepoOption,
    output: Annotated[Format, typer.Option("--format", help="table or json.")] = Format.table,
) -> None:
    """List every workload per environment, and the file and line that set each value.

    Environments are the directories the repo's Argo CD or Flux objects deploy (else its
    top-level kustomizations), each rendered with kustomize to check the answer.

    Example: rightsizer inventory --repo ./infra --format json
    """
    if not repo.is_dir():
        raise InputError(str(repo), "no such directory")
    with err.status("Reading manifests and rendering every environment with kustomize"):
        result = inspect(repo)
    if output is Format.json:
        out.print_json(json.dumps(inventory_as_json(result)))
    else:
        print_inventory(out, result)


@app.command(name="set")
def set_values(
    repo: RepoOption,
    overlay: Annotated[str, typer.Option("--overlay", help="The environment's directory.")],
    workload: Annotated[str, typer.Option("--workload", help="KIND/NAME, e.g. Deployment/web.")],
    assignments: Annotated[list[str], typer.Argument(help="FIELD=VALUE, e.g. requests.cpu=250m")],
    container: Annotated[
        str | None, typer.Option("--container", help="Needed when the pod has several.")
    ] = None,
) -> None:
    """Change values in the work tree through the bot's editor, then prove the change.

    Fields: requests.cpu, requests.memory, limits.cpu, limits.memory, replicas,
    hpa.minReplicas, hpa.maxReplicas, hpa.cpuUtilization. A value inherited from a base that
    other environments share gets a patch in this overlay instead. If rendering shows any
    other difference, nothing is written.

    Example: rightsizer set --repo ./infra --overlay apps/web/overlays/prod
    --workload Deployment/web requests.cpu=250m
    """
    if not repo.is_dir():
        raise InputError(str(repo), "no such directory")
    parsed = parse_assignments(assignments)
    with err.status("Reading manifests and rendering every environment with kustomize"):
        found = inspect(repo)
    target = find_workload(found, overlay, workload)
    edits = edits_for(target, container, parsed)
    try:
        changes = apply(repo, found, edits)
    except ProofFailed as exc:
        err.print(f"not written: {exc}", markup=False, highlight=False)
        raise typer.Exit(1) from exc
    for edit in edits:
        tracked = target.tracked(edit.field, edit.container)
        label = " ".join(filter(None, (edit.container, edit.field)))
        out.print(f"{label}: {tracked.raw if tracked else '?'} -> {edit.new}", highlight=False)
    for change in changes:
        out.print(f"{'created' if change.before is None else 'edited'} {change.path}")


def main() -> None:
    try:
        app()
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
