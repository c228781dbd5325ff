"""The GitLab test server, checked through the clients the bot uses: python-gitlab and git.

The bot's GitLab adapter is tested against `tests/forge_servers/gitlab.py`; these tests are
why that is worth something. They show that the server refuses what GitLab refuses (a bad
token, a second open merge request, a push to a protected branch), that its answers carry
every field of the recorded GitLab bodies, and that python-gitlab's own machinery (path
encoding, `Link` pagination, retries on 429 and 5xx) works against it unchanged.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import gitlab
import pytest
import requests

from tests.conftest import DEPLOYMENT, FIXTURES, GIT_ENV, git, write_tree
from tests.forge_servers.gitlab import (
    DEVELOPER,
    REPORTER,
    GitLabServer,
    gitlab_server,  # noqa: F401  (the fixture)
)

pytestmark = pytest.mark.server

PROJECT = "acme/infra"
BOT = "glpat-rightsizer-bot"
DEV = "glpat-dev"
READER = "glpat-reader"
MANIFEST = "apps/checkout/deployment.yaml"
RECORDED = FIXTURES / "gitlab-api"


@pytest.fixture
def server(gitlab_server: GitLabServer, tmp_path: Path) -> GitLabServer:  # noqa: F811
    """`acme/infra` on `main` with one manifest; the bot's project token (Maintainer), a
    Developer `dev` and a Reporter `reader`."""
    source = write_tree(tmp_path / "source", {MANIFEST: DEPLOYMENT.format(name="checkout")})
    git(source, "init", "--quiet", "--initial-branch=main")
    git(source, "add", "--all")
    git(source, "commit", "--quiet", "-m", "Initial infrastructure")
    gitlab_server.add_project(PROJECT, source)
    gitlab_server.add_token(BOT, kind="project", project=PROJECT)
    gitlab_server.add_token(DEV, "dev", project=PROJECT, access_level=DEVELOPER)
    gitlab_server.add_token(READER, "reader", project=PROJECT, access_level=REPORTER)
    return gitlab_server


def client(server: GitLabServer, token: str = BOT) -> gitlab.Gitlab:
    return gitlab.Gitlab(server.url, private_token=token, retry_transient_errors=True)


def api(server: GitLabServer, path: str) -> Any:
    """The JSON body of `GET /api/v4{path}`, asked as the bot."""
    answer = requests.get(f"{server.api_url}{path}", headers={"PRIVATE-TOKEN": BOT}, timeout=5)
    assert answer.status_code == 200, answer.text
    return answer.json()


def run_git(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """git as the bot runs it: never prompting, no user or system config."""
    env = {**os.environ, **GIT_ENV, "GIT_CONFIG_GLOBAL": os.devnull}
    return subprocess.run(
        ["git", "-c", "commit.gpgsign=false", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def remote(server: GitLabServer, token: str | None) -> str:
    credentials = f"oauth2:{token}@" if token else ""
    return f"http://{credentials}127.0.0.1:{server.port}/{PROJECT}.git"


def clone(server: GitLabServer, tmp_path: Path, token: str = BOT) -> Path:
    checkout = tmp_path / f"clone-{token}"
    done = run_git(tmp_path, "clone", "--quiet", remote(server, token), str(checkout))
    assert done.returncode == 0, done.stderr
    return checkout


def commit_on(checkout: Path, branch: str, cpu: str) -> str:
    """A commit on `branch` (from origin/main) that sets the checkout container's CPU."""
    assert run_git(checkout, "checkout", "--quiet", "-B", branch, "origin/main").returncode == 0
    manifest = checkout / MANIFEST
    manifest.write_text(manifest.read_text().replace("cpu: 100m", f"cpu: {cpu}"))
    assert (
        run_git(checkout, "commit", "--quiet", "-am", f"Set checkout CPU to {cpu}").returncode == 0
    )
    return run_git(checkout, "rev-parse", "HEAD").stdout.strip()


def push(checkout: Path, *refspecs: str) -> subprocess.CompletedProcess[str]:
    return run_git(checkout, "push", "--quiet", "origin", *refspecs)


def pushed_branch(server: GitLabServer, tmp_path: Path, branch: str, cpu: str = "250m") -> str:
    checkout = clone(server, tmp_path)
    sha = commit_on(checkout, branch, cpu)
    done = push(checkout, branch)
    assert done.returncode == 0, done.stderr
    return sha


