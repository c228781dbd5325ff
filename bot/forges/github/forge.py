"""The `github` forge: PyGithub as a GitHub App installation (or with a token), GHES too.

An App signs a short JWT with its private key, trades it for an installation token (an hour
long) and PyGithub renews that token before it expires; git pushes ask for the current one.
Retries are PyGithub's `GithubRetry`: 5xx with backoff, and on a rate limit it sleeps until
`Retry-After` or `X-RateLimit-Reset`, as GitHub asks clients to.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from github import Auth, Github, GithubException, GithubIntegration
from github.GithubRetry import GithubRetry
from github.Issue import Issue as GithubIssue
from github.PullRequest import PullRequest as GithubPull
from github.Repository import Repository

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
from bot.forges.remote import Credentials, GitCredentials, RemoteBranches
from bot.markdown import inert
from recommenders.errors import InputError

CHECK_NAME = "Rightsizer"
MAX_ANNOTATIONS = 50
"""Annotations GitHub takes in one request for a check run."""
INSTALLATION_REFUSAL = "Resource not accessible by integration"
"""GitHub's 403 to an installation's token where only a user's is accepted (GET /user)."""
MAX_ANNOTATION = 64_000
"""Characters of one annotation's message."""


@dataclass(frozen=True)
class GitHubSettings:
    repository: str
    api_url: str = "https://api.github.com"
    app_id: str | None = None
    private_key: Path | None = None
    installation_id: int | None = None
    token: str | None = None
    write_interval: float = 1.0
    """Seconds between writes: GitHub's advice against its secondary rate limits."""


def connect(settings: GitHubSettings, destination: Path) -> GitHubForge:
    """Authenticate, read the repository and clone it to `destination`."""
    client, repository, auth, app = open_repository(settings)

    def credentials() -> GitCredentials:
        token = auth.token if isinstance(auth, Auth.AppInstallationAuth) else settings.token
        return GitCredentials("x-access-token", str(token))

    branches = RemoteBranches.clone(repository.clone_url, destination, credentials)
    author = functools.cache(lambda: bot_login(settings, client, app))
    return GitHubForge(repository, branches, credentials, check_runs=app, author=author)


def open_repository(settings: GitHubSettings) -> tuple[Github, Repository, Auth.Auth, bool]:
    """The client, the repository through it, its auth, and whether that is an App's."""
    auth, app = _auth(settings)
    client = Github(
        base_url=settings.api_url.rstrip("/"),
        auth=auth,
        per_page=100,
        retry=GithubRetry(total=5, backoff_factor=0.5),
        seconds_between_writes=settings.write_interval or None,
        seconds_between_requests=None,
    )
    with _calling(f"read repository {settings.repository}"):
        repository = client.get_repo(settings.repository)
    return client, repository, auth, app


def bot_login(settings: GitHubSettings, client: Github, app: bool) -> str | None:
    """Whose issues are the bot's: the App's `<slug>[bot]` user, or the token's user. None
    for a token GitHub will not name (an installation's, as Actions' GITHUB_TOKEN): its
    issues are then known by their `Bot` author alone. Asked only when an issue is
    looked for, so a run that keeps no dashboard spends no request on it."""
    if app:
        assert settings.app_id and settings.private_key
        auth = Auth.AppAuth(settings.app_id, _private_key(settings.private_key))
        integration = GithubIntegration(auth=auth, base_url=settings.api_url.rstrip("/"))
        with _calling("read the App's name"):
            return f"{integration.get_app().slug}[bot]"
    try:
        with _calling("read the token's user"):
            return str(client.get_user().login)
    except ForgeError as exc:
        if INSTALLATION_REFUSAL in exc.problem:
            return None
        raise


def is_bot_issue(issue: GithubIssue, author: str | None) -> bool:
    """An open issue (not a PR) the bot wrote that carries the dashboard marker."""
    written = issue.user.login == author if author else issue.user.type == "Bot"
    return (
        issue.pull_request is None
        and issue.state == "open"
        and written
        and (issue.body or "").startswith(DASHBOARD_MARKER)
    )


