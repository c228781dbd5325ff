"""`POST /webhooks/github` and `POST /webhooks/gitlab`: check, remember, queue, answer.

A delivery is acknowledged within milliseconds: it is checked (size, then signature or token),
its id is remembered so a redelivery does nothing, and what it asks for becomes a job in the
store; the worker does everything that needs the forge, such as asking whether a commenter may
write to the repository.

Checks, in order (nothing is recorded for a delivery that fails one):

- a body over `max_body_bytes` (declared, or read so far when chunked) -> 413;
- a bad or missing `X-Hub-Signature-256` / `X-Gitlab-Token`, or none configured -> 401;
- a delivery id seen before -> 200 `duplicate`;
- an event the bot acts on whose payload does not match its model (`events.py`) -> 400
  naming the field.

Then by event:

- `ping` -> 200 `pong`;
- `installation` created -> installation and its repos added, a job `installation` per repo
  (202); deleted -> installation and its repos forgotten (200 `recorded`);
- `installation_repositories` added -> repos added, job `installation` each (202); removed ->
  forgotten (200 `recorded`);
- `push` / `Push Hook` to the default branch touching manifests, policies, config or exports
  -> job `push`, debounced by `debounce_seconds` (202);
- `issue_comment` created on a PR / `Note Hook` on an MR, with a `/rightsizer` line, not by a
  bot -> job `command:<comment id>` with the line, PR number and login (202);
- `check_run` rerequested -> job `rerun` (202);
- `pull_request` closed / `Merge Request Hook` merge or close, on a bot PR -> its fate
  recorded (200 `recorded`);
- anything else -> 200 `ignored`, with why.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from bot.service import events, metrics
from bot.service.commands import command_line
from bot.service.events import parse
from bot.service.settings import ServiceSettings, gitlab_projects
from bot.store import Store
from bot.store.rows import RepositoryRow

log = logging.getLogger("rightsizer.webhooks")

GITHUB, GITLAB = "github", "gitlab"
WATCHED_SUFFIXES = (".yaml", ".yml", ".csv", ".parquet", ".json")
"""Manifests, kustomizations, `.rightsizer.yaml`, policies and exports."""
WATCHED_DIRS = ("policies/", ".rightsizer/")
"""Policies in any form, and the repo's own PR templates under `.rightsizer/templates`."""
MAX_DELIVERY_ID = 128
GITLAB_LISTED_COMMITS = 20
"""A GitLab push hook lists at most this many commits, and counts all in total_commits_count."""

