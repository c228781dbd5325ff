"""A run: plan, then for each PR group edit, prove, commit and publish through the forge."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bot.compose import compose
from bot.config import RepoConfig
from bot.forges.base import Forge, Outcome, PullRequestDraft
from bot.groups import group_changes
from bot.manifests.edit import plan_file_changes
from bot.manifests.yamlio import read_text
from bot.planner import Plan
from bot.proof import ProofFailed, prove
from bot.workspace import Workspace
from recommenders.errors import InputError


@dataclass(frozen=True)
class GroupResult:
    group: str
    branch: str
    branch_outcome: Outcome | str
    pull_request: Outcome | str
    location: str
    title: str
    body: str


def publish(plan: Plan, workspace: Workspace, forge: Forge, config: RepoConfig) -> list[GroupResult]:
    """Converge every group's branch and PR; a group whose proof fails is reported, not written."""
    base = workspace.base_commit(config.base_branch)
    results = []
    for group in group_changes(plan, config):
        edits = [change.edit for change in group.applied]
        text = compose(group, plan, config.base_branch)
        try:
            changes = plan_file_changes(plan.inventory, edits, _reader(workspace.path))
            prove(workspace.path, plan.inventory, changes, edits)
        except (ProofFailed, InputError) as exc:
            results.append(
                GroupResult(group.name, group.branch, "failed", "not opened", str(exc), text.title, "")
            )
            continue
        prepared = workspace.prepare_commit(
            base, group.branch, changes, text.commit_message, config.bot
        )
        branch_outcome: Outcome = "unchanged"
        if prepared.sha is not None:
            forge.ensure_branch(group.branch, prepared.sha, prepared.previous)
            branch_outcome = "updated" if prepared.previous else "created"
        draft = PullRequestDraft(group.name, group.branch, config.base_branch, text.title, text.body)
        outcome, location = forge.ensure_pull_request(draft)
        results.append(
            GroupResult(
                group.name, group.branch, branch_outcome, outcome, location, text.title, text.body
            )
        )
    return results


def _reader(repo: Path):  # type: ignore[no-untyped-def]
    def read(path: str) -> str | None:
        return read_text(repo, path) if (repo / path).is_file() else None

    return read
