"""GitHub's webhooks: `X-Hub-Signature-256` over the body with the App's webhook secret,
and what each event calls for.

- `ping` -> `pong`;
- `installation` created -> the installation and its repositories, a first run each;
  deleted -> forgotten;
- `installation_repositories` added -> a first run each; removed -> forgotten;
- `push` to the default branch touching manifests, policies, config or exports -> `push`,
  debounced;
- `issue_comment` created on a bot PR, with a `/rightsizer` line, not by a bot ->
  `command:<comment id>`;
- `issues` edited, the bot's dashboard issue, ticking a box, not by a bot ->
  `dashboard:<number>:<login>:<ticks>`;
- `check_run` rerequested ("Re-run") or `check_suite` rerequested ("Re-run all checks"),
  of this App -> `rerun`;
- `pull_request` closed, a bot PR -> its fate recorded;
- anything else -> ignored, with why.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from bot.dashboard_ticks import newly_ticked, ticked_details, ticks_key
from bot.forges.base import DASHBOARD_MARKER
from bot.forges.events import parse
from bot.forges.github import events
from bot.forges.hooks import (
    MAX_DELIVERY_ID,
    Decision,
    Enqueue,
    Install,
    Outcome,
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
        "ping",
        "installation",
        "installation_repositories",
        "push",
        "issue_comment",
        "issues",
        "check_run",
        "check_suite",
        "pull_request",
        "pull_request_review",
        "pull_request_review_comment",
        "status",
        "workflow_run",
        "create",
        "delete",
    }
)


def signature(secret: str, body: bytes) -> str:
    """`X-Hub-Signature-256` as GitHub computes it: `sha256=` and the hex HMAC of the body."""
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


class GitHubHooks:
    name: str = "github"
    event_names: frozenset[str] = EVENTS
    event_header: str = "x-github-event"
    delivery_headers: tuple[str, ...] = ("x-github-delivery",)

    def __init__(self, settings: ServiceSettings) -> None:
        github = settings.forge(self.name)
        self.secret = github.webhook_secret
        self.app_id = github.app_id
        self.debounce = settings.debounce_seconds

    def check_before_body(self, headers: Mapping[str, str]) -> None:
        if not self.secret:
            raise Refused(401, "refused", "no GitHub webhook secret is configured")

    def check_body(self, headers: Mapping[str, str], body: bytes) -> None:
        header = headers.get("x-hub-signature-256")
        if not header:
            raise Refused(401, "refused", "X-Hub-Signature-256 is missing")
        expected = signature(self.secret or "", body).encode("ascii")
        if not hmac.compare_digest(expected, header.strip().encode("latin-1")):
            raise Refused(401, "refused", "X-Hub-Signature-256 does not match the body")

    def check_identity(self, event: str, delivery: str) -> None:
        if not event or not delivery or len(delivery) > MAX_DELIVERY_ID:
            raise Refused(400, "invalid", "X-GitHub-Event and X-GitHub-Delivery are required")

    def decide(
        self, event: str, payload: dict[str, Any], headers: Mapping[str, str], pulls: PullBranch
    ) -> Decision:
        action = payload.get("action")
        if event == "ping":
            return Outcome(200, "pong", {"status": "pong"})
        if event == "installation" and action == "deleted":
            deleted = parse(events.InstallationDeleted, payload)
            return Install(deleted.installation.id, uninstall=True)
        if event == "installation" and action == "created":
            created = parse(events.InstallationCreated, payload)
            names = tuple(r.full_name for r in created.repositories)
            return Install(created.installation.id, created.installation.account.login, names)
        if event == "installation_repositories" and action in ("added", "removed"):
            changed = parse(events.InstallationRepositories, payload)
            added = tuple(r.full_name for r in changed.repositories_added)
            removed = tuple(r.full_name for r in changed.repositories_removed)
            return Install(changed.installation.id, None, added, removed)
        if event == "push":
            return self._push(parse(events.GitHubPush, payload))
        if event == "issue_comment":
            return self._comment(parse(events.IssueComment, payload), pulls)
        if event == "issues" and action == "edited":
            return self._dashboard_edit(parse(events.IssuesEdited, payload))
        if event == "check_run" and action == "rerequested":
            rerun = parse(events.CheckRunRerequested, payload)
            return self._rerun(rerun, rerun.check_run.app, "check run")
        if event == "check_suite" and action == "rerequested":
            suite = parse(events.CheckSuiteRerequested, payload)
            return self._rerun(suite, suite.check_suite.app, "check suite")
        if event == "pull_request" and action == "closed":
            return self._closed(parse(events.PullRequestClosed, payload), pulls)
        shown = action if isinstance(action, str) else ""
        return ignored(f"{event} {shown}".strip() + " is not an event the bot acts on")

    def _push(self, push: events.GitHubPush) -> Decision:
        name = push.repository.full_name
        why = push_skipped(push, push.repository.default_branch)
        if why is not None:
            return ignored(why, name)
        return Enqueue(name, "push", self.debounce, installation=_installation(push))

    def _comment(self, event: events.IssueComment, pulls: PullBranch) -> Decision:
        name = event.repository.full_name
        if event.action != "created":
            return ignored(f"a comment {event.action}, not created", name)
        if not event.issue.pull_request:
            return ignored("a comment on an issue, not on a pull request", name)
        login = event.sender.login
        if event.sender.type == "Bot" or login.endswith("[bot]"):
            return ignored("a comment by a bot", name)
        line = command_line(event.comment.body or "")
        if line is None:
            return ignored("no /rightsizer command in the comment", name)
        number = event.issue.number
        if pulls(name, number) is None:
            return ignored("a command on a pull request Rightsizer did not open", name)
        comment = event.comment.id
        details = {"number": number, "login": login, "command": line, "comment_id": comment}
        return Enqueue(name, f"command:{comment}", 0.0, details, _installation(event))

    def _dashboard_edit(self, event: events.IssuesEdited) -> Decision:
        """A person ticking a box in the bot's dashboard issue (written by the App's `Bot`
        user): the boxes this edit ticked, not those already ticked, ask for something."""
        name, issue = event.repository.full_name, event.issue
        body = issue.body or ""
        if issue.pull_request is not None or not body.startswith(DASHBOARD_MARKER):
            return ignored("an issue edited that is not the dashboard issue", name)
        if issue.user.type != "Bot":
            return ignored("an issue carrying the dashboard marker, not written by a bot", name)
        login = event.sender.login
        if event.sender.type == "Bot" or login.endswith("[bot]"):
            return ignored("the dashboard issue edited by a bot", name)
        before = event.changes.body.from_ if event.changes.body else None
        ticks = newly_ticked(before, body) if before is not None else []
        if not ticks:
            return ignored("a dashboard edit that ticks no box", name)
        details = {"number": issue.number, "login": login, "ticks": ticked_details(ticks)}
        reason = f"dashboard:{issue.number}:{login}:{ticks_key(ticks)}"
        return Enqueue(name, reason, 0.0, details, _installation(event))

    def _rerun(
        self,
        event: events.CheckRunRerequested | events.CheckSuiteRerequested,
        app: events.App | None,
        what: str,
    ) -> Decision:
        name = event.repository.full_name
        ours = self.app_id
        if ours and ours.isdigit() and app is not None and app.id not in (None, int(ours)):
            return ignored(f"a {what} of another app", name)
        return Enqueue(name, "rerun", 0.0, installation=_installation(event))

    def _closed(self, event: events.PullRequestClosed, pulls: PullBranch) -> Decision:
        name, pull = event.repository.full_name, event.pull_request
        if pull.head.repo is None or pull.head.repo.full_name != name:
            return ignored("a pull request from a fork is never the bot's", name)
        state = "merged" if pull.merged else "closed"
        if pulls(name, pull.number) != pull.head.ref:
            return ignored("not a pull request of the bot", name)
        return RecordPull(name, pull.number, pull.head.ref, state, pull.html_url)


def _installation(
    event: events.GitHubPush
    | events.IssueComment
    | events.IssuesEdited
    | events.CheckRunRerequested
    | events.CheckSuiteRerequested,
) -> int | None:
    return event.installation.id if event.installation else None
