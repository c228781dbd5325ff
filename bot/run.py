"""A run: plan, then for each PR group edit, prove, commit and publish through the forge.

Before anything is written the run reads what the forge holds (the bot's PRs, its branches)
and decides per group: publish, or hold and say why. Holding covers policy (freeze windows,
too small a saving), reviewers (a PR closed without merging, a human commit on the bot's
branch) and the PR limits; only then are branches pushed and PRs opened or updated.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path

from git import Commit

from bot.compose import PullRequestText, compose
from bot.config import RepoConfig
from bot.forges.base import Forge, Outcome, PullRequest, PullRequestDraft
from bot.groups import Group, group_changes
from bot.manifests.edit import FileChange, plan_file_changes
from bot.manifests.gitops import deploy_branches
from bot.manifests.yamlio import read_if_present
from bot.planner import Plan, workload_key
from bot.policy import RuleHit
from bot.pr_metadata import PullRequestMetadata, metadata_for, read_metadata
from bot.proof import ProofFailed, prove
from bot.rules.freeze import freeze_hit
from bot.workspace import Workspace
from recommenders.errors import InputError

HUMAN_PUSH = "human-push"


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


@dataclass(frozen=True)
class Hold:
    """Why a group's branch and PR are left as they are this run."""

    hit: RuleHit
    pull: PullRequest | None = None
    limit: bool = False


@dataclass(frozen=True)
class Publishing:
    """What every step of one publication reads: the plan, the checkout and the commit it was
    read from (`base`, on which every branch is built), the forge, the repo's config, and
    the time the rules are judged at."""

    plan: Plan
    workspace: Workspace
    base: Commit
    forge: Forge
    config: RepoConfig
    now: datetime


def publish(
    plan: Plan,
    workspace: Workspace,
    base: Commit,
    forge: Forge,
    config: RepoConfig,
    now: datetime,
) -> list[GroupResult]:
    """Converge every group's branch and PR; a group whose proof fails is reported, not written.

    `base` is the commit the plan was read from; every branch is built on it.
    """
    job = Publishing(plan, workspace, base, forge, config, now)
    groups = group_changes(plan, config, workspace.path)
    refuse_protected_branches(groups, config, workspace.path, forge.default_branch)
    found = forge.pull_requests(config.branch_prefix)
    pulls = newest_by_branch(found)
    holds = decide_holds(job, groups, found, pulls)
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
            forge.ensure_comment(hold.pull, HUMAN_PUSH, hold.hit.text)
        why = f"{hold.hit.rule}: {hold.hit.text}"
        results.append(GroupResult(group.name, group.branch, "held", "not opened", why))
    return results


def decide_holds(
    job: Publishing,
    groups: list[Group],
    found: list[PullRequest],
    pulls: dict[str, PullRequest],
) -> dict[str, Hold]:
    """Which groups wait, in group order, so the PR limits fall on the same groups every run.
    `found` is every bot PR the forge listed (what the limits count), `pulls` the one that
    speaks for each branch."""
    settings = job.config.pull_requests
    open_count = sum(pull.state == "open" for pull in found)
    last_hour = sum(pull.created_at > job.now - timedelta(hours=1) for pull in found)
    holds: dict[str, Hold] = {}
    for group in groups:
        previous = pulls.get(group.branch)
        hold = _hold(job, group, previous)
        if hold is not None:
            holds[group.name] = hold
        elif previous is not None and previous.state == "open":
            continue
        elif open_count >= settings.max_open:
            text = f"{open_count} open PRs is the limit (pull_requests.max_open)"
            holds[group.name] = Hold(RuleHit("pr-limit", text), limit=True)
        elif last_hour >= settings.max_per_hour:
            text = (
                f"{last_hour} PRs opened in the last hour is the limit (pull_requests.max_per_hour)"
            )
            holds[group.name] = Hold(RuleHit("pr-limit", text), limit=True)
        else:
            open_count += 1
            last_hour += 1
    return holds


