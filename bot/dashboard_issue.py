"""The dashboard issue: one issue per repository, rewritten in place after every run, that
says what the bot has open, what it holds back and why, and which reviewers' commands stand,
in the manner of Renovate's Dependency Dashboard.

It is written from the run's results and the standing commands only, with no time of day in
it, so a run that changed nothing leaves the issue as it was (no edit, no notification).
Its boxes (`bot.dashboard_ticks`) are always written clear: a tick is a request, carried out
by the run that reads it (the service's, once the forge says who ticked; any other run at its
start) and cleared when that run writes the issue again.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from markupsafe import Markup

from bot.compose import cut_at_a_line, environment, render
from bot.dashboard_ticks import Tick
from bot.decisions.overrides import Override
from bot.decisions.releases import RELEASABLE
from bot.decisions.verification import Verdict
from bot.forges.base import DASHBOARD_MARKER, Forge, Outcome
from bot.run import Publication

DASHBOARD_TITLE = "Rightsizer Dashboard"
TEMPLATE = "dashboard_issue.md.j2"
CUT = "\n…(cut to fit the forge's size limit)\n"
_LINKABLE = re.compile(r"https?://[^\s()<>\[\]]+")
"""A forge's web address for a PR, as a Markdown link destination takes it unescaped."""


@dataclass(frozen=True)
class HeldGroup:
    """A group the run did not publish, and the box that releases it (None: no box, the
    hold is not the bot's to lift)."""

    group: str
    why: str
    box: Markup | None
    pull_open: bool = False
    """Its PR is open, and stays as it was: a release lets the run update it."""


@dataclass(frozen=True)
class OpenPull:
    title: str
    link: Markup | None
    """The PR's web address, when the forge gave one (the local forge gives a file)."""
    where: str
    """What names it otherwise: its file, or its branch."""
    monthly_cost_delta: float | None


@dataclass(frozen=True)
class StandingCommand:
    workload: str
    said: str


@dataclass(frozen=True)
class Dashboard:
    """What the issue lists, in the order it lists them."""

    open: tuple[OpenPull, ...]
    held: tuple[HeldGroup, ...]
    closed: tuple[HeldGroup, ...]
    failed: tuple[HeldGroup, ...]
    ignored: tuple[StandingCommand, ...]
    pinned: tuple[StandingCommand, ...]
    rerun: Markup
    watched: tuple[Verdict, ...] = ()
    """The bot's merged changes verified, regressed or still watched, by workload."""


def dashboard(published: Publication, overrides: Sequence[Override], now: datetime) -> Dashboard:
    """The run's groups sorted into what is open, held, closed by a reviewer or failed, and
    the commands still in force (a snooze that ended is gone). Open is every open bot PR the
    forge listed, those of groups this run did not plan included."""
    opened: list[OpenPull] = []
    held: list[HeldGroup] = []
    closed: list[HeldGroup] = []
    failed: list[HeldGroup] = []
    listed = {pull.branch: pull for pull in published.pulls if pull.state == "open"}
    for result in published.results:
        if result.hold is not None:
            box = Tick("release", result.group) if result.hold.rule in RELEASABLE else None
            open_pull = result.branch in listed
            entry = HeldGroup(result.group, _said(result.hold.text), _box(box), open_pull)
            (closed if result.hold.rule == "closed-pr" else held).append(entry)
        elif result.branch_outcome == "failed":
            failed.append(HeldGroup(result.group, _said(result.location), None))
        elif result.text is not None:
            listed.pop(result.branch, None)
            text = result.text
            opened.append(_pull(text.title, result.location, text.monthly_cost_delta))
    opened += [_pull(p.title or p.branch, p.url, None) for p in listed.values()]
    standing = [o for o in overrides if o.until is None or o.until > now]
    ignored = [_command(o) for o in standing if o.kind == "ignore"]
    pinned = [_command(o) for o in standing if o.kind != "ignore"]
    rerun = _box(Tick("rerun"))
    assert rerun is not None
    watched = tuple(sorted(published.verdicts, key=lambda v: (v.merged, v.key), reverse=True))
    return Dashboard(
        tuple(opened), tuple(held), tuple(closed), tuple(failed), tuple(ignored), tuple(pinned),
        rerun, watched,
    )  # fmt: skip


def dashboard_body(board: Dashboard, repo: Path | None, limit: int) -> str:
    """The issue's text from `dashboard_issue.md.j2` (the repo's own under
    `.rightsizer/templates/` first), led by the marker that finds it again, and cut at a line
    to the forge's limit."""
    text = f"{DASHBOARD_MARKER}\n{render(environment(repo), TEMPLATE, {'board': board})}"
    return cut_at_a_line(text, limit, CUT)


def update_dashboard(
    forge: Forge,
    published: Publication,
    overrides: Sequence[Override],
    now: datetime,
    repo: Path | None,
) -> Outcome:
    body = dashboard_body(dashboard(published, overrides, now), repo, forge.body_limit)
    outcome, _ = forge.ensure_dashboard(DASHBOARD_TITLE, body)
    return outcome


def _pull(title: str, url: str, monthly_cost_delta: float | None) -> OpenPull:
    link = Markup(url) if _LINKABLE.fullmatch(url) else None
    return OpenPull(title, link, url, monthly_cost_delta)


def _said(text: str) -> str:
    """A reason as a sentence's clause: the template ends each line itself."""
    return text.rstrip().rstrip(".")


def _box(tick: Tick | None) -> Markup | None:
    """The tick's hidden marker: its group is percent-encoded, so it is safe as it is."""
    return Markup(tick.marker()) if tick is not None else None


def _command(override: Override) -> StandingCommand:
    path = "/".join(filter(None, (override.namespace, override.workload_kind, override.name)))
    workload = f"{override.environment}:{path}" if override.environment else path
    said = override.describe()
    if override.field is not None:
        said = f"{override.field} {said}"
    return StandingCommand(workload, said)
