"""The forge contract: publish the bot's branch and converge its pull request.

Every write is an idempotent `ensure_*`, so a rerun converges instead of duplicating, and a
run that crashed half way (branch pushed, PR not opened) is finished by the next one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import islice
from typing import Literal, Protocol, TypeVar

Outcome = Literal["created", "updated", "unchanged"]
Item = TypeVar("Item")
CLOSED_PULLS_READ = 200
"""Closed PRs are read most recently updated first, up to this many: enough for every bot PR
closed or merged lately and for the last hour's count, without paging through a monorepo's
whole history on every run."""
PullState = Literal["open", "closed", "merged"]
DASHBOARD_MARKER = "<!-- rightsizer:dashboard -->"
"""The first line of the dashboard issue's body: with its author being the bot, what tells
the bot's one dashboard from every other issue."""


@dataclass(frozen=True)
class PullRequestDraft:
    """What the bot wants a group's PR to say. Labels, people and draft mode are set when the
    PR opens and are the reviewers' afterwards: a label someone removed stays removed."""

    group: str
    branch: str
    base: str
    title: str
    body: str
    labels: tuple[str, ...] = ()
    reviewers: tuple[str, ...] = ()
    team_reviewers: tuple[str, ...] = ()
    assignees: tuple[str, ...] = ()
    draft: bool = False


@dataclass(frozen=True)
class PullRequest:
    """A PR as the forge reports it, whatever opened it."""

    number: int
    branch: str
    state: PullState
    url: str
    body: str
    created_at: datetime
    closed_at: datetime | None = None
    labels: tuple[str, ...] = field(default_factory=tuple)
    title: str = ""
    head: str = ""
    """The commit its branch pointed at (at the merge, for a merged PR)."""


@dataclass(frozen=True)
class Issue:
    """The dashboard issue as the forge reports it."""

    number: int
    url: str
    body: str


@dataclass(frozen=True)
class Annotation:
    """A note on lines of a file the PR changes, shown beside them in a forge's diff."""

    path: str
    start_line: int
    end_line: int
    message: str


@dataclass(frozen=True)
class ApiBudget:
    """What the forge said is left of this hour's API requests, as of the run's last call."""

    remaining: int
    resets_at: float
    """Unix time the budget is full again."""


class Forge(Protocol):
    """One implementation per forge (`github`, `gitlab`, `local`), chosen by `--forge`.

    `ensure_branch` is given the head the bot read; an adapter must refuse to overwrite a
    branch that moved since (a human pushed, or another run raced this one).
    """

    name: str
    default_branch: str
    """The branch the bot never pushes to, whatever the config says."""
    body_limit: int
    """The longest PR description the forge accepts, in characters."""

    def ensure_branch(self, branch: str, commit: str, previous: str | None) -> None: ...

    def pull_requests(self, prefix: str) -> list[PullRequest]:
        """Every PR, open or not, whose branch starts with `prefix`, newest first."""
        ...

    def ensure_pull_request(self, draft: PullRequestDraft) -> tuple[Outcome, PullRequest]: ...

    def ensure_comment(self, pull: PullRequest, key: str, text: str) -> Outcome:
        """One comment per `key` on the PR: written once, edited when `text` changes."""
        ...

    def has_comment(self, pull: PullRequest, key: str) -> bool: ...

    def report_check(
        self,
        pull: PullRequest,
        commit: str,
        title: str,
        summary: str,
        annotations: Sequence[Annotation] = (),
    ) -> None:
        """The summary beside the PR's head commit (a GitHub check run, a GitLab status),
        with `annotations` on the changed lines where the forge shows them."""
        ...

    def api_budget(self) -> ApiBudget | None:
        """The rate limit's state after the run's calls, where the forge reports one per
        credential the service shares between workers (a GitHub App installation)."""
        ...

    def dashboard_text(self) -> str | None:
        """The bot's dashboard issue's text as it is now (None without one): a run the
        service did not start reads its ticked boxes here."""
        ...

    def close_dashboard(self) -> bool:
        """Close the bot's open dashboard issue, if there is one (the repo turned it off):
        whether one was closed."""
        ...

    def ensure_dashboard(self, title: str, body: str) -> tuple[Outcome, Issue]:
        """The bot's one dashboard issue, converged: the open issue the bot itself wrote
        whose body starts with `DASHBOARD_MARKER` (a stranger's issue carrying the marker is
        never adopted) is edited when its title or body differ, and one is opened when there
        is none. `body` starts with the marker."""
        ...


def comment_marker(key: str) -> str:
    """The hidden line that tells the bot's own comment for `key` from everyone else's."""
    return f"<!-- rightsizer:comment {key} -->"


def converge_comment(
    comments: Iterable[Item],
    body_of: Callable[[Item], str],
    key: str,
    text: str,
    edit: Callable[[Item, str], object],
    create: Callable[[str], object],
) -> Outcome:
    """`ensure_comment` over any forge's comments: the marked one is edited or left alone,
    and only when there is none is one written."""
    marker = comment_marker(key)
    body = f"{marker}\n{text}"
    for comment in comments:
        if body_of(comment).startswith(marker):
            if body_of(comment) == body:
                return "unchanged"
            edit(comment, body)
            return "updated"
    create(body)
    return "created"


def bot_pulls(
    opened: Iterable[Item],
    closed: Iterable[Item],
    mine: Callable[[Item], bool],
    convert: Callable[[Item], PullRequest],
) -> list[PullRequest]:
    """`Forge.pull_requests` from a forge's two listings: every open PR, and the most
    recently updated closed ones. `mine` keeps the bot's (its branch prefix, in this repo:
    a fork's PR from a branch of the same name is someone else's)."""
    found: dict[int, PullRequest] = {}
    for item in opened:
        if mine(item):
            pull = convert(item)
            found[pull.number] = pull
    for item in islice(closed, CLOSED_PULLS_READ):
        if mine(item):
            pull = convert(item)
            found.setdefault(pull.number, pull)
    return sorted(found.values(), key=lambda p: p.number, reverse=True)


class Conversation(Protocol):
    """Where the service answers a command given in a PR comment."""

    def permission(self, login: str) -> str:
        """The user's role in GitHub's words: admin, maintain, write, triage, read, none."""
        ...

    def comment(self, number: int, comment_id: int) -> tuple[str, str]:
        """The comment's author and text as the forge holds them now: a webhook's word for
        either is not enough (GitLab's token is shared, and a comment can be edited)."""
        ...

    def reply(self, number: int, text: str) -> None: ...

    def is_dashboard(self, number: int) -> bool:
        """Whether issue `number` is the bot's own open dashboard, as the forge says now: a
        box ticked in a stranger's issue carrying the marker, or in a closed dashboard,
        asks for nothing."""
        ...


class ForgeError(Exception):
    """The forge refused or failed after retries: one line naming what was asked, no secret.

    A run stops at the first one; whatever it pushed is finished by the next run.
    """

    def __init__(self, action: str, problem: str, retry_after: float | None = None) -> None:
        super().__init__(f"{action}: {problem}")
        self.action = action
        self.problem = problem
        self.retry_after = retry_after
        """Seconds the forge asked to wait (`Retry-After`, a rate limit's reset), if it did:
        the job's retry waits at least this long."""