def test_a_bad_token_is_refused_and_a_project_token_is_its_bot(server: GitLabServer) -> None:
    for wrong in (client(server, "glpat-wrong"), gitlab.Gitlab(server.url, oauth_token="nope")):
        with pytest.raises(gitlab.GitlabAuthenticationError) as refused:
            wrong.auth()
        assert refused.value.response_code == 401
        assert refused.value.error_message == "401 Unauthorized"

    bot = client(server)
    bot.auth()
    assert bot.user is not None
    assert bot.user.bot is True
    assert bot.user.username.startswith(f"project_{server.project_id(PROJECT)}_bot_")
    assert gitlab.Gitlab(server.url, oauth_token=BOT).projects.get(PROJECT).id  # Bearer works too

    server.revoke_token(BOT)
    with pytest.raises(gitlab.GitlabAuthenticationError):
        client(server).projects.get(PROJECT)


def test_a_project_is_found_by_its_path_or_id_and_hidden_from_non_members(
    server: GitLabServer, tmp_path: Path
) -> None:
    project = client(server).projects.get(PROJECT)
    assert project.id == server.project_id(PROJECT)
    assert project.path_with_namespace == PROJECT
    assert project.default_branch == "main"
    assert project.http_url_to_repo == f"{server.url}/{PROJECT}.git"
    assert project.web_url == f"{server.url}/{PROJECT}"
    assert project.permissions["project_access"]["access_level"] == 40
    assert client(server).projects.get(project.id).path_with_namespace == PROJECT
    assert ("GET", f"/api/v4/projects/{PROJECT.replace('/', '%2F')}") in {
        (served.method, served.path) for served in server.requests
    }

    server.add_token("glpat-stranger", "stranger")
    with pytest.raises(gitlab.GitlabGetError) as hidden:
        client(server, "glpat-stranger").projects.get(PROJECT)
    assert (hidden.value.response_code, hidden.value.error_message) == (
        404,
        "404 Project Not Found",
    )

    other = write_tree(tmp_path / "other", {"README.md": "other\n"})
    git(other, "init", "--quiet", "--initial-branch=main")
    git(other, "add", "--all")
    git(other, "commit", "--quiet", "-m", "other")
    server.add_project("acme/other", other)
    with pytest.raises(gitlab.GitlabGetError):  # a project token is for its own project only
        client(server).projects.get("acme/other")


def test_git_clone_and_push_need_the_token_and_respect_protected_branches(
    server: GitLabServer, tmp_path: Path
) -> None:
    checkout = clone(server, tmp_path)
    sha = commit_on(checkout, "rightsizer/dev", "250m")
    done = push(checkout, "rightsizer/dev")
    assert done.returncode == 0, done.stderr
    assert server.pushes(PROJECT) == 1
    assert server.branch_head(PROJECT, "rightsizer/dev") == sha
    branch = client(server).projects.get(PROJECT, lazy=True).branches.get("rightsizer/dev")
    assert branch.commit["id"] == sha
    assert branch.protected is False

    for token in (None, "glpat-wrong"):
        refused = run_git(tmp_path, "clone", "--quiet", remote(server, token), str(tmp_path / "x"))
        assert refused.returncode != 0
        assert "Authentication failed" in refused.stderr or "could not read" in refused.stderr
    assert any(
        s.status == 401 for s in server.requests if s.path.endswith("service=git-upload-pack")
    )

    reader = clone(server, tmp_path, READER)
    commit_on(reader, "reader-branch", "300m")
    assert "403" in push(reader, "reader-branch").stderr

    developer = clone(server, tmp_path, DEV)
    commit_on(developer, "main", "300m")
    refused = push(developer, "main")
    assert "You are not allowed to push code to protected branches" in refused.stderr
    assert push(developer, "HEAD:refs/heads/dev-branch").returncode == 0
    assert server.pushes(PROJECT) == 3  # the reader's push was refused before it reached git

    with pytest.raises(gitlab.GitlabGetError) as missing:
        client(server).projects.get(PROJECT, lazy=True).branches.get("nope")
    assert missing.value.error_message == "404 Branch Not Found"


