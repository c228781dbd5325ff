"""What a forge's webhooks tell the service, in words every forge shares.

Each forge checks its own deliveries and decides, from the payload alone, what one calls
for (`<forge>/webhooks.py`); the service (`bot/service/webhooks.py`) reads the request,
remembers the delivery and carries the decision out on the store. A decision is data: an
answer, one job, an installation change, or a PR's fate to record.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from bot.forges.events import Push

WATCHED_SUFFIXES = (".yaml", ".yml", ".csv", ".parquet", ".json")
"""Manifests, kustomizations, `.rightsizer.yaml`, policies and exports."""
WATCHED_DIRS = ("policies/", ".rightsizer/")
"""Policies in any form, and the repo's own PR templates under `.rightsizer/templates`."""
MAX_DELIVERY_ID = 128
"""Longer delivery ids are refused: they are stored and logged."""
LISTED_COMMITS = 20
"""GitLab's push hook lists at most this many commits, and counts all in total_commits_count."""


@dataclass
class Outcome:
    """What a delivery led to: the HTTP answer and what the log line and metric say."""

    status_code: int
    outcome: str
    """queued, recorded, ignored, duplicate, pong, refused, too_large, invalid."""
    body: dict[str, Any]
    repository: str | None = None
    jobs: list[dict[str, Any]] = field(default_factory=list)


class Refused(Exception):
    """A delivery answered with an error before anything is recorded."""

    def __init__(self, status_code: int, outcome: str, detail: str) -> None:
        super().__init__(detail)
        self.result = Outcome(status_code, outcome, {"detail": detail})


@dataclass(frozen=True)
class Enqueue:
    """A delivery that asks for one job: recorded with the delivery in one transaction."""

    repository: str
    reason: str
    delay: float
    details: dict[str, Any] | None = None
    installation: int | None = None
    """GitHub: the payload's installation, under which an unknown repository may be added."""
    served: bool = False
    """The operator lists this repository (GitLab): an unknown one is added as it is."""


@dataclass(frozen=True)
class Install:
    """An installation event: written with the delivery in one transaction, so a crash
    in between cannot leave a delivery seen and an installation missing."""

    installation: int
    account: str | None = None
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    uninstall: bool = False


@dataclass(frozen=True)
class RecordPull:
    """A bot PR merged or closed: its fate recorded."""

    repository: str
    number: int
    branch: str
    state: str
    url: str
    served: bool = False
    """As for `Enqueue`: a repository not yet known is added (GitLab), or ignored."""


Decision = Outcome | Enqueue | Install | RecordPull
PullBranch = Callable[[str, int], str | None]
"""The branch of the PR (repository, number) as the bot recorded opening it; None for a PR
the bot did not open. What makes a PR the bot's: a body anyone can write its marker into
is not."""


class Hooks(Protocol):
    """One forge's webhooks (`/webhooks/<name>`)."""

    name: str
    event_names: frozenset[str]
    """Event names counted in metrics as they are; any other is `other`, so a stranger
    sending made-up headers cannot grow the label set."""
    event_header: str
    delivery_headers: tuple[str, ...]
    """Where the delivery id is, first found wins."""

    def check_before_body(self, headers: Mapping[str, str]) -> None:
        """Refused before a byte of the body is read (no secret configured, a wrong token)."""
        ...

    def check_body(self, headers: Mapping[str, str], body: bytes) -> None:
        """Refused unless the body is the sender's (a signature over it)."""
        ...

    def check_identity(self, event: str, delivery: str) -> None:
        """Refused without the headers that name the event (and the delivery)."""
        ...

    def decide(
        self, event: str, payload: dict[str, Any], headers: Mapping[str, str], pulls: PullBranch
    ) -> Decision:
        """What the event calls for; `events.Malformed` for a payload of another shape."""
        ...


def touches_inputs(path: str) -> bool:
    """Whether a changed file can change a plan: manifests and config (YAML, JSON), exports
    (CSV, Parquet), policies, `.rightsizer.yaml` and the repo's PR templates."""
    lowered = path.lower()
    return lowered.endswith(WATCHED_SUFFIXES) or any(
        path.startswith(folder) or f"/{folder}" in path for folder in WATCHED_DIRS
    )


def push_skipped(push: Push, default_branch: str) -> str | None:
    """Why a push (GitHub or GitLab, which share these fields) does not call for a run."""
    if push.ref != f"refs/heads/{default_branch}":
        return f"{push.ref} is not the default branch {default_branch}"
    if push.deleted or push.after == "0" * 40:
        return "the branch was deleted"
    commits = [*push.commits, *([push.head_commit] if push.head_commit else [])]
    paths = [path for commit in commits for path in commit.paths]
    if any(touches_inputs(path) for path in paths):
        return None
    listed, total = len(push.commits), push.total_commits_count
    if total is not None and total > listed >= LISTED_COMMITS:
        return None  # GitLab lists the last 20 commits only: the others may touch inputs
    if not paths and push.forced:
        return None  # a force push that lists no commits: what changed is unknown
    return "no manifest, policy, config or export changed"


def ignored(why: str, repository: str | None = None) -> Outcome:
    return Outcome(200, "ignored", {"status": "ignored", "why": why}, repository)


def duplicate() -> Outcome:
    return Outcome(200, "duplicate", {"status": "duplicate"})


def recorded(number: int, state: str, repository: str) -> Outcome:
    body = {"status": "recorded", "number": number, "state": state}
    return Outcome(200, "recorded", body, repository)


def queued(jobs: list[dict[str, Any]], repository: str | None = None) -> Outcome:
    return Outcome(202, "queued", {"status": "queued", "jobs": jobs}, repository, jobs)
