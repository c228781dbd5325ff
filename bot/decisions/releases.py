"""A reviewer's word that a held group may open now: given by ticking its box in the
dashboard issue, kept by the service, and read when holds are decided.

Only holds that weigh the bot's own caution can be released: the PR limits, too small a
saving, and a PR a reviewer closed (asked again on purpose). A freeze window is the
platform's rule and a branch a human pushed to is theirs: neither has a box.

A release lasts while the PR it let through is open: once that PR is closed or merged, the
group is judged afresh, so a second "no" holds again. A release that let nothing through
(the group stayed frozen, or had nothing to change) lapses after `UNUSED_DAYS`: a group
back months later is asked about again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

RELEASABLE = frozenset({"pr-limit", "min-pr-saving", "closed-pr"})
UNUSED_DAYS = 7


@dataclass(frozen=True)
class Release:
    group: str
    by: str
    since: datetime


def releasing(
    group: str,
    opened_at: datetime | None,
    ended_at: datetime | None,
    releases: Sequence[Release],
    now: datetime,
) -> Release | None:
    """The release in force for `group`, given the PR that speaks for its branch: when it
    was opened, and when it was closed or merged (None while open, or without a PR)."""
    for release in reversed(releases):
        if release.group != group:
            continue
        if ended_at is not None and ended_at > release.since:
            return None  # its PR was merged or closed since: judged afresh
        if opened_at is not None and opened_at >= release.since:
            return release  # the PR it let through, still open
        return release if now - release.since <= timedelta(days=UNUSED_DAYS) else None
    return None