def _hold(job: Publishing, group: Group, previous: PullRequest | None) -> Hold | None:
    hit = held_back(group, job.plan, job.now) or _closed_by_reviewer(job, group, previous)
    if hit is not None:
        return Hold(hit)
    if previous is not None and previous.state == "merged":
        return None  # the branch's history is merged; what is on it now is the bot's to redo
    hit = _taken_over(job, group)
    if hit is not None:
        return Hold(hit, previous if previous is not None and previous.state == "open" else None)
    return None


def _closed_by_reviewer(
    job: Publishing, group: Group, previous: PullRequest | None
) -> RuleHit | None:
    """A PR closed without merging is a reviewer's "no": not asked again until a value it
    proposed moves by more than `reopen_after_change`, or a change it did not hold joins.
    A PR the bot had handed to a human (its `human-push` comment) closed because they
    deleted the branch, as the comment asks to hand it back: that is not a "no"."""
    if previous is None or previous.state != "closed":
        return None
    share = job.config.pull_requests.reopen_after_change
    if moved(read_metadata(previous.body), metadata_for(group), share):
        return None
    if job.forge.has_comment(previous, HUMAN_PUSH):
        return None
    when = f" on {previous.closed_at:%Y-%m-%d}" if previous.closed_at else ""
    text = (
        f"#{previous.number} was closed without merging{when}; a new one opens when a value "
        f"moves more than {share:.0%} from what it proposed"
    )
    return RuleHit("closed-pr", text)


def moved(old: PullRequestMetadata | None, new: PullRequestMetadata, share: float) -> bool:
    """Whether `new` differs from the closed PR's proposal by more than `share` of any value.
    A closed PR whose metadata cannot be read (edited by hand) proposed nothing we know."""
    before = {value.change: value.proposed for value in old.values} if old else {}
    for value in new.values:
        if value.change not in before:
            return True
        previous = before[value.change]
        if abs(value.proposed - previous) > share * max(abs(previous), 1e-12):
            return True
    return False


def _taken_over(job: Publishing, group: Group) -> RuleHit | None:
    head = job.workspace.branch_head(group.branch)
    if head is None:
        return None
    foreign = job.workspace.foreign_commits(head, job.base, job.config.bot)
    if not foreign:
        return None
    commit = foreign[0]
    text = (
        f"{commit.committer.name} pushed {commit.hexsha[:12]} to `{group.branch}`, so "
        "Rightsizer no longer updates it: the branch is yours. To hand it back, delete the "
        "branch; Rightsizer then proposes afresh in a new PR."
    )
    return RuleHit(HUMAN_PUSH, text)


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
    plan, workspace, forge, config = job.plan, job.workspace, job.forge, job.config
    try:
        changes = group_file_changes(plan, group, workspace.path)
        edits = [change.edit for change in group.applied]
        diff = prove(workspace.path, plan.inventory, changes, edits)
    except (ProofFailed, InputError) as exc:
        return GroupResult(group.name, group.branch, "failed", "not opened", str(exc))
    text = compose(
        group,
        plan,
        config.base_branch,
        [change.path for change in changes],
        diff=diff,
        waiting=[line for line in waiting if not line.startswith(f"{group.name}: ")],
        limit=forge.body_limit,
        repo=workspace.path,
    )
    prepared = workspace.prepare_commit(
        job.base, group.branch, changes, text.commit_message, config.bot
    )
    branch_outcome: Outcome = "unchanged"
    head = prepared.previous
    if prepared.sha is not None:
        forge.ensure_branch(group.branch, prepared.sha, prepared.previous)
        branch_outcome = "updated" if prepared.previous else "created"
        head = prepared.sha
    settings = config.pull_requests
    draft = PullRequestDraft(
        group.name,
        group.branch,
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
        forge.report_check(pull, head, text.title, text.summary)
    return GroupResult(
        group.name, group.branch, branch_outcome, outcome, pull.url, text, number=pull.number
    )


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
