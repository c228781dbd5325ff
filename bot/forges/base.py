"""The forge contract: publish the bot's branch and converge its pull request.

Every write is an idempotent `ensure_*`, so a rerun converges instead of duplicating, and a
run that crashed half way (branch pushed, PR not opened) is finished by the next one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol

Outcome = Literal["created", "updated", "unchanged"]
PullState = Literal["open", "closed", "merged"]


@dataclass(frozen=True)
class PullRequestDraft:
    """What the bot wants a group's PR to say; labels and people apply on top of what is
    there (a label a human added stays), reviewers and draft mode only when it is opened."""

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

    def report_check(self, pull: PullRequest, commit: str, title: str, summary: str) -> None:
        """The summary beside the PR's head commit (a GitHub check run, a GitLab status)."""
        ...


def comment_marker(key: str) -> str:
    """The hidden line that tells the bot's own comment for `key` from everyone else's."""
    return f"<!-- rightsizer:comment {key} -->"


class ForgeError(Exception):
    """The forge refused or failed after retries: one line naming what was asked, no secret.

    A run stops at the first one; whatever it pushed is finished by the next run.
    """

    def __init__(self, action: str, problem: str) -> None:
        super().__init__(f"{action}: {problem}")
        self.action = action
        self.problem = problem
