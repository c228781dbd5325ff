"""The `gitlab` forge: python-gitlab with a project, group or personal access token,
gitlab.com or self-hosted. Merge requests are GitLab's pull requests, notes its comments,
and a commit status stands in for GitHub's check run.

python-gitlab retries 429s after `Retry-After` by itself; `retry_transient_errors` adds
5xx and dropped connections, with backoff.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import gitlab
from gitlab.exceptions import GitlabError

from bot.forges.base import (
    ForgeError,
    Outcome,
    PullRequest,
    PullRequestDraft,
    PullState,
    comment_marker,
)
from bot.forges.remote import GitCredentials, RemoteBranches
from recommenders.errors import InputError

STATUS_NAME = "rightsizer"
DRAFT = "Draft: "
CLOSED_PULLS_READ = 200
"""As for GitHub: the newest closed merge requests are enough for the rules that read them."""
STATES: dict[str, PullState] = {"opened": "open", "merged": "merged"}


@dataclass(frozen=True)
class GitLabSettings:
    repository: str
    url: str = "https://gitlab.com"
    token: str | None = None


def connect(settings: GitLabSettings, destination: Path) -> GitLabForge:
    """Authenticate, read the project and clone it to `destination`."""
    if not settings.token:
        raise InputError("--forge gitlab", "give --token (RIGHTSIZER_GITLAB_TOKEN)")
    client = gitlab.Gitlab(
        settings.url.rstrip("/"), private_token=settings.token, retry_transient_errors=True
    )
    with _calling(f"read project {settings.repository}"):
        client.auth()
        project = client.projects.get(settings.repository)
    token = settings.token

    def credentials() -> GitCredentials:
        return GitCredentials("oauth2", token)

    branches = RemoteBranches.clone(project.http_url_to_repo, destination, credentials)
    return GitLabForge(client, project, branches)


@contextmanager
def _calling(action: str) -> Iterator[None]:
    try:
        yield
    except GitlabError as exc:
        raise ForgeError(
            action, f"GitLab answered {exc.response_code}: {exc.error_message}"
        ) from exc


class GitLabForge:
    name = "gitlab"
    body_limit = 1_000_000

    def __init__(self, client: gitlab.Gitlab, project: Any, branches: RemoteBranches) -> None:
        self.client = client
        self.project = project
        self.branches = branches
        self.default_branch = str(project.default_branch)

    def ensure_branch(self, branch: str, commit: str, previous: str | None) -> None:
        self.branches.push(branch, commit, previous)

    def pull_requests(self, prefix: str) -> list[PullRequest]:
        found: dict[int, PullRequest] = {}
        with _calling("list merge requests"):
            for request in self.project.mergerequests.list(state="opened", iterator=True):
                if request.source_branch.startswith(prefix):
                    found[request.iid] = _pull(request)
            closed = self.project.mergerequests.list(
                state="all", order_by="created_at", sort="desc", iterator=True
            )
            for index, request in enumerate(closed):
                if index >= CLOSED_PULLS_READ:
                    break
                if request.source_branch.startswith(prefix):
                    found.setdefault(request.iid, _pull(request))
        return sorted(found.values(), key=lambda p: p.number, reverse=True)

    def ensure_pull_request(self, draft: PullRequestDraft) -> tuple[Outcome, PullRequest]:
        with _calling(f"open or update the merge request for {draft.branch}"):
            request = self._open_request(draft.branch)
            if request is None:
                request, created = self._create(draft)
                if created:
                    return "created", _pull(request)
            # Draft state is the reviewer's once the request is open: keep whatever it is.
            title = f"{DRAFT}{draft.title}" if request.draft else draft.title
            missing = [label for label in draft.labels if label not in request.labels]
            if request.title == title and request.description == draft.body and not missing:
                return "unchanged", _pull(request)
            request.title, request.description = title, draft.body
            if missing:
                request.labels = [*request.labels, *missing]
            request.save()
            return "updated", _pull(request)

    def _create(self, draft: PullRequestDraft) -> tuple[Any, bool]:
        """The new request, or (False) the one another run opened first: GitLab answers 409
        for a source branch that already has an open merge request."""
        fields: dict[str, Any] = {
            "source_branch": draft.branch,
            "target_branch": draft.base,
            "title": f"{DRAFT}{draft.title}" if draft.draft else draft.title,
            "description": draft.body,
            "labels": ",".join(draft.labels),
            "remove_source_branch": True,
        }
        if draft.reviewers:
            fields["reviewer_ids"] = self._user_ids(draft.reviewers)
        if draft.assignees:
            fields["assignee_ids"] = self._user_ids(draft.assignees)
        try:
            return self.project.mergerequests.create(fields), True
        except GitlabError as exc:
            raced = self._open_request(draft.branch) if exc.response_code == 409 else None
            if raced is None:
                raise
            return raced, False

    def ensure_comment(self, pull: PullRequest, key: str, text: str) -> Outcome:
        marker = comment_marker(key)
        body = f"{marker}\n{text}"
        with _calling(f"comment on !{pull.number}"):
            request = self.project.mergerequests.get(pull.number)
            for note in request.notes.list(iterator=True):
                if note.body.startswith(marker):
                    if note.body == body:
                        return "unchanged"
                    note.body = body
                    note.save()
                    return "updated"
            request.notes.create({"body": body})
        return "created"

    def report_check(self, pull: PullRequest, commit: str, title: str, summary: str) -> None:
        """A commit status, GitLab's nearest thing to a check run: it holds one line, so the
        summary stays in the merge request's description."""
        description = title[:255]
        with _calling(f"set the commit status on {commit[:12]}"):
            statuses = self.project.commits.get(commit, lazy=True).statuses
            for status in statuses.list(iterator=True):
                if status.name == STATUS_NAME and status.description == description:
                    return
            statuses.create(
                {
                    "state": "success",
                    "name": STATUS_NAME,
                    "description": description,
                    "target_url": pull.url,
                }
            )

    def _open_request(self, branch: str) -> Any:
        found = self.project.mergerequests.list(state="opened", source_branch=branch, get_all=True)
        return found[0] if found else None

    def _user_ids(self, names: tuple[str, ...]) -> list[int]:
        ids = []
        for name in names:
            users = self.client.users.list(username=name.lstrip("@"), get_all=True)
            if not users:
                raise ForgeError(f"find user {name}", "GitLab has no such user")
            ids.append(users[0].id)
        return ids


def _pull(request: Any) -> PullRequest:
    closed = request.closed_at or request.merged_at
    return PullRequest(
        number=request.iid,
        branch=request.source_branch,
        state=STATES.get(request.state, "closed"),
        url=request.web_url,
        body=request.description or "",
        created_at=datetime.fromisoformat(request.created_at),
        closed_at=datetime.fromisoformat(closed) if closed else None,
        labels=tuple(request.labels),
    )
