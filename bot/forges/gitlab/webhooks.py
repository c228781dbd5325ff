"""GitLab's webhooks: `X-Gitlab-Token`, and what each event calls for.

GitLab sends no installation events: the projects served are the ones
`RIGHTSIZER_GITLAB_PROJECTS` lists, each with a webhook token of its own or the shared one
(`RIGHTSIZER_GITLAB_WEBHOOK_TOKEN`), which then speaks for no project that has its own.

- `Push Hook` to the default branch touching manifests, policies, config or exports ->
  `push`, debounced;
- `Note Hook` on a bot merge request, with a `/rightsizer` line, not by a bot ->
  `command:<note id>`;
- `Merge Request Hook` merge or close, a bot merge request -> its fate recorded;
- `Issue Hook` update by a person that ticks a box of the dashboard issue ->
  `dashboard:<iid>:<username>:<ticks>`, for projects with a webhook token of their own
  (the worker asks GitLab whether the issue is the bot's dashboard);
- anything else -> ignored, with why.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from bot.dashboard_ticks import newly_ticked, ticked_details, ticks_key
from bot.forges.base import DASHBOARD_MARKER
from bot.forges.events import Malformed, parse
from bot.forges.gitlab import events
from bot.forges.hooks import (
    MAX_DELIVERY_ID,
    Decision,
    Enqueue,
    PullBranch,
    RecordPull,
    Refused,
    ignored,
    push_skipped,
)
from bot.service.commands import command_line

if TYPE_CHECKING:  # the settings import the run's pipeline, which reads the registry
    from bot.service.settings import ServiceSettings

EVENTS = frozenset(
    {
        "Push Hook",
        "Tag Push Hook",
        "Note Hook",
        "Merge Request Hook",
        "Pipeline Hook",
        "Job Hook",
        "Issue Hook",
        "System Hook",
    }
)
_BOT = re.compile(r"^(project|group)_\d+_bot(_[0-9a-f]+)?$")
"""Usernames GitLab gives project and group access tokens' bot users."""


