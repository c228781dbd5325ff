"""A run: plan, then for each PR group edit, prove, commit and publish through the forge."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from git import Commit

from bot.compose import PullRequestText, compose
from bot.config import RepoConfig
from bot.forges.base import Forge, Outcome, PullRequestDraft
from bot.groups import Group, group_changes
from bot.manifests.edit import FileChange, plan_file_changes
from bot.manifests.yamlio import read_if_present
from bot.planner import Plan, workload_key
from bot.policy import RuleHit
from bot.proof import ProofFailed, prove
from bot.rules.freeze import freeze_hit
from bot.workspace import Workspace
from recommenders.errors import InputError


@dataclass(frozen=True)
class GroupResult:
    group: str
    branch: str
    branch_outcome: Outcome | str
    pull_request: Outcome | str
    location: str
    text: PullRequestText | None = None


def publish(
    plan: Plan,
    workspace: Workspace,
    base: Commit,
    forge: Forge,
    config: RepoConfig,
    now: datetime,
) -> list[GroupResult]:
    """Converge every group's branch and PR; a group whose proof fails is reported, not written.

    `base` is the commit the plan was read from; every branch is built on it. A group in a
    freeze window, or saving less than the policy's minimum per PR, is held: its branch and
    PR are left as they are.
    """
    results = []
    for group in group_changes(plan, config):
        hit = held_back(group, plan, now)
        if hit is not None:
            why = f"{hit.rule}: {hit.text}"
            results.append(GroupResult(group.name, group.branch, "held", "not opened", why))
            continue
        try:
            changes = group_file_changes(plan, group, workspace.path)
            edits = [change.edit for change in group.applied]
            prove(workspace.path, plan.inventory, changes, edits)
        except (ProofFailed, InputError) as exc:
            results.append(GroupResult(group.name, group.branch, "failed", "not opened", str(exc)))
            continue
        text = compose(group, plan, config.base_branch, [change.path for change in changes])
        prepared = workspace.prepare_commit(
            base, group.branch, changes, text.commit_message, config.bot
        )
        branch_outcome: Outcome = "unchanged"
        if prepared.sha is not None:
            forge.ensure_branch(group.branch, prepared.sha, prepared.previous)
            branch_outcome = "updated" if prepared.previous else "created"
        draft = PullRequestDraft(
            group.name, group.branch, config.base_branch, text.title, text.body
        )
        outcome, location = forge.ensure_pull_request(draft)
        results.append(
            GroupResult(group.name, group.branch, branch_outcome, outcome, location, text)
        )
    return results


def held_back(group: Group, plan: Plan, now: datetime) -> RuleHit | None:
    """Why a whole PR waits: a freeze window in force for one of its workloads (set at any
    level, a namespace's or a label's included), or too small a saving (a PR that only saves
    is worth a reviewer only above the largest minimum of its workloads; one that adds
    resources fixes a risk and is never held for it)."""
    keys = {workload_key(change.workload) for change in group.applied}
    rules = [plan.rules[key] for key in sorted(keys, key=str)]
    for found in rules:
        hit = freeze_hit(found.freeze, now)
        if hit is not None:
            return hit
    if not group.applied:
        return None
    minimum = max(found.min_pr_monthly_saving for found in rules)
    saving = -sum(change.decision.monthly_cost_delta for change in group.applied)
    increases = any(c.decision.value > c.decision.recommendation.current for c in group.applied)
    if not increases and saving < minimum:
        text = f"saves ${saving:.2f}/month in all, below the ${minimum:.2f} minimum per PR"
        return RuleHit("min-pr-saving", text)
    return None


def group_file_changes(plan: Plan, group: Group, repo: Path) -> list[FileChange]:
    """The files a group's commit would change; `publish` proves them before committing, a
    read-only preview (`plan --format markdown`) only lists them."""
    edits = [change.edit for change in group.applied]
    return plan_file_changes(plan.inventory, edits, lambda path: read_if_present(repo, path))
