"""Whether each PR group is published this run, or held, and why.

Holding covers policy (a freeze window, too small a saving), reviewers (a PR closed without
merging, a human commit on the bot's branch) and the PR limits. Publishing gathers what the
forge and the checkout say about each branch (`BranchFacts`) before anything is written,
and only carries these decisions out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from bot.config import PullRequestSettings
from bot.decisions.model import RuleHit
from bot.decisions.releases import RELEASABLE, Release, releasing
from bot.forges.base import PullRequest
from bot.groups import Group
from bot.planner import Plan, workload_key
from bot.pr_metadata import PullRequestMetadata, metadata_for, read_metadata
from bot.rules.freeze import freeze_hit

if TYPE_CHECKING:
    from git import Commit

HUMAN_PUSH = "human-push"


@dataclass(frozen=True)
class Hold:
    """Why a group's branch and PR are left as they are this run."""

    hit: RuleHit
    pull: PullRequest | None = None
    """The open PR a human took over: it gets the `human-push` comment."""
    limit: bool = False
    """Held only by the PR limits: the PRs that do open list it as waiting."""


@dataclass(frozen=True)
class BranchFacts:
    """What the forge and the checkout say about one group's branch."""

    previous: PullRequest | None
    """The PR that speaks for the branch: the open one, else the newest closed or merged."""
    handed_back: bool
    """`previous` was closed after the bot's `human-push` comment: the human deleted the
    branch to hand it back, which is not a reviewer's "no"."""
    foreign: Commit | None
    """The newest commit on the branch that the bot did not make, if any."""


def decide_holds(
    groups: list[Group],
    facts: dict[str, BranchFacts],
    found: list[PullRequest],
    plan: Plan,
    settings: PullRequestSettings,
    now: datetime,
    releases: Sequence[Release] = (),
) -> dict[str, Hold]:
    """Which groups wait, in group order, so the PR limits fall on the same groups every run.
    `found` is every bot PR the forge listed (what the limits count); `facts` is per branch.
    A group a reviewer released opens despite the holds it may lift, the limits included:
    they asked for it now."""
    open_count = sum(pull.state == "open" for pull in found)
    last_hour = sum(pull.created_at > now - timedelta(hours=1) for pull in found)
    holds: dict[str, Hold] = {}
    for group in groups:
        branch = facts[group.branch]
        previous = branch.previous
        opened = previous.created_at if previous else None
        ended = previous.closed_at if previous and previous.state != "open" else None
        released = releasing(group.name, opened, ended, releases, now) is not None
        hold = _hold(group, branch, plan, settings, now, released)
        if hold is not None:
            holds[group.name] = hold
        elif previous is not None and previous.state == "open":
            continue
        elif released:
            open_count += 1
            last_hour += 1
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


def _hold(
    group: Group,
    branch: BranchFacts,
    plan: Plan,
    settings: PullRequestSettings,
    now: datetime,
    released: bool,
) -> Hold | None:
    for hit in (held_back(group, plan, now), _closed_by_reviewer(group, branch, settings)):
        if hit is not None and not (released and hit.rule in RELEASABLE):
            return Hold(hit)
    previous = branch.previous
    if previous is not None and previous.state == "merged":
        return None  # the branch's history is merged; what is on it now is the bot's to redo
    if branch.foreign is None:
        return None
    commit = branch.foreign
    text = (
        f"{commit.committer.name} pushed {commit.hexsha[:12]} to `{group.branch}`, so "
        "Rightsizer no longer updates it: the branch is yours. To hand it back, delete the "
        "branch; Rightsizer then proposes afresh in a new PR."
    )
    pull = previous if previous is not None and previous.state == "open" else None
    return Hold(RuleHit(HUMAN_PUSH, text), pull)


def _closed_by_reviewer(
    group: Group, branch: BranchFacts, settings: PullRequestSettings
) -> RuleHit | None:
    """A PR closed without merging is a reviewer's "no": not asked again until a value it
    proposed moves by more than `reopen_after_change`, or a change it did not hold joins.
    A PR the bot had handed to a human, closed because they deleted the branch as its
    comment asks, is not a "no"."""
    previous = branch.previous
    if previous is None or previous.state != "closed":
        return None
    share = settings.reopen_after_change
    if moved(read_metadata(previous.body), metadata_for(group), share) or branch.handed_back:
        return None
    when = f" on {previous.closed_at:%Y-%m-%d}" if previous.closed_at else ""
    text = (
        f"#{previous.number} was closed without merging{when}; a new one opens when a value "
        f"moves more than {share:.0%} from what it proposed"
    )
    return RuleHit("closed-pr", text)