class GitHubConversation:
    """Answering a command on a PR: who may give it (asked of GitHub, never read from the
    payload, which anyone can forge a comment into) and the reply."""

    def __init__(self, settings: GitHubSettings) -> None:
        client, self.repository, _, app = open_repository(settings)
        self.author = functools.cache(lambda: bot_login(settings, client, app))

    def permission(self, login: str) -> str:
        """GitHub's role for `login` here: admin, maintain, write, triage, read or none."""
        with _calling(f"read {login}'s permission"):
            try:
                return str(self.repository.get_collaborator_permission(login))
            except GithubException as exc:
                if exc.status == 404:  # not a collaborator
                    return "none"
                raise

    def comment(self, number: int, comment_id: int) -> tuple[str, str]:
        with _calling(f"read comment {comment_id} on #{number}"):
            found = self.repository.get_issue(number).get_comment(comment_id)
            return str(found.user.login), str(found.body or "")

    def reply(self, number: int, text: str) -> None:
        with _calling(f"answer on #{number}"):
            self.repository.get_issue(number).create_comment(text)

    def is_dashboard(self, number: int) -> bool:
        with _calling(f"read issue #{number}"):
            return is_bot_issue(self.repository.get_issue(number), self.author())


def _auth(settings: GitHubSettings) -> tuple[Auth.Auth, bool]:
    """Token auth, or the App's installation auth; True when it is an App (check runs)."""
    if settings.token:
        return Auth.Token(settings.token), False
    if not (settings.app_id and settings.private_key):
        raise InputError(
            "--forge github",
            "give --token (RIGHTSIZER_GITHUB_TOKEN), or --app-id and --private-key "
            "(RIGHTSIZER_GITHUB_APP_ID, RIGHTSIZER_GITHUB_PRIVATE_KEY)",
        )
    app_auth = Auth.AppAuth(settings.app_id, _private_key(settings.private_key))
    installation = settings.installation_id
    if installation is None:
        owner, _, name = settings.repository.partition("/")
        integration = GithubIntegration(auth=app_auth, base_url=settings.api_url.rstrip("/"))
        with _calling(f"find the App's installation on {settings.repository}"):
            installation = integration.get_repo_installation(owner, name).id
    return app_auth.get_installation_auth(installation), True


def _private_key(path: Path) -> str:
    """The App's key, checked here so that a wrong file is named, not a signing traceback."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(str(path), "cannot read the App's private key") from exc
    try:
        key = serialization.load_pem_private_key(text.encode(), password=None)
    except (ValueError, TypeError) as exc:
        raise InputError(
            str(path), "not an unencrypted PEM private key (generate one on the App's page)"
        ) from exc
    if not isinstance(key, rsa.RSAPrivateKey):
        raise InputError(str(path), "GitHub Apps sign with RSA keys; this is another kind")
    return text


@contextmanager
def _calling(action: str) -> Iterator[None]:
    """GitHub's refusal as one line: its status and message, never the request's headers."""
    try:
        yield
    except GithubException as exc:
        message = exc.data.get("message") if isinstance(exc.data, dict) else exc.data
        problem = f"GitHub answered {exc.status}: {message}"
        raise ForgeError(action, problem, _wait_asked(exc.headers or {})) from exc
    except requests.RequestException as exc:
        # Retries used up on 5xx (RetryError), or GitHub unreachable: say which, not the URL
        # with its query, which is all requests' message would add.
        raise ForgeError(action, f"GitHub did not answer: {type(exc).__name__}") from exc


def _wait_asked(headers: dict[str, str]) -> float | None:
    """The wait GitHub asked for when it refused: `Retry-After` (secondary limits), or until
    `X-RateLimit-Reset` once the hour's budget is spent; None when it asked for none."""
    lowered = {key.lower(): value for key, value in headers.items()}
    try:
        if "retry-after" in lowered:
            return max(0.0, float(lowered["retry-after"]))
        if lowered.get("x-ratelimit-remaining") == "0" and "x-ratelimit-reset" in lowered:
            return max(0.0, float(lowered["x-ratelimit-reset"]) - time.time())
    except ValueError:
        return None
    return None


