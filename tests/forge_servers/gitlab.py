"""A GitLab on 127.0.0.1: the REST API v4 subset the bot's GitLab adapter uses, and Git over HTTP.

The adapter is written with python-gitlab, so it is tested against the protocol, not against a
mock of its own calls: python-gitlab talks to this server over real HTTP (tokens in headers,
URL-encoded project paths, `Link` pagination, retries on 429 and 5xx), and git clones and pushes
real bare repositories through `git http-backend` (`git_http.serve_git`). Branch state is only
ever the bare repository's, so what the bot pushed is what a merge request shows.

Response shapes follow the bodies recorded in `fixtures/gitlab-api/` (see its README); the tests
check that every key of those bodies is present here. Where GitLab refuses something, so does
this server, with GitLab's status and message, so the adapter's tests can fail:

- a bad or revoked token is 401; a project the token's user is not a member of is 404 (every
  project here is private); writing needs Developer (30) or more, else 403;
- a second open merge request for the same source and target branch is 409 with GitLab's
  message; a missing branch is 400; an over-long title or body is 400;
- reviewers and assignees who cannot read the project are dropped silently, as GitLab does,
  and GitLab Free (`premium=False`) keeps only the first of each;
- the default branch is protected (Maintainers push, nobody force-pushes), enforced by a real
  pre-receive hook, so a bot that pushes to the branch Argo CD deploys from is rejected;
- posting a commit status in the state it is already in is GitLab's 400 "Cannot transition";
- issues have their own iids, apart from merge requests' (`#1` and `!1` both exist): any
  member (Guest too) reads and opens them; only their author or a Reporter or more edits,
  closes or reopens one, else 403; a missing title is 400 `title is missing`, a blank one
  `can't be blank`;
- a token without the `api` scope (`read_api` only) may read but not write: 403
  `insufficient_scope`, as GitLab answers.

Mergeability is computed as GitLab does, from the repository: `git merge-tree --write-tree`
exits 1 on a conflict. As on GitLab, it is asynchronous: the create response says `checking`;
a later GET has the answer.

Not modelled: pipelines (commit statuses exist, but `head_pipeline` stays null), approvals,
quick actions in notes, webhooks, groups, forks, notes on issues, confidential issues, and
scopes for git over HTTP (`read_repository`, `write_repository`).
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import math
import os
import re
import subprocess
import tempfile
import threading
import time
import traceback
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import parse_qsl, unquote, urlencode

import pytest

from tests.forge_servers.git_http import bare_repository, read_body, serve_git

GUEST, REPORTER, DEVELOPER, MAINTAINER, OWNER = 10, 20, 30, 40, 50
RATE_LIMIT = 2000
"""Requests a token may make a minute, as GitLab.com's authenticated API limit."""
TITLE_MAX, DESCRIPTION_MAX, NOTE_MAX = 255, 1_048_576, 1_000_000
STATUS_STATES = ("pending", "running", "success", "failed", "canceled", "skipped")
DRAFT = re.compile(r"^\s*(\[draft\]|\(draft\)|draft:)", re.IGNORECASE)
"""GitLab's draft prefixes (`WIP:` stopped counting in GitLab 14)."""
ZERO = "0" * 40
HUMAN = {
    "GIT_AUTHOR_NAME": "Acme Platform Team",
    "GIT_AUTHOR_EMAIL": "platform@acme.example",
    "GIT_COMMITTER_NAME": "Acme Platform Team",
    "GIT_COMMITTER_EMAIL": "platform@acme.example",
}
"""Who merges and commits by hand: the same people as `tests.conftest.GIT_ENV`."""

PRE_RECEIVE = """\
#!/bin/sh
# GitLabServer: protected branches, enforced as GitLab does, by a pre-receive hook.
# `gitlab-access` holds "member USER LEVEL" and "protected BRANCH LEVEL" lines.
# No REMOTE_USER means the server itself (a human's merge or commit): always allowed.
[ -n "$REMOTE_USER" ] || exit 0
level=$(awk -v u="$REMOTE_USER" '$1 == "member" && $2 == u { print $3 }' gitlab-access)
zero=0000000000000000000000000000000000000000
while read -r old new ref; do
  branch=${ref#refs/heads/}
  [ "$branch" != "$ref" ] || continue
  need=$(awk -v b="$branch" '$1 == "protected" && $2 == b { print $3 }' gitlab-access)
  [ -n "$need" ] || continue
  if [ "$new" = "$zero" ]; then
    echo "GitLab: You can only delete protected branches using the web interface." >&2
    exit 1
  fi
  if [ "${level:-0}" -lt "$need" ]; then
    echo "GitLab: You are not allowed to push code to protected branches on this project." >&2
    exit 1
  fi
  if [ "$old" != "$zero" ] && ! git merge-base --is-ancestor "$old" "$new"; then
    echo "GitLab: You are not allowed to force push code to a protected branch on this project." >&2
    exit 1
  fi
done
exit 0
"""


class Served(NamedTuple):
    """One request as the server answered it; `time` is `time.monotonic()` at arrival."""

    method: str
    path: str
    status: int
    time: float


@dataclass
class Fault:
    """An answer given instead of the real one, `times` times, to requests whose method is
    `method` ("*" for any) and whose URL-decoded path (no query) `path_regex` searches.
    `served` holds the `time.monotonic()` of each time it was given."""

    method: str
    path_regex: str
    status: int
    headers: dict[str, str]
    body: bytes
    times: int
    served: list[float] = field(default_factory=list)

    def matches(self, method: str, path: str) -> bool:
        return (
            len(self.served) < self.times
            and self.method.upper() in ("*", method)
            and re.search(self.path_regex, path) is not None
        )


class ApiError(Exception):
    """An error answer: GitLab's status and JSON body."""

    def __init__(self, status: int, body: object) -> None:
        super().__init__(status, body)
        self.status, self.body = status, body


@dataclass
class Page:
    """A list answer, paginated by the server as GitLab paginates."""

    items: list[dict[str, Any]]


@dataclass
class Project:
    id: int
    path: str
    repo: Path
    default_branch: str
    created_at: str
    members: dict[int, int] = field(default_factory=dict)
    """user id → access level."""
    protected: dict[str, int] = field(default_factory=dict)
    """branch → the access level needed to push to it."""
    merge_requests: dict[int, dict[str, Any]] = field(default_factory=dict)
    notes: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    statuses: list[dict[str, Any]] = field(default_factory=list)
    next_iid: int = 1
    """The next merge request's iid."""
    issues: dict[int, dict[str, Any]] = field(default_factory=dict)
    next_issue_iid: int = 1
    """Issues count on their own: GitLab numbers them apart from merge requests."""


