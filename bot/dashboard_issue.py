"""The dashboard issue: one issue per repository, rewritten in place after every run, that
says what the bot has open, what it holds back and why, and which reviewers' commands stand,
in the manner of Renovate's Dependency Dashboard.

It is written from the run's results and the standing commands only, with no time of day in
it, so a run that changed nothing leaves the issue as it was (no edit, no notification).
Its boxes (`bot.dashboard_ticks`) are always written clear: a tick is a request, carried out
by the service and cleared by the run it starts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from markupsafe import Markup

from bot.compose import environment, render
from bot.dashboard_ticks import Tick
from bot.decisions.overrides import Override
from bot.decisions.releases import RELEASABLE
from bot.forges.base import DASHBOARD_MARKER, Forge, Outcome
from bot.run import GroupResult

DASHBOARD_TITLE = "Rightsizer Dashboard"
TEMPLATE = "dashboard_issue.md.j2"
CUT = "\n…(cut to fit the forge's size limit)\n"


@dataclass(frozen=True)
class HeldGroup:
    """A group the run did not publish, and the box that releases it (None: no box, the
    hold is not the bot's to lift)."""

    group: str
    why: str
    box: Markup | None


@dataclass(frozen=True)
class OpenGroup:
    group: str
    title: str
    url: str
    number: int | None
    monthly_cost_delta: float


@dataclass(frozen=True)
class StandingCommand:
    workload: str
    said: str


@dataclass(frozen=True)
class Dashboard:
    """What the issue lists, in the order it lists them."""

    open: tuple[OpenGroup, ...]
    held: tuple[HeldGroup, ...]
    closed: tuple[HeldGroup, ...]
    failed: tuple[HeldGroup, ...]
    ignored: tuple[StandingCommand, ...]
    pinned: tuple[StandingCommand, ...]
    rerun: Markup


def dashboard(
    results: Sequence[GroupResult], overrides: Sequence[Override], now: datetime
) -> Dashboard:
    """The run's groups sorted into what is open, held, closed by a reviewer or failed, and
    the commands still in force (a snooze that ended is gone)."""
    opened: list[OpenGroup] = []
    held: list[HeldGroup] = []
    closed: list[HeldGroup] = []
    failed: list[HeldGroup] = []
    for result in results:
        if result.hold is not None:
            box = Tick("release", result.group) if result.hold.rule in RELEASABLE else None
            entry = HeldGroup(result.group, result.hold.text, _box(box))
            (closed if result.hold.rule == "closed-pr" else held).append(entry)
        elif result.branch_outcome == "failed":
            failed.append(HeldGroup(result.group, result.location, None))
        elif result.text is not None:
            text = result.text
            opened.append(
                OpenGroup(
                    result.group,
                    text.title,
                    result.location,
                    result.number,
                    text.monthly_cost_delta,
                )
            )
    standing = [o for o in overrides if o.until is None or o.until > now]
    ignored = [_command(o) for o in standing if o.kind == "ignore"]
    pinned = [_command(o) for o in standing if o.kind != "ignore"]
    rerun = _box(Tick("rerun"))
    assert rerun is not None
    return Dashboard(
        tuple(opened), tuple(held), tuple(closed), tuple(failed), tuple(ignored), tuple(pinned),
        rerun,
    )  # fmt: skip


def dashboard_body(board: Dashboard, repo: Path | None, limit: int) -> str:
    """The issue's text from `dashboard_issue.md.j2` (the repo's own under
    `.rightsizer/templates/` first), led by the marker that finds it again, and cut at a line
    to the forge's limit."""
    text = f"{DASHBOARD_MARKER}\n{render(environment(repo), TEMPLATE, {'board': board})}"
    if len(text) <= limit:
        return text
    keep = max(0, limit - len(CUT))
    return text[: text.rfind("\n", 0, keep) + 1 or keep] + CUT


def update_dashboard(
    forge: Forge,
    results: Sequence[GroupResult],
    overrides: Sequence[Override],
    now: datetime,
    repo: Path | None,
) -> Outcome:
    body = dashboard_body(dashboard(results, overrides, now), repo, forge.body_limit)
    outcome, _ = forge.ensure_dashboard(DASHBOARD_TITLE, body)
    return outcome


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