class GitLabHooks:
    name: str = "gitlab"
    event_names: frozenset[str] = EVENTS
    event_header: str = "x-gitlab-event"
    delivery_headers: tuple[str, ...] = ("x-gitlab-event-uuid", "x-gitlab-webhook-uuid")

    def __init__(self, settings: ServiceSettings) -> None:
        gitlab = settings.forge(self.name)
        self.projects = gitlab.served()
        """GitLab projects served, each with its own webhook token or None (the shared one)."""
        self.shared_token = gitlab.webhook_token
        self.debounce = settings.debounce_seconds

    def check_before_body(self, headers: Mapping[str, str]) -> None:
        """The header is one of the configured tokens (each compared in constant time);
        which project it must belong to is checked once the body is read."""
        tokens = [t for t in (self.shared_token, *self.projects.values()) if t]
        if not tokens:
            raise Refused(401, "refused", "no GitLab webhook token is configured")
        header = headers.get("x-gitlab-token")
        given = (header or "").encode("latin-1")
        matches = [hmac.compare_digest(token.encode("utf-8"), given) for token in tokens]
        if header is None or not any(matches):
            raise Refused(401, "refused", "X-Gitlab-Token is missing or wrong")

    def check_body(self, headers: Mapping[str, str], body: bytes) -> None:
        """Nothing: GitLab signs nothing; the token was checked."""

    def check_identity(self, event: str, delivery: str) -> None:
        if not event or len(delivery) > MAX_DELIVERY_ID:
            raise Refused(400, "invalid", "X-Gitlab-Event is required")

    def decide(
        self, event: str, payload: dict[str, Any], headers: Mapping[str, str], pulls: PullBranch
    ) -> Decision:
        """Events of the projects served, each sent with that project's own token where it
        has one: the shared token speaks for no such project."""
        if event not in ("Push Hook", "Note Hook", "Merge Request Hook", "Issue Hook"):
            return ignored(f"{event} is not an event the bot acts on")
        name = parse(events.ProjectEvent, payload).project.path_with_namespace
        if name not in self.projects:
            return ignored("project not served: it is not in RIGHTSIZER_GITLAB_PROJECTS", name)
        expected = self.projects[name] or self.shared_token
        token = headers.get("x-gitlab-token", "")
        if not expected or not hmac.compare_digest(expected.encode(), token.encode("latin-1")):
            raise Refused(401, "refused", "X-Gitlab-Token is not this project's token")
        if event == "Push Hook":
            push = parse(events.GitLabPush, payload)
            why = push_skipped(push, push.project.default_branch or "")
            if why is not None:
                return ignored(why, name)
            return Enqueue(name, "push", self.debounce, served=True)
        if event == "Note Hook":
            return self._note(parse(events.NoteHook, payload), pulls)
        if event == "Issue Hook":
            return self._issue(parse(events.IssueHook, payload))
        return self._merge_request(parse(events.MergeRequestHook, payload), pulls)

    def _note(self, event: events.NoteHook, pulls: PullBranch) -> Decision:
        name, note = event.project.path_with_namespace, event.object_attributes
        if note.noteable_type != "MergeRequest":
            return ignored("a note on something other than a merge request", name)
        if note.action not in (None, "create") or note.system:
            return ignored("not a new note by a person", name)
        login = event.user.username
        if _BOT.match(login) or event.user.bot:
            return ignored("a note by a bot", name)
        line = command_line(note.note or "")
        if line is None:
            return ignored("no /rightsizer command in the note", name)
        if event.merge_request is None:
            raise Malformed("merge_request")
        number = event.merge_request.iid
        if pulls(name, number) != event.merge_request.source_branch:
            return ignored("a command on a merge request Rightsizer did not open", name)
        details = {"number": number, "login": login, "command": line, "comment_id": note.id}
        return Enqueue(name, f"command:{note.id}", 0.0, details, served=True)

    def _issue(self, event: events.IssueHook) -> Decision:
        """A person's edit of the dashboard that ticks a box. Only boxes this edit ticked
        count, so the bot's own rewrite, or text edited around a ticked box, asks nothing."""
        name, issue = event.project.path_with_namespace, event.object_attributes
        if issue.action != "update":
            return ignored(f"issue {issue.action}, not an edit", name)
        change = event.changes.description if event.changes else None
        if change is None:
            return ignored("an issue edit that leaves the description as it was", name)
        before, after = change.previous or "", change.current or ""
        if not after.startswith(DASHBOARD_MARKER):
            return ignored("an edit of an issue that is not the dashboard", name)
        login = event.user.username
        if _BOT.match(login) or event.user.bot:
            return ignored("an issue edit by a bot", name)
        ticks = newly_ticked(before, after)
        if not ticks:
            return ignored("an issue edit that ticks no dashboard box", name)
        if self.projects.get(name) is None:
            return ignored(
                "dashboard boxes need the project's own webhook token: GitLab does not say who "
                "edited an issue, and the shared token can speak for any project's users",
                name,
            )
        details = {"number": issue.iid, "login": login, "ticks": ticked_details(ticks)}
        reason = f"dashboard:{issue.iid}:{login}:{ticks_key(ticks)}"
        return Enqueue(name, reason, 0.0, details, served=True)

    def _merge_request(self, event: events.MergeRequestHook, pulls: PullBranch) -> Decision:
        name, merge_request = event.project.path_with_namespace, event.object_attributes
        if merge_request.action not in ("merge", "close"):
            return ignored(f"merge request {merge_request.action}, not merged or closed", name)
        source, target = merge_request.source_project_id, merge_request.target_project_id
        if source is not None and source != target:
            return ignored("a merge request from a fork is never the bot's", name)
        state = "merged" if merge_request.action == "merge" else "closed"
        number, branch = merge_request.iid, merge_request.source_branch
        if pulls(name, number) != branch:
            return ignored("not a merge request of the bot", name)
        return RecordPull(name, number, branch, state, merge_request.url, served=True)
