"""A GitHub Enterprise Server on 127.0.0.1 that PyGithub and git talk to over real HTTP.

Why a server and not mocks of PyGithub: the bot's GitHub adapter is only as right as what it
assumes about the protocol — which URL PyGithub builds from which field, what a 422 looks
like, when a token is refused, how pagination and retries work. Here PyGithub sends real
requests, parses real answers and follows real `Link` headers, and git pushes real commits
through the real `git http-backend`, so a wrong assumption fails a test.

Shapes follow the real recorded bodies in `fixtures/github-api/` (see its README). Like
GitHub Enterprise Server, the API is at `/api/v3` and git at `/OWNER/NAME.git`, on one host:
every URL in an answer uses this server's exact `127.0.0.1:PORT`, because PyGithub asserts
that the URLs it follows stay on the host of its `base_url`.

It refuses what GitHub refuses, so a test can fail: a JWT not signed by the App's key, with
the wrong `iss`, expired or expiring more than ten minutes ahead; expired or unknown tokens;
a second open pull request for the same head and base; a head or base branch that does not
exist or has no commits; check runs written with anything but an installation token; bodies
over GitHub's length limits; a token without the permission an endpoint needs.

State lives in memory, except branches: they are the refs of the real bare repositories, read
with git at each request, so a pull request's head sha is whatever was last pushed.
Issues share the pull requests' numbers, as on GitHub, and the issues listing holds both
(a pull request as an issue with a `pull_request` key).
Not modelled: forks, reviews, GraphQL, webhooks, the web UI.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import math
import os
import re
import secrets
import shutil
import string
import subprocess
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, NamedTuple

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.forge_servers.git_http import bare_repository, read_body, serve_git

API = "/api/v3"
DOCS = "https://docs.github.com/rest"
RATE_DOCS = f"{DOCS}/overview/rate-limits-for-the-rest-api"
API_VERSION = "2022-11-28"
ENTERPRISE_VERSION = "3.14.0"
MAX_BODY = 65536
"""GitHub refuses issue, pull request and comment bodies longer than this (characters)."""
MAX_CHECK_TEXT = 65535
"""...and check-run output summaries and texts longer than this."""
MAX_ANNOTATIONS = 50
"""Annotations a check run takes per request ("update the check run to add more")."""
ANNOTATION_KEYS = ("path", "start_line", "end_line", "annotation_level", "message")
ANNOTATION_LEVELS = ("notice", "warning", "failure")
JWT_MAX_LIFETIME = 600
"""GitHub: a JWT's `exp` may be at most ten minutes in the future."""
HUMAN_ENV = {"GIT_COMMITTER_NAME": "GitHub", "GIT_COMMITTER_EMAIL": "noreply@github.com"}
"""Merges made on the web are committed by GitHub and authored by the person who merged."""

ROLES = ("none", "read", "triage", "write", "maintain", "admin")
PERMISSION_OF_ROLE = {
    "none": "none",
    "read": "read",
    "triage": "read",
    "write": "write",
    "maintain": "write",
    "admin": "admin",
}
DEFAULT_APP_PERMISSIONS = {
    "checks": "write",
    "contents": "write",
    "issues": "write",
    "metadata": "read",
    "pull_requests": "write",
}
CHECK_STATUSES = ("queued", "in_progress", "completed", "waiting", "requested", "pending")
CHECK_CONCLUSIONS = (
    "action_required",
    "cancelled",
    "failure",
    "neutral",
    "success",
    "skipped",
    "stale",
    "timed_out",
)
SECONDARY_MESSAGE = (
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try "
    "again. If you reach out to GitHub Support for help, please include the request ID {id}."
)
GIT_PATH = re.compile(r"^/([^/]+)/([^/]+)\.git(/.*)?$")

# Which installation permissions (any one suffices) and which collaborator role an action
# needs: reading needs metadata, which every installation has.
APP_NEEDS = {
    "read": (("metadata", "read"),),
    "pull": (("pull_requests", "write"),),
    "issue": (("issues", "write"), ("pull_requests", "write")),
    "open-issue": (("issues", "write"),),
    "check": (("checks", "write"),),
    "push": (("contents", "write"),),
}
USER_NEEDS = {
    "read": "read",
    "pull": "read",
    "issue": "triage",
    "open-issue": "read",
    "push": "write",
}

REPO_URLS = (
    ("forks_url", "/forks"),
    ("keys_url", "/keys{/key_id}"),
    ("collaborators_url", "/collaborators{/collaborator}"),
    ("teams_url", "/teams"),
    ("hooks_url", "/hooks"),
    ("issue_events_url", "/issues/events{/number}"),
    ("events_url", "/events"),
    ("assignees_url", "/assignees{/user}"),
    ("branches_url", "/branches{/branch}"),
    ("tags_url", "/tags"),
    ("blobs_url", "/git/blobs{/sha}"),
    ("git_tags_url", "/git/tags{/sha}"),
    ("git_refs_url", "/git/refs{/sha}"),
    ("trees_url", "/git/trees{/sha}"),
    ("statuses_url", "/statuses/{sha}"),
    ("languages_url", "/languages"),
    ("stargazers_url", "/stargazers"),
    ("contributors_url", "/contributors"),
    ("subscribers_url", "/subscribers"),
    ("subscription_url", "/subscription"),
    ("commits_url", "/commits{/sha}"),
    ("git_commits_url", "/git/commits{/sha}"),
    ("comments_url", "/comments{/number}"),
    ("issue_comment_url", "/issues/comments{/number}"),
    ("contents_url", "/contents/{+path}"),
    ("compare_url", "/compare/{base}...{head}"),
    ("merges_url", "/merges"),
    ("archive_url", "/{archive_format}{/ref}"),
    ("downloads_url", "/downloads"),
    ("issues_url", "/issues{/number}"),
    ("pulls_url", "/pulls{/number}"),
    ("milestones_url", "/milestones{/number}"),
    ("notifications_url", "/notifications{?since,all,participating}"),
    ("labels_url", "/labels{/name}"),
    ("releases_url", "/releases{/id}"),
    ("deployments_url", "/deployments"),
)


@functools.cache
def session_key() -> rsa.RSAPrivateKey:
    """One 2048-bit RSA key for the test session: making one costs about 0.1 s, and each
    server's App still has its own id, so a JWT made for one server fails on another."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def iso(stamp: float) -> str:
    """GitHub's timestamp format: UTC, whole seconds, `Z`."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(stamp))


def node_id(kind: str, number: int) -> str:
    """GitHub's (legacy) global node ids: base64 of `0<len>:<Type><id>`."""
    return base64.b64encode(f"0{len(kind)}:{kind}{number}".encode()).decode()


def quote(text: str) -> str:
    return urllib.parse.quote(text, safe="")


class RequestRecord(NamedTuple):
    """One request the server answered; `time` is `time.monotonic()` when it arrived."""

    method: str
    path: str
    status: int
    time: float
    login: str | None


@dataclass
class Fault:
    """An answer served instead of the real one to the next `times` matching requests.

    `served` holds `time.monotonic()` as each answer was sent, to compare with when the
    client came back (`RequestRecord.time`). With `process`, the request is carried out first
    and only its answer is replaced: a gateway that timed out after GitHub did the work."""

    method: str
    path: re.Pattern[str]
    status: int
    answer: Callable[[Identity | None], tuple[dict[str, str], bytes]]
    times: int
    process: bool = False
    served: list[float] = field(default_factory=list)


@dataclass
class Identity:
    """Who a token authenticates: an App installation (the `APP[bot]` user) or a person."""

    login: str
    installation: bool
    expires_at: float | None
    permissions: dict[str, str]
    repositories: set[tuple[str, str]] | None = None
    """The repositories an installation token was narrowed to (None: all of them)."""

    @property
    def kind(self) -> str:
        return "Bot" if self.installation else "User"


@dataclass
class Pull:
    number: int
    id: int
    issue_id: int
    title: str
    body: str | None
    head: str
    base: str
    user: tuple[str, str]
    created_at: float
    updated_at: float
    head_sha: str
    base_sha: str
    draft: bool = False
    maintainer_can_modify: bool = False
    state: str = "open"
    closed_at: float | None = None
    merged_at: float | None = None
    merge_commit_sha: str | None = None
    merged_by: str | None = None
    closed_by: tuple[str, str] | None = None
    labels: list[str] = field(default_factory=list)
    assignees: list[str] = field(default_factory=list)
    reviewers: list[str] = field(default_factory=list)
    teams: list[str] = field(default_factory=list)
    mergeable_seen: tuple[str, str] | None = None


@dataclass
class Issue:
    """A plain issue; pull requests are issues too, kept as `Pull`."""

    number: int
    id: int
    title: str
    body: str | None
    user: tuple[str, str]
    created_at: float
    updated_at: float
    state: str = "open"
    closed_at: float | None = None
    closed_by: tuple[str, str] | None = None
    labels: list[str] = field(default_factory=list)
    assignees: list[str] = field(default_factory=list)


@dataclass
class Comment:
    id: int
    number: int
    body: str
    user: tuple[str, str]
    created_at: float
    updated_at: float


@dataclass
class CheckRun:
    id: int
    suite_id: int
    head_sha: str
    name: str
    status: str
    conclusion: str | None
    started_at: float
    completed_at: float | None
    output: dict[str, Any]
    details_url: str | None
    external_id: str | None
    annotations: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Repo:
    id: int
    owner: str
    name: str
    path: Path
    default_branch: str
    private: bool
    created_at: float
    pushed_at: float
    next_number: int = 1
    roles: dict[str, str] = field(default_factory=dict)
    labels: dict[str, dict[str, Any]] = field(default_factory=dict)
    pulls: dict[int, Pull] = field(default_factory=dict)
    issues: dict[int, Issue] = field(default_factory=dict)
    comments: dict[int, Comment] = field(default_factory=dict)
    check_runs: dict[int, CheckRun] = field(default_factory=dict)
    pushes: int = 0


