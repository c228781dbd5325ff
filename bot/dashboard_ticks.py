"""The dashboard issue's checkboxes, read back: what a reviewer asked for by ticking one.

Each box the bot writes carries a hidden marker after it, `<!-- rightsizer:rerun -->` or
`<!-- rightsizer:release GROUP -->` (the group's name percent-encoded, so no name can close
the comment or add markup), and the bot rewrites the issue with every box clear after acting.
A webhook acts only on boxes ticked by that edit (`newly_ticked`): the bot's own rewrite, or
a person editing the text around a ticked box, asks for nothing. This module reads text only,
so the webhooks can use it before anything is queued.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Literal
from urllib.parse import quote, unquote

TickAction = Literal["rerun", "release"]
MAX_TICKS = 100
"""Boxes read from one issue at most: a person ticks a few at a time, and an issue edited by
hand to hold thousands must not become thousands of releases."""
_BOX = re.compile(
    r"^[ \t]*[-*+][ \t]+\[(?P<mark>[ xX])\][ \t]*"
    r"<!-- rightsizer:(?P<action>rerun|release)(?: (?P<group>[A-Za-z0-9%._~-]{1,512}))? -->",
    re.MULTILINE,
)


@dataclass(frozen=True)
class Tick:
    """One box the dashboard offers: rerun the repository, or release a held group."""

    action: TickAction
    group: str | None = None

    def marker(self) -> str:
        """The hidden comment written after the box, which `ticked` reads back."""
        if self.group is None:
            return f"<!-- rightsizer:{self.action} -->"
        return f"<!-- rightsizer:{self.action} {quote(self.group, safe='')} -->"


def ticked(body: str) -> list[Tick]:
    """The boxes ticked in `body`, in order, each once, the first `MAX_TICKS`."""
    found: list[Tick] = []
    for match in _BOX.finditer(body):
        if match["mark"] == " ":
            continue
        action: TickAction = "rerun" if match["action"] == "rerun" else "release"
        group = match["group"]
        if (action == "release") != (group is not None):
            continue  # a release names its group, a rerun none
        tick = Tick(action, unquote(group) if group else None)
        if tick not in found:
            found.append(tick)
        if len(found) == MAX_TICKS:
            break
    return found


def ticked_details(ticks: list[Tick]) -> list[list[str | None]]:
    """The ticks as a job's details hold them (JSON), for the worker to act on."""
    return [[tick.action, tick.group] for tick in ticks]


def ticks_key(ticks: list[Tick]) -> str:
    """A short name for one set of ticks, in a job's reason: a job waiting for the same
    person's same ticks takes a repeat delivery in, one for other ticks is a job of its
    own (a waiting job keeps its own details)."""
    text = json.dumps(ticked_details(ticks))
    return hashlib.blake2b(text.encode(), digest_size=4).hexdigest()


def newly_ticked(before: str, after: str) -> list[Tick]:
    """The boxes ticked in `after` that were not in `before`: what one edit asks for."""
    old = set(ticked(before))
    return [tick for tick in ticked(after) if tick not in old]