GITHUB_EVENTS = frozenset(
    {
        "ping",
        "installation",
        "installation_repositories",
        "push",
        "issue_comment",
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
GITLAB_EVENTS = frozenset(
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
"""Event names used as metric labels as they are; any other name is counted as `other`, so a
stranger sending made-up headers cannot grow the label set."""

_GITLAB_BOT = re.compile(r"^(project|group)_\d+_bot(_[0-9a-f]+)?$")
"""Usernames GitLab gives project and group access tokens' bot users."""


@dataclass
class Outcome:
    """What a delivery led to: the HTTP answer and what the log line and metric say."""

    status_code: int
    outcome: str
    """queued, recorded, ignored, duplicate, pong, refused, too_large, invalid."""
    body: dict[str, Any]
    repository: str | None = None
    jobs: list[dict[str, Any]] = field(default_factory=list)


class _Stop(Exception):
    def __init__(self, status_code: int, outcome: str, detail: str) -> None:
        super().__init__(detail)
        self.result = Outcome(status_code, outcome, {"detail": detail})


def webhook_router(store: Store, settings: ServiceSettings) -> APIRouter:
    """The two webhook endpoints over `store`, checked with `settings`' secret and token."""
    hooks = _Webhooks(store, settings)
    router = APIRouter(tags=["webhooks"])

    @router.post("/webhooks/github", response_class=JSONResponse)
    async def github_webhook(request: Request) -> JSONResponse:
        return await hooks.github(request)

    @router.post("/webhooks/gitlab", response_class=JSONResponse)
    async def gitlab_webhook(request: Request) -> JSONResponse:
        return await hooks.gitlab(request)

    return router


@dataclass(frozen=True)
class _Enqueue:
    """A delivery that asks for one job: recorded with the delivery in one transaction."""

    repository: str
    reason: str
    delay: float
    details: dict[str, Any] | None = None
    installation: int | None = None
    """GitHub: the payload's installation, under which an unknown repository may be added."""


@dataclass(frozen=True)
class _Install:
    """An installation event: written with the delivery in one transaction, so a crash
    in between cannot leave a delivery seen and an installation missing."""

    installation: int
    account: str | None = None
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    uninstall: bool = False


_Decision = Outcome | _Enqueue | _Install | Callable[[], Outcome]
"""What an event calls for, decided from the payload alone: an answer, one job, an
installation change, or store work (PR fates) done through the Store's methods."""


class _Webhooks:
    def __init__(self, store: Store, settings: ServiceSettings) -> None:
        self.store = store
        self.settings = settings
        self.projects = gitlab_projects(settings)
        """GitLab projects served, each with its own webhook token or None (the shared one)."""

    # The two endpoints ---------------------------------------------------------------

    async def github(self, request: Request) -> JSONResponse:
        started = time.perf_counter()
        event = request.headers.get("x-github-event", "")
        delivery = request.headers.get("x-github-delivery", "")
        payload: dict[str, Any] | None = None
        try:
            _check_length(request, self.settings.max_body_bytes)
            secret = self.settings.github_webhook_secret
            if not secret:
                raise _Stop(401, "refused", "no GitHub webhook secret is configured")
            body = await _read_body(request, self.settings.max_body_bytes)
            _check_signature(secret, body, request.headers.get("x-hub-signature-256"))
            if not event or not delivery or len(delivery) > MAX_DELIVERY_ID:
                raise _Stop(400, "invalid", "X-GitHub-Event and X-GitHub-Delivery are required")
            content_type = request.headers.get("content-type", "")
            payload, result = await run_in_threadpool(
                self._parse_and_deliver,
                GITHUB,
                delivery,
                event,
                body,
                content_type,
                self._github_event,
            )
        except _Stop as stop:
            result = stop.result
        return self._answer(GITHUB, event, delivery, _action(payload), result, started)

    async def gitlab(self, request: Request) -> JSONResponse:
        started = time.perf_counter()
        event = request.headers.get("x-gitlab-event", "")
        delivery = request.headers.get("x-gitlab-event-uuid") or request.headers.get(
            "x-gitlab-webhook-uuid", ""
        )
        payload: dict[str, Any] | None = None
        try:
            _check_length(request, self.settings.max_body_bytes)
            token = request.headers.get("x-gitlab-token")
            known = [self.settings.gitlab_webhook_token, *self.projects.values()]
            _check_token([t for t in known if t], token)
            body = await _read_body(request, self.settings.max_body_bytes)
            if not event or len(delivery) > MAX_DELIVERY_ID:
                raise _Stop(400, "invalid", "X-Gitlab-Event is required")
            content_type = request.headers.get("content-type", "")
            payload, result = await run_in_threadpool(
                self._parse_and_deliver,
                GITLAB,
                delivery,
                event,
                body,
                content_type,
                lambda event, payload: self._gitlab_event(event, payload, str(token)),
            )
        except _Stop as stop:
            result = stop.result
        return self._answer(GITLAB, event, delivery, _action(payload), result, started)

    # In a worker thread: the store is synchronous ------------------------------------

    def _parse_and_deliver(
        self,
        forge: str,
        delivery: str,
        event: str,
        body: bytes,
        content_type: str,
        decide: Callable[[str, dict[str, Any]], _Decision],
    ) -> tuple[dict[str, Any], Outcome]:
        """Parsing up to `max_body_bytes` of JSON is CPU work: it happens here, off the event
        loop, with the store work."""
        payload = _payload(body, content_type)
        return payload, self._deliver(forge, delivery, event, payload, decide)

    def _deliver(
        self,
        forge: str,
        delivery: str,
        event: str,
        payload: dict[str, Any],
        decide: Callable[[str, dict[str, Any]], _Decision],
    ) -> Outcome:
        """Decides from the payload, then remembers the delivery and does what it asks.

        A job is queued in the transaction that records the delivery, so a crash or an error
        leaves neither, and the forge's redelivery (same id) is handled as new. Other store
        work follows the record; if it fails the record is deleted again."""
        try:
            decision = decide(event, payload)
        except events.Malformed as exc:
            return Outcome(400, "invalid", {"detail": f"payload has no valid {exc}"})
        if isinstance(decision, _Enqueue):
            result = self._enqueue_delivery(forge, delivery, event, decision)
        elif isinstance(decision, _Install):
            result = self._install(forge, delivery, event, decision)
        elif delivery and not self.store.deliveries.first(delivery, forge, event):
            result = _duplicate()
        elif isinstance(decision, Outcome):
            result = decision
        else:
            try:
                result = decision()
            except Exception:
                if delivery:
                    self.store.deliveries.forget(delivery)
                raise
        if any(job["new"] for job in result.jobs):  # a debounced job leaves the depth as is
            metrics.QUEUE_DEPTH.set(self.store.queue.depth())
        return result

    def _enqueue_delivery(self, forge: str, delivery: str, event: str, want: _Enqueue) -> Outcome:
        def attempt() -> tuple[int, bool] | str | None:
            return self.store.queue.deliver_and_enqueue(
                delivery, forge, event, want.repository, want.reason, want.delay, want.details
            )

        queued = attempt()
        if queued is None:  # an unknown repository: nothing was written
            found, why = self._resolve(forge, want)
            if found is None:
                if delivery and not self.store.deliveries.first(delivery, forge, event):
                    return _duplicate()
                return _ignored(why, want.repository)
            queued = attempt()
        if queued is None:  # removed again in between
            return _ignored("repository not installed", want.repository)
        if isinstance(queued, str):  # DUPLICATE
            return _duplicate()
        job, new = queued
        entry = {"id": job, "repository": want.repository, "reason": want.reason, "new": new}
        return _queued([entry], want.repository)

    def _resolve(self, forge: str, want: _Enqueue) -> tuple[RepositoryRow | None, str]:
        """An unknown repository added when that is safe; None, and why, otherwise.

        GitLab: a project `RIGHTSIZER_GITLAB_PROJECTS` lists (its events are refused before
        this otherwise). GitHub: when the payload's installation is one the bot knows (its
        `installation` delivery may have been missed), unless the repository was removed
        from it."""
        if forge == GITLAB:
            return self.store.repositories.add(GITLAB, want.repository, None), ""
        if want.installation is None or not self.store.repositories.installation_active(
            GITHUB, want.installation
        ):
            return None, "repository not installed"
        if self.store.repositories.known(GITHUB, want.repository):
            return None, "repository was removed from the installation"
        return self.store.repositories.add(GITHUB, want.repository, want.installation), ""

    # GitHub events -------------------------------------------------------------------

    def _github_event(self, event: str, payload: dict[str, Any]) -> _Decision:
        action = payload.get("action")
        if event == "ping":
            return Outcome(200, "pong", {"status": "pong"})
        if event == "installation" and action == "deleted":
            deleted = parse(events.InstallationDeleted, payload)
            return _Install(deleted.installation.id, uninstall=True)
        if event == "installation" and action == "created":
            created = parse(events.InstallationCreated, payload)
            names = tuple(r.full_name for r in created.repositories)
            return _Install(created.installation.id, created.installation.account.login, names)
        if event == "installation_repositories" and action in ("added", "removed"):
            changed = parse(events.InstallationRepositories, payload)
            added = tuple(r.full_name for r in changed.repositories_added)
            removed = tuple(r.full_name for r in changed.repositories_removed)
            return _Install(changed.installation.id, None, added, removed)
        if event == "push":
            return self._github_push(parse(events.GitHubPush, payload))
        if event == "issue_comment":
            return self._github_comment(parse(events.IssueComment, payload))
        if event == "check_run" and action == "rerequested":
            return self._github_check_run(parse(events.CheckRunRerequested, payload))
        if event == "pull_request" and action == "closed":
            return self._github_closed(parse(events.PullRequestClosed, payload))
        shown = action if isinstance(action, str) else ""
        return _ignored(f"{event} {shown}".strip() + " is not an event the bot acts on")

    def _install(self, forge: str, delivery: str, event: str, want: _Install) -> Outcome:
        if want.uninstall:
            if not self.store.repositories.uninstall(delivery, forge, event, want.installation):
                return _duplicate()
            what = f"installation {want.installation} removed"
            return Outcome(200, "recorded", {"status": "recorded", "what": what})
        done = self.store.repositories.install(
            delivery, forge, event, want.installation, want.account,
            list(want.added), list(want.removed),
        )  # fmt: skip
        if isinstance(done, str):  # DUPLICATE
            return _duplicate()
        if done:
            return _queued(
                [
                    {"id": job, "repository": name, "reason": "installation", "new": new}
                    for name, job, new in done
                ]
            )
        what = f"{len(want.removed)} repositories removed"
        return Outcome(200, "recorded", {"status": "recorded", "what": what})

    def _github_push(self, push: events.GitHubPush) -> _Decision:
        name = push.repository.full_name
        why = _push_skipped(push, push.repository.default_branch)
        if why is not None:
            return _ignored(why, name)
        return _Enqueue(
            name, "push", self.settings.debounce_seconds, installation=_installation(push)
        )

    def _github_comment(self, event: events.IssueComment) -> _Decision:
        name = event.repository.full_name
        if event.action != "created":
            return _ignored(f"a comment {event.action}, not created", name)
        if not event.issue.pull_request:
            return _ignored("a comment on an issue, not on a pull request", name)
        login = event.sender.login
        if event.sender.type == "Bot" or login.endswith("[bot]"):
            return _ignored("a comment by a bot", name)
        line = command_line(event.comment.body or "")
        if line is None:
            return _ignored("no /rightsizer command in the comment", name)
        number = event.issue.number
        if self.store.runs.pull_branch(GITHUB, name, number) is None:
            return _ignored("a command on a pull request Rightsizer did not open", name)
        comment = event.comment.id
        details = {"number": number, "login": login, "command": line, "comment_id": comment}
        return _Enqueue(name, f"command:{comment}", 0.0, details, _installation(event))

    def _github_check_run(self, event: events.CheckRunRerequested) -> _Decision:
        name = event.repository.full_name
        app = event.check_run.app.id if event.check_run.app else None
        ours = self.settings.github_app_id
        if ours and ours.isdigit() and app not in (None, int(ours)):
            return _ignored("a check run of another app", name)
        return _Enqueue(name, "rerun", 0.0, installation=_installation(event))

    def _github_closed(self, event: events.PullRequestClosed) -> _Decision:
        name, pull = event.repository.full_name, event.pull_request
        if pull.head.repo is None or pull.head.repo.full_name != name:
            return _ignored("a pull request from a fork is never the bot's", name)
        state = "merged" if pull.merged else "closed"
        number, branch, url = pull.number, pull.head.ref, pull.html_url
        if self.store.runs.pull_branch(GITHUB, name, number) != branch:
            return _ignored("not a pull request of the bot", name)

        def record() -> Outcome:
            repository = self.store.repositories.get(GITHUB, name)
            if repository is None:
                return _ignored("repository not installed", name)
            self.store.runs.record_pull(repository, number, branch, state, url)
            return _recorded(number, state, name)

        return record

    # GitLab events -------------------------------------------------------------------

    def _gitlab_event(self, event: str, payload: dict[str, Any], token: str) -> _Decision:
        """Events of the projects `RIGHTSIZER_GITLAB_PROJECTS` lists, each sent with that
        project's own token where it has one: the shared token speaks for no such project."""
        if event not in ("Push Hook", "Note Hook", "Merge Request Hook"):
            return _ignored(f"{event} is not an event the bot acts on")
        name = parse(events.ProjectEvent, payload).project.path_with_namespace
        if name not in self.projects:
            return _ignored("project not served: it is not in RIGHTSIZER_GITLAB_PROJECTS", name)
        expected = self.projects[name] or self.settings.gitlab_webhook_token
        if not expected or not hmac.compare_digest(expected.encode(), token.encode("latin-1")):
            raise _Stop(401, "refused", "X-Gitlab-Token is not this project's token")
        if event == "Push Hook":
            push = parse(events.GitLabPush, payload)
            why = _push_skipped(push, push.project.default_branch or "")
            if why is not None:
                return _ignored(why, name)
            return _Enqueue(name, "push", self.settings.debounce_seconds)
        if event == "Note Hook":
            return self._gitlab_note(parse(events.NoteHook, payload))
        return self._gitlab_merge_request(parse(events.MergeRequestHook, payload))

    def _gitlab_note(self, event: events.NoteHook) -> _Decision:
        name, note = event.project.path_with_namespace, event.object_attributes
        if note.noteable_type != "MergeRequest":
            return _ignored("a note on something other than a merge request", name)
        if note.action not in (None, "create") or note.system:
            return _ignored("not a new note by a person", name)
        login = event.user.username
        if _GITLAB_BOT.match(login) or event.user.bot:
            return _ignored("a note by a bot", name)
        line = command_line(note.note or "")
        if line is None:
            return _ignored("no /rightsizer command in the note", name)
        if event.merge_request is None:
            raise events.Malformed("merge_request")
        number = event.merge_request.iid
        if self.store.runs.pull_branch(GITLAB, name, number) != event.merge_request.source_branch:
            return _ignored("a command on a merge request Rightsizer did not open", name)
        details = {"number": number, "login": login, "command": line, "comment_id": note.id}
        return _Enqueue(name, f"command:{note.id}", 0.0, details)

    def _gitlab_merge_request(self, event: events.MergeRequestHook) -> _Decision:
        name, merge_request = event.project.path_with_namespace, event.object_attributes
        if merge_request.action not in ("merge", "close"):
            return _ignored(f"merge request {merge_request.action}, not merged or closed", name)
        source, target = merge_request.source_project_id, merge_request.target_project_id
        if source is not None and source != target:
            return _ignored("a merge request from a fork is never the bot's", name)
        state = "merged" if merge_request.action == "merge" else "closed"
        number, branch, url = merge_request.iid, merge_request.source_branch, merge_request.url
        if self.store.runs.pull_branch(GITLAB, name, number) != branch:
            return _ignored("not a merge request of the bot", name)

        def record() -> Outcome:
            repository = self.store.repositories.add(GITLAB, name, None)
            self.store.runs.record_pull(repository, number, branch, state, url)
            return _recorded(number, state, name)

        return record

    # Shared --------------------------------------------------------------------------

    def _answer(
        self,
        forge: str,
        event: str,
        delivery: str,
        action: str | None,
        result: Outcome,
        started: float,
    ) -> JSONResponse:
        known = GITHUB_EVENTS if forge == GITHUB else GITLAB_EVENTS
        label = event if event in known else "other"
        metrics.WEBHOOKS.labels(forge=forge, event=label, outcome=result.outcome).inc()
        log.info(
            "webhook %s %s: %s",
            forge,
            label,
            result.outcome,
            extra={
                "forge": forge,
                "event": label,
                "action": action,
                "delivery": delivery[:MAX_DELIVERY_ID],
                "outcome": result.outcome,
                "status_code": result.status_code,
                "repository": result.repository,
                "jobs": [job["id"] for job in result.jobs],
                "why": result.body.get("why") or result.body.get("detail"),
                "elapsed_ms": round((time.perf_counter() - started) * 1000, 2),
            },
        )
        return JSONResponse(result.body, status_code=result.status_code)


def _action(payload: dict[str, Any] | None) -> str | None:
    """The payload's `action` (or GitLab's `object_attributes.action`) for the log line, when
    the delivery got as far as being parsed."""
    if payload is None:
        return None
    action = payload.get("action")
    attributes = payload.get("object_attributes")
    if action is None and isinstance(attributes, dict):
        action = attributes.get("action")
    return action if isinstance(action, str) else None


# Checks ------------------------------------------------------------------------------


def _check_length(request: Request, limit: int) -> None:
    """Refuses a declared body over the limit before a byte of it is read."""
    declared = request.headers.get("content-length")
    if declared is None:
        return
    if not declared.strip().isdigit():
        raise _Stop(400, "invalid", "Content-Length is not a number")
    if int(declared) > limit:
        raise _Stop(413, "too_large", f"the body is over {limit} bytes")


async def _read_body(request: Request, limit: int) -> bytes:
    """The raw body, read no further than `limit` bytes (a chunked body has no length)."""
    received = bytearray()
    async for chunk in request.stream():
        received += chunk
        if len(received) > limit:
            raise _Stop(413, "too_large", f"the body is over {limit} bytes")
    return bytes(received)


def signature(secret: str, body: bytes) -> str:
    """`X-Hub-Signature-256` as GitHub computes it: `sha256=` and the hex HMAC of the body."""
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def _check_signature(secret: str, body: bytes, header: str | None) -> None:
    if not header:
        raise _Stop(401, "refused", "X-Hub-Signature-256 is missing")
    expected = signature(secret, body).encode("ascii")
    if not hmac.compare_digest(expected, header.strip().encode("latin-1")):
        raise _Stop(401, "refused", "X-Hub-Signature-256 does not match the body")


def _check_token(tokens: list[str], header: str | None) -> None:
    """Before the body is parsed: the header is one of the configured tokens (each compared
    in constant time); which project it must belong to is checked once the body is read."""
    if not tokens:
        raise _Stop(401, "refused", "no GitLab webhook token is configured")
    given = (header or "").encode("latin-1")
    matches = [hmac.compare_digest(token.encode("utf-8"), given) for token in tokens]
    if header is None or not any(matches):
        raise _Stop(401, "refused", "X-Gitlab-Token is missing or wrong")


def _payload(body: bytes, content_type: str) -> dict[str, Any]:
    """JSON, or GitHub's `application/x-www-form-urlencoded` form with a `payload` field."""
    try:
        if content_type.split(";")[0].strip().lower() == "application/x-www-form-urlencoded":
            fields = parse_qs(body.decode("utf-8"), strict_parsing=True)
            data = json.loads(fields["payload"][0])
        else:
            data = json.loads(body)
    except (ValueError, KeyError, UnicodeDecodeError) as exc:
        raise _Stop(400, "invalid", "the body is not a JSON payload") from exc
    except RecursionError as exc:
        raise _Stop(400, "invalid", "the JSON payload is nested too deeply") from exc
    if not isinstance(data, dict):
        raise _Stop(400, "invalid", "the payload is not a JSON object")
    return data


# Push rule ---------------------------------------------------------------------------


def touches_inputs(path: str) -> bool:
    """Whether a changed file can change a plan: manifests and config (YAML, JSON), exports
    (CSV, Parquet), policies, `.rightsizer.yaml` and the repo's PR templates."""
    lowered = path.lower()
    return lowered.endswith(WATCHED_SUFFIXES) or any(
        path.startswith(folder) or f"/{folder}" in path for folder in WATCHED_DIRS
    )


def _push_skipped(push: events.Push, default_branch: str) -> str | None:
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
    if total is not None and total > listed >= GITLAB_LISTED_COMMITS:
        return None  # GitLab lists the last 20 commits only: the others may touch inputs
    if not paths and push.forced:
        return None  # a force push that lists no commits: what changed is unknown
    return "no manifest, policy, config or export changed"


# Answers ------------------------------------------------------------------------------


def _ignored(why: str, repository: str | None = None) -> Outcome:
    return Outcome(200, "ignored", {"status": "ignored", "why": why}, repository)


def _duplicate() -> Outcome:
    return Outcome(200, "duplicate", {"status": "duplicate"})


def _recorded(number: int, state: str, repository: str) -> Outcome:
    body = {"status": "recorded", "number": number, "state": state}
    return Outcome(200, "recorded", body, repository)


def _installation(
    event: events.GitHubPush | events.IssueComment | events.CheckRunRerequested,
) -> int | None:
    return event.installation.id if event.installation else None


def _queued(jobs: list[dict[str, Any]], repository: str | None = None) -> Outcome:
    return Outcome(202, "queued", {"status": "queued", "jobs": jobs}, repository, jobs)