def now() -> str:
    """A timestamp as GitLab writes them: UTC, milliseconds, `Z`."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _bool(value: object) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes", "t")
    return bool(value)


def _labelled(found: list[dict[str, Any]], wanted: Any) -> list[dict[str, Any]]:
    """Merge requests or issues as GitLab's `labels` filter keeps them: `None` for the
    unlabelled, `Any` for the labelled, else those with every label named."""
    if wanted in ("None", "none"):
        return [item for item in found if not item["labels"]]
    if wanted in ("Any", "any"):
        return [item for item in found if item["labels"]]
    if wanted:
        return [item for item in found if set(_labels(wanted)) <= set(item["labels"])]
    return found


def _labels(value: object) -> list[str]:
    """Labels as GitLab takes them: a comma-separated string or a list."""
    items = value if isinstance(value, list) else str(value or "").split(",")
    return list(dict.fromkeys(str(item).strip() for item in items if str(item).strip()))


def _ids(value: object) -> list[int]:
    """User ids as GitLab takes them: a list, a comma-separated string or one; 0 means none."""
    if value is None:
        return []
    items = value if isinstance(value, list) else str(value).split(",")
    try:
        ids = [int(item) for item in items if str(item).strip() != ""]
    except ValueError as error:
        raise ApiError(400, {"error": "ids is invalid"}) from error
    return [one for one in ids if one != 0]


class GitLabServer:
    """GitLab's API under `url + "/api/v4"` and its repositories at `url/GROUP/PROJECT.git`.

    Use as a context manager (the `gitlab_server` fixture does). `root` holds the repositories.
    With `premium=False` it behaves as GitLab Free: one assignee and one reviewer at most.
    """

    def __init__(self, root: Path, *, premium: bool = True) -> None:
        self.root = root
        self.premium = premium
        self.requests: list[Served] = []
        self.faults: list[Fault] = []
        self.errors: list[str] = []
        """Tracebacks of this server's own bugs (answered 500): a test can assert it is empty."""
        self._lock = threading.RLock()
        self._users: dict[int, dict[str, Any]] = {}
        self._tokens: dict[str, dict[str, Any]] = {}
        self._projects: dict[int, Project] = {}
        self._pushes: Counter[int] = Counter()
        self._merge_cache: dict[tuple[str, str], tuple[bool, str]] = {}
        self._windows: dict[str, tuple[int, int]] = {}
        self._user_ids = itertools.count(101)
        self._project_ids = itertools.count(1001)
        self._mr_ids = itertools.count(50001)
        self._note_ids = itertools.count(900001)
        self._status_ids = itertools.count(7001)
        self._issue_ids = itertools.count(80001)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self.url = f"http://127.0.0.1:{self.port}"
        """What python-gitlab takes as `url`; the API is under `/api/v4`."""
        self.api_url = f"{self.url}/api/v4"
        self.human = self.add_user("platform-maintainer", name="Acme Platform Team")
        """The person who merges and closes by hand; Owner of every project."""

    def __enter__(self) -> GitLabServer:
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    # --- setting up -------------------------------------------------------------------------

    def add_project(
        self, path_with_namespace: str, source: Path, default_branch: str = "main"
    ) -> Path:
        """A private project holding a bare clone of the repository at `source`; returns the
        bare repository. Its `default_branch` is protected, as GitLab protects it."""
        owner, _, name = path_with_namespace.strip("/").rpartition("/")
        if not owner or not name:
            raise ValueError(f"{path_with_namespace!r} is not GROUP/PROJECT")
        repo = bare_repository(self.root / "git", owner, name, source)
        if self._git(
            repo, "rev-parse", "--verify", "--quiet", f"refs/heads/{default_branch}", check=False
        ).returncode:
            raise ValueError(f"{source} has no branch {default_branch!r}")
        self._git(repo, "symbolic-ref", "HEAD", f"refs/heads/{default_branch}")
        hook = repo / "hooks" / "pre-receive"
        hook.write_text(PRE_RECEIVE)
        hook.chmod(0o755)
        with self._lock:
            project = Project(
                next(self._project_ids), f"{owner}/{name}", repo, default_branch, now()
            )
            project.members[self.human["id"]] = OWNER
            project.protected[default_branch] = MAINTAINER
            self._projects[project.id] = project
            self._write_access(project)
        return repo

    def project_id(self, project: str | int) -> int:
        return self._project(project).id

    def add_user(
        self,
        username: str,
        *,
        name: str | None = None,
        user_id: int | None = None,
        bot: bool = False,
    ) -> dict[str, Any]:
        """A user (found by username when it exists); returns its record."""
        with self._lock:
            for user in self._users.values():
                if user["username"].lower() == username.lower():
                    if user_id is not None and user_id != user["id"]:
                        raise ValueError(f"{username} already has id {user['id']}")
                    return dict(user)
            uid = user_id if user_id is not None else next(self._user_ids)
            if uid in self._users:
                raise ValueError(f"user id {uid} is taken")
            user = {
                "id": uid,
                "username": username,
                "name": name or username,
                "bot": bot,
                "created_at": now(),
            }
            self._users[uid] = user
            return dict(user)

    def add_token(
        self,
        token: str,
        username: str | None = None,
        user_id: int | None = None,
        kind: str = "personal",
        *,
        project: str | int | None = None,
        access_level: int | None = None,
        name: str | None = None,
        scopes: tuple[str, ...] = ("api",),
    ) -> dict[str, Any]:
        """A token; returns its user. `scopes` as GitLab's: `api` reads and writes,
        `read_api` only reads.

        `kind="personal"`: the user `username` (made when new); with `project`, also made a
        member at `access_level` (Developer by default). Without it, use `set_access`.

        `kind="project"`: a project access token. `project` is required; its user is a bot,
        `project_{id}_bot_{hex}` (pass `username` to choose the hex), a member of that project
        only, at `access_level` (Maintainer by default, as GitLab's API defaults).
        """
        if kind == "project":
            if project is None:
                raise ValueError("a project access token needs project=")
            target = self._project(project)
            prefix = f"project_{target.id}_bot_"
            username = username or prefix + hashlib.sha256(token.encode()).hexdigest()[:32]
            if not username.startswith(prefix):
                raise ValueError(f"a project token's user is named {prefix}..., not {username}")
            user = self.add_user(username, name=name or "rightsizer", user_id=user_id, bot=True)
            self._set_level(target, user["id"], access_level or MAINTAINER)
        elif kind == "personal":
            if not username:
                raise ValueError("a personal token needs a username")
            user = self.add_user(username, name=name, user_id=user_id)
            if project is not None:
                self._set_level(self._project(project), user["id"], access_level or DEVELOPER)
        else:
            raise ValueError(f"kind is 'personal' or 'project', not {kind!r}")
        with self._lock:
            self._tokens[token] = {
                "user_id": user["id"],
                "kind": kind,
                "revoked": False,
                "scopes": tuple(scopes),
            }
        return user

    def revoke_token(self, token: str) -> None:
        """From now on the token is refused, as GitLab refuses a revoked or expired one."""
        with self._lock:
            self._tokens[token]["revoked"] = True

    def set_access(self, project: str | int, username: str, level: int | None) -> None:
        """Make `username` a member at `level` (10 Guest … 50 Owner); None or 0 removes them."""
        user = self._user_named(username)
        self._set_level(self._project(project), user["id"], level or 0)

    def protect_branch(
        self, project: str | int, branch: str, push_access_level: int = MAINTAINER
    ) -> None:
        """Only members at `push_access_level` or above may push; nobody may force-push."""
        with self._lock:
            target = self._project(project)
            target.protected[branch] = push_access_level
            self._write_access(target)

    def unprotect_branch(self, project: str | int, branch: str) -> None:
        with self._lock:
            target = self._project(project)
            target.protected.pop(branch, None)
            self._write_access(target)

    def fail(
        self,
        method: str,
        path_regex: str,
        status: int,
        headers: dict[str, str] | None = None,
        body: bytes | str | dict[str, Any] | list[Any] | None = None,
        times: int = 1,
    ) -> Fault:
        """Answer the next `times` matching requests with `status` (API or git). By default the
        body is GitLab's: JSON for 500, nginx's HTML page for 502, 503 and 504."""
        default_headers, default_body = self._fault_default(status)
        if isinstance(body, dict | list):
            default_headers = {"Content-Type": "application/json"}
            body = json.dumps(body)
        raw = default_body if body is None else body.encode() if isinstance(body, str) else body
        fault = Fault(
            method, path_regex, status, {**default_headers, **(headers or {})}, raw, times
        )
        with self._lock:
            self.faults.append(fault)
        return fault

    def rate_limit(
        self, method: str, path_regex: str, retry_after: int = 1, times: int = 1
    ) -> Fault:
        """Answer 429 as GitLab's Rack::Attack throttle does: `Retry later` in text/plain, with
        `Retry-After` and the `RateLimit-*` headers."""
        reset = int(time.time()) + retry_after
        headers = {
            "Content-Type": "text/plain",
            "Retry-After": str(retry_after),
            "RateLimit-Name": "throttle_authenticated_api",
            "RateLimit-Limit": str(RATE_LIMIT),
            "RateLimit-Observed": str(RATE_LIMIT + 1),
            "RateLimit-Remaining": "0",
            "RateLimit-Reset": str(reset),
            "RateLimit-ResetTime": formatdate(reset, usegmt=True),
        }
        return self.fail(method, path_regex, 429, headers, b"Retry later\n", times)

    # --- what a human does on GitLab --------------------------------------------------------

    def commit_as_human(
        self, project: str | int, branch: str, files: dict[str, str], message: str
    ) -> str:
        """A human's commit of `files` ({path: text}) on `branch` (made from the default
        branch when absent); returns its sha."""
        target = self._project(project)
        with tempfile.TemporaryDirectory() as work:
            env = {**os.environ, **HUMAN, "GIT_CONFIG_NOSYSTEM": "1", "GIT_TERMINAL_PROMPT": "0"}
            env.pop("REMOTE_USER", None)

            def git(*args: str) -> str:
                done = subprocess.run(
                    ["git", "-c", "commit.gpgsign=false", *args],
                    cwd=work,
                    env=env,
                    check=True,
                    capture_output=True,
                    text=True,
                )
                return done.stdout.strip()

            git("clone", "--quiet", str(target.repo), ".")
            exists = git("ls-remote", "--heads", "origin", branch)
            git("checkout", "--quiet", "-B", branch, f"origin/{branch}" if exists else "HEAD")
            for name, text in files.items():
                path = Path(work) / name
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text)
            git("add", "--all")
            git("commit", "--quiet", "-m", message)
            git("push", "--quiet", "origin", f"HEAD:refs/heads/{branch}")
            return git("rev-parse", "HEAD")

    def close_merge_request(self, project: str | int, iid: int) -> None:
        with self._lock:
            target = self._project(project)
            mr = self._mr(target, iid)
            if mr["state"] == "opened":
                mr.update(state="closed", closed_at=now(), closed_by=self.human["id"])
                mr["updated_at"] = mr["closed_at"]

    def merge_merge_request(self, project: str | int, iid: int) -> str:
        """A human presses Merge: a real merge commit (after a squash commit when the MR asks
        for one) on the target branch; the source branch is deleted when the MR asked for that.
        Returns the merge commit's sha. Raises ValueError when GitLab would not merge."""
        with self._lock:
            target = self._project(project)
            mr = self._mr(target, iid)
            heads = self._heads(target)
            into, source = heads.get(mr["target_branch"]), heads.get(mr["source_branch"])
            if mr["state"] != "opened" or into is None or source is None:
                raise ValueError(f"!{iid} cannot be merged: it is {mr['state']} or lost a branch")
            if DRAFT.match(mr["title"]):
                raise ValueError(f"!{iid} is a draft")
            done = self._git(
                target.repo,
                "merge-tree",
                "--write-tree",
                "--no-messages",
                into,
                source,
                check=False,
            )
            if done.returncode:
                raise ValueError(f"!{iid} has conflicts")
            tree = done.stdout.split()[0]
            second = source
            if mr["squash"]:
                base = self._git(target.repo, "merge-base", into, source).stdout.strip()
                second = self._commit_tree(target, f"{source}^{{tree}}", [base], mr["title"])
                mr["squash_commit_sha"] = second
            message = (
                f"Merge branch '{mr['source_branch']}' into '{mr['target_branch']}'\n\n"
                f"{mr['title']}\n\nSee merge request {target.path}!{iid}"
            )
            merged = self._commit_tree(target, tree, [into, second], message)
            self._git(target.repo, "update-ref", f"refs/heads/{mr['target_branch']}", merged, into)
            if mr["force_remove_source_branch"]:
                self._git(target.repo, "update-ref", "-d", f"refs/heads/{mr['source_branch']}")
            stamp = now()
            mr.update(
                state="merged",
                merged_at=stamp,
                updated_at=stamp,
                sha=source,
                merged_by=self.human["id"],
                merge_commit_sha=merged,
                merge_status="can_be_merged",
            )
            return merged

    def add_issue(
        self, project: str | int, title: str, description: str = "", author: str | None = None
    ) -> dict[str, Any]:
        """An issue opened by `author` (a username, made when new; the human by default), as
        someone other than the bot opens one; returns it as the API shows it."""
        with self._lock:
            target = self._project(project)
            user = self.add_user(author) if author else self.human
            issue = self._new_issue(target, user, title, description)
            return self._issue_json(target, issue)

    def close_issue(self, project: str | int, iid: int) -> None:
        """The human closes the issue, as from GitLab's page."""
        with self._lock:
            issue = self._issue(self._project(project), iid)
            if issue["state"] == "opened":
                issue.update(state="closed", closed_at=now(), closed_by=self.human["id"])
                issue["updated_at"] = issue["closed_at"]

    # --- inspection -------------------------------------------------------------------------

    def pushes(self, project: str | int) -> int:
        """How many pushes (receive-pack POSTs past authentication) the project received."""
        with self._lock:
            return self._pushes[self._project(project).id]

    def branch_head(self, project: str | int, branch: str) -> str | None:
        return self._heads(self._project(project)).get(branch)

    def merge_requests(self, project: str | int) -> list[dict[str, Any]]:
        """Every merge request as the API shows it, oldest first."""
        with self._lock:
            target = self._project(project)
            heads = self._heads(target)
            return [self._mr_json(target, mr, None, heads) for mr in target.merge_requests.values()]

    def notes(self, project: str | int, iid: int) -> list[dict[str, Any]]:
        """The merge request's notes (system notes too), oldest first."""
        with self._lock:
            target = self._project(project)
            self._mr(target, iid)
            return [self._note_json(target, note) for note in target.notes.get(iid, [])]

    def statuses(self, project: str | int, sha: str) -> list[dict[str, Any]]:
        """Every commit status posted for `sha`, oldest first (superseded ones too)."""
        with self._lock:
            target = self._project(project)
            return [self._status_json(s) for s in target.statuses if s["sha"] == sha]

    def issues(self, project: str | int) -> list[dict[str, Any]]:
        """Every issue as the API shows it, oldest first."""
        with self._lock:
            target = self._project(project)
            return [self._issue_json(target, issue) for issue in target.issues.values()]

    # --- HTTP -------------------------------------------------------------------------------

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go in two writes: no 40 ms stalls
            server_version = "nginx"
            sys_version = ""

            def do_GET(self) -> None:
                server._serve(self)

            do_POST = do_PUT = do_DELETE = do_PATCH = do_GET

            def log_message(self, format: str, *args: object) -> None:
                """Quiet: `requests` and `errors` say what happened."""

        return Handler

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        arrived = time.monotonic()
        raw_path, _, query = handler.path.partition("?")
        body = read_body(handler)
        path = unquote(raw_path)
        with self._lock:
            fault = next((f for f in self.faults if f.matches(handler.command, path)), None)
            if fault:
                fault.served.append(arrived)
        if fault:
            self._send(handler, arrived, fault.status, fault.body, fault.headers)
            return
        git = re.match(r"^/(?P<project>.+?)\.git(?P<rest>/.*)$", raw_path)
        try:
            if raw_path.startswith("/api/v4/"):
                self._api(handler, arrived, raw_path, query, body)
            elif git:
                self._serve_git(handler, arrived, unquote(git["project"]), git["rest"], query, body)
            else:
                self._json(handler, arrived, 404, {"message": "404 Not Found"})
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client went away: nobody to answer
        except Exception:
            self.errors.append(traceback.format_exc())
            self._json(handler, arrived, 500, {"message": "500 Internal Server Error"})

    def _send(
        self,
        handler: BaseHTTPRequestHandler,
        arrived: float,
        status: int,
        body: bytes,
        headers: dict[str, str],
    ) -> None:
        with self._lock:
            self.requests.append(Served(handler.command, handler.path, status, arrived))
        handler.send_response(status)
        for name, value in headers.items():
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    def _json(
        self,
        handler: BaseHTTPRequestHandler,
        arrived: float,
        status: int,
        payload: object,
        headers: dict[str, str] | None = None,
    ) -> None:
        request_id = uuid.uuid4().hex[:26].upper()
        base = {
            "Content-Type": "application/json",
            "Cache-Control": "max-age=0, private, must-revalidate" if status < 400 else "no-cache",
            "X-Request-Id": request_id,
            "X-Gitlab-Meta": json.dumps({"correlation_id": request_id, "version": "1"}),
            "X-Content-Type-Options": "nosniff",
            "Vary": "Origin, Accept-Encoding",
        }
        body = json.dumps(payload, separators=(",", ":")).encode()
        self._send(
            handler,
            arrived,
            status,
            body,
            {**base, **self._rate_headers(handler), **(headers or {})},
        )

    def _rate_headers(self, handler: BaseHTTPRequestHandler) -> dict[str, str]:
        """GitLab.com's `RateLimit-*` headers: a window a minute long per token (or address)."""
        key = handler.headers.get("PRIVATE-TOKEN") or handler.headers.get("Authorization") or "-"
        minute = int(time.time()) // 60
        with self._lock:
            start, seen = self._windows.get(key, (minute, 0))
            seen = seen + 1 if start == minute else 1
            self._windows[key] = (minute, seen)
        reset = (minute + 1) * 60
        return {
            "RateLimit-Limit": str(RATE_LIMIT),
            "RateLimit-Observed": str(seen),
            "RateLimit-Remaining": str(max(0, RATE_LIMIT - seen)),
            "RateLimit-Reset": str(reset),
            "RateLimit-ResetTime": formatdate(reset, usegmt=True),
        }

    @staticmethod
    def _fault_default(status: int) -> tuple[dict[str, str], bytes]:
        phrase = BaseHTTPRequestHandler.responses.get(status, ("Error",))[0]
        if status in (502, 503, 504):
            page = f"<html>\r\n<head><title>{status} {phrase}</title></head>\r\n<body>\r\n"
            page += f"<center><h1>{status} {phrase}</h1></center>\r\n<hr><center>nginx</center>\r\n"
            return {"Content-Type": "text/html"}, (page + "</body>\r\n</html>\r\n").encode()
        body = json.dumps({"message": f"{status} {phrase}"}).encode()
        return {"Content-Type": "application/json"}, body

    # --- Git over HTTP ----------------------------------------------------------------------

    def _serve_git(
        self,
        handler: BaseHTTPRequestHandler,
        arrived: float,
        project_path: str,
        rest: str,
        query: str,
        body: bytes,
    ) -> None:
        def text(status: int, message: str, **headers: str) -> None:
            self._send(
                handler,
                arrived,
                status,
                message.encode(),
                {"Content-Type": "text/plain; charset=utf-8", **headers},
            )

        auth = handler.headers.get("Authorization", "")
        if not auth.lower().startswith("basic "):
            text(401, "HTTP Basic: Access denied\n", **{"WWW-Authenticate": 'Basic realm="GitLab"'})
            return
        try:
            _, _, password = base64.b64decode(auth[6:].strip()).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            password = ""
        with self._lock:
            entry = self._tokens.get(password)
            user = self._users[entry["user_id"]] if entry and not entry["revoked"] else None
            project = self._find(project_path)
            level = project.members.get(user["id"], 0) if project and user else 0
        if user is None:
            text(
                401,
                "HTTP Basic: Access denied. The provided password or token is incorrect or "
                "your account has 2FA enabled and you must use a personal access token instead "
                "of a password.\n",
                **{"WWW-Authenticate": 'Basic realm="GitLab"'},
            )
            return
        if project is None or level < REPORTER:
            text(
                404,
                "The project you were looking for could not be found or you don't have "
                "permission to view it.\n",
            )
            return
        push = rest.endswith("/git-receive-pack") or "service=git-receive-pack" in query
        if push and level < DEVELOPER:
            text(403, "You are not allowed to push code to this project.\n")
            return
        if push and handler.command == "POST":
            with self._lock:
                self._pushes[project.id] += 1
        send_response = handler.send_response

        def recorded(code: int, message: str | None = None) -> None:
            with self._lock:
                self.requests.append(Served(handler.command, handler.path, code, arrived))
            send_response(code, message)

        handler.send_response = recorded  # type: ignore[method-assign]
        try:
            serve_git(handler, self.root / "git", f"/{project.path}.git{rest}", query,
                      user["username"], body)  # fmt: skip
        finally:
            del handler.send_response  # the connection's next request is recorded afresh

    # --- the API ----------------------------------------------------------------------------

    ROUTES: tuple[tuple[str, str, str], ...] = (
        ("GET", r"version", "version"),
        ("GET", r"user", "current_user"),
        ("GET", r"users", "users"),
        ("GET", r"users/(\d+)", "user"),
        ("GET", r"projects/([^/]+)", "project"),
        ("GET", r"projects/([^/]+)/members/all/(\d+)", "member"),
        ("GET", r"projects/([^/]+)/repository/branches", "branches"),
        ("GET", r"projects/([^/]+)/repository/branches/([^/]+)", "branch"),
        ("GET", r"projects/([^/]+)/repository/commits/([^/]+)", "commit"),
        ("GET", r"projects/([^/]+)/repository/commits/([^/]+)/statuses", "list_statuses"),
        ("POST", r"projects/([^/]+)/statuses/([^/]+)", "create_status"),
        ("GET", r"projects/([^/]+)/merge_requests", "list_mrs"),
        ("POST", r"projects/([^/]+)/merge_requests", "create_mr"),
        ("GET", r"projects/([^/]+)/merge_requests/(\d+)", "get_mr"),
        ("PUT", r"projects/([^/]+)/merge_requests/(\d+)", "update_mr"),
        ("GET", r"projects/([^/]+)/merge_requests/(\d+)/notes", "list_notes"),
        ("POST", r"projects/([^/]+)/merge_requests/(\d+)/notes", "create_note"),
        ("GET", r"projects/([^/]+)/merge_requests/(\d+)/notes/(\d+)", "get_note"),
        ("PUT", r"projects/([^/]+)/merge_requests/(\d+)/notes/(\d+)", "update_note"),
        ("GET", r"projects/([^/]+)/issues", "list_issues"),
        ("POST", r"projects/([^/]+)/issues", "create_issue"),
        ("GET", r"projects/([^/]+)/issues/(\d+)", "get_issue"),
        ("PUT", r"projects/([^/]+)/issues/(\d+)", "update_issue"),
    )

    def _api(
        self,
        handler: BaseHTTPRequestHandler,
        arrived: float,
        raw_path: str,
        query: str,
        body: bytes,
    ) -> None:
        route = raw_path[len("/api/v4/") :].rstrip("/")
        found = next(
            ((name, match) for method, pattern, name in self.ROUTES
             if method == handler.command and (match := re.fullmatch(pattern, route))),
            None,
        )  # fmt: skip
        if found is None:
            self._json(handler, arrived, 404, {"message": "404 Not Found"})
            return
        name, match = found
        headers: dict[str, str] = {}
        try:
            params = self._params(query)
            if handler.command in ("POST", "PUT") and body:
                params.update(self._body_params(handler, body))
            with self._lock:
                user = self._authenticate(handler, write=handler.command != "GET")
                answer = getattr(self, f"_api_{name}")(user, params, *map(unquote, match.groups()))
            if isinstance(answer, Page):
                answer, headers = self._paginate(answer.items, params, raw_path, query)
        except ApiError as error:
            self._json(handler, arrived, error.status, error.body)
            return
        self._json(handler, arrived, 201 if handler.command == "POST" else 200, answer, headers)

    @staticmethod
    def _params(query: str) -> dict[str, Any]:
        params: dict[str, Any] = {}
        for key, value in parse_qsl(query, keep_blank_values=True):
            if key.endswith("[]"):
                params.setdefault(key[:-2], []).append(value)
            else:
                params[key] = value
        return params

    def _body_params(self, handler: BaseHTTPRequestHandler, body: bytes) -> dict[str, Any]:
        kind = handler.headers.get("Content-Type", "")
        if "json" in kind:
            try:
                data = json.loads(body)
            except ValueError as error:
                raise ApiError(400, {"error": "400 Bad request - invalid JSON"}) from error
            return data if isinstance(data, dict) else {}
        return self._params(body.decode("utf-8", "replace"))

    def _paginate(
        self, items: list[dict[str, Any]], params: dict[str, Any], raw_path: str, query: str
    ) -> tuple[list[dict[str, Any]], dict[str, str]]:
        """GitLab's offset pagination: 20 a page by default, 100 at most, `X-*` and `Link`."""
        try:
            per_page = min(max(int(params.get("per_page") or 20), 1), 100)
            page = max(int(params.get("page") or 1), 1)
        except ValueError as error:
            raise ApiError(400, {"error": "page is invalid"}) from error
        pages = max(1, math.ceil(len(items) / per_page))
        kept = [
            (k, v)
            for k, v in parse_qsl(query, keep_blank_values=True)
            if k not in ("page", "per_page")
        ]

        def link(number: int, rel: str) -> str:
            target = urlencode([*kept, ("page", number), ("per_page", per_page)])
            return f'<{self.url}{raw_path}?{target}>; rel="{rel}"'

        links = [link(page - 1, "prev")] if page > 1 else []
        links += [link(page + 1, "next")] if page < pages else []
        links += [link(1, "first"), link(pages, "last")]
        headers = {
            "X-Page": str(page),
            "X-Per-Page": str(per_page),
            "X-Total": str(len(items)),
            "X-Total-Pages": str(pages),
            "X-Next-Page": str(page + 1) if page < pages else "",
            "X-Prev-Page": str(page - 1) if page > 1 else "",
            "Link": ", ".join(links),
        }
        return items[(page - 1) * per_page : page * per_page], headers

    def _authenticate(
        self, handler: BaseHTTPRequestHandler, write: bool = False
    ) -> dict[str, Any] | None:
        """The token's user, None without a token; 401 for a token GitLab would refuse, 403
        for a write with a token that lacks the `api` scope."""
        token = handler.headers.get("PRIVATE-TOKEN")
        authorization = handler.headers.get("Authorization", "")
        if token is None and authorization.lower().startswith("bearer "):
            token = authorization[7:].strip()
        if token is None:
            return None
        entry = self._tokens.get(token)
        if entry is None:
            raise ApiError(401, {"message": "401 Unauthorized"})
        if entry["revoked"]:
            raise ApiError(
                401,
                {
                    "error": "invalid_token",
                    "error_description": "Token was revoked. "
                    "You have to re-authorize from the user.",
                },
            )
        scopes = entry["scopes"]
        if "api" not in scopes and (write or "read_api" not in scopes):
            raise ApiError(
                403,
                {
                    "error": "insufficient_scope",
                    "error_description": "The request requires higher privileges than "
                    "provided by the access token.",
                    "scope": "api",
                },
            )
        return self._users[entry["user_id"]]

    # endpoints: each runs under the lock and returns a JSON-able answer or a Page

    def _api_version(self, user: dict[str, Any] | None, params: dict[str, Any]) -> dict[str, Any]:
        self._signed_in(user)
        return {
            "version": "17.5.0-ee",
            "revision": "7a0c4b39d1e",
            "kas": {"enabled": False},
            "enterprise": True,
        }

    def _api_current_user(
        self, user: dict[str, Any] | None, params: dict[str, Any]
    ) -> dict[str, Any]:
        me = self._signed_in(user)
        return {
            **self._user_json(me, full=True),
            "email": f"{me['username']}@noreply.127.0.0.1",
            "commit_email": f"{me['username']}@noreply.127.0.0.1",
            "is_admin": False,
            "can_create_group": not me["bot"],
            "can_create_project": not me["bot"],
            "two_factor_enabled": False,
            "external": False,
            "private_profile": False,
            "last_sign_in_at": None,
            "confirmed_at": me["created_at"],
            "last_activity_on": me["created_at"][:10],
        }

    def _api_users(self, user: dict[str, Any] | None, params: dict[str, Any]) -> Page:
        name = str(params.get("username", "")).lower()
        found = [u for u in self._users.values() if not name or u["username"].lower() == name]
        return Page([self._user_json(u) for u in found])

    def _api_user(
        self, user: dict[str, Any] | None, params: dict[str, Any], uid: str
    ) -> dict[str, Any]:
        if int(uid) not in self._users:
            raise ApiError(404, {"message": "404 User Not Found"})
        return self._user_json(self._users[int(uid)], full=True)

    def _api_project(
        self, user: dict[str, Any] | None, params: dict[str, Any], ref: str
    ) -> dict[str, Any]:
        project = self._visible(user, ref)
        return self._project_json(project, user)

    def _api_member(
        self, user: dict[str, Any] | None, params: dict[str, Any], ref: str, uid: str
    ) -> dict[str, Any]:
        project = self._visible(user, ref)
        level = project.members.get(int(uid))
        if not level:
            raise ApiError(404, {"message": "404 Not found"})
        member = self._users[int(uid)]
        return {
            **self._user_json(member),
            "access_level": level,
            "created_at": project.created_at,
            "expires_at": None,
            "membership_state": "active",
        }

    def _api_branches(self, user: dict[str, Any] | None, params: dict[str, Any], ref: str) -> Page:
        project = self._visible(user, ref, REPORTER)
        heads = self._heads(project)
        return Page([self._branch_json(project, name, heads, user) for name in sorted(heads)])

    def _api_branch(
        self, user: dict[str, Any] | None, params: dict[str, Any], ref: str, branch: str
    ) -> dict[str, Any]:
        project = self._visible(user, ref, REPORTER)
        heads = self._heads(project)
        if branch not in heads:
            raise ApiError(404, {"message": "404 Branch Not Found"})
        return self._branch_json(project, branch, heads, user)

    def _api_commit(
        self, user: dict[str, Any] | None, params: dict[str, Any], ref: str, sha: str
    ) -> dict[str, Any]:
        project = self._visible(user, ref, REPORTER)
        full = self._resolve(project, sha)
        commit = self._commit_json(project, full)
        latest = [s for s in project.statuses if s["sha"] == full]
        return {
            **commit,
            "stats": self._stats(project, full),
            "status": latest[-1]["status"] if latest else None,
            "last_pipeline": None,
            "project_id": project.id,
        }

    def _api_list_statuses(
        self, user: dict[str, Any] | None, params: dict[str, Any], ref: str, sha: str
    ) -> Page:
        project = self._visible(user, ref, REPORTER)
        full = self._resolve(project, sha)
        found = [s for s in project.statuses if s["sha"] == full]
        if not _bool(params.get("all", False)):
            found = [s for s in found if not s["retried"]]
        for key in ("ref", "name"):
            if params.get(key):
                found = [s for s in found if s[key] == params[key]]
        return Page([self._status_json(s) for s in found])

    def _api_create_status(
        self, user: dict[str, Any] | None, params: dict[str, Any], ref: str, sha: str
    ) -> dict[str, Any]:
        """GitLab's commit-status state machine: a pending or running status of the same name,
        ref and user is moved on; a finished one is superseded by a new status."""
        project = self._visible(user, ref, DEVELOPER)
        me = self._signed_in(user)
        state = params.get("state")
        if not state:
            raise ApiError(400, {"error": "state is missing"})
        if state not in STATUS_STATES:
            raise ApiError(400, {"error": "state does not have a valid value"})
        full = self._resolve(project, sha)
        name = str(params.get("name") or params.get("context") or "default")
        branch = params.get("ref") or next(iter(self._containing(project, full)), None)
        if not branch:
            raise ApiError(404, {"message": "404 References for commit Not Found"})
        status = next(
            (
                s
                for s in reversed(project.statuses)
                if (s["sha"], s["name"], s["ref"], s["author_id"]) == (full, name, branch, me["id"])
                and s["status"] in ("pending", "running")
            ),
            None,
        )
        fresh = status is None
        if status is None:
            status = {
                "id": next(self._status_ids),
                "sha": full,
                "ref": branch,
                "name": name,
                "status": "created",
                "author_id": me["id"],
                "created_at": now(),
                "started_at": None,
                "finished_at": None,
                "retried": False,
                "pipeline_id": 3000 + project.id,
                "target_url": None,
                "description": None,
                "coverage": None,
            }
        current = status["status"]
        event, allowed = {
            "pending": ("enqueue", {"created"}),
            "running": ("run", {"created", "pending"}),
            "success": ("success", {"created", "pending", "running"}),
            "failed": ("drop", {"created", "pending", "running"}),
            "canceled": ("cancel", {"created", "pending", "running"}),
            "skipped": ("skip", {"created", "pending"}),
        }[state]
        if current not in allowed:
            raise ApiError(
                400,
                {
                    "message": f"Cannot transition status via :{event} from :{current} "
                    f'(Reason(s): Status cannot transition via "{event}")'
                },
            )
        stamp = now()
        status["status"] = state
        if state == "running":
            status["started_at"] = stamp
        if state in ("success", "failed", "canceled", "skipped"):
            status["finished_at"] = stamp
        for key in ("target_url", "description", "coverage"):
            if key in params:
                status[key] = params[key]
        if fresh:
            for old in project.statuses:
                if (old["sha"], old["name"], old["ref"]) == (full, name, branch):
                    old["retried"] = True
            project.statuses.append(status)
        return self._status_json(status)

    def _api_list_mrs(self, user: dict[str, Any] | None, params: dict[str, Any], ref: str) -> Page:
        project = self._visible(user, ref, REPORTER)
        state = params.get("state", "all")
        if state not in ("opened", "closed", "locked", "merged", "all"):
            raise ApiError(400, {"error": "state does not have a valid value"})
        found = [mr for mr in project.merge_requests.values() if state in ("all", mr["state"])]
        for key in ("source_branch", "target_branch"):
            if params.get(key):
                found = [mr for mr in found if mr[key] == params[key]]
        if params.get("reviewer_username"):
            reviewer = self._find_user(params["reviewer_username"])
            found = [mr for mr in found if reviewer and reviewer["id"] in mr["reviewer_ids"]]
        found = self._listed(found, params)
        heads = self._heads(project)
        return Page([self._mr_json(project, mr, user, heads, full=False) for mr in found])

    def _api_get_mr(
        self, user: dict[str, Any] | None, params: dict[str, Any], ref: str, iid: str
    ) -> dict[str, Any]:
        project = self._visible(user, ref, REPORTER)
        return self._mr_json(project, self._mr(project, int(iid)), user, self._heads(project))

    def _api_create_mr(
        self, user: dict[str, Any] | None, params: dict[str, Any], ref: str
    ) -> dict[str, Any]:
        project = self._visible(user, ref, DEVELOPER)
        me = self._signed_in(user)
        missing = [k for k in ("source_branch", "target_branch", "title") if k not in params]
        if missing:
            raise ApiError(400, {"error": ", ".join(f"{k} is missing" for k in missing)})
        source, into = str(params["source_branch"]), str(params["target_branch"])
        if source == into:
            raise ApiError(
                422, {"message": ["You can't use same project/branch for source and target"]}
            )
        heads = self._heads(project)
        errors = self._text_errors(params)
        if source not in heads:
            errors["source_branch"] = ["does not exist"]
        if into not in heads:
            errors["target_branch"] = ["does not exist"]
        if errors:
            raise ApiError(400, {"message": errors})
        self._no_twin(project, source, into, None)
        stamp = now()
        mr = {
            "id": next(self._mr_ids),
            "iid": project.next_iid,
            "title": str(params["title"]),
            "description": str(params.get("description") or ""),
            "state": "opened",
            "source_branch": source,
            "target_branch": into,
            "author_id": me["id"],
            "assignee_ids": [],
            "reviewer_ids": [],
            "labels": sorted(_labels(params.get("labels"))),
            "created_at": stamp,
            "updated_at": stamp,
            "merged_at": None,
            "closed_at": None,
            "merged_by": None,
            "closed_by": None,
            "squash": _bool(params.get("squash", False)),
            "force_remove_source_branch": _bool(params.get("remove_source_branch", False)),
            "sha": heads[source],
            "merge_commit_sha": None,
            "squash_commit_sha": None,
            "merge_status": "unchecked",
        }
        project.next_iid += 1
        project.merge_requests[mr["iid"]] = mr
        project.notes[mr["iid"]] = []
        self._set_people(project, mr, params, me)
        return self._mr_json(project, mr, user, heads, checking=True)

    def _api_update_mr(
        self, user: dict[str, Any] | None, params: dict[str, Any], ref: str, iid: str
    ) -> dict[str, Any]:
        project = self._visible(user, ref, DEVELOPER)
        me = self._signed_in(user)
        mr = self._mr(project, int(iid))
        editable = (
            "title",
            "description",
            "labels",
            "add_labels",
            "remove_labels",
            "assignee_id",
            "assignee_ids",
            "reviewer_ids",
            "state_event",
            "target_branch",
            "remove_source_branch",
            "squash",
            "discussion_locked",
            "milestone_id",
            "allow_collaboration",
            "allow_maintainer_to_push",
        )
        event = self._check_update(params, editable)
        heads = self._heads(project)
        into = str(params.get("target_branch") or mr["target_branch"])
        if into != mr["target_branch"]:
            if into == mr["source_branch"]:
                raise ApiError(
                    422, {"message": ["You can't use same project/branch for source and target"]}
                )
            if into not in heads:
                raise ApiError(400, {"message": {"target_branch": ["does not exist"]}})
        reopening = event == "reopen" and mr["state"] == "closed"
        if (mr["state"] == "opened" and into != mr["target_branch"]) or reopening:
            self._no_twin(project, mr["source_branch"], into, mr["iid"])
        before = dict(mr)
        if "title" in params:
            mr["title"] = str(params["title"])
        if "description" in params:
            mr["description"] = str(params["description"] or "")
            if mr["description"] != before["description"]:
                self._system_note(project, mr, me, "changed the description")
        mr["target_branch"] = into
        labels = _labels(params["labels"]) if "labels" in params else list(mr["labels"])
        labels += _labels(params.get("add_labels"))
        dropped = set(_labels(params.get("remove_labels")))
        mr["labels"] = sorted({label for label in labels if label not in dropped})
        for key, value in (
            ("squash", "squash"),
            ("remove_source_branch", "force_remove_source_branch"),
        ):
            if key in params:
                mr[value] = _bool(params[key])
        self._set_people(project, mr, params, me)
        if event == "close" and mr["state"] == "opened":
            mr.update(state="closed", closed_at=now(), closed_by=me["id"])
        elif reopening and mr["source_branch"] in heads:
            # GitLab will not reopen a merge request whose source branch is gone, and says nothing
            mr.update(state="opened", closed_at=None, closed_by=None)
        if mr != before:
            mr["updated_at"] = now()
        return self._mr_json(project, mr, user, heads)

    def _api_list_notes(
        self, user: dict[str, Any] | None, params: dict[str, Any], ref: str, iid: str
    ) -> Page:
        """Notes come newest first unless `sort=asc`, as GitLab sends them."""
        project = self._visible(user, ref, REPORTER)
        self._mr(project, int(iid))
        order = params.get("order_by", "created_at")
        if order not in ("created_at", "updated_at"):
            raise ApiError(400, {"error": "order_by does not have a valid value"})
        notes = sorted(
            project.notes[int(iid)],
            key=lambda n: (n[order], n["id"]),
            reverse=params.get("sort", "desc") != "asc",
        )
        return Page([self._note_json(project, note) for note in notes])

    def _api_get_note(
        self, user: dict[str, Any] | None, params: dict[str, Any], ref: str, iid: str, note_id: str
    ) -> dict[str, Any]:
        project = self._visible(user, ref, REPORTER)
        return self._note_json(project, self._note(project, int(iid), int(note_id)))

    def _api_create_note(
        self, user: dict[str, Any] | None, params: dict[str, Any], ref: str, iid: str
    ) -> dict[str, Any]:
        project = self._visible(user, ref, REPORTER)
        me = self._signed_in(user)
        mr = self._mr(project, int(iid))
        body = self._note_body(params)
        stamp = now()
        note = {
            "id": next(self._note_ids),
            "body": body,
            "author_id": me["id"],
            "created_at": stamp,
            "updated_at": stamp,
            "system": False,
            "mr_id": mr["id"],
            "iid": mr["iid"],
        }
        project.notes[mr["iid"]].append(note)
        return self._note_json(project, note)

    def _api_update_note(
        self, user: dict[str, Any] | None, params: dict[str, Any], ref: str, iid: str, note_id: str
    ) -> dict[str, Any]:
        project = self._visible(user, ref, REPORTER)
        me = self._signed_in(user)
        note = self._note(project, int(iid), int(note_id))
        if note["system"] or note["author_id"] != me["id"]:
            raise ApiError(403, {"message": "403 Forbidden"})
        body = self._note_body(params)
        if body != note["body"]:
            note.update(body=body, updated_at=now())
        return self._note_json(project, note)

    def _api_list_issues(
        self, user: dict[str, Any] | None, params: dict[str, Any], ref: str
    ) -> Page:
        """Every state unless `state` says which, newest first, as GitLab lists them."""
        project = self._visible(user, ref)
        state = params.get("state", "all")
        if state not in ("opened", "closed", "all"):
            raise ApiError(400, {"error": "state does not have a valid value"})
        found = [i for i in project.issues.values() if state in ("all", i["state"])]
        found = self._listed(found, params)
        return Page([self._issue_json(project, issue) for issue in found])

    def _api_get_issue(
        self, user: dict[str, Any] | None, params: dict[str, Any], ref: str, iid: str
    ) -> dict[str, Any]:
        project = self._visible(user, ref)
        return {**self._issue_json(project, self._issue(project, int(iid))), "subscribed": False}

    def _api_create_issue(
        self, user: dict[str, Any] | None, params: dict[str, Any], ref: str
    ) -> dict[str, Any]:
        """Any member may open an issue on GitLab, a Guest too."""
        project = self._visible(user, ref)
        me = self._signed_in(user)
        if "title" not in params:
            raise ApiError(400, {"error": "title is missing"})
        errors = self._text_errors(params)
        if errors:
            raise ApiError(400, {"message": errors})
        issue = self._new_issue(
            project, me, str(params["title"]), str(params.get("description") or "")
        )
        issue["labels"] = sorted(_labels(params.get("labels")))
        return {**self._issue_json(project, issue), "subscribed": True}

    def _api_update_issue(
        self, user: dict[str, Any] | None, params: dict[str, Any], ref: str, iid: str
    ) -> dict[str, Any]:
        """The author edits their own issue; anyone else needs Reporter, else 403."""
        project = self._visible(user, ref)
        me = self._signed_in(user)
        issue = self._issue(project, int(iid))
        if issue["author_id"] != me["id"] and project.members.get(me["id"], 0) < REPORTER:
            raise ApiError(403, {"message": "403 Forbidden"})
        editable = (
            "title",
            "description",
            "labels",
            "add_labels",
            "remove_labels",
            "state_event",
            "assignee_ids",
            "confidential",
            "discussion_locked",
            "due_date",
            "milestone_id",
        )
        event = self._check_update(params, editable)
        before = dict(issue)
        if "title" in params:
            issue["title"] = str(params["title"])
        if "description" in params:
            issue["description"] = str(params["description"] or "")
        labels = _labels(params["labels"]) if "labels" in params else list(issue["labels"])
        labels += _labels(params.get("add_labels"))
        dropped = set(_labels(params.get("remove_labels")))
        issue["labels"] = sorted({label for label in labels if label not in dropped})
        if event == "close" and issue["state"] == "opened":
            issue.update(state="closed", closed_at=now(), closed_by=me["id"])
        elif event == "reopen" and issue["state"] == "closed":
            issue.update(state="opened", closed_at=None, closed_by=None)
        if issue != before:
            issue["updated_at"] = now()
        return {**self._issue_json(project, issue), "subscribed": True}

    # --- rules ------------------------------------------------------------------------------

    @staticmethod
    def _signed_in(user: dict[str, Any] | None) -> dict[str, Any]:
        if user is None:
            raise ApiError(401, {"message": "401 Unauthorized"})
        return user

    def _visible(self, user: dict[str, Any] | None, ref: str, level: int = GUEST) -> Project:
        """The project, when `user` may do what needs `level`: 404 when they cannot see it
        (private projects hide from non-members), 403 when they see it but may not."""
        project = self._find(ref)
        have = project.members.get(user["id"], 0) if project and user else 0
        if project is None or have < GUEST:
            if user is None:
                raise ApiError(401, {"message": "401 Unauthorized"})
            raise ApiError(404, {"message": "404 Project Not Found"})
        if have < level:
            raise ApiError(403, {"message": "403 Forbidden"})
        return project

    def _listed(self, found: list[dict[str, Any]], params: dict[str, Any]) -> list[dict[str, Any]]:
        """Merge requests or issues as a listing's shared filters keep them (author, labels,
        iids), in the order it asks for."""
        if params.get("author_id"):
            try:
                author_id = int(params["author_id"])
            except ValueError as error:
                raise ApiError(400, {"error": "author_id is invalid"}) from error
            found = [item for item in found if item["author_id"] == author_id]
        if params.get("author_username"):
            author = self._find_user(params["author_username"])
            found = [item for item in found if author and item["author_id"] == author["id"]]
        found = _labelled(found, params.get("labels"))
        if params.get("iids"):
            iids = {int(i) for i in _labels(params["iids"])}
            found = [item for item in found if item["iid"] in iids]
        order = params.get("order_by", "created_at")
        if order not in ("created_at", "updated_at", "title"):
            raise ApiError(400, {"error": "order_by does not have a valid value"})
        descending = params.get("sort", "desc") != "asc"
        return sorted(found, key=lambda item: (item[order], item["id"]), reverse=descending)

    def _check_update(self, params: dict[str, Any], editable: tuple[str, ...]) -> str | None:
        """What GitLab refuses in any update (a merge request's, an issue's): no field it
        may change, a text too long, a state event it does not know. The event, if any."""
        if not any(key in params for key in editable):
            raise ApiError(
                400,
                {
                    "error": ", ".join(editable) + " are missing, at least one "
                    "parameter must be provided"
                },
            )
        errors = self._text_errors(params)
        if errors:
            raise ApiError(400, {"message": errors})
        event = params.get("state_event")
        if event is not None and event not in ("close", "reopen"):
            raise ApiError(400, {"error": "state_event does not have a valid value"})
        return event

    @staticmethod
    def _text_errors(params: dict[str, Any]) -> dict[str, list[str]]:
        errors = {}
        if "title" in params and len(str(params["title"])) > TITLE_MAX:
            errors["title"] = [f"is too long (maximum is {TITLE_MAX} characters)"]
        if "title" in params and not str(params["title"]).strip():
            errors["title"] = ["can't be blank"]
        if len(str(params.get("description") or "")) > DESCRIPTION_MAX:
            errors["description"] = [f"is too long (maximum is {DESCRIPTION_MAX} characters)"]
        return errors

    @staticmethod
    def _note_body(params: dict[str, Any]) -> str:
        if "body" not in params:
            raise ApiError(400, {"error": "body is missing"})
        body = str(params["body"] or "")
        if not body.strip():
            raise ApiError(400, {"message": {"note": ["can't be blank"]}})
        if len(body) > NOTE_MAX:
            raise ApiError(
                400, {"message": {"note": [f"is too long (maximum is {NOTE_MAX} characters)"]}}
            )
        return body

    def _no_twin(self, project: Project, source: str, into: str, iid: int | None) -> None:
        """GitLab's 409: one open merge request per source and target branch."""
        for other in project.merge_requests.values():
            if (
                other["state"] == "opened"
                and other["iid"] != iid
                and (other["source_branch"], other["target_branch"]) == (source, into)
            ):
                raise ApiError(
                    409,
                    {
                        "message": [
                            "Another open merge request already exists for this source branch: "
                            f"!{other['iid']}"
                        ]
                    },
                )

    def _set_people(
        self, project: Project, mr: dict[str, Any], params: dict[str, Any], me: dict[str, Any]
    ) -> None:
        """Assignees and reviewers as GitLab sets them: users who cannot read the project are
        dropped without a word, and GitLab Free keeps only the first; each change leaves a
        system note."""
        if "assignee_ids" in params or "assignee_id" in params:
            wanted = _ids(
                params["assignee_ids"] if "assignee_ids" in params else params["assignee_id"]
            )
            self._change_people(project, mr, "assignee_ids", wanted, me)
        if "reviewer_ids" in params:
            self._change_people(project, mr, "reviewer_ids", _ids(params["reviewer_ids"]), me)

    def _change_people(
        self, project: Project, mr: dict[str, Any], key: str, wanted: list[int], me: dict[str, Any]
    ) -> None:
        kept = [uid for uid in dict.fromkeys(wanted) if project.members.get(uid, 0) >= REPORTER]
        kept = kept if self.premium else kept[:1]
        added = [uid for uid in kept if uid not in mr[key]]
        gone = [uid for uid in mr[key] if uid not in kept]
        mr[key] = kept

        def who(uids: list[int]) -> str:
            names = [f"@{self._users[uid]['username']}" for uid in uids]
            return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]

        if key == "reviewer_ids":
            if added:
                self._system_note(project, mr, me, f"requested review from {who(added)}")
            if gone:
                self._system_note(project, mr, me, f"removed review request for {who(gone)}")
        else:
            if added:
                self._system_note(project, mr, me, f"assigned to {who(added)}")
            if gone:
                self._system_note(project, mr, me, f"unassigned {who(gone)}")

    def _system_note(
        self, project: Project, mr: dict[str, Any], me: dict[str, Any], body: str
    ) -> None:
        stamp = now()
        project.notes.setdefault(mr["iid"], []).append(
            {
                "id": next(self._note_ids),
                "body": body,
                "author_id": me["id"],
                "created_at": stamp,
                "updated_at": stamp,
                "system": True,
                "mr_id": mr["id"],
                "iid": mr["iid"],
            }
        )

    # --- lookups ----------------------------------------------------------------------------

    def _find(self, ref: str | int) -> Project | None:
        """A project by id or by path, as GitLab finds them (paths case-insensitively)."""
        if isinstance(ref, int) or str(ref).isdigit():
            return self._projects.get(int(ref))
        wanted = str(ref).strip("/").lower()
        return next((p for p in self._projects.values() if p.path.lower() == wanted), None)

    def _project(self, ref: str | int) -> Project:
        with self._lock:
            project = self._find(ref)
        if project is None:
            raise KeyError(f"no project {ref!r}")
        return project

    def _find_user(self, username: str) -> dict[str, Any] | None:
        return next(
            (u for u in self._users.values() if u["username"].lower() == username.lower()), None
        )

    def _user_named(self, username: str) -> dict[str, Any]:
        with self._lock:
            user = self._find_user(username)
        if user is None:
            raise KeyError(f"no user {username!r}")
        return user

    def _mr(self, project: Project, iid: int) -> dict[str, Any]:
        if iid not in project.merge_requests:
            raise ApiError(404, {"message": "404 Not found"})
        return project.merge_requests[iid]

    def _issue(self, project: Project, iid: int) -> dict[str, Any]:
        if iid not in project.issues:
            raise ApiError(404, {"message": "404 Not found"})
        return project.issues[iid]

    def _new_issue(
        self, project: Project, author: dict[str, Any], title: str, description: str
    ) -> dict[str, Any]:
        stamp = now()
        issue = {
            "id": next(self._issue_ids),
            "iid": project.next_issue_iid,
            "title": title,
            "description": description,
            "state": "opened",
            "author_id": author["id"],
            "labels": [],
            "created_at": stamp,
            "updated_at": stamp,
            "closed_at": None,
            "closed_by": None,
        }
        project.next_issue_iid += 1
        project.issues[issue["iid"]] = issue
        return issue

    def _note(self, project: Project, iid: int, note_id: int) -> dict[str, Any]:
        self._mr(project, iid)
        note = next((n for n in project.notes[iid] if n["id"] == note_id), None)
        if note is None:
            raise ApiError(404, {"message": "404 Not found"})
        return note

    def _set_level(self, project: Project, uid: int, level: int) -> None:
        with self._lock:
            if level:
                project.members[uid] = level
            else:
                project.members.pop(uid, None)
            self._write_access(project)

    def _write_access(self, project: Project) -> None:
        """What the pre-receive hook reads: members' levels and protected branches."""
        lines = [
            f"member {self._users[uid]['username']} {level}"
            for uid, level in project.members.items()
        ]
        lines += [f"protected {branch} {level}" for branch, level in project.protected.items()]
        temporary = project.repo / "gitlab-access.new"
        temporary.write_text("\n".join(lines) + "\n")
        temporary.replace(project.repo / "gitlab-access")

    # --- git --------------------------------------------------------------------------------

    def _git(self, repo: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "GIT_CONFIG_NOSYSTEM": "1",
            "HOME": str(self.root),
            **HUMAN,
        }
        return subprocess.run(
            ["git", *args], cwd=repo, env=env, check=check, capture_output=True, text=True
        )

    def _heads(self, project: Project) -> dict[str, str]:
        lines = self._git(
            project.repo, "for-each-ref", "--format=%(refname)\t%(objectname)", "refs/heads/"
        ).stdout.splitlines()
        return {
            ref.removeprefix("refs/heads/"): sha
            for ref, _, sha in (line.partition("\t") for line in lines)
        }

    def _resolve(self, project: Project, sha: str) -> str:
        done = self._git(
            project.repo, "rev-parse", "--verify", "--quiet", f"{sha}^{{commit}}", check=False
        )
        if done.returncode or not sha:
            raise ApiError(404, {"message": "404 Commit Not Found"})
        return done.stdout.strip()

    def _containing(self, project: Project, sha: str) -> list[str]:
        done = self._git(
            project.repo, "for-each-ref", "--contains", sha, "--format=%(refname)", "refs/heads/"
        )
        names = [line.removeprefix("refs/heads/") for line in done.stdout.splitlines()]
        return sorted(names, key=lambda name: name != project.default_branch)

    def _commit_tree(self, project: Project, tree: str, parents: list[str], message: str) -> str:
        args = ["commit-tree", tree, *itertools.chain.from_iterable(("-p", p) for p in parents)]
        return self._git(project.repo, *args, "-m", message).stdout.strip()

    def _mergeability(self, project: Project, into: str, source: str) -> tuple[bool, str]:
        """(conflicts, merge base) of two commits, by `git merge-tree --write-tree`: exit 1 is a
        conflict. Cached: commits never change."""
        key = (into, source)
        if key not in self._merge_cache:
            tree = self._git(
                project.repo,
                "merge-tree",
                "--write-tree",
                "--no-messages",
                into,
                source,
                check=False,
            )
            if tree.returncode not in (0, 1):
                raise RuntimeError(f"git merge-tree failed: {tree.stderr}")
            base = self._git(project.repo, "merge-base", into, source, check=False).stdout.strip()
            self._merge_cache[key] = (tree.returncode == 1, base)
        return self._merge_cache[key]

    def _stats(self, project: Project, sha: str) -> dict[str, int]:
        done = self._git(project.repo, "show", "--numstat", "--format=", sha)
        added = deleted = 0
        for line in done.stdout.splitlines():
            plus, minus, _ = line.split("\t", 2)
            added += int(plus) if plus.isdigit() else 0
            deleted += int(minus) if minus.isdigit() else 0
        return {"additions": added, "deletions": deleted, "total": added + deleted}

    # --- shapes -----------------------------------------------------------------------------

    def _user_json(self, user: dict[str, Any], full: bool = False) -> dict[str, Any]:
        basic = {
            "id": user["id"],
            "username": user["username"],
            "name": user["name"],
            "state": "active",
            "locked": False,
            "avatar_url": f"{self.url}/uploads/-/system/user/avatar/{user['id']}/avatar.png",
            "web_url": f"{self.url}/{user['username']}",
        }
        if not full:
            return basic
        return {
            **basic,
            "created_at": user["created_at"],
            "bio": "",
            "bot": user["bot"],
            "location": "",
            "public_email": None,
            "skype": "",
            "linkedin": "",
            "twitter": "",
            "discord": "",
            "website_url": "",
            "organization": "",
            "job_title": "",
            "pronouns": None,
            "work_information": None,
            "followers": 0,
            "following": 0,
            "is_followed": False,
            "local_time": None,
        }

    def _project_json(self, project: Project, viewer: dict[str, Any] | None) -> dict[str, Any]:
        group, _, name = project.path.rpartition("/")
        level = project.members.get(viewer["id"]) if viewer else None
        return {
            "id": project.id,
            "description": "",
            "name": name,
            "name_with_namespace": f"{group} / {name}",
            "path": name,
            "path_with_namespace": project.path,
            "created_at": project.created_at,
            "default_branch": project.default_branch,
            "tag_list": [],
            "topics": [],
            "ssh_url_to_repo": f"git@127.0.0.1:{project.path}.git",
            "http_url_to_repo": f"{self.url}/{project.path}.git",
            "web_url": f"{self.url}/{project.path}",
            "readme_url": None,
            "avatar_url": None,
            "forks_count": 0,
            "star_count": 0,
            "last_activity_at": project.created_at,
            "namespace": {
                "id": 500 + project.id,
                "name": group,
                "path": group.rpartition("/")[2],
                "kind": "group",
                "full_path": group,
                "parent_id": None,
                "avatar_url": None,
                "web_url": f"{self.url}/groups/{group}",
            },
            "visibility": "private",
            "archived": False,
            "empty_repo": False,
            "merge_method": "merge",
            "squash_option": "default_off",
            "only_allow_merge_if_pipeline_succeeds": False,
            "only_allow_merge_if_all_discussions_are_resolved": False,
            "remove_source_branch_after_merge": True,
            "merge_requests_enabled": True,
            "issues_enabled": True,
            "jobs_enabled": True,
            "open_issues_count": sum(i["state"] == "opened" for i in project.issues.values()),
            "creator_id": self.human["id"],
            "_links": {
                "self": f"{self.api_url}/projects/{project.id}",
                "merge_requests": f"{self.api_url}/projects/{project.id}/merge_requests",
                "repo_branches": f"{self.api_url}/projects/{project.id}/repository/branches",
                "members": f"{self.api_url}/projects/{project.id}/members",
            },
            "permissions": {
                "project_access": {"access_level": level, "notification_level": 3}
                if level
                else None,
                "group_access": None,
            },
        }

    def _commit_json(self, project: Project, sha: str) -> dict[str, Any]:
        fields = self._git(
            project.repo,
            "show",
            "-s",
            "--format=%H%x00%P%x00%an%x00%ae%x00%aI%x00%cn%x00%ce%x00%cI%x00%B",
            sha,
        ).stdout.split("\0")
        full, parents, an, ae, ad, cn, ce, cd, message = fields
        return {
            "id": full,
            "short_id": full[:8],
            "created_at": cd,
            "parent_ids": parents.split(),
            "title": message.strip().splitlines()[0] if message.strip() else "",
            "message": message.rstrip("\n") + "\n" if message.strip() else "",
            "author_name": an,
            "author_email": ae,
            "authored_date": ad,
            "committer_name": cn,
            "committer_email": ce,
            "committed_date": cd,
            "trailers": {},
            "extended_trailers": {},
            "web_url": f"{self.url}/{project.path}/-/commit/{full}",
        }

    def _branch_json(
        self, project: Project, name: str, heads: dict[str, str], viewer: dict[str, Any] | None
    ) -> dict[str, Any]:
        need = project.protected.get(name)
        level = project.members.get(viewer["id"], 0) if viewer else 0
        merged = (
            name != project.default_branch
            and not self._git(
                project.repo,
                "merge-base",
                "--is-ancestor",
                heads[name],
                heads[project.default_branch],
                check=False,
            ).returncode
        )
        return {
            "name": name,
            "merged": merged,
            "protected": need is not None,
            "default": name == project.default_branch,
            "developers_can_push": need is None or need <= DEVELOPER,
            "developers_can_merge": need is None or need <= DEVELOPER,
            "can_push": level >= max(need or 0, DEVELOPER),
            "web_url": f"{self.url}/{project.path}/-/tree/{name}",
            "commit": self._commit_json(project, heads[name]),
        }

    def _mr_json(
        self,
        project: Project,
        mr: dict[str, Any],
        viewer: dict[str, Any] | None,
        heads: dict[str, str],
        full: bool = True,
        checking: bool = False,
    ) -> dict[str, Any]:
        """A merge request as GitLab's API shows it: its branches are read from the repository
        each time, so a push is seen at once; the list view leaves out what GitLab's does."""
        source, into = heads.get(mr["source_branch"]), heads.get(mr["target_branch"])
        if mr["state"] == "opened" and source:
            mr["sha"] = source
        base = None
        if mr["state"] == "opened" and source and into:
            conflict, base = self._mergeability(project, into, source)
            mr["merge_status"] = "cannot_be_merged" if conflict else "can_be_merged"
        draft = DRAFT.match(mr["title"]) is not None
        if checking:
            merge_status = detailed = "checking"
        else:
            merge_status = mr["merge_status"]
            if mr["state"] != "opened":
                detailed = "not_open"
            elif draft:
                detailed = "draft_status"
            elif not source or not into:
                detailed = "broken_status"
            elif base == source:
                detailed = "commits_status"
            elif merge_status == "cannot_be_merged":
                detailed = "conflict"
            else:
                detailed = "mergeable"

        def person(uid: int | None) -> dict[str, Any] | None:
            return self._user_json(self._users[uid]) if uid is not None else None

        assignees = [person(uid) for uid in mr["assignee_ids"]]
        user_notes = [n for n in project.notes.get(mr["iid"], []) if not n["system"]]
        answer: dict[str, Any] = {
            "id": mr["id"],
            "iid": mr["iid"],
            "project_id": project.id,
            "title": mr["title"],
            "description": mr["description"],
            "state": mr["state"],
            "created_at": mr["created_at"],
            "updated_at": mr["updated_at"],
            "merged_by": person(mr["merged_by"]),
            "merge_user": person(mr["merged_by"]),
            "merged_at": mr["merged_at"],
            "closed_by": person(mr["closed_by"]),
            "closed_at": mr["closed_at"],
            "target_branch": mr["target_branch"],
            "source_branch": mr["source_branch"],
            "user_notes_count": len(user_notes),
            "upvotes": 0,
            "downvotes": 0,
            "author": person(mr["author_id"]),
            "assignees": assignees,
            "assignee": assignees[0] if assignees else None,
            "reviewers": [person(uid) for uid in mr["reviewer_ids"]],
            "source_project_id": project.id,
            "target_project_id": project.id,
            "labels": list(mr["labels"]),
            "draft": draft,
            "work_in_progress": draft,
            "milestone": None,
            "merge_when_pipeline_succeeds": False,
            "merge_status": merge_status,
            "detailed_merge_status": detailed,
            "sha": mr["sha"],
            "merge_commit_sha": mr["merge_commit_sha"],
            "squash_commit_sha": mr["squash_commit_sha"],
            "discussion_locked": None,
            "should_remove_source_branch": None,
            "force_remove_source_branch": mr["force_remove_source_branch"],
            "prepared_at": mr["created_at"],
            "reference": f"!{mr['iid']}",
            "references": {
                "short": f"!{mr['iid']}",
                "relative": f"!{mr['iid']}",
                "full": f"{project.path}!{mr['iid']}",
            },
            "web_url": f"{self.url}/{project.path}/-/merge_requests/{mr['iid']}",
            "time_stats": {
                "time_estimate": 0,
                "total_time_spent": 0,
                "human_time_estimate": None,
                "human_total_time_spent": None,
            },
            "squash": mr["squash"],
            "squash_on_merge": mr["squash"],
            "task_completion_status": {"count": 0, "completed_count": 0},
            "has_conflicts": merge_status == "cannot_be_merged",
            "blocking_discussions_resolved": True,
            "approvals_before_merge": None,
        }
        if not full:
            return answer
        need = project.protected.get(mr["target_branch"]) or DEVELOPER
        level = project.members.get(viewer["id"], 0) if viewer else 0
        changes = None
        if base and source:
            names = self._git(project.repo, "diff", "--name-only", base, source).stdout.split("\n")
            changes = str(len([n for n in names if n]))
        return {
            **answer,
            "subscribed": False,
            "changes_count": changes,
            "latest_build_started_at": None,
            "latest_build_finished_at": None,
            "first_deployed_to_production_at": None,
            "pipeline": None,
            "head_pipeline": None,
            "diff_refs": {"base_sha": base, "head_sha": mr["sha"], "start_sha": into}
            if mr["state"] == "opened"
            else None,
            "merge_error": None,
            "first_contribution": False,
            "user": {"can_merge": level >= max(need, DEVELOPER)},
        }

    def _note_json(self, project: Project, note: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": note["id"],
            "type": None,
            "body": note["body"],
            "attachment": None,
            "author": self._user_json(self._users[note["author_id"]]),
            "created_at": note["created_at"],
            "updated_at": note["updated_at"],
            "system": note["system"],
            "noteable_id": note["mr_id"],
            "noteable_type": "MergeRequest",
            "project_id": project.id,
            "resolvable": False,
            "confidential": False,
            "internal": False,
            "imported": False,
            "imported_from": "none",
            "noteable_iid": note["iid"],
            "commands_changes": {},
        }

    def _issue_json(self, project: Project, issue: dict[str, Any]) -> dict[str, Any]:
        """An issue as GitLab's API shows it (the single view adds `subscribed`)."""
        iid, closed_by = issue["iid"], issue["closed_by"]
        api = f"{self.api_url}/projects/{project.id}"
        return {
            "id": issue["id"],
            "iid": iid,
            "project_id": project.id,
            "title": issue["title"],
            "description": issue["description"],
            "state": issue["state"],
            "created_at": issue["created_at"],
            "updated_at": issue["updated_at"],
            "closed_at": issue["closed_at"],
            "closed_by": self._user_json(self._users[closed_by]) if closed_by else None,
            "labels": list(issue["labels"]),
            "milestone": None,
            "assignees": [],
            "author": self._user_json(self._users[issue["author_id"]]),
            "type": "ISSUE",
            "assignee": None,
            "user_notes_count": 0,
            "merge_requests_count": 0,
            "upvotes": 0,
            "downvotes": 0,
            "due_date": None,
            "confidential": False,
            "discussion_locked": None,
            "issue_type": "issue",
            "web_url": f"{self.url}/{project.path}/-/issues/{iid}",
            "time_stats": {
                "time_estimate": 0,
                "total_time_spent": 0,
                "human_time_estimate": None,
                "human_total_time_spent": None,
            },
            "task_completion_status": {"count": 0, "completed_count": 0},
            "weight": None,
            "blocking_issues_count": 0,
            "has_tasks": False,
            "_links": {
                "self": f"{api}/issues/{iid}",
                "notes": f"{api}/issues/{iid}/notes",
                "award_emoji": f"{api}/issues/{iid}/award_emoji",
                "project": api,
                "closed_as_duplicate_of": None,
            },
            "references": {
                "short": f"#{iid}",
                "relative": f"#{iid}",
                "full": f"{project.path}#{iid}",
            },
            "severity": "UNKNOWN",
            "moved_to_id": None,
            "imported": False,
            "imported_from": "none",
            "service_desk_reply_to": None,
        }

    def _status_json(self, status: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": status["id"],
            "sha": status["sha"],
            "ref": status["ref"],
            "status": status["status"],
            "name": status["name"],
            "target_url": status["target_url"],
            "description": status["description"],
            "created_at": status["created_at"],
            "started_at": status["started_at"],
            "finished_at": status["finished_at"],
            "allow_failure": False,
            "coverage": status["coverage"],
            "pipeline_id": status["pipeline_id"],
            "author": self._user_json(self._users[status["author_id"]]),
        }


@pytest.fixture
def gitlab_server(tmp_path: Path) -> Iterator[GitLabServer]:
    """A running GitLabServer with no projects yet; its repositories live under tmp_path."""
    with GitLabServer(tmp_path / "gitlab") as server:
        yield server
    leftover = server.errors
    assert not leftover, "the GitLab test server hit its own bugs:\n" + "\n".join(leftover)


__all__ = ["Fault", "GitLabServer", "Served", "gitlab_server"]