class GitHubForge:
    name = "github"
    body_limit = 65_536

    def __init__(
        self,
        repository: Repository,
        branches: RemoteBranches,
        credentials: Credentials,
        *,
        check_runs: bool,
        author: Callable[[], str | None] = lambda: None,
    ) -> None:
        self.repository = repository
        self.branches = branches
        self.credentials = credentials
        self.check_runs = check_runs
        self.author = author
        """Whose issues are the bot's (`bot_login`), asked the first time it is needed."""
        self.owner = repository.owner.login
        self.default_branch = repository.default_branch

    def ensure_branch(self, branch: str, commit: str, previous: str | None) -> None:
        self.branches.push(branch, commit, previous)

    def api_budget(self) -> ApiBudget | None:
        """From the `X-RateLimit-*` headers of the last answer PyGithub read."""
        requester = self.repository.requester
        remaining, limit = requester.rate_limiting
        if limit < 0 or not requester.rate_limiting_resettime:
            return None
        return ApiBudget(remaining, float(requester.rate_limiting_resettime))

    def pull_requests(self, prefix: str) -> list[PullRequest]:
        def mine(pull: GithubPull) -> bool:
            head = pull.head.repo
            same_repo = head is not None and head.full_name == self.repository.full_name
            return same_repo and pull.head.ref.startswith(prefix)

        with _calling("list pull requests"):
            opened = self.repository.get_pulls(state="open")
            closed = self.repository.get_pulls(state="closed", sort="updated", direction="desc")
            return bot_pulls(opened, closed, mine, _pull)

    def ensure_pull_request(self, draft: PullRequestDraft) -> tuple[Outcome, PullRequest]:
        with _calling(f"open or update the pull request for {draft.branch}"):
            pull = self._open_pull(draft.branch)
            if pull is None:
                pull, created = self._create(draft)
                if created:
                    return "created", _pull(pull)
            if pull.title == draft.title and (pull.body or "") == draft.body:
                return "unchanged", _pull(pull)
            pull.edit(title=draft.title, body=draft.body)
            return "updated", _pull(pull)

    def _create(self, draft: PullRequestDraft) -> tuple[GithubPull, bool]:
        """The new PR, or (False) the one another run opened between our look and our write,
        which GitHub reports as a 422 for a head that already has an open PR."""
        try:
            pull = self.repository.create_pull(
                base=draft.base,
                head=draft.branch,
                title=draft.title,
                body=draft.body,
                draft=draft.draft,
                maintainer_can_modify=True,
            )
        except GithubException as exc:
            raced = self._open_pull(draft.branch) if exc.status == 422 else None
            if raced is None:
                raise
            return raced, False
        if draft.labels:
            pull.add_to_labels(*draft.labels)
        self._people(pull, draft)
        return pull, True

    def ensure_comment(self, pull: PullRequest, key: str, text: str) -> Outcome:
        with _calling(f"comment on #{pull.number}"):
            issue = self.repository.get_issue(pull.number)
            return converge_comment(
                issue.get_comments(),
                lambda comment: comment.body,
                key,
                text,
                lambda comment, body: comment.edit(body),
                issue.create_comment,
            )

    def dashboard_text(self) -> str | None:
        with _calling("read the dashboard issue"):
            found = self._dashboard_issue()
            return None if found is None else str(found.body or "")

    def close_dashboard(self) -> bool:
        with _calling("close the dashboard issue"):
            found = self._dashboard_issue()
            if found is not None:
                found.edit(state="closed")
            return found is not None

    def ensure_dashboard(self, title: str, body: str) -> tuple[Outcome, Issue]:
        with _calling("write the dashboard issue"):
            found = self._dashboard_issue()
            if found is None:
                created = self.repository.create_issue(title=title, body=body)
                return "created", _issue(created)
            if found.title == title and (found.body or "") == body:
                return "unchanged", _issue(found)
            found.edit(title=title, body=body)
            return "updated", _issue(found)

    def _dashboard_issue(self) -> GithubIssue | None:
        """The bot's open dashboard, the oldest if there are two: listed by its author
        where GitHub names one (the issues listing holds pull requests too)."""
        author = self.author()
        if author is not None:
            # PyGithub sends a login as it is; its annotation names NamedUser only.
            listed = self.repository.get_issues(state="open", creator=author, direction="asc")  # type: ignore[arg-type]
        else:  # every open issue and PR: newest first, where the issue usually is
            listed = self.repository.get_issues(state="open")
        return next((issue for issue in listed if is_bot_issue(issue, author)), None)

    def has_comment(self, pull: PullRequest, key: str) -> bool:
        marker = comment_marker(key)
        with _calling(f"read the comments of #{pull.number}"):
            comments = self.repository.get_issue(pull.number).get_comments()
            return any(comment.body.startswith(marker) for comment in comments)

    def report_check(
        self,
        pull: PullRequest,
        commit: str,
        title: str,
        summary: str,
        annotations: Sequence[Annotation] = (),
    ) -> None:
        """A neutral check run: informative, never blocking a merge, with a notice on each
        changed line (GitHub takes 50 a request). Only an App may write check runs; with a
        plain token the PR text alone carries the summary."""
        if not self.check_runs:
            return
        notes = [
            {
                "path": note.path,
                "start_line": note.start_line,
                "end_line": note.end_line,
                "annotation_level": "notice",
                "title": CHECK_NAME,
                "message": note.message[:MAX_ANNOTATION],
            }
            for note in annotations[:MAX_ANNOTATIONS]
        ]
        output: dict[str, Any] = {"title": title[:255], "summary": summary[:65_535]}
        if notes:
            output["annotations"] = notes
        with _calling(f"report the check run on {commit[:12]}"):
            runs = self.repository.get_commit(commit).get_check_runs(check_name=CHECK_NAME)
            if any(run.output.summary == output["summary"] for run in runs):
                return
            self.repository.create_check_run(
                name=CHECK_NAME,
                head_sha=commit,
                status="completed",
                conclusion="neutral",
                details_url=pull.url,
                output=output,
            )

    def _open_pull(self, branch: str) -> GithubPull | None:
        for pull in self.repository.get_pulls(state="open", head=f"{self.owner}:{branch}"):
            return pull
        return None

    def _people(self, pull: GithubPull, draft: PullRequestDraft) -> None:
        """Ask for reviews and assign; GitHub refuses names that cannot review (not a
        collaborator, the author). The PR stays open and says why on it, once: failing the
        run would leave the PR without reviewers for good, as they are asked only once."""
        try:
            if draft.reviewers or draft.team_reviewers:
                pull.create_review_request(
                    reviewers=list(draft.reviewers), team_reviewers=list(draft.team_reviewers)
                )
            if draft.assignees:
                pull.add_to_assignees(*draft.assignees)
        except GithubException as exc:
            message = exc.data.get("message") if isinstance(exc.data, dict) else exc.data
            text = (
                f"Rightsizer could not ask for reviews or assign this PR: GitHub answered "
                f"{exc.status}: {inert(str(message))}. Check `pull_requests` in "
                "`.rightsizer.yaml`."
            )
            self.ensure_comment(_pull(pull), "people", text)


def _pull(pull: GithubPull) -> PullRequest:
    state: PullState = "merged" if pull.merged_at else "open" if pull.state == "open" else "closed"
    return PullRequest(
        number=pull.number,
        branch=pull.head.ref,
        state=state,
        url=pull.html_url,
        body=pull.body or "",
        created_at=pull.created_at,
        closed_at=pull.closed_at,
        labels=tuple(label.name for label in pull.labels),
        title=pull.title or "",
        head=pull.head.sha or "",
    )


def _issue(issue: GithubIssue) -> Issue:
    return Issue(issue.number, issue.html_url, issue.body or "")
