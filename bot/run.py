"""A run: plan, then for each PR group edit, prove, commit and publish through the forge.

Before anything is written the run reads what the forge holds (the bot's PRs, its branches)
and hands those facts to `bot.decisions.holds`, which decides per group: publish, or hold
and say why. Only then are branches pushed and PRs opened or updated, as decided.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

from git import Commit

from bot.compose import PullRequestText, compose, diff_annotations
from bot.config import RepoConfig
from bot.decisions.holds import HUMAN_PUSH, BranchFacts, decide_holds
from bot.decisions.model import RuleHit
from bot.decisions.releases import Release
from bot.decisions.verification import Verdict
from bot.forges.base import Annotation, Forge, Outcome, PullRequest, PullRequestDraft
from bot.groups import Group, group_changes
from bot.manifests.edit import FileChange, plan_file_changes
from bot.manifests.gitops import deploy_branches
from bot.markdown import inert
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
    """The PR's address, or why nothing was opened."""
    text: PullRequestText | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)
    number: int | None = None
    """The PR's number on the forge, when one was opened or updated."""
    hold: RuleHit | None = None
    """Why the group was held, when it was (the dashboard issue lists it)."""


@dataclass(frozen=True)
class Publication:
    """What a run published, group by group, and the bot's PRs as the forge listed them
    before it did (the dashboard issue lists the open ones this run's groups do not hold)."""

    results: list[GroupResult]
    pulls: list[PullRequest]
    verdicts: tuple[Verdict, ...] = ()
    """What became of the bot's merged changes, for the dashboard issue."""


@dataclass(frozen=True)
class Publishing:
    """What every step of one publication reads: the plan, the files and the commit it was
    read from (`base`, on which every branch is built), the checkout that commits, the
    forge, the repo's config, and the time the rules are judged at."""

    plan: Plan
    files: Path
    workspace: Workspace
    base: Commit
    forge: Forge
    config: RepoConfig
    now: datetime


def publish(
    plan: Plan,
    files: Path,
    workspace: Workspace,
    base: Commit,
    forge: Forge,
    config: RepoConfig,
    now: datetime,
    releases: Sequence[Release] = (),
) -> Publication:
    """Converge every group's branch and PR; a group whose proof fails is reported, not written.

    `base` is the commit the plan was read from, and `files` what it commits; every branch
    is built on it. `releases` are the groups reviewers let through their holds.
    """
    job = Publishing(plan, files, workspace, base, forge, config, now)
    groups = group_changes(plan, config, files)
    refuse_protected_branches(groups, config, files, forge.default_branch)
    found = forge.pull_requests(config.branch_prefix)
    pulls = newest_by_branch(found)
    facts = {g.branch: _branch_facts(job, g, pulls.get(g.branch)) for g in groups}
    holds = decide_holds(groups, facts, found, plan, config.pull_requests, now, releases)
    waiting = [f"{g.name}: {h.hit.text}" for g in groups if (h := holds.get(g.name)) and h.limit]
    results = []
    for group in groups:
        hold = holds.get(group.name)
        if hold is None:
            result = _publish_group(job, group, waiting)
            previous = pulls.get(group.branch)
            if previous is not None and previous.state == "merged":
                result = replace(result, notes=(f"#{previous.number} was merged: accepted",))
            results.append(result)
            continue
        if hold.hit.rule == HUMAN_PUSH and hold.pull is not None:
            forge.ensure_comment(hold.pull, HUMAN_PUSH, inert(hold.hit.text))
        why = f"{hold.hit.rule}: {hold.hit.text}"
        results.append(
            GroupResult(group.name, group.branch, "held", "not opened", why, hold=hold.hit)
        )
    return Publication(results, found, tuple(plan.verdicts))


def _branch_facts(job: Publishing, group: Group, previous: PullRequest | None) -> BranchFacts:
    handed_back = (
        previous is not None
        and previous.state == "closed"
        and job.forge.has_comment(previous, HUMAN_PUSH)
    )
    head = job.workspace.branch_head(group.branch)
    foreign = job.workspace.foreign_commits(head, job.base, job.config.bot) if head else []
    return BranchFacts(previous, handed_back, foreign[0] if foreign else None)


def newest_by_branch(pulls: list[PullRequest]) -> dict[str, PullRequest]:
    """The PR that speaks for each branch: the open one if there is one (a human may have
    opened a newer one from the same branch and closed it), else the newest closed."""
    found: dict[str, PullRequest] = {}
    for pull in sorted(pulls, key=lambda p: (p.state == "open", p.number)):
        found[pull.branch] = pull
    return found


