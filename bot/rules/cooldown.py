"""Cooldown: the bot never reverses one of its own changes that reached the branch recently.

Sizing from a moving window can flip-flop: a quiet week shrinks a value, a busy one grows it
back, and every flip is a pull request to review and a rollout to watch. So a change that moves
a field the other way from a change the bot made within the last N days is held back; a second
step in the same direction (a staged downsize) is not a reversal.

What the bot did is read from the base branch's history, not from a state file: every bot commit
ends with one `Rightsizer-Change:` git trailer per applied change (templates/commit_message.txt.j2)
holding the numbers the decision used in base units, so nothing needs parsing back from manifest
text. The trailer is the contract, not the author: a commit written under the bot's name without
one is not a record, and one a human rewrote keeps counting as long as its trailers parse. Git
itself finds the trailer block (`git interpret-trailers --parse`), so a line that merely looks
like a trailer inside a message body is not read.

A change is dated by when it reached the branch, i.e. the committer date of the first-parent
commit that brought it (the merge, the squashed commit, or the rebased commit itself), because
the cooldown is about time in production, not about when the bot proposed it.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from git import Commit, Repo
from git.exc import GitCommandError, InvalidGitRepositoryError, NoSuchPathError
from gitdb.exc import BadName

from bot.decisions.model import RuleHit
from bot.manifests.quantities import readable
from recommenders.errors import InputError

RULE = "cooldown"
TRAILER = "Rightsizer-Change"
_CHANGE = re.compile(
    r"(?P<key>[^/\s]+/[^/\s]+/[^/\s]+/[^/\s]+) (?P<container>\S+) (?P<field>[A-Za-z][\w.]*)"
    r" (?P<old>\S+) -> (?P<new>\S+)"
)
_NO_CONTAINER = "-"


@dataclass(frozen=True)
class PastChange:
    """One change the bot made, as its trailer records it, and when it reached the branch."""

    key: str
    """`<environment>/<namespace>/<Kind>/<name>`, as `WorkloadKey` prints it."""
    container: str | None
    field: str
    old: float
    new: float
    when: datetime
    sha: str
    """The commit that carries the trailer: the bot's own commit, or the squashed one."""


def bot_changes(repo: Path, branch: str, since: datetime) -> list[PastChange]:
    """Every change recorded in trailers that reached `branch` at or after `since`, newest first.

    Walks `branch`'s first parents and stops at the first one committed before `since`; for a
    merge, the commits it brought in are read too. A commit with any malformed
    `Rightsizer-Change` trailer is skipped as a whole: a record that half parses is not trusted.
    """
    if since.tzinfo is None:
        raise ValueError("`since` must be timezone-aware")
    try:
        git_repo = Repo(repo)
    except (InvalidGitRepositoryError, NoSuchPathError) as exc:
        raise InputError(str(repo), "not a git repository") from exc
    with git_repo:
        try:
            tip = git_repo.commit(branch)
        except (GitCommandError, ValueError, BadName) as exc:
            raise InputError(str(repo), f"has no branch {branch!r} to read changes from") from exc
        found: list[PastChange] = []
        for landed in git_repo.iter_commits(tip, first_parent=True):
            when = landed.committed_datetime
            if when < since:
                break
            seen: set[tuple[str, str | None, str, float, float]] = set()
            for carrier in [landed, *_brought_in(git_repo, landed)]:
                for change in _recorded(carrier, when):
                    identity = (change.key, change.container, change.field, change.old, change.new)
                    if identity not in seen:
                        seen.add(identity)
                        found.append(change)
    return found


def reverts(
    past: list[PastChange],
    key: str,
    container: str | None,
    field: str,
    current: float,
    proposed: float,
    now: datetime,
    days: float,
) -> RuleHit | None:
    """The cooldown hit when moving `field` from `current` to `proposed` goes back on a change
    the bot made to the same field within `days` of `now`; None when it does not.

    Only the direction counts: after a decrease, any increase is a reversal and a further
    decrease is not. The newest reversed change is the one named.
    """
    if now.tzinfo is None:
        raise ValueError("`now` must be timezone-aware")
    step = proposed - current
    if step == 0 or days <= 0:
        return None
    window = timedelta(days=days)
    reversed_ = [
        change
        for change in past
        if (change.key, change.container, change.field) == (key, container, field)
        and now - change.when < window
        and (change.new - change.old) * step < 0
    ]
    if not reversed_:
        return None
    last = max(reversed_, key=lambda change: change.when)
    merged = last.when.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return RuleHit(
        RULE,
        f"reverses {readable(last.old, field)} -> {readable(last.new, field)} merged {merged} "
        f"({last.sha[:7]}); no reversal within {days:g} days",
    )


def parse_change(value: str, when: datetime, sha: str) -> PastChange | None:
    """A trailer's value as a change; None when it is not in the trailer format."""
    match = _CHANGE.fullmatch(value.strip())
    if match is None:
        return None
    try:
        old, new = float(match["old"]), float(match["new"])
    except ValueError:
        return None
    if not (math.isfinite(old) and math.isfinite(new)) or old < 0 or new < 0:
        return None
    container = None if match["container"] == _NO_CONTAINER else match["container"]
    return PastChange(match["key"], container, match["field"], old, new, when, sha)


def _brought_in(repo: Repo, commit: Commit) -> list[Commit]:
    """The commits a merge brought onto the first-parent line, newest first; none otherwise."""
    if len(commit.parents) < 2:
        return []
    first, *others = commit.parents
    shas = repo.git.rev_list(*(p.hexsha for p in others), f"^{first.hexsha}").split()
    return [repo.commit(sha) for sha in shas]


def _recorded(commit: Commit, when: datetime) -> list[PastChange]:
    """The changes `commit`'s trailers record; none if it has none or any is malformed."""
    message = commit.message if isinstance(commit.message, str) else commit.message.decode()
    if TRAILER.lower() not in message.lower():
        return []  # no need to ask git: most commits on a busy branch are not the bot's
    try:
        trailers = commit.trailers_list
    except (GitCommandError, ValueError, UnicodeDecodeError):
        return []
    changes = []
    for name, value in trailers:
        if name.lower() != TRAILER.lower():
            continue
        change = parse_change(value, when, commit.hexsha)
        if change is None:
            return []
        changes.append(change)
    return changes