def test_a_second_open_merge_request_for_the_same_branches_is_409(
    server: GitLabServer, tmp_path: Path
) -> None:
    sha = pushed_branch(server, tmp_path, "rightsizer/dev")
    project = client(server).projects.get(PROJECT)
    wanted = {
        "source_branch": "rightsizer/dev",
        "target_branch": "main",
        "title": "Draft: Right-size dev",
        "description": "Why",
        "labels": "rightsizer",
    }
    created = project.mergerequests.create(wanted)
    assert (created.iid, created.project_id, created.sha, created.state) == (
        1,
        project.id,
        sha,
        "opened",
    )
    assert created.id != created.iid
    assert created.draft is True and created.work_in_progress is True
    assert created.merge_status == "checking"  # GitLab checks mergeability after answering
    assert created.web_url == f"{server.url}/{PROJECT}/-/merge_requests/1"
    assert created.references["full"] == f"{PROJECT}!1"
    assert created.author["username"].startswith("project_")

    with pytest.raises(gitlab.GitlabCreateError) as twin:
        project.mergerequests.create({**wanted, "title": "Right-size dev"})
    assert twin.value.response_code == 409
    assert twin.value.error_message == [
        "Another open merge request already exists for this source branch: !1"
    ]

    with pytest.raises(gitlab.GitlabCreateError) as lost:
        project.mergerequests.create({**wanted, "source_branch": "rightsizer/nope"})
    assert lost.value.response_code == 400
    assert lost.value.error_message == {"source_branch": ["does not exist"]}

    created.state_event = "close"
    created.save()
    again = project.mergerequests.create({**wanted, "title": "Right-size dev"})
    assert (again.iid, again.draft) == (2, False)
    with pytest.raises(gitlab.GitlabUpdateError) as reopen:
        project.mergerequests.update(1, {"state_event": "reopen"})
    assert reopen.value.response_code == 409


def test_merge_requests_filter_by_source_branch_and_page_through_link(
    server: GitLabServer, tmp_path: Path
) -> None:
    checkout = clone(server, tmp_path)
    branches = [f"rightsizer/env-{n}" for n in range(5)]
    for n, branch in enumerate(branches):
        commit_on(checkout, branch, f"{200 + n}m")
    assert push(checkout, *branches).returncode == 0
    project = client(server).projects.get(PROJECT, lazy=True)
    for branch in branches:
        project.mergerequests.create(
            {"source_branch": branch, "target_branch": "main", "title": f"Right-size {branch}"}
        )

    found = project.mergerequests.list(source_branch="rightsizer/env-3", state="opened")
    assert [mr.source_branch for mr in found] == ["rightsizer/env-3"]

    before = len(server.requests)
    every = project.mergerequests.list(per_page=2, get_all=True)
    assert [mr.iid for mr in every] == [5, 4, 3, 2, 1]  # newest first, as GitLab lists
    pages = [s.path for s in server.requests[before:] if "/merge_requests" in s.path]
    assert len(pages) == 3 and "page=3" in pages[-1]

    lazy = project.mergerequests.list(per_page=2, iterator=True)
    assert (lazy.total, lazy.total_pages, len(list(lazy))) == (5, 3, 5)

    project.mergerequests.update(2, {"state_event": "close"})
    assert len(project.mergerequests.list(state="opened", get_all=True)) == 4
    assert [mr.iid for mr in project.mergerequests.list(state="closed")] == [2]
    with pytest.raises(gitlab.GitlabListError):
        project.mergerequests.list(state="open")  # GitLab's word is "opened"