def refuse_protected_branches(
    groups: list[Group], config: RepoConfig, repo: Path, default_branch: str
) -> None:
    """The bot never pushes to the default or base branch, nor (unless configured) to one a
    GitOps controller deploys from: its changes reach a cluster only through a merge."""
    protected = {default_branch: "the default branch", config.base_branch: "the base branch"}
    if not config.pull_requests.allow_deploy_branch:
        for branch, source in deploy_branches(repo).items():
            name = default_branch if branch == "HEAD" else branch
            protected.setdefault(name, f"deployed from by {source}")
    for group in groups:
        if group.branch in protected:
            raise InputError(
                f"branch {group.branch}",
                f"refusing to push: it is {protected[group.branch]}; change branch_prefix",
            )


def _publish_group(job: Publishing, group: Group, waiting: list[str]) -> GroupResult:
    plan, forge, config = job.plan, job.forge, job.config
    try:
        changes = group_file_changes(plan, group, job.files)
        edits = [change.edit for change in group.applied]
        diff = prove(job.files, plan.inventory, changes, edits)
    except (ProofFailed, InputError) as exc:
        return GroupResult(group.name, group.branch, "failed", "not opened", str(exc))
    text = compose(
        group,
        plan,
        config.base_branch,
        diff=diff,
        waiting=[line for line in waiting if not line.startswith(f"{group.name}: ")],
        limit=forge.body_limit,
        repo=job.files,
    )
    return converge_pull(
        job, group.name, group.branch, changes, text, diff_annotations(changes, group)
    )


def standing_hold(
    job: Publishing, name: str, branch: str, pulls: Sequence[PullRequest]
) -> GroupResult | None:
    """Why a PR the bot proposes on its own account (a revert, a schedule) is not written:
    a reviewer closed it without merging (not asked again), or a person pushed to its
    branch (theirs from then on). None when neither."""
    previous = newest_by_branch(list(pulls)).get(branch)
    if previous is not None and previous.state == "closed":
        hit = RuleHit("reviewer-closed", f"#{previous.number} was closed without merging")
        return GroupResult(name, branch, "held", "not opened", hit.text, hold=hit)
    head = job.workspace.branch_head(branch)
    foreign = job.workspace.foreign_commits(head, job.base, job.config.bot) if head else []
    if foreign:
        pushed = f"{foreign[0].committer.name} pushed {foreign[0].hexsha[:12]} to `{branch}`"
        hit = RuleHit(HUMAN_PUSH, f"{pushed}: the PR is theirs")
        return GroupResult(name, branch, "held", "not opened", hit.text, hold=hit)
    return None


def converge_pull(
    job: Publishing,
    name: str,
    branch: str,
    changes: list[FileChange],
    text: PullRequestText,
    annotations: Sequence[Annotation] = (),
) -> GroupResult:
    """Commit proven `changes` on the base as `branch` (unless it already holds exactly
    them) and converge its PR: every bot PR, a group's or a revert, is written this way."""
    config, forge = job.config, job.forge
    prepared = job.workspace.prepare_commit(
        job.base, branch, changes, text.commit_message, config.bot
    )
    branch_outcome: Outcome = "unchanged"
    head = prepared.previous
    if prepared.sha is not None:
        forge.ensure_branch(branch, prepared.sha, prepared.previous)
        branch_outcome = "updated" if prepared.previous else "created"
        head = prepared.sha
    settings = config.pull_requests
    draft = PullRequestDraft(
        name,
        branch,
        config.base_branch,
        text.title,
        text.body,
        labels=settings.labels,
        reviewers=settings.reviewers,
        team_reviewers=settings.team_reviewers,
        assignees=settings.assignees,
        draft=settings.draft,
    )
    outcome, pull = forge.ensure_pull_request(draft)
    if head is not None and (branch_outcome != "unchanged" or outcome != "unchanged"):
        forge.report_check(pull, head, text.title, text.summary, annotations)
    return GroupResult(name, branch, branch_outcome, outcome, pull.url, text, number=pull.number)


def group_file_changes(plan: Plan, group: Group, repo: Path) -> list[FileChange]:
    """The files a group's commit would change; `publish` proves them before committing, a
    read-only preview (`plan --format markdown`) only lists them."""
    edits = [change.edit for change in group.applied]
    return plan_file_changes(plan.inventory, edits, repo)
