"""PR title, body and commit message from the jinja2 templates in templates/.

Templates only format: every number and sentence they show comes from the plan's typed
records, so a repo can restyle its PRs without touching a decision.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import groupby
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from bot.groups import Group
from bot.planner import Plan, PlannedChange, workload_key

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


@dataclass(frozen=True)
class PullRequestText:
    title: str
    body: str
    commit_message: str


def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )
    env.filters["money"] = money
    env.filters["field_label"] = field_label
    return env


def money(value: float) -> str:
    """Signed dollars per month: `-$12.30`, `+$4.00`, `$0.00`."""
    sign = "-" if value < -0.005 else "+" if value > 0.005 else ""
    return f"{sign}${abs(value):,.2f}"


def field_label(change: PlannedChange) -> str:
    return f"{change.container} {change.field}" if change.container else change.field


def compose(group: Group, plan: Plan, base_branch: str, files: list[str]) -> PullRequestText:
    """The PR for `group`; `files` are the paths its commit changes, listed for reviewers."""
    env = environment()
    workloads, held_back = [], []
    for _, rows in groupby(group.changes, key=lambda c: (c.workload.overlay, c.workload.ref)):
        changes = list(rows)
        workload = changes[0].workload
        if all(change.decision.action == "skip" for change in changes):
            held_back.append({"workload": workload, "rule": changes[0].decision.rules[0]})
            continue
        workloads.append(
            {
                "workload": workload,
                "recommendation": plan.recommendations[workload_key(workload)],
                "changes": changes,
            }
        )
    environments = sorted({c.workload.environment for c in group.changes})
    context = {
        "group": group,
        "base_branch": base_branch,
        "workloads": workloads,
        "held_back": held_back,
        "files": files,
        "prices": {name: plan.prices[name] for name in environments if name in plan.prices},
    }
    return PullRequestText(
        title=env.get_template("pr_title.txt.j2").render(context).strip(),
        body=env.get_template("pr_body.md.j2").render(context),
        commit_message=env.get_template("commit_message.txt.j2").render(context),
    )