def test_notes_labels_reviewers_and_statuses_round_trip(
    server: GitLabServer, tmp_path: Path
) -> None:
    sha = pushed_branch(server, tmp_path, "rightsizer/dev")
    alice = server.add_user("alice", name="Alice")
    server.set_access(PROJECT, "alice", DEVELOPER)
    server.add_token("glpat-alice", "alice")
    mallory = server.add_user("mallory")  # not a member: GitLab drops her without a word
    project = client(server).projects.get(PROJECT, lazy=True)
    mr = project.mergerequests.create(
        {
            "source_branch": "rightsizer/dev",
            "target_branch": "main",
            "title": "Right-size dev",
            "labels": ["rightsizer", "env::dev"],
            "reviewer_ids": [alice["id"], mallory["id"]],
        }
    )
    assert mr.labels == ["env::dev", "rightsizer"]
    assert [r["username"] for r in mr.reviewers] == ["alice"]

    mr.labels = ["rightsizer"]
    mr.save()
    project.mergerequests.update(mr.iid, {"add_labels": "cost", "remove_labels": "nope"})
    mr = project.mergerequests.get(mr.iid)
    assert mr.labels == ["cost", "rightsizer"]
    assert [m.iid for m in project.mergerequests.list(labels=["cost", "rightsizer"])] == [mr.iid]
    assert project.mergerequests.list(labels="env::dev") == []

    note = mr.notes.create({"body": "Plan: 250m"})
    note.body = "Plan: 300m"
    note.save()
    listed = mr.notes.list()
    assert [n.body for n in listed] == [
        "Plan: 300m",
        "requested review from @alice",
    ]  # newest first
    assert [n.system for n in listed] == [False, True]
    assert listed[0].author["username"] == mr.author["username"]
    assert project.mergerequests.get(mr.iid).user_notes_count == 1
    assert [n["body"] for n in server.notes(PROJECT, mr.iid)][-1] == "Plan: 300m"
    someone = client(server, "glpat-alice").projects.get(PROJECT, lazy=True)
    with pytest.raises(gitlab.GitlabUpdateError) as forbidden:
        someone.mergerequests.get(mr.iid, lazy=True).notes.update(note.id, {"body": "mine"})
    assert forbidden.value.response_code == 403

    commit = project.commits.get(sha, lazy=True)
    commit.statuses.create({"state": "running", "name": "rightsizer/plan"})
    with pytest.raises(gitlab.GitlabCreateError) as again:
        commit.statuses.create({"state": "running", "name": "rightsizer/plan"})
    assert again.value.response_code == 400
    assert "Cannot transition status via :run from :running" in again.value.error_message
    done = commit.statuses.create(
        {
            "state": "success",
            "name": "rightsizer/plan",
            "target_url": "https://example.test/plan",
            "description": "ok",
        }
    )
    assert (done.status, done.ref, done.sha) == ("success", "rightsizer/dev", sha)
    assert [(s.name, s.status) for s in commit.statuses.list()] == [("rightsizer/plan", "success")]
    assert server.statuses(PROJECT, sha)[0]["target_url"] == "https://example.test/plan"
    assert project.commits.get(sha).status == "success"

    assert project.members_all.get(alice["id"]).access_level == DEVELOPER
    with pytest.raises(gitlab.GitlabGetError) as stranger:
        project.members_all.get(mallory["id"])
    assert stranger.value.response_code == 404
    users = client(server).users.list(username="alice")
    assert [(u.id, u.username) for u in users] == [(alice["id"], "alice")]


def test_429_is_retried_after_retry_after(server: GitLabServer) -> None:
    fault = server.rate_limit("GET", rf"/projects/{PROJECT}$", retry_after=1)
    assert client(server).projects.get(PROJECT).path_with_namespace == PROJECT
    answered = [s for s in server.requests if s.path.endswith("acme%2Finfra")]
    assert [s.status for s in answered] == [429, 200]
    assert len(fault.served) == 1
    assert answered[1].time - fault.served[0] >= 1.0

    throttled = requests.get(f"{server.api_url}/user", headers={"PRIVATE-TOKEN": BOT}, timeout=5)
    assert throttled.status_code == 200
    server.rate_limit("GET", r"/user$", retry_after=7)
    throttled = requests.get(f"{server.api_url}/user", headers={"PRIVATE-TOKEN": BOT}, timeout=5)
    assert (throttled.status_code, throttled.text) == (429, "Retry later\n")
    assert throttled.headers["Retry-After"] == "7"
    assert throttled.headers["RateLimit-Remaining"] == "0"


def test_a_500_once_is_retried_only_with_retry_transient_errors(server: GitLabServer) -> None:
    server.fail("GET", rf"/projects/{PROJECT}$", 500)
    assert client(server).projects.get(PROJECT).id == server.project_id(PROJECT)
    statuses = [s.status for s in server.requests if s.path.endswith("acme%2Finfra")]
    assert statuses == [500, 200]

    server.fail("GET", rf"/projects/{PROJECT}$", 502)
    with pytest.raises(gitlab.GitlabGetError) as bad_gateway:
        gitlab.Gitlab(server.url, private_token=BOT).projects.get(PROJECT)
    assert bad_gateway.value.response_code == 502
    assert "502 Bad Gateway" in str(bad_gateway.value.error_message)


