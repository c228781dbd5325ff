"""The `gitlab` forge: python-gitlab with a project, group or personal access token,
gitlab.com or self-hosted. Merge requests are GitLab's pull requests, notes its comments,
and a commit status stands in for GitHub's check run. GitLab has no team reviewers:
`team_reviewers` is GitHub's only.

python-gitlab retries 429s after `Retry-After` by itself; `retry_transient_errors` adds
5xx and dropped connections, with backoff.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import gitlab
from gitlab.exceptions import GitlabError

from bot.forges.base import (
    DASHBOARD_MARKER,
    Annotation,
    ApiBudget,
    ForgeError,
    Issue,
    Outcome,
    PullRequest,
    PullRequestDraft,
    PullState,
    bot_pulls,
    comment_marker,
    converge_comment,
)
from bot.forges.remote import GitCredentials, RemoteBranches
from recommenders.errors import InputError

STATUS_NAME = "rightsizer"
DRAFT = "Draft: "
TIMEOUT = 30.0
STATES: dict[str, PullState] = {"opened": "open", "merged": "merged"}


@dataclass(frozen=True)
class GitLabSettings:
    repository: str
    url: str = "https://gitlab.com"
    token: str | None = None


def connect(settings: GitLabSettings, destination: Path) -> GitLabForge:
    """Authenticate, read the project and clone it to `destination`."""
    client, project = open_project(settings)
    token = str(settings.token)

    def credentials() -> GitCredentials:
        return GitCredentials("oauth2", token)

    branches = RemoteBranches.clone(project.http_url_to_repo, destination, credentials)
    return GitLabForge(client, project, branches)


def open_project(settings: GitLabSettings) -> tuple[gitlab.Gitlab, Any]:
    if not settings.token:
        raise InputError("--forge gitlab", "give --token (RIGHTSIZER_GITLAB_TOKEN)")
    client = gitlab.Gitlab(
        settings.url.rstrip("/"),
        private_token=settings.token,
        retry_transient_errors=True,
        timeout=TIMEOUT,
    )
    with _calling(f"read project {settings.repository}"):
        client.auth()
        project = client.projects.get(settings.repository)
    return client, project


class GitLabConversation:
    """Answering a command on a merge request."""

    def __init__(self, settings: GitLabSettings) -> None:
        self.client, self.project = open_project(settings)

    def permission(self, login: str) -> str:
        """The user's access level as GitHub names roles: Developer (30) can push, so it
        is `write`; Maintainer and Owner are `maintain` and `admin`."""
        with _calling(f"read {login}'s access"):
            users = self.client.users.list(username=login, get_all=True)
            if not users:
                return "none"
            try:
                member = self.project.members_all.get(users[0].id)
            except GitlabError as exc:
                if exc.response_code == 404:
                    return "none"
                raise
        level = int(member.access_level)
        return (
            "admin"
            if level >= 50
            else "maintain"
            if level >= 40
            else "write"
            if level >= 30
            else "read"
        )

    def comment(self, number: int, comment_id: int) -> tuple[str, str]:
        with _calling(f"read note {comment_id} on !{number}"):
            note = self.project.mergerequests.get(number, lazy=True).notes.get(comment_id)
            return str(note.author["username"]), str(note.body or "")

    def reply(self, number: int, text: str) -> None:
        with _calling(f"answer on !{number}"):
            self.project.mergerequests.get(number, lazy=True).notes.create({"body": text})

    def is_dashboard(self, number: int) -> bool:
        with _calling(f"read issue #{number}"):
            issue = self.project.issues.get(number)
            return issue.state == "opened" and _is_dashboard(issue, token_user_id(self.client))


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
        def mine(request: Any) -> bool:
            same_project = request.source_project_id == self.project.id
            return same_project and str(request.source_branch).startswith(prefix)

        with _calling("list merge requests"):
            opened = self.project.mergerequests.list(state="opened", iterator=True)
            closed = self.project.mergerequests.list(
                state="all", order_by="updated_at", sort="desc", iterator=True
            )
            return bot_pulls(opened, closed, mine, _pull)

    def ensure_pull_request(self, draft: PullRequestDraft) -> tuple[Outcome, PullRequest]:
        with _calling(f"open or update the merge request for {draft.branch}"):
            request = self._open_request(draft.branch, draft.base)
            if request is None:
                request, created = self._create(draft)
                if created:
                    return "created", _pull(request)
            # Draft state is the reviewers' once the request is open: keep whatever it is.
            title = f"{DRAFT}{draft.title}" if request.draft else draft.title
            if request.title == title and request.description == draft.body:
                return "unchanged", _pull(request)
            request.title, request.description = title, draft.body
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
            raced = (
                self._open_request(draft.branch, draft.base) if exc.response_code == 409 else None
            )
            if raced is None:
                raise
            return raced, False

    def ensure_comment(self, pull: PullRequest, key: str, text: str) -> Outcome:
        with _calling(f"comment on !{pull.number}"):
            notes = self.project.mergerequests.get(pull.number, lazy=True).notes

            def edit(note: Any, body: str) -> None:
                note.body = body
                note.save()

            return converge_comment(
                notes.list(iterator=True),
                lambda note: str(note.body),
                key,
                text,
                edit,
                lambda body: notes.create({"body": body}),
            )

    def has_comment(self, pull: PullRequest, key: str) -> bool:
        marker = comment_marker(key)
        with _calling(f"read the notes of !{pull.number}"):
            notes = self.project.mergerequests.get(pull.number, lazy=True).notes
            return any(str(n.body).startswith(marker) for n in notes.list(iterator=True))

    def dashboard_text(self) -> str | None:
        with _calling("read the dashboard issue"):
            issue = self._dashboard_issue()
            return None if issue is None else str(issue.description or "")

    def close_dashboard(self) -> bool:
        with _calling("close the dashboard issue"):
            issue = self._dashboard_issue()
            if issue is not None:
                issue.state_event = "close"
                issue.save()
            return issue is not None

    def ensure_dashboard(self, title: str, body: str) -> tuple[Outcome, Issue]:
        with _calling("open or update the dashboard issue"):
            issue = self._dashboard_issue()
            if issue is None:
                created = self.project.issues.create({"title": title, "description": body})
                return "created", _issue(created)
            if issue.title == title and issue.description == body:
                return "unchanged", _issue(issue)
            issue.title, issue.description = title, body
            issue.save()
            return "updated", _issue(issue)

    def _dashboard_issue(self) -> Any:
        """The token user's own open issue carrying the marker, the oldest if there are
        two: anyone may write the marker into an issue, and adopting theirs would let them
        steer the bot."""
        me = token_user_id(self.client)
        found = self.project.issues.list(
            state="opened", author_id=me, order_by="created_at", sort="asc", iterator=True
        )
        return next((i for i in found if _is_dashboard(i, me)), None)

    def api_budget(self) -> ApiBudget | None:
        """None: GitLab limits per user and address, not per installation, and
        python-gitlab waits out its 429s."""
        return None

    def report_check(
        self,
        pull: PullRequest,
        commit: str,
        title: str,
        summary: str,
        annotations: Sequence[Annotation] = (),
    ) -> None:
        """A commit status, GitLab's nearest thing to a check run: it holds one line, so the
        summary stays in the merge request's description, and a status has no annotations."""
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

    def _open_request(self, branch: str, target: str) -> Any:
        """The bot's open request for `branch`: from this project (not a fork's branch of the
        same name) into the target it was opened for, which is what GitLab keeps unique."""
        found = self.project.mergerequests.list(
            state="opened", source_branch=branch, target_branch=target, get_all=True
        )
        return next((r for r in found if r.source_project_id == self.project.id), None)

    def _user_ids(self, names: tuple[str, ...]) -> list[int]:
        ids = []
        for name in names:
            users = self.client.users.list(username=name.lstrip("@"), get_all=True)
            if not users:
                raise ForgeError(f"find user {name}", "GitLab has no such user")
            ids.append(users[0].id)
        return ids


def token_user_id(client: gitlab.Gitlab) -> int:
    """The token's user, whose issues are the bot's: `open_project` authenticated, so
    python-gitlab holds it already."""
    if client.user is None:
        client.auth()
    assert client.user is not None  # auth() sets it or raises
    return int(client.user.id)


def _is_dashboard(issue: Any, author_id: int) -> bool:
    """Checked here too, not only by the listing's `author_id` filter: a stranger's issue
    carrying the marker must never be taken for the bot's."""
    author = issue.author or {}
    mine = author.get("id") == author_id
    return mine and str(issue.description or "").startswith(DASHBOARD_MARKER)


def _issue(issue: Any) -> Issue:
    return Issue(int(issue.iid), str(issue.web_url), str(issue.description or ""))


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
        title=str(request.title or "").removeprefix(DRAFT),
        head=str(request.sha or ""),
    )
