"""Which pull request each change belongs to, and that PR's branch name."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from bot.codeowners import OwnerRule, owners_of, read_codeowners, team_name
from bot.config import RepoConfig, valid_branch
from bot.planner import Plan, PlannedChange
from recommenders.errors import InputError


@dataclass(frozen=True)
class Group:
    """The changes of one pull request; `changes` holds skipped ones too, for the PR's record."""

    name: str
    branch: str
    changes: tuple[PlannedChange, ...]

    @property
    def applied(self) -> tuple[PlannedChange, ...]:
        return tuple(c for c in self.changes if c.decision.action != "skip")

    @property
    def monthly_cost_delta(self) -> float:
        return sum(c.decision.monthly_cost_delta for c in self.changes)


def group_changes(plan: Plan, config: RepoConfig, repo: Path) -> list[Group]:
    """Groups that have something to apply, in a stable order."""
    owners = read_codeowners(repo) if config.group_by == "team" else []
    members: dict[str, list[PlannedChange]] = {}
    for change in plan.changes:
        members.setdefault(_group_name(change, config, owners), []).append(change)
    groups = [
        Group(name, f"{config.branch_prefix}{name}", tuple(changes))
        for name, changes in sorted(members.items())
    ]
    for group in groups:
        if not valid_branch(group.branch):
            raise InputError(
                f"group {group.name}", f"{group.branch!r} is not a branch name git accepts"
            )
    return [group for group in groups if group.applied]


def _group_name(change: PlannedChange, config: RepoConfig, owners: list[OwnerRule]) -> str:
    """A team is the first owner CODEOWNERS gives the workload's overlay; without one, the
    workloads nobody owns share the `unowned` PR rather than landing on a random team."""
    workload = change.workload
    if config.group_by == "all":
        name = "all"
    elif config.group_by == "application":
        name = f"{workload.namespace}-{workload.name}"
    elif config.group_by == "team":
        found = owners_of(owners, f"{workload.overlay}/kustomization.yaml")
        name = team_name(found[0]) if found else "unowned"
    else:
        name = workload.environment
    name = re.sub(r"[^A-Za-z0-9._-]+|\.{2,}", "-", name).strip("-.")
    return name.removesuffix(".lock") or "default"