def test_a_conflicting_commit_on_the_target_shows_as_has_conflicts(
    server: GitLabServer, tmp_path: Path
) -> None:
    pushed_branch(server, tmp_path, "rightsizer/dev", cpu="250m")
    project = client(server).projects.get(PROJECT, lazy=True)
    iid = project.mergerequests.create(
        {"source_branch": "rightsizer/dev", "target_branch": "main", "title": "Right-size dev"}
    ).iid
    mr = project.mergerequests.get(iid)
    assert (mr.merge_status, mr.detailed_merge_status, mr.has_conflicts) == (
        "can_be_merged",
        "mergeable",
        False,
    )
    assert mr.changes_count == "1"

    human = DEPLOYMENT.format(name="checkout").replace("cpu: 100m", "cpu: 400m")
    server.commit_as_human(PROJECT, "main", {MANIFEST: human}, "Hand-tune checkout")
    mr = project.mergerequests.get(iid)
    assert (mr.merge_status, mr.detailed_merge_status, mr.has_conflicts) == (
        "cannot_be_merged",
        "conflict",
        True,
    )
    listed = project.mergerequests.list(source_branch="rightsizer/dev")
    assert listed[0].has_conflicts is True
    with pytest.raises(ValueError, match="conflicts"):
        server.merge_merge_request(PROJECT, iid)


def test_a_human_merge_really_merges_into_the_target(server: GitLabServer, tmp_path: Path) -> None:
    sha = pushed_branch(server, tmp_path, "rightsizer/dev")
    project = client(server).projects.get(PROJECT, lazy=True)
    iid = project.mergerequests.create(
        {
            "source_branch": "rightsizer/dev",
            "target_branch": "main",
            "title": "Right-size dev",
            "remove_source_branch": True,
        }
    ).iid
    merge = server.merge_merge_request(PROJECT, iid)
    mr = project.mergerequests.get(iid)
    assert (mr.state, mr.sha, mr.merge_commit_sha) == ("merged", sha, merge)
    assert mr.merged_at and mr.merged_by["username"] == server.human["username"]
    assert mr.detailed_merge_status == "not_open"
    assert server.branch_head(PROJECT, "main") == merge
    assert server.branch_head(PROJECT, "rightsizer/dev") is None
    assert [m.iid for m in project.mergerequests.list(state="merged")] == [iid]
    checkout = clone(server, tmp_path, DEV)
    assert run_git(checkout, "merge-base", "--is-ancestor", sha, "origin/main").returncode == 0


def test_answers_keep_every_key_of_the_recorded_bodies_and_gitlabs_headers(
    server: GitLabServer, tmp_path: Path
) -> None:
    sha = pushed_branch(server, tmp_path, "rightsizer/dev")
    project = client(server).projects.get(PROJECT, lazy=True)
    project.mergerequests.create(
        {"source_branch": "rightsizer/dev", "target_branch": "main", "title": "Right-size dev"}
    )
    base = f"/projects/{server.project_id(PROJECT)}"
    answers = {
        "get_merge_request.json": api(server, f"{base}/merge_requests/1"),
        "get_merge_requests.json": api(server, f"{base}/merge_requests"),
        "get_branch.json": api(server, f"{base}/repository/branches/main"),
        "get_user.json": api(server, f"/users/{api(server, '/user')['id']}"),
        "get_commit.json": api(server, f"{base}/repository/commits/{sha}"),
    }
    for name, answer in answers.items():
        recorded = json.loads((RECORDED / name).read_text())
        if isinstance(recorded, list):
            recorded, answer = recorded[0], answer[0]
        assert set(recorded) - set(answer) == set(), name
        assert set(recorded.get("commit", {})) - set(answer.get("commit", {})) == set(), name

    listed = requests.get(
        f"{server.api_url}{base}/merge_requests",
        params={"per_page": 1},
        headers={"PRIVATE-TOKEN": BOT},
        timeout=5,
    )
    assert listed.headers["Content-Type"] == "application/json"
    for header in (
        "X-Request-Id",
        "RateLimit-Limit",
        "RateLimit-Remaining",
        "RateLimit-Reset",
        "RateLimit-Observed",
    ):
        assert listed.headers[header]
    assert (listed.headers["X-Total"], listed.headers["X-Total-Pages"]) == ("1", "1")
    assert (listed.headers["X-Next-Page"], listed.headers["X-Prev-Page"]) == ("", "")
    assert listed.links["first"]["url"].startswith(f"{server.api_url}{base}/merge_requests?")

    unknown = requests.get(f"{server.api_url}/nope", headers={"PRIVATE-TOKEN": BOT}, timeout=5)
    assert (unknown.status_code, unknown.json()) == (404, {"message": "404 Not Found"})