class GitHubError(Exception):
    """An error answer, in GitHub's body shape."""

    def __init__(
        self,
        status: int,
        message: str,
        doc: str = DOCS,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body: dict[str, Any] = {"message": message}
        if errors is not None:
            self.body["errors"] = errors
        self.body["documentation_url"] = doc
        self.body["status"] = str(status)
        self.headers = headers or {}


def not_found(doc: str = DOCS) -> GitHubError:
    return GitHubError(404, "Not Found", doc)


def invalid(resource: str, doc: str, **error: str) -> GitHubError:
    """422 Validation Failed with one entry in `errors`, as GitHub writes it."""
    return GitHubError(422, "Validation Failed", doc, [{"resource": resource, **error}])


@dataclass
class Reply:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Call:
    method: str
    path: str
    query: dict[str, str]
    body: bytes
    identity: Identity | None = None

    def json(self) -> Any:
        if not self.body.strip():
            return {}
        try:
            return json.loads(self.body)
        except ValueError:
            raise GitHubError(400, "Problems parsing JSON") from None


@dataclass
class Route:
    method: str
    pattern: re.Pattern[str]
    action: Callable[..., Reply]
    auth: str = "token"
    """Either `token` (an installation or personal token) or `jwt` (the App's JWT)."""


class GitHubServer:
    """GitHub Enterprise Server on 127.0.0.1, for PyGithub (`base_url=api_url`) and git.

    One GitHub App is installed on every repository (`app_id`, `private_key_pem`,
    `installation_id`); its installation tokens last `token_lifetime` seconds. Use as a
    context manager."""

    def __init__(
        self,
        root: Path | None = None,
        *,
        app_slug: str = "rightsizer",
        account: str = "acme",
        token_lifetime: float = 3600,
        permissions: dict[str, str] | None = None,
        rate_limit: int = 5000,
        mergeable_pending: bool = False,
    ) -> None:
        """`root` holds the bare repositories (a temporary directory when None).
        `mergeable_pending`: the first read of a pull request after its head or base moved
        says `mergeable: null`, as GitHub does while it computes the merge in the background.
        """
        self._own_root = root is None
        self.root = Path(tempfile.mkdtemp(prefix="github-")) if root is None else root
        self.root.mkdir(parents=True, exist_ok=True)
        self.app_slug = app_slug
        self.account = account
        self.token_lifetime = token_lifetime
        self.app_permissions = dict(permissions or DEFAULT_APP_PERMISSIONS)
        self.rate_limit = rate_limit
        self.mergeable_pending = mergeable_pending
        self.app_id = 100000 + secrets.randbelow(900000)
        self.client_id = "Iv23" + "".join(secrets.choice(string.hexdigits) for _ in range(16))
        self.installation_id = 10000000 + secrets.randbelow(90000000)
        key = session_key()
        self.private_key_pem: bytes = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
        self._public_key = key.public_key()
        self.tokens_issued = 0
        self.started = time.time()

        self._lock = threading.RLock()
        self._repos: dict[tuple[str, str], Repo] = {}
        self._tokens: dict[str, Identity] = {}
        self._user_ids: dict[str, int] = {}
        self._teams: dict[tuple[str, str], int] = {}
        self._faults: list[Fault] = []
        self._records: list[RequestRecord] = []
        self._usage: dict[str, tuple[float, int]] = {}
        self._counter = 1000
        self._routes = self._route_table()

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self.api_url = self.url + API

    # ----------------------------------------------------------------- lifecycle

    def __enter__(self) -> GitHubServer:
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._own_root:
            shutil.rmtree(self.root, ignore_errors=True)

    # ----------------------------------------------------------------- set-up

    def add_repository(
        self,
        owner: str,
        name: str,
        source: Path,
        default_branch: str = "main",
        private: bool = False,
    ) -> Path:
        """Host a bare clone of the git repository at `source`; returns its path."""
        path = bare_repository(self.root, owner, name, source)
        self._git(path, "symbolic-ref", "HEAD", f"refs/heads/{default_branch}")
        with self._lock:
            now = time.time()
            self._repos[(owner, name)] = Repo(
                self._next_id(), owner, name, path, default_branch, private, now, now
            )
        return path

    def add_token(self, token: str, login: str, expires_in: float | None = None) -> None:
        """A personal access token for the person `login`."""
        expires = None if expires_in is None else time.time() + expires_in
        with self._lock:
            self._tokens[token] = Identity(login, False, expires, {})

    def set_permission(self, owner: str, name: str, login: str, permission: str) -> None:
        """Make `login` a collaborator with this role (read, triage, write, maintain, admin)."""
        if permission not in ROLES:
            raise ValueError(f"unknown role {permission!r}; one of {ROLES}")
        with self._lock:
            self._repo(owner, name).roles[login] = permission

    def add_team(self, owner: str, slug: str) -> None:
        """A team of the organisation `owner`, that reviews can be requested from."""
        with self._lock:
            self._teams[(owner, slug)] = self._next_id()

    @property
    def bot_login(self) -> str:
        """The user installation tokens act as: `APP_SLUG[bot]`, of type Bot."""
        return f"{self.app_slug}[bot]"

    def clone_url(self, owner: str, name: str, token: str | None = None) -> str:
        """The git URL, with `x-access-token:TOKEN@` when a token is given."""
        auth = f"x-access-token:{token}@" if token else ""
        return f"http://{auth}127.0.0.1:{self.port}/{owner}/{name}.git"

    # ----------------------------------------------------------------- faults

    def fail(
        self,
        method: str,
        path_regex: str,
        status: int,
        headers: dict[str, str] | None = None,
        body: dict[str, Any] | str | bytes | None = None,
        times: int = 1,
        process: bool = False,
    ) -> Fault:
        """Answer the next `times` requests whose method is `method` and whose path (without
        the query) matches `path_regex` (`re.search`) with `status`, `headers` and `body`."""
        if body is None:
            body = {"message": "Server Error" if status >= 500 else "Error"}
        if isinstance(body, dict):
            payload, kind = json.dumps(body).encode(), "application/json; charset=utf-8"
        else:
            payload = body if isinstance(body, bytes) else body.encode()
            kind = "text/html"
        fixed = {"Content-Type": kind, **(headers or {})}
        return self._add_fault(
            method, path_regex, status, lambda _: (fixed, payload), times, process
        )

    def rate_limit_secondary(
        self, method: str, path_regex: str, retry_after: int = 1, times: int = 1
    ) -> Fault:
        """GitHub's secondary rate limit: 403 with `Retry-After`."""

        def answer(_: Identity | None) -> tuple[dict[str, str], bytes]:
            body = {
                "message": SECONDARY_MESSAGE.format(id=self._request_id()),
                "documentation_url": f"{RATE_DOCS}#about-secondary-rate-limits",
            }
            return {"Retry-After": str(retry_after)}, json.dumps(body).encode()

        return self._add_fault(method, path_regex, 403, answer, times, False)

    def rate_limit_primary(
        self, method: str, path_regex: str, reset_in: int = 1, times: int = 1
    ) -> Fault:
        """GitHub's primary rate limit: 403, `X-RateLimit-Remaining: 0`, and the reset
        `reset_in` seconds after the answer is sent."""

        def answer(who: Identity | None) -> tuple[dict[str, str], bytes]:
            if who is not None and who.installation:
                subject = f"installation ID {self.installation_id}"
            else:
                subject = f"user ID {self._uid(who.login if who else 'anonymous')}"
            body = {
                "message": f"API rate limit exceeded for {subject}. If you reach out to GitHub "
                "Support for help, please include the request ID "
                f"{self._request_id()} and timestamp {iso(time.time())}.",
                "documentation_url": f"{RATE_DOCS}#about-primary-rate-limits",
            }
            headers = {
                "X-RateLimit-Limit": str(self.rate_limit),
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Used": str(self.rate_limit),
                "X-RateLimit-Reset": str(math.ceil(time.time() + reset_in)),
                "X-RateLimit-Resource": "core",
            }
            return headers, json.dumps(body).encode()

        return self._add_fault(method, path_regex, 403, answer, times, False)

    def rate_limit_429(
        self, method: str, path_regex: str, retry_after: int = 1, times: int = 1
    ) -> Fault:
        """429 Too Many Requests with `Retry-After`, as GitHub sends for some abuse limits."""

        def answer(_: Identity | None) -> tuple[dict[str, str], bytes]:
            body = {
                "message": SECONDARY_MESSAGE.format(id=self._request_id()),
                "documentation_url": DOCS,
            }
            return {"Retry-After": str(retry_after)}, json.dumps(body).encode()

        return self._add_fault(method, path_regex, 429, answer, times, False)

    def server_error(
        self,
        method: str,
        path_regex: str,
        status: int = 500,
        times: int = 1,
        process: bool = False,
    ) -> Fault:
        """500 with GitHub's JSON body, or 502/503/504 with the HTML page of its proxy."""
        if status == 500:
            return self.fail(method, path_regex, 500, times=times, process=process)
        page = f"<html><body><h1>{status} Server Error</h1></body></html>\n"
        return self.fail(method, path_regex, status, body=page, times=times, process=process)

    def _add_fault(
        self,
        method: str,
        path_regex: str,
        status: int,
        answer: Callable[[Identity | None], tuple[dict[str, str], bytes]],
        times: int,
        process: bool,
    ) -> Fault:
        fault = Fault(method.upper(), re.compile(path_regex), status, answer, times, process)
        with self._lock:
            self._faults.append(fault)
        return fault

    # ----------------------------------------------------------------- inspection

    @property
    def requests(self) -> list[RequestRecord]:
        """Every request answered so far, in order."""
        with self._lock:
            return list(self._records)

    def pushes(self, owner: str, name: str) -> int:
        """How many pushes (receive-pack POSTs answered 200) the repository got."""
        with self._lock:
            return self._repo(owner, name).pushes

    def pulls(self, owner: str, name: str) -> list[dict[str, Any]]:
        """Every pull request, as `GET /pulls/{n}` answers it, oldest first."""
        with self._lock:
            repo = self._repo(owner, name)
            self._refresh(repo)
            return [self._pull_json(repo, p, full=True) for p in repo.pulls.values()]

    def comments(self, owner: str, name: str, number: int) -> list[dict[str, Any]]:
        with self._lock:
            repo = self._repo(owner, name)
            return [
                self._comment_json(repo, c) for c in repo.comments.values() if c.number == number
            ]

    def issues(self, owner: str, name: str) -> list[dict[str, Any]]:
        """Every plain issue, as `GET /issues/{n}` answers it, oldest first."""
        with self._lock:
            repo = self._repo(owner, name)
            return [self._issue_json(repo, i) for i in repo.issues.values()]

    def labels(self, owner: str, name: str, number: int) -> list[str]:
        with self._lock:
            return list(self._repo(owner, name).pulls[number].labels)

    def check_runs(
        self, owner: str, name: str, head_sha: str | None = None
    ) -> list[dict[str, Any]]:
        with self._lock:
            repo = self._repo(owner, name)
            return [
                self._check_json(repo, run)
                for run in repo.check_runs.values()
                if head_sha is None or run.head_sha == head_sha
            ]

    def check_annotations(self, owner: str, name: str, head_sha: str) -> list[dict[str, Any]]:
        """Every annotation the check runs on a commit were given."""
        with self._lock:
            repo = self._repo(owner, name)
            runs = [run for run in repo.check_runs.values() if run.head_sha == head_sha]
            return [note for run in runs for note in run.annotations]

    def branch_sha(self, owner: str, name: str, branch: str) -> str | None:
        with self._lock:
            return self._branches(self._repo(owner, name)).get(branch)

    # ----------------------------------------------------------------- human actions

    def close_pull(
        self,
        owner: str,
        name: str,
        number: int,
        merged: bool = False,
        by: str = "maintainer",
        delete_branch: bool = False,
    ) -> None:
        """A person closes the pull request, or merges it: a real merge commit of head into
        base in the bare repository, authored by `by`, committed by GitHub."""
        with self._lock:
            repo = self._repo(owner, name)
            self._refresh(repo)
            pull = repo.pulls[number]
            if pull.state != "open":
                raise ValueError(f"pull request {number} is already closed")
            now = time.time()
            if merged:
                tree = self._git(
                    repo.path,
                    "merge-tree",
                    "--write-tree",
                    pull.base_sha,
                    pull.head_sha,
                    check=False,
                )
                if tree.returncode:
                    raise ValueError(f"pull request {number} conflicts with {pull.base}")
                message = f"Merge pull request #{number} from {owner}/{pull.head}\n\n{pull.title}"
                author = {"GIT_AUTHOR_NAME": by, "GIT_AUTHOR_EMAIL": f"{by}@users.noreply"}
                commit = self._git(
                    repo.path,
                    "commit-tree",
                    tree.stdout.split()[0],
                    "-p",
                    pull.base_sha,
                    "-p",
                    pull.head_sha,
                    "-m",
                    message,
                    env={**HUMAN_ENV, **author},
                ).stdout.strip()
                self._git(repo.path, "update-ref", f"refs/heads/{pull.base}", commit, pull.base_sha)
                pull.merged_at, pull.merge_commit_sha, pull.merged_by = now, commit, by
            pull.state, pull.closed_at, pull.updated_at = "closed", now, now
            pull.closed_by = (by, "User")
            if delete_branch:
                self._git(repo.path, "update-ref", "-d", f"refs/heads/{pull.head}")

    def open_issue(self, owner: str, name: str, title: str, body: str, by: str) -> int:
        """A person (or, for a `...[bot]` login, another App) opens an issue; returns its
        number."""
        with self._lock:
            repo = self._repo(owner, name)
            now = time.time()
            user = (by, "Bot" if by.endswith("[bot]") else "User")
            issue = Issue(repo.next_number, self._next_id(), title, body, user, now, now)
            repo.next_number += 1
            repo.issues[issue.number] = issue
            return issue.number

    def edit_issue(self, owner: str, name: str, number: int, body: str) -> None:
        """A person edits an issue's text (ticks a box, say)."""
        with self._lock:
            issue = self._repo(owner, name).issues[number]
            issue.body, issue.updated_at = body, time.time()

    def reopen_pull(self, owner: str, name: str, number: int) -> None:
        with self._lock:
            repo = self._repo(owner, name)
            self._reopen(repo, repo.pulls[number])

    def commit(
        self,
        owner: str,
        name: str,
        branch: str,
        files: dict[str, str],
        message: str = "Edit by hand",
        by: str = "maintainer",
    ) -> str:
        """A person commits `files` (path: text) onto `branch` (made from the default
        branch when absent), as if pushed from elsewhere; returns the new commit."""
        with self._lock:
            repo = self._repo(owner, name)
            branches = self._branches(repo)
            parent = branches.get(branch) or branches[repo.default_branch]
            with tempfile.TemporaryDirectory() as scratch:
                env = {"GIT_INDEX_FILE": str(Path(scratch) / "index")}
                self._git(repo.path, "read-tree", parent, env=env)
                for path, text in files.items():
                    blob = self._git(
                        repo.path, "hash-object", "-w", "--stdin", input=text.encode()
                    ).stdout.strip()
                    self._git(
                        repo.path,
                        "update-index",
                        "--add",
                        "--cacheinfo",
                        f"100644,{blob},{path}",
                        env=env,
                    )
                tree = self._git(repo.path, "write-tree", env=env).stdout.strip()
            person = {
                "GIT_AUTHOR_NAME": by,
                "GIT_AUTHOR_EMAIL": f"{by}@users.noreply",
                "GIT_COMMITTER_NAME": by,
                "GIT_COMMITTER_EMAIL": f"{by}@users.noreply",
            }
            sha = self._git(
                repo.path, "commit-tree", tree, "-p", parent, "-m", message, env=person
            ).stdout.strip()
            self._git(repo.path, "update-ref", f"refs/heads/{branch}", sha)
            repo.pushed_at = time.time()
            self._refresh(repo)
            return sha

    def delete_branch(self, owner: str, name: str, branch: str) -> None:
        """A person deletes a branch; GitHub then closes the pull requests it heads."""
        with self._lock:
            repo = self._repo(owner, name)
            self._git(repo.path, "update-ref", "-d", f"refs/heads/{branch}")
            self._refresh(repo)

    # ================================================================= HTTP plumbing

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        github = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            server_version = "GitHub.com"
            sys_version = ""
            status = 0
            arrived = 0.0
            login: str | None = None

            def do_GET(self) -> None:
                github._handle(self)

            do_POST = do_PATCH = do_PUT = do_DELETE = do_GET

            def send_response(self, code: int, message: str | None = None) -> None:
                """Record the request before answering it, so that a client holding the
                answer always finds its request in `GitHubServer.requests`."""
                self.status = code
                record = RequestRecord(self.command, self.path, code, self.arrived, self.login)
                with github._lock:
                    github._records.append(record)
                super().send_response(code, message)

            def log_message(self, format: str, *args: object) -> None:
                """Quiet: `GitHubServer.requests` holds what a test needs."""

        return Handler

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        handler.arrived = time.monotonic()  # type: ignore[attr-defined]
        split = urllib.parse.urlsplit(handler.path)
        path, query = split.path, split.query
        body = read_body(handler)
        who = self._peek_identity(handler)
        handler.login = who.login if who else None  # type: ignore[attr-defined]
        git = GIT_PATH.match(path)
        try:
            fault = self._take_fault(handler.command, path, git is None)
            if fault is not None and not fault.process:
                self._send_fault(handler, fault, who)
            elif match := git:
                self._serve_git(handler, match, path, query, body)
            elif path == API or path.startswith(API + "/"):
                reply = self._api(handler, path[len(API) :] or "/", query, body)
                if fault is not None:
                    self._send_fault(handler, fault, who)
                else:
                    self._send(handler, reply)
            else:
                self._send_raw(handler, 404, {"Content-Type": "text/html"}, b"Not Found\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up: nobody to answer

    def _take_fault(self, method: str, path: str, api: bool) -> Fault | None:
        """The first armed fault for this request; one that lets the request be carried out
        first (`process`) only applies to the API, whose answer is not yet sent."""
        with self._lock:
            for fault in self._faults:
                if fault.process and not api:
                    continue
                if fault.times > 0 and fault.method == method and fault.path.search(path):
                    fault.times -= 1
                    return fault
        return None

    def _send_fault(
        self, handler: BaseHTTPRequestHandler, fault: Fault, who: Identity | None
    ) -> None:
        headers, payload = fault.answer(who)
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "X-GitHub-Request-Id": self._request_id(),
            **self._rate_headers(who),
            **headers,
        }
        with self._lock:
            fault.served.append(time.monotonic())
        self._send_raw(handler, fault.status, headers, payload)

    def _send(self, handler: BaseHTTPRequestHandler, reply: Reply) -> None:
        payload = b"" if reply.body is None else json.dumps(reply.body).encode()
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "X-GitHub-Media-Type": "github.v3; format=json",
            "X-GitHub-Api-Version-Selected": API_VERSION,
            "X-GitHub-Enterprise-Version": ENTERPRISE_VERSION,
            "X-GitHub-Request-Id": self._request_id(),
            **reply.headers,
        }
        if handler.command == "GET" and reply.status == 200:
            etag = f'W/"{hashlib.sha256(payload).hexdigest()}"'
            headers["ETag"] = etag
            if handler.headers.get("If-None-Match") == etag:
                self._send_raw(handler, 304, headers, b"")
                return
        self._send_raw(handler, reply.status, headers, payload)

    @staticmethod
    def _send_raw(
        handler: BaseHTTPRequestHandler, status: int, headers: dict[str, str], payload: bytes
    ) -> None:
        handler.send_response(status)
        for name, value in headers.items():
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        if status != 304:
            handler.wfile.write(payload)

    @staticmethod
    def _request_id() -> str:
        raw = secrets.token_hex(14).upper()
        return ":".join([raw[:4], raw[4:8], raw[8:15], raw[15:22], raw[22:]])

    # ----------------------------------------------------------------- authentication

    @staticmethod
    def _credential(handler: BaseHTTPRequestHandler) -> tuple[str, str] | None:
        """(scheme, secret) from `Authorization`: `token X`, `Bearer X` or basic auth (the
        password is the token, as GitHub takes it)."""
        header = handler.headers.get("Authorization", "")
        scheme, _, value = header.partition(" ")
        scheme, value = scheme.lower(), value.strip()
        if scheme == "basic":
            try:
                decoded = base64.b64decode(value).decode()
            except (ValueError, UnicodeDecodeError):
                return ("basic", "")
            return ("basic", decoded.partition(":")[2])
        if scheme in ("token", "bearer") and value:
            return (scheme, value)
        return None

    def _peek_identity(self, handler: BaseHTTPRequestHandler) -> Identity | None:
        credential = self._credential(handler)
        if credential is None:
            return None
        with self._lock:
            return self._tokens.get(credential[1])

    def _token_identity(self, handler: BaseHTTPRequestHandler) -> Identity:
        credential = self._credential(handler)
        if credential is None:
            raise GitHubError(401, "Requires authentication")
        with self._lock:
            identity = self._tokens.get(credential[1])
        if identity is None or (
            identity.expires_at is not None and identity.expires_at <= time.time()
        ):
            raise GitHubError(401, "Bad credentials")
        return identity

    def _verify_jwt(self, handler: BaseHTTPRequestHandler) -> None:
        """GitHub's rules for an App's JWT: RS256 by the App's key, `iss` the App id (a
        string or a number) or client id, `iat` not in the future, `exp` in the future and at
        most ten minutes ahead."""
        credential = self._credential(handler)
        if credential is None or credential[0] != "bearer":
            raise GitHubError(401, "A JSON web token could not be decoded")
        try:
            claims = jwt.decode(
                credential[1],
                self._public_key,
                algorithms=["RS256"],
                options={"require": ["iat", "exp", "iss"]},
            )
        except jwt.ExpiredSignatureError:
            raise GitHubError(
                401,
                "'Expiration time' claim ('exp') must be a numeric value "
                "representing the future time at which the assertion "
                "expires",
            ) from None
        except jwt.ImmatureSignatureError:
            raise GitHubError(
                401,
                "'Issued at' claim ('iat') must be an Integer representing "
                "the time that the assertion was issued",
            ) from None
        except jwt.InvalidTokenError:
            raise GitHubError(401, "A JSON web token could not be decoded") from None
        if str(claims["iss"]) not in (str(self.app_id), self.client_id):
            raise GitHubError(401, "Integration not found")
        if float(claims["exp"]) > time.time() + JWT_MAX_LIFETIME:
            raise GitHubError(401, "'Expiration time' claim ('exp') is too far in the future")

    def _rate_headers(self, who: Identity | None) -> dict[str, str]:
        login = who.login if who else "anonymous"
        with self._lock:
            start, used = self._usage.get(login, (self.started, 0))
        limit = self.rate_limit if who else 60
        return {
            "X-RateLimit-Limit": str(limit),
            "X-RateLimit-Remaining": str(max(0, limit - used)),
            "X-RateLimit-Reset": str(int(start + 3600)),
            "X-RateLimit-Used": str(used),
            "X-RateLimit-Resource": "core",
        }

    def _spend(self, who: Identity) -> dict[str, str]:
        """Count one request against the hourly limit; refuse it past the limit."""
        with self._lock:
            start, used = self._usage.get(who.login, (time.time(), 0))
            if time.time() >= start + 3600:
                start, used = time.time(), 0
            if used >= self.rate_limit:
                self._usage[who.login] = (start, used)
                subject = (
                    f"installation ID {self.installation_id}"
                    if who.installation
                    else f"user ID {self._uid(who.login)}"
                )
                raise GitHubError(
                    403,
                    f"API rate limit exceeded for {subject}.",
                    f"{RATE_DOCS}#about-primary-rate-limits",
                    headers=self._rate_headers(who),
                )
            self._usage[who.login] = (start, used + 1)
        return self._rate_headers(who)

    # ----------------------------------------------------------------- git

    def _serve_git(
        self,
        handler: BaseHTTPRequestHandler,
        match: re.Match[str],
        path: str,
        query: str,
        body: bytes,
    ) -> None:
        """Git needs basic auth with a valid token as password; pushing needs contents:write
        (installation) or write access (person). Git first asks without credentials and
        sends them only after a 401 carrying `WWW-Authenticate`."""
        owner, name = match.group(1), match.group(2)
        credential = self._credential(handler)
        with self._lock:
            who = self._tokens.get(credential[1]) if credential else None
        if who is None or (who.expires_at is not None and who.expires_at <= time.time()):
            headers = {"WWW-Authenticate": 'Basic realm="GitHub"', "Content-Type": "text/plain"}
            self._send_raw(handler, 401, headers, b"Invalid username or token.\n")
            return
        pushing = "git-receive-pack" in query or path.endswith("/git-receive-pack")
        with self._lock:
            repo = self._repos.get((owner, name))
            allowed = repo is not None and self._may(who, repo, "read")
            may_push = repo is not None and self._may(who, repo, "push")
        if repo is None or not allowed:
            self._send_raw(handler, 404, {"Content-Type": "text/plain"}, b"Repository not found.\n")
            return
        if pushing and not may_push:
            message = f"Permission to {owner}/{name}.git denied to {who.login}.\n"
            self._send_raw(handler, 403, {"Content-Type": "text/plain"}, message.encode())
            return
        serve_git(handler, self.root, path, query, who.login, body)
        if handler.command == "POST" and path.endswith("/git-receive-pack"):
            with self._lock:
                if handler.status == 200:  # type: ignore[attr-defined]
                    repo.pushes += 1
                    repo.pushed_at = time.time()
                self._refresh(repo)

    # ----------------------------------------------------------------- API dispatch

    def _api(self, handler: BaseHTTPRequestHandler, path: str, query: str, body: bytes) -> Reply:
        call = Call(
            handler.command, path.rstrip("/") or "/", dict(urllib.parse.parse_qsl(query)), body
        )
        rate: dict[str, str] = {}
        try:
            for route in self._routes:
                if route.method == call.method and (m := route.pattern.fullmatch(call.path)):
                    break
            else:
                raise not_found()
            if route.auth == "jwt":
                self._verify_jwt(handler)
            elif route.auth == "token":
                call.identity = self._token_identity(handler)
                rate = self._spend(call.identity)
            args = [urllib.parse.unquote(group) for group in m.groups()]
            with self._lock:
                reply = route.action(call, *args)
        except GitHubError as error:
            reply = Reply(error.status, error.body, error.headers)
        reply.headers = {**rate, **reply.headers}
        return reply

    def _route_table(self) -> list[Route]:
        repo = r"/repos/([^/]+)/([^/]+)"
        table: list[tuple[str, str, Callable[..., Reply], str]] = [
            ("GET", "/app", self._get_app, "jwt"),
            ("GET", "/app/installations", self._list_installations, "jwt"),
            ("GET", r"/app/installations/(\d+)", self._get_installation, "jwt"),
            ("POST", r"/app/installations/(\d+)/access_tokens", self._create_token, "jwt"),
            ("GET", repo + "/installation", self._get_repo_installation, "jwt"),
            ("GET", "/installation/repositories", self._installation_repos, "token"),
            ("GET", "/rate_limit", self._get_rate_limit, "token"),
            ("GET", "/user", self._get_user, "token"),
            ("GET", repo, self._get_repo, "token"),
            ("GET", repo + "/branches/(.+)", self._get_branch, "token"),
            ("GET", repo + "/commits/([^/]+)/check-runs", self._list_check_runs, "token"),
            ("GET", repo + "/commits/([^/]+)", self._get_commit, "token"),
            ("GET", repo + "/pulls", self._list_pulls, "token"),
            ("POST", repo + "/pulls", self._create_pull, "token"),
            ("GET", repo + r"/pulls/(\d+)", self._get_pull, "token"),
            ("PATCH", repo + r"/pulls/(\d+)", self._edit_pull, "token"),
            ("GET", repo + r"/pulls/(\d+)/requested_reviewers", self._get_reviewers, "token"),
            ("POST", repo + r"/pulls/(\d+)/requested_reviewers", self._request_reviewers, "token"),
            (
                "DELETE",
                repo + r"/pulls/(\d+)/requested_reviewers",
                self._unrequest_reviewers,
                "token",
            ),
            ("GET", repo + "/issues", self._list_issues, "token"),
            ("POST", repo + "/issues", self._create_issue, "token"),
            ("GET", repo + r"/issues/(\d+)", self._get_issue, "token"),
            ("PATCH", repo + r"/issues/(\d+)", self._edit_issue, "token"),
            ("GET", repo + r"/issues/(\d+)/comments", self._list_comments, "token"),
            ("POST", repo + r"/issues/(\d+)/comments", self._create_comment, "token"),
            ("GET", repo + r"/issues/comments/(\d+)", self._get_comment, "token"),
            ("PATCH", repo + r"/issues/comments/(\d+)", self._edit_comment, "token"),
            ("DELETE", repo + r"/issues/comments/(\d+)", self._delete_comment, "token"),
            ("GET", repo + r"/issues/(\d+)/labels", self._list_labels, "token"),
            ("POST", repo + r"/issues/(\d+)/labels", self._add_labels, "token"),
            ("PUT", repo + r"/issues/(\d+)/labels", self._set_labels, "token"),
            ("DELETE", repo + r"/issues/(\d+)/labels", self._clear_labels, "token"),
            ("DELETE", repo + r"/issues/(\d+)/labels/(.+)", self._remove_label, "token"),
            ("POST", repo + r"/issues/(\d+)/assignees", self._add_assignees, "token"),
            ("DELETE", repo + r"/issues/(\d+)/assignees", self._remove_assignees, "token"),
            ("POST", repo + "/check-runs", self._create_check_run, "token"),
            ("GET", repo + r"/check-runs/(\d+)", self._get_check_run, "token"),
            ("PATCH", repo + r"/check-runs/(\d+)", self._edit_check_run, "token"),
            ("GET", repo + "/collaborators/([^/]+)/permission", self._get_permission, "token"),
        ]
        return [
            Route(method, re.compile(pattern), action, auth)
            for method, pattern, action, auth in table
        ]

    # ----------------------------------------------------------------- access

    def _role(self, repo: Repo, login: str) -> str:
        if login == repo.owner:
            return "admin"
        return repo.roles.get(login, "none" if repo.private else "read")

    def _may(self, who: Identity, repo: Repo, action: str) -> bool:
        if who.installation:
            if who.repositories is not None and (repo.owner, repo.name) not in who.repositories:
                return False
            if action == "read":
                return True
            return any(
                ROLES.index(_level(who.permissions.get(key))) >= ROLES.index(_level(need))
                for key, need in APP_NEEDS[action]
            )
        if action == "check":
            return False
        return ROLES.index(self._role(repo, who.login)) >= ROLES.index(USER_NEEDS[action])

    def _access(self, call: Call, owner: str, name: str, action: str = "read") -> Repo:
        """The repository, if the caller may do `action` on it: GitHub answers 404 when the
        caller may not even see it, 403 when it may see but not do."""
        who = call.identity
        assert who is not None
        repo = self._repos.get((owner, name))
        if repo is None or not self._may(who, repo, "read"):
            raise not_found()
        if action == "check" and not who.installation:
            raise GitHubError(
                403,
                "You must authenticate via a GitHub App.",
                f"{DOCS}/checks/runs#create-a-check-run",
            )
        if not self._may(who, repo, action):
            kind = "integration" if who.installation else "personal access token"
            raise GitHubError(403, f"Resource not accessible by {kind}")
        return repo

    # ----------------------------------------------------------------- git reads

    def _git(
        self,
        repo: Path,
        *args: str,
        check: bool = True,
        input: bytes | None = None,
        env: dict[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        base = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.root),
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_AUTHOR_NAME": "GitHub",
            "GIT_AUTHOR_EMAIL": "noreply@github.com",
            **HUMAN_ENV,
        }
        result = subprocess.run(
            ["git", "-c", "commit.gpgsign=false", *args],
            cwd=repo,
            input=input,
            env={**base, **(env or {})},
            capture_output=True,
            check=False,
        )
        done = subprocess.CompletedProcess(
            result.args, result.returncode, result.stdout.decode(), result.stderr.decode()
        )
        if check and result.returncode:
            raise RuntimeError(f"git {' '.join(args)} failed: {done.stderr}")
        return done

    def _branches(self, repo: Repo) -> dict[str, str]:
        out = self._git(
            repo.path, "for-each-ref", "--format=%(objectname) %(refname)", "refs/heads"
        ).stdout
        pairs = (line.split(" ", 1) for line in out.splitlines() if line)
        return {ref.removeprefix("refs/heads/"): sha for sha, ref in pairs}

    def _resolve(self, repo: Repo, ref: str) -> str | None:
        done = self._git(
            repo.path, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", check=False
        )
        return done.stdout.strip() or None

    def _refresh(self, repo: Repo) -> None:
        """Bring open pull requests up to date with the branches, as GitHub does on a push:
        new head sha (and `updated_at`); closed when the head or base branch was deleted."""
        branches = self._branches(repo)
        now = time.time()
        for pull in repo.pulls.values():
            if pull.state != "open":
                continue
            head, base = branches.get(pull.head), branches.get(pull.base)
            if head is None or base is None:
                pull.state, pull.closed_at, pull.updated_at = "closed", now, now
                continue
            if head != pull.head_sha:
                pull.head_sha, pull.updated_at = head, now
            pull.base_sha = base

    # ----------------------------------------------------------------- JSON shapes

    def _next_id(self) -> int:
        with self._lock:
            self._counter += 1
            return self._counter

    def _uid(self, login: str) -> int:
        with self._lock:
            if login not in self._user_ids:
                self._user_ids[login] = 5000 + len(self._user_ids)
            return self._user_ids[login]

    def _user_json(self, login: str, kind: str = "User") -> dict[str, Any]:
        uid, api, q = self._uid(login), self.api_url, quote(login)
        html = (
            f"{self.url}/apps/{login.removesuffix('[bot]')}" if kind == "Bot" else f"{self.url}/{q}"
        )
        return {
            "login": login,
            "id": uid,
            "node_id": node_id("Bot" if kind == "Bot" else kind, uid),
            "avatar_url": f"{self.url}/avatars/u/{uid}?v=4",
            "gravatar_id": "",
            "url": f"{api}/users/{q}",
            "html_url": html,
            "followers_url": f"{api}/users/{q}/followers",
            "following_url": f"{api}/users/{q}/following{{/other_user}}",
            "gists_url": f"{api}/users/{q}/gists{{/gist_id}}",
            "starred_url": f"{api}/users/{q}/starred{{/owner}}{{/repo}}",
            "subscriptions_url": f"{api}/users/{q}/subscriptions",
            "organizations_url": f"{api}/users/{q}/orgs",
            "repos_url": f"{api}/users/{q}/repos",
            "events_url": f"{api}/users/{q}/events{{/privacy}}",
            "received_events_url": f"{api}/users/{q}/received_events",
            "type": kind,
            "user_view_type": "public",
            "site_admin": False,
        }

    def _identity_json(self, who: Identity) -> dict[str, Any]:
        return self._user_json(who.login, who.kind)

    def _owner_json(self, owner: str) -> dict[str, Any]:
        return self._user_json(owner, "Organization")

    def _app_json(self) -> dict[str, Any]:
        return {
            "id": self.app_id,
            "client_id": self.client_id,
            "slug": self.app_slug,
            "node_id": node_id("Integration", self.app_id),
            "owner": self._owner_json(self.account),
            "name": self.app_slug,
            "description": "",
            "external_url": self.url,
            "html_url": f"{self.url}/apps/{self.app_slug}",
            "created_at": iso(self.started),
            "updated_at": iso(self.started),
            "permissions": dict(self.app_permissions),
            "events": [],
        }

    def _installation_json(self) -> dict[str, Any]:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(self.started))
        ident = self.installation_id
        return {
            "id": self.installation_id,
            "client_id": self.client_id,
            "account": self._owner_json(self.account),
            "repository_selection": "all",
            "access_tokens_url": f"{self.api_url}/app/installations/{ident}/access_tokens",
            "repositories_url": f"{self.api_url}/installation/repositories",
            "html_url": f"{self.url}/organizations/{self.account}/settings/installations/{ident}",
            "app_id": self.app_id,
            "app_slug": self.app_slug,
            "target_id": self._uid(self.account),
            "target_type": "Organization",
            "permissions": dict(self.app_permissions),
            "events": [],
            "created_at": stamp,
            "updated_at": stamp,
            "single_file_name": None,
            "has_multiple_single_files": False,
            "single_file_paths": [],
            "suspended_by": None,
            "suspended_at": None,
        }

    def _repo_json(
        self, repo: Repo, who: Identity | None = None, full: bool = False
    ) -> dict[str, Any]:
        owner, name, api = repo.owner, repo.name, f"{self.api_url}/repos/{repo.owner}/{repo.name}"
        host = f"127.0.0.1:{self.port}"
        shape: dict[str, Any] = {
            "id": repo.id,
            "node_id": node_id("Repository", repo.id),
            "name": name,
            "full_name": f"{owner}/{name}",
            "private": repo.private,
            "owner": self._owner_json(owner),
            "html_url": f"{self.url}/{owner}/{name}",
            "description": None,
            "fork": False,
            "url": api,
            **{key: api + suffix for key, suffix in REPO_URLS},
            "created_at": iso(repo.created_at),
            "updated_at": iso(repo.pushed_at),
            "pushed_at": iso(repo.pushed_at),
            "git_url": f"git://{host}/{owner}/{name}.git",
            "ssh_url": f"git@{host}:{owner}/{name}.git",
            "clone_url": f"{self.url}/{owner}/{name}.git",
            "svn_url": f"{self.url}/{owner}/{name}",
            "homepage": None,
            "size": 0,
            "stargazers_count": 0,
            "watchers_count": 0,
            "language": None,
            "has_issues": True,
            "has_projects": True,
            "has_downloads": True,
            "has_wiki": False,
            "has_pages": False,
            "has_discussions": False,
            "forks_count": 0,
            "mirror_url": None,
            "archived": False,
            "disabled": False,
            "open_issues_count": sum(p.state == "open" for p in repo.pulls.values()),
            "license": None,
            "allow_forking": True,
            "is_template": False,
            "web_commit_signoff_required": False,
            "topics": [],
            "visibility": "private" if repo.private else "public",
            "forks": 0,
            "open_issues": sum(p.state == "open" for p in repo.pulls.values()),
            "watchers": 0,
            "default_branch": repo.default_branch,
        }
        if not full:
            return shape
        if who is not None:
            if who.installation:
                push = self._may(who, repo, "push")
                flags = {
                    "admin": False,
                    "maintain": False,
                    "push": push,
                    "triage": push,
                    "pull": True,
                }
            else:
                level = ROLES.index(self._role(repo, who.login))
                flags = {
                    role_flag: level >= ROLES.index(role)
                    for role_flag, role in (
                        ("admin", "admin"),
                        ("maintain", "maintain"),
                        ("push", "write"),
                        ("triage", "triage"),
                        ("pull", "read"),
                    )
                }
            shape["permissions"] = flags
        shape.update(
            {
                "temp_clone_token": "",
                "allow_squash_merge": True,
                "allow_merge_commit": True,
                "allow_rebase_merge": True,
                "allow_auto_merge": False,
                "delete_branch_on_merge": False,
                "allow_update_branch": False,
                "use_squash_pr_title_as_default": False,
                "squash_merge_commit_message": "COMMIT_MESSAGES",
                "squash_merge_commit_title": "COMMIT_OR_PR_TITLE",
                "merge_commit_message": "PR_TITLE",
                "merge_commit_title": "MERGE_MESSAGE",
                "custom_properties": {},
                "organization": self._owner_json(owner),
                "security_and_analysis": {
                    "secret_scanning": {"status": "disabled"},
                    "secret_scanning_push_protection": {"status": "disabled"},
                    "dependabot_security_updates": {"status": "disabled"},
                    "secret_scanning_non_provider_patterns": {"status": "disabled"},
                    "secret_scanning_validity_checks": {"status": "disabled"},
                },
                "network_count": 0,
                "subscribers_count": 0,
            }
        )
        return shape

    def _commit_json(self, repo: Repo, sha: str) -> dict[str, Any]:
        fields = self._git(
            repo.path,
            "show",
            "-s",
            "--format=%H%x00%T%x00%P%x00%an%x00%ae%x00%at%x00%cn%x00%ce%x00%ct%x00%B",
            sha,
        ).stdout.split("\0")
        full, tree, parents, an, ae, at, cn, ce, ct, message = fields
        api, web = (
            f"{self.api_url}/repos/{repo.owner}/{repo.name}",
            f"{self.url}/{repo.owner}/{repo.name}",
        )
        numstat = self._git(
            repo.path, "diff-tree", "-r", "--root", "--no-commit-id", "--numstat", full
        ).stdout.splitlines()
        statuses = self._git(
            repo.path, "diff-tree", "-r", "--root", "--no-commit-id", "--name-status", full
        ).stdout.splitlines()
        kinds = {"A": "added", "M": "modified", "D": "removed", "T": "changed"}
        files = []
        for counts, status in zip(numstat, statuses, strict=False):
            added, deleted, filename = counts.split("\t", 2)
            plus, minus = int(added) if added != "-" else 0, int(deleted) if deleted != "-" else 0
            files.append(
                {
                    "sha": None,
                    "filename": filename,
                    "status": kinds.get(status[:1], "modified"),
                    "additions": plus,
                    "deletions": minus,
                    "changes": plus + minus,
                    "blob_url": f"{web}/blob/{full}/{filename}",
                    "raw_url": f"{web}/raw/{full}/{filename}",
                    "contents_url": f"{api}/contents/{filename}?ref={full}",
                }
            )
        additions = sum(f["additions"] for f in files)
        deletions = sum(f["deletions"] for f in files)
        return {
            "sha": full,
            "node_id": node_id("Commit", int(full[:7], 16)),
            "commit": {
                "author": {"name": an, "email": ae, "date": iso(int(at))},
                "committer": {"name": cn, "email": ce, "date": iso(int(ct))},
                "message": message.rstrip("\n"),
                "tree": {"sha": tree, "url": f"{api}/git/trees/{tree}"},
                "url": f"{api}/git/commits/{full}",
                "comment_count": 0,
                "verification": {
                    "verified": False,
                    "reason": "unsigned",
                    "signature": None,
                    "payload": None,
                    "verified_at": None,
                },
            },
            "url": f"{api}/commits/{full}",
            "html_url": f"{web}/commit/{full}",
            "comments_url": f"{api}/commits/{full}/comments",
            "author": None,
            "committer": None,
            "parents": [
                {"sha": p, "url": f"{api}/commits/{p}", "html_url": f"{web}/commit/{p}"}
                for p in parents.split()
            ],
            "stats": {
                "total": additions + deletions,
                "additions": additions,
                "deletions": deletions,
            },
            "files": files,
        }

    def _label(self, repo: Repo, name: str) -> dict[str, Any]:
        """The repository's label named `name` (GitHub matches names ignoring case), made
        with GitHub's default colour when it does not exist yet."""
        key = name.lower()
        if key not in repo.labels:
            ident = self._next_id()
            repo.labels[key] = {
                "id": ident,
                "node_id": node_id("Label", ident),
                "url": f"{self.api_url}/repos/{repo.owner}/{repo.name}/labels/{quote(name)}",
                "name": name,
                "color": "ededed",
                "default": False,
                "description": None,
            }
        return repo.labels[key]

    def _team_json(self, owner: str, slug: str) -> dict[str, Any]:
        ident = self._teams[(owner, slug)]
        org = self._uid(owner)
        return {
            "name": slug,
            "id": ident,
            "node_id": node_id("Team", ident),
            "slug": slug,
            "description": None,
            "privacy": "closed",
            "notification_setting": "notifications_enabled",
            "url": f"{self.api_url}/organizations/{org}/team/{ident}",
            "html_url": f"{self.url}/orgs/{owner}/teams/{slug}",
            "members_url": f"{self.api_url}/organizations/{org}/team/{ident}/members{{/member}}",
            "repositories_url": f"{self.api_url}/organizations/{org}/team/{ident}/repos",
            "permission": "pull",
            "parent": None,
        }

    def _association(self, repo: Repo, login: str, kind: str) -> str:
        if kind == "Bot":
            return "NONE"
        if login == repo.owner:
            return "OWNER"
        return "COLLABORATOR" if login in repo.roles else "NONE"

    def _mergeable(self, repo: Repo, pull: Pull) -> bool | None:
        """`git merge-tree --write-tree`: exit 0 merges cleanly, 1 conflicts."""
        if pull.merged_at is not None:
            return None
        seen = (pull.base_sha, pull.head_sha)
        if self.mergeable_pending and pull.mergeable_seen != seen:
            pull.mergeable_seen = seen
            return None
        done = self._git(
            repo.path, "merge-tree", "--write-tree", pull.base_sha, pull.head_sha, check=False
        )
        return {0: True, 1: False}.get(done.returncode)

    def _pull_json(self, repo: Repo, pull: Pull, full: bool = False) -> dict[str, Any]:
        api = f"{self.api_url}/repos/{repo.owner}/{repo.name}"
        web = f"{self.url}/{repo.owner}/{repo.name}"
        url, issue = f"{api}/pulls/{pull.number}", f"{api}/issues/{pull.number}"
        html = f"{web}/pull/{pull.number}"
        assignees = [self._user_json(login) for login in pull.assignees]

        def side(ref: str, sha: str) -> dict[str, Any]:
            return {
                "label": f"{repo.owner}:{ref}",
                "ref": ref,
                "sha": sha,
                "user": self._owner_json(repo.owner),
                "repo": self._repo_json(repo),
            }

        shape: dict[str, Any] = {
            "url": url,
            "id": pull.id,
            "node_id": node_id("PullRequest", pull.id),
            "html_url": html,
            "diff_url": f"{html}.diff",
            "patch_url": f"{html}.patch",
            "issue_url": issue,
            "number": pull.number,
            "state": pull.state,
            "locked": False,
            "title": pull.title,
            "user": self._user_json(*pull.user),
            "body": pull.body,
            "created_at": iso(pull.created_at),
            "updated_at": iso(pull.updated_at),
            "closed_at": iso(pull.closed_at) if pull.closed_at else None,
            "merged_at": iso(pull.merged_at) if pull.merged_at else None,
            "merge_commit_sha": pull.merge_commit_sha,
            "assignee": assignees[0] if assignees else None,
            "assignees": assignees,
            "requested_reviewers": [self._user_json(login) for login in pull.reviewers],
            "requested_teams": [self._team_json(repo.owner, slug) for slug in pull.teams],
            "labels": [repo.labels[name.lower()] for name in pull.labels],
            "milestone": None,
            "draft": pull.draft,
            "commits_url": f"{url}/commits",
            "review_comments_url": f"{url}/comments",
            "review_comment_url": f"{api}/pulls/comments{{/number}}",
            "comments_url": f"{issue}/comments",
            "statuses_url": f"{api}/statuses/{pull.head_sha}",
            "head": side(pull.head, pull.head_sha),
            "base": side(pull.base, pull.base_sha),
            "_links": {
                "self": {"href": url},
                "html": {"href": html},
                "issue": {"href": issue},
                "comments": {"href": f"{issue}/comments"},
                "review_comments": {"href": f"{url}/comments"},
                "review_comment": {"href": f"{api}/pulls/comments{{/number}}"},
                "commits": {"href": f"{url}/commits"},
                "statuses": {"href": f"{api}/statuses/{pull.head_sha}"},
            },
            "author_association": self._association(repo, *pull.user),
            "auto_merge": None,
            "active_lock_reason": None,
        }
        if not full:
            return shape
        mergeable = self._mergeable(repo, pull)
        if pull.merged_at is not None:
            state = "unknown"
        elif pull.draft:
            state = "draft"
        else:
            state = {True: "clean", False: "dirty", None: "unknown"}[mergeable]
        commits = self._git(
            repo.path, "rev-list", "--count", f"{pull.base_sha}..{pull.head_sha}", check=False
        ).stdout.strip()
        numstat = self._git(
            repo.path, "diff", "--numstat", f"{pull.base_sha}...{pull.head_sha}", check=False
        ).stdout.splitlines()
        counts = [line.split("\t")[:2] for line in numstat]
        shape.update(
            {
                "merged": pull.merged_at is not None,
                "mergeable": mergeable,
                "rebaseable": mergeable,
                "mergeable_state": state,
                "merged_by": self._user_json(pull.merged_by) if pull.merged_by else None,
                "comments": sum(c.number == pull.number for c in repo.comments.values()),
                "review_comments": 0,
                "maintainer_can_modify": pull.maintainer_can_modify,
                "commits": int(commits or 0),
                "additions": sum(int(a) for a, _ in counts if a.isdigit()),
                "deletions": sum(int(d) for _, d in counts if d.isdigit()),
                "changed_files": len(counts),
            }
        )
        return shape

    def _issue_json(self, repo: Repo, pull: Pull | Issue) -> dict[str, Any]:
        """An issue's shape; a pull request's adds `pull_request` and `draft`."""
        api = f"{self.api_url}/repos/{repo.owner}/{repo.name}"
        kind = "pull" if isinstance(pull, Pull) else "issues"
        url, html = (
            f"{api}/issues/{pull.number}",
            f"{self.url}/{repo.owner}/{repo.name}/{kind}/{pull.number}",
        )
        assignees = [self._user_json(login) for login in pull.assignees]
        shape: dict[str, Any] = {
            "url": url,
            "repository_url": api,
            "labels_url": f"{url}/labels{{/name}}",
            "comments_url": f"{url}/comments",
            "events_url": f"{url}/events",
            "html_url": html,
            "id": pull.issue_id if isinstance(pull, Pull) else pull.id,
            "node_id": node_id("PullRequest" if isinstance(pull, Pull) else "Issue", pull.id),
            "number": pull.number,
            "title": pull.title,
            "user": self._user_json(*pull.user),
            "labels": [repo.labels[name.lower()] for name in pull.labels],
            "state": pull.state,
            "locked": False,
            "assignee": assignees[0] if assignees else None,
            "assignees": assignees,
            "milestone": None,
            "comments": sum(c.number == pull.number for c in repo.comments.values()),
            "created_at": iso(pull.created_at),
            "updated_at": iso(pull.updated_at),
            "closed_at": iso(pull.closed_at) if pull.closed_at else None,
            "author_association": self._association(repo, *pull.user),
            "active_lock_reason": None,
            "body": pull.body,
            "closed_by": self._user_json(*pull.closed_by) if pull.closed_by else None,
            "timeline_url": f"{url}/timeline",
            "performed_via_github_app": None,
            "state_reason": None if pull.state == "open" else "completed",
        }
        if isinstance(pull, Pull):
            shape["draft"] = pull.draft
            shape["pull_request"] = {
                "url": f"{api}/pulls/{pull.number}",
                "html_url": html,
                "diff_url": f"{html}.diff",
                "patch_url": f"{html}.patch",
                "merged_at": iso(pull.merged_at) if pull.merged_at else None,
            }
        return shape

    def _comment_json(self, repo: Repo, comment: Comment) -> dict[str, Any]:
        api = f"{self.api_url}/repos/{repo.owner}/{repo.name}"
        html = f"{self.url}/{repo.owner}/{repo.name}/pull/{comment.number}"
        return {
            "url": f"{api}/issues/comments/{comment.id}",
            "html_url": f"{html}#issuecomment-{comment.id}",
            "issue_url": f"{api}/issues/{comment.number}",
            "id": comment.id,
            "node_id": node_id("IssueComment", comment.id),
            "user": self._user_json(*comment.user),
            "created_at": iso(comment.created_at),
            "updated_at": iso(comment.updated_at),
            "author_association": self._association(repo, *comment.user),
            "body": comment.body,
            "performed_via_github_app": None,
        }

    def _check_json(self, repo: Repo, run: CheckRun) -> dict[str, Any]:
        api = f"{self.api_url}/repos/{repo.owner}/{repo.name}"
        pulls = [
            {
                "url": f"{api}/pulls/{p.number}",
                "id": p.id,
                "number": p.number,
                "head": {
                    "ref": p.head,
                    "sha": p.head_sha,
                    "repo": {"id": repo.id, "url": api, "name": repo.name},
                },
                "base": {
                    "ref": p.base,
                    "sha": p.base_sha,
                    "repo": {"id": repo.id, "url": api, "name": repo.name},
                },
            }
            for p in repo.pulls.values()
            if p.state == "open" and p.head_sha == run.head_sha
        ]
        return {
            "id": run.id,
            "name": run.name,
            "node_id": node_id("CheckRun", run.id),
            "head_sha": run.head_sha,
            "external_id": run.external_id,
            "url": f"{api}/check-runs/{run.id}",
            "html_url": f"{self.url}/{repo.owner}/{repo.name}/runs/{run.id}",
            "details_url": run.details_url,
            "status": run.status,
            "conclusion": run.conclusion,
            "started_at": iso(run.started_at),
            "completed_at": iso(run.completed_at) if run.completed_at else None,
            "output": {
                "title": run.output.get("title"),
                "summary": run.output.get("summary"),
                "text": run.output.get("text"),
                "annotations_count": len(run.annotations),
                "annotations_url": f"{api}/check-runs/{run.id}/annotations",
            },
            "check_suite": {"id": run.suite_id},
            "app": self._app_json(),
            "pull_requests": pulls,
        }

    # ----------------------------------------------------------------- pagination

    def _page(self, call: Call, items: list[Any]) -> tuple[list[Any], dict[str, str]]:
        """One page of `items` and GitHub's `Link` header (`next`, `last`, `first`, `prev`),
        whose URLs repeat the request's query with another `page`."""
        try:
            per_page = min(100, max(1, int(call.query.get("per_page", "30"))))
        except ValueError:
            per_page = 30
        try:
            page = max(1, int(call.query.get("page", "1")))
        except ValueError:
            page = 1
        last = max(1, math.ceil(len(items) / per_page))

        def link(number: int) -> str:
            query = {**call.query, "page": str(number)}
            return f"<{self.api_url}{call.path}?{urllib.parse.urlencode(query)}>"

        rels = []
        if page < last:
            rels += [f'{link(page + 1)}; rel="next"', f'{link(last)}; rel="last"']
        if page > 1:
            rels += [f'{link(1)}; rel="first"', f'{link(min(page - 1, last))}; rel="prev"']
        headers = {"Link": ", ".join(rels)} if rels else {}
        return items[(page - 1) * per_page : page * per_page], headers

    # ================================================================= endpoints: App

    def _get_app(self, call: Call) -> Reply:
        return Reply(200, self._app_json())

    def _list_installations(self, call: Call) -> Reply:
        return Reply(200, [self._installation_json()])

    def _get_installation(self, call: Call, ident: str) -> Reply:
        if int(ident) != self.installation_id:
            raise not_found(f"{DOCS}/apps/apps#get-an-installation-for-the-authenticated-app")
        return Reply(200, self._installation_json())

    def _get_repo_installation(self, call: Call, owner: str, name: str) -> Reply:
        if (owner, name) not in self._repos:
            raise not_found(
                f"{DOCS}/apps/apps#get-a-repository-installation-for-the-authenticated-app"
            )
        return Reply(200, self._installation_json())

    def _create_token(self, call: Call, ident: str) -> Reply:
        """A fresh `ghs_` token for the installation, lasting `token_lifetime` seconds,
        narrowed to the `permissions` and `repositories` asked for (never widened)."""
        doc = f"{DOCS}/apps/apps#create-an-installation-access-token-for-an-app"
        if int(ident) != self.installation_id:
            raise not_found(doc)
        data = call.json()
        asked = data.get("permissions") or {}
        for key, level in asked.items():
            granted = self.app_permissions.get(key)
            if granted is None or ROLES.index(_level(level)) > ROLES.index(_level(granted)):
                raise GitHubError(
                    422, "The permissions requested are not granted to this installation.", doc
                )
        permissions = dict(asked) or dict(self.app_permissions)
        scope: set[tuple[str, str]] | None = None
        names = data.get("repositories")
        if names:
            scope = set()
            for wanted in names:
                found = [key for key in self._repos if key[1] == wanted or "/".join(key) == wanted]
                if not found:
                    raise GitHubError(
                        422,
                        "There is at least one repository that does not "
                        "exist or is not accessible to the parent "
                        "installation.",
                        doc,
                    )
                scope.update(found)
        token = "ghs_" + "".join(
            secrets.choice(string.ascii_letters + string.digits) for _ in range(36)
        )
        expires = math.floor(time.time() + self.token_lifetime)
        self._tokens[token] = Identity(self.bot_login, True, expires, permissions, scope)
        self.tokens_issued += 1
        body: dict[str, Any] = {
            "token": token,
            "expires_at": iso(expires),
            "permissions": permissions,
            "repository_selection": "selected" if scope is not None else "all",
        }
        if scope is not None:
            body["repositories"] = [self._repo_json(self._repos[key]) for key in sorted(scope)]
        return Reply(201, body)

    def _installation_repos(self, call: Call) -> Reply:
        who = call.identity
        assert who is not None
        if not who.installation:
            raise GitHubError(
                403,
                "You must authenticate with an installation access token "
                "in order to list repositories for an installation.",
            )
        repos = [r for r in self._repos.values() if self._may(who, r, "read")]
        page, headers = self._page(call, [self._repo_json(r, who, True) for r in repos])
        selection = "all" if who.repositories is None else "selected"
        body = {"total_count": len(repos), "repository_selection": selection, "repositories": page}
        return Reply(200, body, headers)

    def _get_rate_limit(self, call: Call) -> Reply:
        assert call.identity is not None
        headers = self._rate_headers(call.identity)
        core = {
            "limit": int(headers["X-RateLimit-Limit"]),
            "remaining": int(headers["X-RateLimit-Remaining"]),
            "reset": int(headers["X-RateLimit-Reset"]),
            "used": int(headers["X-RateLimit-Used"]),
            "resource": "core",
        }
        return Reply(200, {"resources": {"core": core}, "rate": core})

    def _get_user(self, call: Call) -> Reply:
        who = call.identity
        assert who is not None
        if who.installation:
            raise GitHubError(
                403,
                "Resource not accessible by integration",
                f"{DOCS}/users/users#get-the-authenticated-user",
            )
        return Reply(200, self._identity_json(who))

    # ================================================================= endpoints: repository

    def _get_repo(self, call: Call, owner: str, name: str) -> Reply:
        repo = self._access(call, owner, name)
        return Reply(200, self._repo_json(repo, call.identity, full=True))

    def _get_branch(self, call: Call, owner: str, name: str, branch: str) -> Reply:
        repo = self._access(call, owner, name)
        sha = self._branches(repo).get(branch)
        if sha is None:
            raise GitHubError(404, "Branch not found", f"{DOCS}/branches/branches#get-a-branch")
        api = f"{self.api_url}/repos/{owner}/{name}/branches/{quote(branch)}"
        return Reply(
            200,
            {
                "name": branch,
                "commit": self._commit_json(repo, sha),
                "_links": {"self": api, "html": f"{self.url}/{owner}/{name}/tree/{branch}"},
                "protected": False,
                "protection": {
                    "enabled": False,
                    "required_status_checks": {
                        "enforcement_level": "off",
                        "contexts": [],
                        "checks": [],
                    },
                },
                "protection_url": f"{api}/protection",
            },
        )

    def _get_commit(self, call: Call, owner: str, name: str, ref: str) -> Reply:
        repo = self._access(call, owner, name)
        sha = self._resolve(repo, ref)
        if sha is None:
            raise GitHubError(
                422, f"No commit found for SHA: {ref}", f"{DOCS}/commits/commits#get-a-commit"
            )
        return Reply(200, self._commit_json(repo, sha))

    def _get_permission(self, call: Call, owner: str, name: str, login: str) -> Reply:
        """A collaborator's role; someone who is not one can read a public repository and
        is unknown (404) to a private one."""
        repo = self._access(call, owner, name)
        if login not in repo.roles and login != repo.owner and repo.private:
            raise not_found(
                f"{DOCS}/collaborators/collaborators#get-repository-permissions-for-a-user"
            )
        role = self._role(repo, login)
        level = ROLES.index(role)
        user = self._user_json(login)
        user["permissions"] = {
            flag: level >= ROLES.index(need)
            for flag, need in (
                ("admin", "admin"),
                ("maintain", "maintain"),
                ("push", "write"),
                ("triage", "triage"),
                ("pull", "read"),
            )
        }
        user["role_name"] = role
        return Reply(200, {"permission": PERMISSION_OF_ROLE[role], "user": user, "role_name": role})

    # ================================================================= endpoints: pulls

    def _pull(self, repo: Repo, number: str) -> Pull:
        pull = repo.pulls.get(int(number))
        if pull is None:
            raise not_found(f"{DOCS}/pulls/pulls#get-a-pull-request")
        return pull

    def _list_pulls(self, call: Call, owner: str, name: str) -> Reply:
        """Filters as GitHub does; note that a `head` without `owner:` is silently ignored."""
        repo = self._access(call, owner, name)
        self._refresh(repo)
        q = call.query
        state = q.get("state", "open")
        pulls = [p for p in repo.pulls.values() if state == "all" or p.state == state]
        head = q.get("head")
        if head and ":" in head:
            head_owner, _, branch = head.partition(":")
            pulls = [p for p in pulls if head_owner == owner and p.head == branch]
        if q.get("base"):
            pulls = [p for p in pulls if p.base == q["base"]]
        sort = q.get("sort", "created")
        keys: dict[str, Callable[[Pull], Any]] = {
            "created": lambda p: (p.created_at, p.number),
            "updated": lambda p: (p.updated_at, p.number),
            "popularity": lambda p: (
                sum(c.number == p.number for c in repo.comments.values()),
                p.number,
            ),
            "long-running": lambda p: (-p.created_at, -p.number),
        }
        descending = q.get("direction", "desc" if sort == "created" else "asc") == "desc"
        pulls.sort(key=keys.get(sort, keys["created"]), reverse=descending)
        page, headers = self._page(call, pulls)
        return Reply(200, [self._pull_json(repo, p) for p in page], headers)

    def _create_pull(self, call: Call, owner: str, name: str) -> Reply:
        doc = f"{DOCS}/pulls/pulls#create-a-pull-request"
        repo = self._access(call, owner, name, "pull")
        data = call.json()
        for required in ("title", "head", "base"):
            if not data.get(required):
                raise invalid("PullRequest", doc, field=required, code="missing_field")
        head, base = str(data["head"]), str(data["base"])
        head_owner, _, branch = head.rpartition(":") if ":" in head else (owner, "", head)
        branches = self._branches(repo)
        if head_owner != owner or branch not in branches:
            raise invalid("PullRequest", doc, field="head", code="invalid")
        if base not in branches:
            raise invalid("PullRequest", doc, field="base", code="invalid")
        body = data.get("body")
        if body is not None and len(body) > MAX_BODY:
            raise invalid(
                "PullRequest",
                doc,
                field="body",
                code="custom",
                message=f"body is too long (maximum is {MAX_BODY} characters)",
            )
        self._refresh(repo)
        if any(
            p.state == "open" and p.head == branch and p.base == base for p in repo.pulls.values()
        ):
            raise invalid(
                "PullRequest",
                doc,
                code="custom",
                message=f"A pull request already exists for {owner}:{branch}.",
            )
        ahead = self._git(
            repo.path, "rev-list", "--count", f"{branches[base]}..{branches[branch]}"
        ).stdout.strip()
        if int(ahead) == 0:
            raise invalid(
                "PullRequest", doc, code="custom", message=f"No commits between {base} and {branch}"
            )
        assert call.identity is not None
        now = time.time()
        pull = Pull(
            number=repo.next_number,
            id=self._next_id(),
            issue_id=self._next_id(),
            title=str(data["title"]),
            body=body,
            head=branch,
            base=base,
            user=(call.identity.login, call.identity.kind),
            created_at=now,
            updated_at=now,
            head_sha=branches[branch],
            base_sha=branches[base],
            draft=bool(data.get("draft")),
            maintainer_can_modify=bool(data.get("maintainer_can_modify")),
        )
        repo.next_number += 1
        repo.pulls[pull.number] = pull
        shape = self._pull_json(repo, pull, full=True)
        return Reply(201, shape, {"Location": shape["url"]})

    def _get_pull(self, call: Call, owner: str, name: str, number: str) -> Reply:
        repo = self._access(call, owner, name)
        self._refresh(repo)
        return Reply(200, self._pull_json(repo, self._pull(repo, number), full=True))

    def _edit_pull(self, call: Call, owner: str, name: str, number: str) -> Reply:
        """title, body, state, base, maintainer_can_modify: by the author or a writer."""
        doc = f"{DOCS}/pulls/pulls#update-a-pull-request"
        repo = self._access(call, owner, name)
        self._refresh(repo)
        pull = self._pull(repo, number)
        who = call.identity
        assert who is not None
        if (who.login, who.kind) != pull.user and not self._may(
            who, repo, "pull" if who.installation else "push"
        ):
            raise GitHubError(
                403,
                "Resource not accessible by "
                + ("integration" if who.installation else "personal access token"),
            )
        data = call.json()
        if "body" in data and data["body"] is not None and len(data["body"]) > MAX_BODY:
            raise invalid(
                "PullRequest",
                doc,
                field="body",
                code="custom",
                message=f"body is too long (maximum is {MAX_BODY} characters)",
            )
        if "base" in data and data["base"] != pull.base:
            if pull.state != "open":
                raise invalid(
                    "PullRequest",
                    doc,
                    field="base",
                    code="invalid",
                    message="Cannot change the base branch of a closed pull request.",
                )
            branches = self._branches(repo)
            if data["base"] not in branches:
                raise invalid("PullRequest", doc, field="base", code="invalid")
            pull.base, pull.base_sha = data["base"], branches[data["base"]]
        if data.get("title"):
            pull.title = str(data["title"])
        if "body" in data:
            pull.body = data["body"]
        if "maintainer_can_modify" in data:
            pull.maintainer_can_modify = bool(data["maintainer_can_modify"])
        state = data.get("state")
        if state == "closed" and pull.state == "open":
            pull.state, pull.closed_at = "closed", time.time()
            pull.closed_by = (who.login, who.kind)
        elif state == "open" and pull.state == "closed":
            self._reopen(repo, pull, doc)
        elif state not in (None, "open", "closed"):
            raise invalid("PullRequest", doc, field="state", code="invalid")
        pull.updated_at = time.time()
        return Reply(200, self._pull_json(repo, pull, full=True))

    def _reopen(self, repo: Repo, pull: Pull, doc: str = DOCS) -> None:
        if pull.merged_at is not None:
            raise invalid(
                "PullRequest",
                doc,
                code="custom",
                field="state",
                message="state cannot be changed. The pull request has been merged.",
            )
        branches = self._branches(repo)
        if pull.head not in branches or pull.base not in branches:
            raise invalid(
                "PullRequest",
                doc,
                code="custom",
                field="state",
                message="state cannot be changed. The branch was deleted.",
            )
        if any(
            p.state == "open" and p.head == pull.head and p.base == pull.base
            for p in repo.pulls.values()
        ):
            raise invalid(
                "PullRequest",
                doc,
                code="custom",
                message=f"A pull request already exists for {repo.owner}:{pull.head}.",
            )
        pull.state, pull.closed_at, pull.closed_by = "open", None, None
        pull.updated_at = time.time()
        self._refresh(repo)

    # ----------------------------------------------------------------- reviewers

    def _get_reviewers(self, call: Call, owner: str, name: str, number: str) -> Reply:
        repo = self._access(call, owner, name)
        pull = self._pull(repo, number)
        return Reply(
            200,
            {
                "users": [self._user_json(u) for u in pull.reviewers],
                "teams": [self._team_json(owner, t) for t in pull.teams],
            },
        )

    def _request_reviewers(self, call: Call, owner: str, name: str, number: str) -> Reply:
        """Only collaborators (or the organisation's teams) can be asked, never the author."""
        doc = f"{DOCS}/pulls/review-requests#request-reviewers-for-a-pull-request"
        repo = self._access(
            call, owner, name, "pull" if call.identity and call.identity.installation else "issue"
        )
        pull = self._pull(repo, number)
        data = call.json()
        users, teams = list(data.get("reviewers") or []), list(data.get("team_reviewers") or [])
        if pull.user[0] in users:
            raise GitHubError(422, "Review cannot be requested from pull request author.", doc)
        if any(u not in repo.roles and u != owner for u in users) or any(
            (owner, t) not in self._teams for t in teams
        ):
            raise GitHubError(
                422,
                "Reviews may only be requested from collaborators. One or "
                "more of the users or teams you specified is not a collaborator "
                f"of the {owner}/{name} repository.",
                doc,
            )
        pull.reviewers += [u for u in users if u not in pull.reviewers]
        pull.teams += [t for t in teams if t not in pull.teams]
        pull.updated_at = time.time()
        shape = self._pull_json(repo, pull)
        return Reply(201, shape, {"Location": shape["url"]})

    def _unrequest_reviewers(self, call: Call, owner: str, name: str, number: str) -> Reply:
        repo = self._access(
            call, owner, name, "pull" if call.identity and call.identity.installation else "issue"
        )
        pull = self._pull(repo, number)
        data = call.json()
        pull.reviewers = [u for u in pull.reviewers if u not in (data.get("reviewers") or [])]
        pull.teams = [t for t in pull.teams if t not in (data.get("team_reviewers") or [])]
        return Reply(200, self._pull_json(repo, pull))

    # ================================================================= endpoints: issues

    def _issue(self, repo: Repo, number: str) -> Pull | Issue:
        found = repo.pulls.get(int(number)) or repo.issues.get(int(number))
        if found is None:
            raise not_found(f"{DOCS}/issues/issues#get-an-issue")
        return found

    def _list_issues(self, call: Call, owner: str, name: str) -> Reply:
        """Issues and pull requests alike, filtered and sorted as GitHub does."""
        repo = self._access(call, owner, name)
        self._refresh(repo)
        q = call.query
        state = q.get("state", "open")
        items: list[Pull | Issue] = [*repo.pulls.values(), *repo.issues.values()]
        items = [i for i in items if state == "all" or i.state == state]
        if q.get("creator"):
            items = [i for i in items if i.user[0].lower() == q["creator"].lower()]
        if q.get("labels"):
            wanted = {label.strip().lower() for label in q["labels"].split(",")}
            items = [i for i in items if wanted <= {n.lower() for n in i.labels}]
        sort = q.get("sort", "created")
        updated = sort == "updated"
        descending = q.get("direction", "desc") == "desc"
        items.sort(
            key=lambda i: (i.updated_at if updated else i.created_at, i.number), reverse=descending
        )
        page, headers = self._page(call, items)
        return Reply(200, [self._issue_json(repo, i) for i in page], headers)

    def _check_issue_fields(self, data: Any, doc: str, *, creating: bool) -> None:
        if not isinstance(data, dict):
            raise GitHubError(400, "Problems parsing JSON", doc)
        if creating and not data.get("title"):
            raise invalid("Issue", doc, field="title", code="missing_field")
        body = data.get("body")
        if body is not None and len(body) > MAX_BODY:
            raise invalid(
                "Issue",
                doc,
                field="body",
                code="custom",
                message=f"body is too long (maximum is {MAX_BODY} characters)",
            )

    def _create_issue(self, call: Call, owner: str, name: str) -> Reply:
        doc = f"{DOCS}/issues/issues#create-an-issue"
        repo = self._access(call, owner, name, "open-issue")
        data = call.json()
        self._check_issue_fields(data, doc, creating=True)
        assert call.identity is not None
        now = time.time()
        issue = Issue(
            number=repo.next_number,
            id=self._next_id(),
            title=str(data["title"]),
            body=data.get("body"),
            user=(call.identity.login, call.identity.kind),
            created_at=now,
            updated_at=now,
        )
        for label in data.get("labels") or []:
            issue.labels.append(self._label(repo, str(label))["name"])
        repo.next_number += 1
        repo.issues[issue.number] = issue
        shape = self._issue_json(repo, issue)
        return Reply(201, shape, {"Location": shape["url"]})

    def _edit_issue(self, call: Call, owner: str, name: str, number: str) -> Reply:
        """title, body and state of a plain issue: by its author or one who may triage."""
        doc = f"{DOCS}/issues/issues#update-an-issue"
        repo = self._access(call, owner, name)
        issue = repo.issues.get(int(number))
        if issue is None:
            raise not_found(doc)
        who = call.identity
        assert who is not None
        if (who.login, who.kind) != issue.user and not self._may(who, repo, "issue"):
            kind = "integration" if who.installation else "personal access token"
            raise GitHubError(403, f"Resource not accessible by {kind}")
        data = call.json()
        self._check_issue_fields(data, doc, creating=False)
        if data.get("title"):
            issue.title = str(data["title"])
        if "body" in data:
            issue.body = data["body"]
        state = data.get("state")
        if state in ("open", "closed") and state != issue.state:
            issue.state = state
            issue.closed_at = time.time() if state == "closed" else None
            issue.closed_by = (who.login, who.kind) if state == "closed" else None
        issue.updated_at = time.time()
        return Reply(200, self._issue_json(repo, issue))

    def _get_issue(self, call: Call, owner: str, name: str, number: str) -> Reply:
        repo = self._access(call, owner, name)
        self._refresh(repo)
        return Reply(200, self._issue_json(repo, self._issue(repo, number)))

    def _list_comments(self, call: Call, owner: str, name: str, number: str) -> Reply:
        repo = self._access(call, owner, name)
        self._issue(repo, number)
        comments = [c for c in repo.comments.values() if c.number == int(number)]
        page, headers = self._page(call, comments)
        return Reply(200, [self._comment_json(repo, c) for c in page], headers)

    def _check_comment_body(self, data: Any, doc: str) -> str:
        body = data.get("body") if isinstance(data, dict) else None
        if not body:
            raise invalid("IssueComment", doc, field="body", code="missing_field")
        if len(body) > MAX_BODY:
            raise invalid(
                "IssueComment",
                doc,
                field="data",
                code="unprocessable",
                message=f"Body is too long (maximum is {MAX_BODY} characters)",
            )
        return str(body)

    def _create_comment(self, call: Call, owner: str, name: str, number: str) -> Reply:
        doc = f"{DOCS}/issues/comments#create-an-issue-comment"
        repo = self._access(
            call, owner, name, "issue" if call.identity and call.identity.installation else "read"
        )
        pull = self._issue(repo, number)
        body = self._check_comment_body(call.json(), doc)
        assert call.identity is not None
        now = time.time()
        comment = Comment(
            self._next_id(), pull.number, body, (call.identity.login, call.identity.kind), now, now
        )
        repo.comments[comment.id] = comment
        pull.updated_at = now
        shape = self._comment_json(repo, comment)
        return Reply(201, shape, {"Location": shape["url"]})

    def _comment(self, repo: Repo, ident: str) -> Comment:
        comment = repo.comments.get(int(ident))
        if comment is None:
            raise not_found(f"{DOCS}/issues/comments#get-an-issue-comment")
        return comment

    def _may_edit(self, call: Call, repo: Repo, comment: Comment) -> None:
        """The author, an installation allowed to write issues, or a person who can write."""
        who = call.identity
        assert who is not None
        if (who.login, who.kind) == comment.user:
            return
        if not self._may(who, repo, "issue" if who.installation else "push"):
            kind = "integration" if who.installation else "personal access token"
            raise GitHubError(403, f"Resource not accessible by {kind}")

    def _get_comment(self, call: Call, owner: str, name: str, ident: str) -> Reply:
        repo = self._access(call, owner, name)
        return Reply(200, self._comment_json(repo, self._comment(repo, ident)))

    def _edit_comment(self, call: Call, owner: str, name: str, ident: str) -> Reply:
        repo = self._access(call, owner, name)
        comment = self._comment(repo, ident)
        self._may_edit(call, repo, comment)
        comment.body = self._check_comment_body(
            call.json(), f"{DOCS}/issues/comments#update-an-issue-comment"
        )
        comment.updated_at = time.time()
        return Reply(200, self._comment_json(repo, comment))

    def _delete_comment(self, call: Call, owner: str, name: str, ident: str) -> Reply:
        repo = self._access(call, owner, name)
        comment = self._comment(repo, ident)
        self._may_edit(call, repo, comment)
        del repo.comments[comment.id]
        return Reply(204)

    # ----------------------------------------------------------------- labels, assignees

    @staticmethod
    def _label_names(data: Any) -> list[str]:
        """`["a"]`, `{"labels": ["a"]}` or `{"labels": [{"name": "a"}]}`."""
        items = data.get("labels", []) if isinstance(data, dict) else data
        if not isinstance(items, list):
            raise GitHubError(
                422,
                "Invalid request.\n\nFor 'properties/labels', "
                f"{json.dumps(items)} is not an array.",
            )
        return [str(item["name"] if isinstance(item, dict) else item) for item in items]

    def _labels_reply(self, repo: Repo, pull: Pull, status: int = 200) -> Reply:
        return Reply(status, [repo.labels[n.lower()] for n in pull.labels])

    def _list_labels(self, call: Call, owner: str, name: str, number: str) -> Reply:
        repo = self._access(call, owner, name)
        pull = self._issue(repo, number)
        page, headers = self._page(call, [repo.labels[n.lower()] for n in pull.labels])
        return Reply(200, page, headers)

    def _add_labels(self, call: Call, owner: str, name: str, number: str) -> Reply:
        """Labels the repository lacks are created, as GitHub does."""
        repo = self._access(call, owner, name, "issue")
        pull = self._issue(repo, number)
        have = {n.lower() for n in pull.labels}
        for label in self._label_names(call.json()):
            canonical = self._label(repo, label)["name"]
            if canonical.lower() not in have:
                pull.labels.append(canonical)
                have.add(canonical.lower())
        pull.updated_at = time.time()
        return self._labels_reply(repo, pull)

    def _set_labels(self, call: Call, owner: str, name: str, number: str) -> Reply:
        repo = self._access(call, owner, name, "issue")
        pull = self._issue(repo, number)
        pull.labels = []
        for label in self._label_names(call.json()):
            canonical = self._label(repo, label)["name"]
            if canonical not in pull.labels:
                pull.labels.append(canonical)
        pull.updated_at = time.time()
        return self._labels_reply(repo, pull)

    def _clear_labels(self, call: Call, owner: str, name: str, number: str) -> Reply:
        repo = self._access(call, owner, name, "issue")
        self._issue(repo, number).labels = []
        return Reply(204)

    def _remove_label(self, call: Call, owner: str, name: str, number: str, label: str) -> Reply:
        repo = self._access(call, owner, name, "issue")
        pull = self._issue(repo, number)
        kept = [n for n in pull.labels if n.lower() != label.lower()]
        if len(kept) == len(pull.labels):
            raise GitHubError(
                404, "Label does not exist", f"{DOCS}/issues/labels#remove-a-label-from-an-issue"
            )
        pull.labels = kept
        pull.updated_at = time.time()
        return self._labels_reply(repo, pull)

    def _add_assignees(self, call: Call, owner: str, name: str, number: str) -> Reply:
        """People who cannot be assigned (not collaborators) are silently left out, as on
        GitHub; the answer is the issue."""
        repo = self._access(call, owner, name, "issue")
        pull = self._issue(repo, number)
        for login in call.json().get("assignees") or []:
            assignable = login in repo.roles or login == repo.owner
            if assignable and login not in pull.assignees and len(pull.assignees) < 10:
                pull.assignees.append(login)
        pull.updated_at = time.time()
        shape = self._issue_json(repo, pull)
        return Reply(201, shape, {"Location": shape["url"]})

    def _remove_assignees(self, call: Call, owner: str, name: str, number: str) -> Reply:
        repo = self._access(call, owner, name, "issue")
        pull = self._issue(repo, number)
        gone = set(call.json().get("assignees") or [])
        pull.assignees = [login for login in pull.assignees if login not in gone]
        return Reply(200, self._issue_json(repo, pull))

    # ================================================================= endpoints: checks

    def _check_fields(self, run: CheckRun, data: dict[str, Any], doc: str) -> None:
        """Apply and validate name, status, conclusion, output, details_url, external_id."""
        if "name" in data:
            if not data["name"]:
                raise invalid("CheckRun", doc, field="name", code="missing_field")
            run.name = str(data["name"])
        if "details_url" in data:
            run.details_url = data["details_url"]
        if "external_id" in data:
            run.external_id = data["external_id"]
        if "output" in data and data["output"] is not None:
            output = data["output"]
            if not output.get("title") or not output.get("summary"):
                field_name = "title" if not output.get("title") else "summary"
                raise GitHubError(422, f'Invalid request.\n\n"{field_name}" wasn\'t supplied.', doc)
            for key in ("summary", "text"):
                if output.get(key) is not None and len(output[key]) > MAX_CHECK_TEXT:
                    raise GitHubError(
                        422,
                        f"Invalid request.\n\nOnly {MAX_CHECK_TEXT} characters "
                        f"are allowed; {len(output[key])} were supplied.",
                        doc,
                    )
            run.output = {k: output.get(k) for k in ("title", "summary", "text")}
            notes = output.get("annotations") or []
            if len(notes) > MAX_ANNOTATIONS:
                raise GitHubError(422, "Only 50 annotations are allowed per request.", doc)
            for note in notes:
                missing = [k for k in ANNOTATION_KEYS if note.get(k) in (None, "")]
                if missing or note["annotation_level"] not in ANNOTATION_LEVELS:
                    raise invalid(
                        "CheckRun",
                        doc,
                        field=f"annotations.{(missing or ['annotation_level'])[0]}",
                        code="invalid",
                    )
            run.annotations += [dict(note) for note in notes]  # a later request adds more
        status, conclusion = data.get("status"), data.get("conclusion")
        if status is not None and status not in CHECK_STATUSES:
            raise invalid("CheckRun", doc, field="status", code="invalid")
        if conclusion is not None and conclusion not in CHECK_CONCLUSIONS:
            raise invalid("CheckRun", doc, field="conclusion", code="invalid")
        if status == "completed" and conclusion is None and run.conclusion is None:
            raise GitHubError(
                422,
                "Invalid request.\n\nWhen the status is 'completed', a 'conclusion' is required.",
                doc,
            )
        if conclusion is not None:
            run.status, run.conclusion = "completed", conclusion
            run.completed_at = time.time()
        elif status is not None:
            run.status = status

    def _create_check_run(self, call: Call, owner: str, name: str) -> Reply:
        doc = f"{DOCS}/checks/runs#create-a-check-run"
        repo = self._access(call, owner, name, "check")
        data = call.json()
        if not data.get("name"):
            raise invalid("CheckRun", doc, field="name", code="missing_field")
        head = str(data.get("head_sha") or "")
        sha = self._resolve(repo, head) if re.fullmatch(r"[0-9a-f]{40}", head) else None
        if sha is None:
            raise GitHubError(422, f"No commit found for SHA: {head}", doc)
        suite = next((r.suite_id for r in repo.check_runs.values() if r.head_sha == sha), None)
        run = CheckRun(
            self._next_id(),
            suite or self._next_id(),
            sha,
            "",
            "queued",
            None,
            time.time(),
            None,
            {},
            None,
            None,
        )
        self._check_fields(run, data, doc)
        repo.check_runs[run.id] = run
        shape = self._check_json(repo, run)
        return Reply(201, shape, {"Location": shape["url"]})

    def _check_run(self, repo: Repo, ident: str) -> CheckRun:
        run = repo.check_runs.get(int(ident))
        if run is None:
            raise not_found(f"{DOCS}/checks/runs#get-a-check-run")
        return run

    def _get_check_run(self, call: Call, owner: str, name: str, ident: str) -> Reply:
        repo = self._access(call, owner, name)
        return Reply(200, self._check_json(repo, self._check_run(repo, ident)))

    def _edit_check_run(self, call: Call, owner: str, name: str, ident: str) -> Reply:
        repo = self._access(call, owner, name, "check")
        run = self._check_run(repo, ident)
        self._check_fields(run, call.json(), f"{DOCS}/checks/runs#update-a-check-run")
        return Reply(200, self._check_json(repo, run))

    def _list_check_runs(self, call: Call, owner: str, name: str, ref: str) -> Reply:
        """`filter=latest` (GitHub's default) keeps only the newest run of each name."""
        repo = self._access(call, owner, name)
        sha = self._resolve(repo, ref)
        if sha is None:
            raise GitHubError(
                422,
                f"No commit found for SHA: {ref}",
                f"{DOCS}/checks/runs#list-check-runs-for-a-git-reference",
            )
        runs = sorted(
            (r for r in repo.check_runs.values() if r.head_sha == sha),
            key=lambda r: r.id,
            reverse=True,
        )
        if call.query.get("filter", "latest") == "latest":
            newest: dict[str, CheckRun] = {}
            for run in runs:
                newest.setdefault(run.name, run)
            runs = list(newest.values())
        if call.query.get("check_name"):
            runs = [r for r in runs if r.name == call.query["check_name"]]
        if call.query.get("status"):
            runs = [r for r in runs if r.status == call.query["status"]]
        page, headers = self._page(call, runs)
        body = {"total_count": len(runs), "check_runs": [self._check_json(repo, r) for r in page]}
        return Reply(200, body, headers)

    # ----------------------------------------------------------------- helpers

    def _repo(self, owner: str, name: str) -> Repo:
        try:
            return self._repos[(owner, name)]
        except KeyError:
            raise KeyError(f"no repository {owner}/{name}: add_repository() first") from None


def _level(permission: str | None) -> str:
    """An App permission level (none, read, write, admin) on the role scale."""
    return {"read": "read", "write": "write", "admin": "admin"}.get(permission or "", "none")


@pytest.fixture
def github_server(tmp_path: Path) -> Iterator[GitHubServer]:
    """A running GitHubServer keeping its repositories under the test's tmp_path."""
    with GitHubServer(tmp_path / "github") as server:
        yield server
