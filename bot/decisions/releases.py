"""A reviewer's word that a held group may open now: given by ticking its box in the
dashboard issue, kept by the service, and read when holds are decided.

Only holds that weigh the bot's own caution can be released: the PR limits, too small a
saving, and a PR a reviewer closed (asked again on purpose). A freeze window is the
platform's rule and a branch a human pushed to is theirs: neither has a box.

A release lasts while the PR it lets through is open: once a PR of the group is closed or
merged after it was given, the group is judged afresh, so a second "no" holds again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

RELEASABLE = frozenset({"pr-limit", "min-pr-saving", "closed-pr"})


@dataclass(frozen=True)
class Release:
    group: str
    by: str
    since: datetime


def releasing(group: str, ended_at: datetime | None, releases: Sequence[Release]) -> Release | None:
    """The release in force for `group`; `ended_at` is when the PR that speaks for its
    branch was closed or merged (None while it is open, or when there is none)."""
    for release in reversed(releases):
        if release.group == group:
            return None if ended_at is not None and ended_at > release.since else release
    return None
