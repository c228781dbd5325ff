"""The forge contract: publish the bot's branch and converge its pull request."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

Outcome = Literal["created", "updated", "unchanged"]


@dataclass(frozen=True)
class PullRequestDraft:
    group: str
    branch: str
    base: str
    title: str
    body: str


class Forge(Protocol):
    """Writes are idempotent `ensure_*` calls, so a rerun converges instead of duplicating.

    `ensure_branch` is given the head the bot read; an adapter must refuse to overwrite a
    branch that moved since (a human pushed, or another run raced this one).
    """

    name: str

    def ensure_branch(self, branch: str, commit: str, previous: str | None) -> None: ...

    def ensure_pull_request(self, draft: PullRequestDraft) -> tuple[Outcome, str]: ...
