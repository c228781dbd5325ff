"""The GitHub test server, driven the way the bot drives GitHub: PyGithub and real git.

These tests pin what the server accepts and refuses, so the adapter's tests can trust it: if
the server accepted a bad JWT or a duplicate pull request, an adapter bug would pass there
and fail on GitHub.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa
from github import Auth, Github, GithubException, GithubIntegration
from github.GithubException import BadCredentialsException, UnknownObjectException

from tests.conftest import FIXTURES, GIT_ENV, git, write_tree
from tests.forge_servers.github import GitHubServer, github_server  # noqa: F401

pytestmark = pytest.mark.server

OWNER, NAME = "acme", "infra"
RECORDED = FIXTURES / "github-api"


def app_auth(server: GitHubServer) -> Auth.AppAuth:
    return Auth.AppAuth(server.app_id, server.private_key_pem.decode())


def client(server: GitHubServer, **options: object) -> Github:
    """PyGithub as an App installation. Its default throttle (0.25 s between requests, 1 s
    between writes) is turned off: it would make these tests slow, not more real."""
    auth = app_auth(server).get_installation_auth(server.installation_id)
    return Github(
        base_url=server.api_url,
        auth=auth,
        seconds_between_requests=0,
        seconds_between_writes=0,
        **options,  # type: ignore[arg-type]
    )


def integration(server: GitHubServer, auth: Auth.AppAuth | None = None) -> GithubIntegration:
    return GithubIntegration(
        auth=auth or app_auth(server),
        base_url=server.api_url,
        seconds_between_requests=0,
        seconds_between_writes=0,
    )


def fixed_jwt(server: GitHubServer, claims: dict[str, object]) -> Auth.AppAuth:
    """App auth that sends a JWT with exactly these claims, signed by the App's key (through
    JWS: PyJWT's `encode` refuses a numeric `iss`, which GitHub accepts)."""
    payload = json.dumps(claims).encode()
    token = jwt.PyJWS().encode(payload, server.private_key_pem, "RS256", {"typ": "JWT"})
    return Auth.AppAuth(server.app_id, sign_func=lambda _: token)


def git_run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", *args],
        cwd=cwd,
        env={**os.environ, **GIT_ENV},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


@pytest.fixture
def server(tmp_path: Path) -> Iterator[GitHubServer]:
    """A server hosting acme/infra: one commit on main with a deployment manifest."""
    source = write_tree(tmp_path / "source", {"app.yaml": "cpu: 100m\nmemory: 128Mi\n"})
    git(source, "init", "--quiet", "--initial-branch=main")
    git(source, "add", "--all")
    git(source, "commit", "--quiet", "-m", "Initial infrastructure")
    with GitHubServer(tmp_path / "github") as running:
        running.add_repository(OWNER, NAME, source)
        yield running


def branch(server: GitHubServer, name: str, text: str = "cpu: 50m\nmemory: 128Mi\n") -> str:
    return server.commit(OWNER, NAME, name, {"app.yaml": text}, message=f"Resize on {name}")


# ----------------------------------------------------------------- authentication


def test_jwt_must_be_signed_by_the_app_key_and_short_lived(server: GitHubServer) -> None:
    with integration(server) as good:
        assert good.get_access_token(server.installation_id).token.startswith("ghs_")
        assert good.get_app_installation(server.installation_id).app_id == server.app_id
        assert good.get_repo_installation(OWNER, NAME).id == server.installation_id
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = Auth.AppAuth(
        server.app_id, sign_func=lambda claims: jwt.encode(claims, other, "RS256")
    )
    with integration(server, forged) as bad, pytest.raises(GithubException) as refused:
        bad.get_access_token(server.installation_id)
    assert refused.value.status == 401
    assert refused.value.data["message"] == "A JSON web token could not be decoded"
    assert set(refused.value.data) >= {"message", "documentation_url"}

    now = int(time.time())
    for claims in (
        {"iat": now - 60, "exp": now + 900, "iss": str(server.app_id)},  # too far ahead
        {"iat": now - 700, "exp": now - 60, "iss": str(server.app_id)},  # expired
        {"iat": now - 60, "exp": now + 300, "iss": "1"},  # another App
    ):
        with (
            integration(server, fixed_jwt(server, claims)) as bad,
            pytest.raises(GithubException) as refused,
        ):
            bad.get_access_token(server.installation_id)
        assert refused.value.status == 401
    # iss as a number is accepted too; PyGithub sends a string
    number = {"iat": now - 60, "exp": now + 600, "iss": server.app_id}
    with integration(server, fixed_jwt(server, number)) as ok:
        assert ok.get_access_token(server.installation_id).expires_at.timestamp() > now + 3000
    assert server.tokens_issued == 2


def test_installation_token_reads_the_repository_and_a_bad_token_does_not(
    server: GitHubServer,
) -> None:
    gh = client(server)
    repo = gh.get_repo(f"{OWNER}/{NAME}")
    assert repo.default_branch == "main"
    assert repo.clone_url == f"{server.url}/{OWNER}/{NAME}.git"
    assert repo.permissions.push is True
    assert server.tokens_issued == 1
    bogus = Github(base_url=server.api_url, auth=Auth.Token("ghs_" + "x" * 36))
    with pytest.raises(BadCredentialsException) as refused:
        bogus.get_repo(f"{OWNER}/{NAME}")
    assert refused.value.status == 401


def test_expired_tokens_are_refused_and_pygithub_refreshes_them(server: GitHubServer) -> None:
    # Long enough that a fresh token outlives one request on a loaded machine (at 1 s the
    # renewed token itself sometimes expired before its request arrived), short enough that
    # PyGithub, which renews within 20 s of expiry, still asks before each request.
    server.token_lifetime = 4
    with integration(server) as app:
        token = app.get_access_token(server.installation_id).token
    time.sleep(4.1)
    stale = Github(base_url=server.api_url, auth=Auth.Token(token))
    with pytest.raises(BadCredentialsException):
        stale.get_repo(f"{OWNER}/{NAME}")
    # PyGithub renews a token within 20 s of its expiry, so here it asks before each request
    gh = client(server)
    for _ in range(2):
        gh.get_repo(f"{OWNER}/{NAME}").get_branch("main")
    assert server.tokens_issued >= 1 + 4


def test_headers_pagination_links_and_unknown_routes(server: GitHubServer) -> None:
    for number in range(3):
        branch(server, f"b{number}", f"cpu: {number + 1}m\n")
        client(server).get_repo(f"{OWNER}/{NAME}").create_pull(
            base="main", head=f"b{number}", title=f"PR {number}", body=""
        )
    server.add_token("ghp_person", "maintainer")
    auth = {"Authorization": "token ghp_person"}
    answer = requests.get(
        f"{server.api_url}/repos/{OWNER}/{NAME}/pulls?per_page=2", headers=auth, timeout=5
    )
    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == "application/json; charset=utf-8"
    for name in (
        "X-GitHub-Request-Id",
        "X-RateLimit-Limit",
        "X-RateLimit-Remaining",
        "X-RateLimit-Reset",
        "X-RateLimit-Used",
        "ETag",
    ):
        assert name in answer.headers
    assert answer.headers["X-RateLimit-Resource"] == "core"
    assert answer.headers["X-GitHub-Api-Version-Selected"] == "2022-11-28"
    assert answer.links["next"]["url"].startswith(server.api_url)
    assert "page=2" in answer.links["next"]["url"]
    assert "page=2" in answer.links["last"]["url"]
    missing = requests.get(f"{server.api_url}/nothing/here", headers=auth, timeout=5)
    assert missing.status_code == 404
    assert missing.json()["message"] == "Not Found"
    anonymous = requests.get(f"{server.api_url}/repos/{OWNER}/{NAME}", timeout=5)
    assert anonymous.status_code == 401


def test_the_fixture_starts_empty(github_server: GitHubServer) -> None:  # noqa: F811
    github_server.add_token("ghp_person", "alice")
    person = Github(base_url=github_server.api_url, auth=Auth.Token("ghp_person"))
    assert person.get_user().login == "alice"
    with pytest.raises(UnknownObjectException):
        person.get_repo(f"{OWNER}/{NAME}")


# ----------------------------------------------------------------- git over HTTP


def test_clone_and_push_need_a_token(server: GitHubServer, tmp_path: Path) -> None:
    with integration(server) as app:
        token = app.get_access_token(server.installation_id).token
    work = tmp_path / "work"
    cloned = git_run("clone", "--quiet", server.clone_url(OWNER, NAME, token), str(work))
    assert cloned.returncode == 0, cloned.stderr
    (work / "app.yaml").write_text("cpu: 75m\nmemory: 128Mi\n")
    git(work, "checkout", "--quiet", "-b", "rightsizer/prod")
    git(work, "commit", "--quiet", "-am", "Resize")
    pushed = git_run("push", "--quiet", "origin", "rightsizer/prod", cwd=work)
    assert pushed.returncode == 0, pushed.stderr
    assert server.pushes(OWNER, NAME) == 1
    assert server.branch_sha(OWNER, NAME, "rightsizer/prod") == git(work, "rev-parse", "HEAD")

    anonymous = git_run("clone", "--quiet", server.clone_url(OWNER, NAME), str(tmp_path / "a"))
    assert anonymous.returncode != 0
    server.add_token("ghp_reader", "reader")
    reader = git_run(
        "push", server.clone_url(OWNER, NAME, "ghp_reader"), "HEAD:refs/heads/x", cwd=work
    )
    assert reader.returncode != 0 and "403" in reader.stderr
    assert server.pushes(OWNER, NAME) == 1


# ----------------------------------------------------------------- pull requests


def test_create_pull_then_a_duplicate_is_refused(server: GitHubServer) -> None:
    head = branch(server, "rightsizer/prod")
    repo = client(server).get_repo(f"{OWNER}/{NAME}")
    pull = repo.create_pull(base="main", head="rightsizer/prod", title="Resize prod", body="Why")
    assert (pull.number, pull.state, pull.head.ref) == (1, "open", "rightsizer/prod")
    assert pull.head.sha == head
    assert pull.user.login == "rightsizer[bot]" and pull.user.type == "Bot"
    assert pull.mergeable is True and pull.merged is False
    assert server.requests[-1].status == 201
    with pytest.raises(GithubException) as duplicate:
        repo.create_pull(base="main", head=f"{OWNER}:rightsizer/prod", title="Again", body="")
    assert duplicate.value.status == 422
    assert duplicate.value.data["errors"][0]["message"] == (
        "A pull request already exists for acme:rightsizer/prod."
    )
    with pytest.raises(GithubException) as absent:
        repo.create_pull(base="main", head="nope", title="t", body="")
    assert absent.value.status == 422
    with pytest.raises(GithubException) as same:
        repo.create_pull(base="main", head="main", title="t", body="")
    assert same.value.data["errors"][0]["message"] == "No commits between main and main"

    # the head follows the branch; editing and closing work as on GitHub
    moved = branch(server, "rightsizer/prod", "cpu: 60m\nmemory: 128Mi\n")
    pull = repo.get_pull(1)
    assert pull.head.sha == moved
    pull.edit(title="Resize prod (2)", state="closed")
    assert repo.get_pull(1).state == "closed"
    assert repo.get_pulls(state="open").totalCount == 0
    second = repo.create_pull(base="main", head="rightsizer/prod", title="Again", body="")
    assert second.number == 2


def test_pulls_filter_by_head_and_paginate(server: GitHubServer) -> None:
    for number in range(3):
        branch(server, f"rightsizer/g{number}", f"cpu: {number + 1}m\n")
    gh = client(server, per_page=2)
    repo = gh.get_repo(f"{OWNER}/{NAME}")
    for number in range(3):
        repo.create_pull(base="main", head=f"rightsizer/g{number}", title=f"g{number}", body="")
    found = list(repo.get_pulls(state="open", head=f"{OWNER}:rightsizer/g1"))
    assert [p.number for p in found] == [2]
    # GitHub ignores a head without its owner: every pull comes back
    assert len(list(repo.get_pulls(state="open", head="rightsizer/g1"))) == 3
    listed = list(repo.get_pulls(state="all", sort="created", direction="asc"))
    assert [p.number for p in listed] == [1, 2, 3]
    pages = [r.path for r in server.requests if "/pulls?" in r.path and "page=2" in r.path]
    assert pages, "PyGithub followed the Link header to page 2"
    assert repo.get_pulls(state="all").totalCount == 3


def test_labels_reviewers_assignees_and_comments(server: GitHubServer) -> None:
    server.set_permission(OWNER, NAME, "alice", "write")
    server.add_team(OWNER, "platform")
    branch(server, "rightsizer/prod")
    repo = client(server).get_repo(f"{OWNER}/{NAME}")
    pull = repo.create_pull(base="main", head="rightsizer/prod", title="Resize", body="")

    pull.add_to_labels("rightsizer", "size/down")
    pull.add_to_labels("Rightsizer")  # names match ignoring case
    assert [label.name for label in pull.get_labels()] == ["rightsizer", "size/down"]
    pull.remove_from_labels("size/down")
    assert [label.name for label in pull.as_issue().labels] == ["rightsizer"]
    with pytest.raises(GithubException) as missing:
        pull.remove_from_labels("size/down")
    assert missing.value.status == 404

    pull.create_review_request(reviewers=["alice"], team_reviewers=["platform"])
    users, teams = pull.get_review_requests()
    assert [u.login for u in users] == ["alice"] and [t.slug for t in teams] == ["platform"]
    with pytest.raises(GithubException) as stranger:
        pull.create_review_request(reviewers=["mallory"])
    assert stranger.value.status == 422
    pull.add_to_assignees("alice", "mallory")  # mallory cannot be assigned: left out
    assert [u.login for u in repo.get_pull(1).assignees] == ["alice"]

    comment = pull.create_issue_comment("First plan")
    assert comment.user.login == "rightsizer[bot]" and comment.user.type == "Bot"
    comment.edit("Second plan")
    assert [c.body for c in pull.get_issue_comments()] == ["Second plan"]
    assert [c["body"] for c in server.comments(OWNER, NAME, 1)] == ["Second plan"]
    with pytest.raises(GithubException) as too_long:
        pull.create_issue_comment("x" * 70000)
    assert too_long.value.status == 422


def test_check_runs_need_an_installation(server: GitHubServer) -> None:
    head = branch(server, "rightsizer/prod")
    repo = client(server).get_repo(f"{OWNER}/{NAME}")
    run = repo.create_check_run(
        name="rightsizer",
        head_sha=head,
        status="in_progress",
        output={"title": "Planning", "summary": "3 changes"},
        external_id="plan-1",
    )
    assert (run.status, run.conclusion, run.output.title) == ("in_progress", None, "Planning")
    run.edit(conclusion="success", output={"title": "Done", "summary": "3 changes", "text": "…"})
    runs = list(repo.get_commit(head).get_check_runs())
    assert [(r.name, r.status, r.conclusion) for r in runs] == [
        ("rightsizer", "completed", "success")
    ]
    assert server.check_runs(OWNER, NAME, head)[0]["output"]["title"] == "Done"
    with pytest.raises(GithubException) as bad_sha:
        repo.create_check_run(name="rightsizer", head_sha="0" * 40)
    assert bad_sha.value.status == 422

    server.add_token("ghp_person", "maintainer")
    server.set_permission(OWNER, NAME, "maintainer", "admin")
    person = Github(base_url=server.api_url, auth=Auth.Token("ghp_person"))
    with pytest.raises(GithubException) as refused:
        person.get_repo(f"{OWNER}/{NAME}").create_check_run(name="x", head_sha=head)
    assert refused.value.status == 403
    assert refused.value.data["message"] == "You must authenticate via a GitHub App."


def test_collaborator_permission(server: GitHubServer) -> None:
    server.set_permission(OWNER, NAME, "alice", "maintain")
    repo = client(server).get_repo(f"{OWNER}/{NAME}")
    assert repo.get_collaborator_permission("alice") == "write"
    assert repo.get_collaborator_role_name("alice") == "maintain"
    assert repo.get_collaborator_permission("stranger") == "read"  # a public repository


# ----------------------------------------------------------------- merging


def test_mergeable_turns_false_when_main_conflicts(server: GitHubServer) -> None:
    branch(server, "rightsizer/prod", "cpu: 50m\nmemory: 128Mi\n")
    repo = client(server).get_repo(f"{OWNER}/{NAME}")
    pull = repo.create_pull(base="main", head="rightsizer/prod", title="Resize", body="")
    assert pull.mergeable is True and pull.mergeable_state == "clean"
    server.commit(OWNER, NAME, "main", {"app.yaml": "cpu: 900m\nmemory: 128Mi\n"})
    again = repo.get_pull(pull.number)
    assert again.mergeable is False and again.mergeable_state == "dirty"


def test_a_human_merge_is_a_real_merge_commit(server: GitHubServer, tmp_path: Path) -> None:
    head = branch(server, "rightsizer/prod")
    repo = client(server).get_repo(f"{OWNER}/{NAME}")
    pull = repo.create_pull(base="main", head="rightsizer/prod", title="Resize", body="")
    server.close_pull(OWNER, NAME, pull.number, merged=True, by="alice")
    merged = repo.get_pull(pull.number)
    assert merged.merged and merged.state == "closed" and merged.merged_by.login == "alice"
    bare = server.root / OWNER / f"{NAME}.git"
    parents = git(bare, "rev-list", "--parents", "-n1", "main").split()[1:]
    assert parents[1] == head and merged.merge_commit_sha == git(bare, "rev-parse", "main")
    assert git(bare, "log", "-1", "--format=%an", "main") == "alice"


# ----------------------------------------------------------------- faults and retries


def test_secondary_rate_limit_is_retried_after_retry_after(server: GitHubServer) -> None:
    gh = client(server)
    gh.get_repo(f"{OWNER}/{NAME}")
    fault = server.rate_limit_secondary("GET", rf"/repos/{OWNER}/{NAME}/branches/", retry_after=1)
    assert gh.get_repo(f"{OWNER}/{NAME}").get_branch("main").name == "main"
    assert len(fault.served) == 1
    retry = [r for r in server.requests if "/branches/" in r.path and r.status == 200]
    assert retry[0].time - fault.served[0] >= 1.0


def test_primary_rate_limit_waits_for_the_reset(server: GitHubServer) -> None:
    gh = client(server)
    repo = gh.get_repo(f"{OWNER}/{NAME}")
    fault = server.rate_limit_primary("GET", r"/branches/main$", reset_in=1)
    assert repo.get_branch("main").name == "main"
    retry = [r for r in server.requests if r.path.endswith("/branches/main") and r.status == 200]
    assert retry[0].time - fault.served[0] >= 1.0


def test_server_errors_and_a_lost_answer(server: GitHubServer) -> None:
    gh = client(server)
    repo = gh.get_repo(f"{OWNER}/{NAME}")
    server.server_error("GET", r"/branches/main$")
    assert repo.get_branch("main").name == "main"  # GithubRetry retries 5xx on GET
    # PATCH is not among GithubRetry's methods: the 500 reaches the caller
    head = branch(server, "rightsizer/prod")
    pull = repo.create_pull(base="main", head="rightsizer/prod", title="Resize", body="")
    server.server_error("PATCH", r"/pulls/1$")
    with pytest.raises(GithubException) as failed:
        pull.edit(title="Renamed")
    assert failed.value.status == 500
    # GitHub opened the pull request but the answer was lost: PyGithub's retry of the POST
    # then meets the pull request it made
    branch(server, "rightsizer/dev")
    server.server_error("POST", r"/pulls$", status=502, process=True)
    with pytest.raises(GithubException) as retried:
        repo.create_pull(base="main", head="rightsizer/dev", title="Resize dev", body="")
    assert retried.value.status == 422
    assert [p["head"]["ref"] for p in server.pulls(OWNER, NAME)] == [
        "rightsizer/prod",
        "rightsizer/dev",
    ]
    assert server.pulls(OWNER, NAME)[0]["head"]["sha"] == head


# ----------------------------------------------------------------- shapes


def test_answers_carry_every_field_of_the_recorded_ones(server: GitHubServer) -> None:
    """Each field a real recording has (recent ones: older ones lack later fields) is in
    the server's answer, so an adapter reading a field GitHub sends finds it here."""
    server.add_token("ghp_person", OWNER)
    branch(server, "rightsizer/prod")
    repo = client(server).get_repo(f"{OWNER}/{NAME}")
    pull = repo.create_pull(base="main", head="rightsizer/prod", title="Resize", body="")
    pull.add_to_labels("rightsizer")
    pull.create_issue_comment("Plan")
    auth = {"Authorization": "token ghp_person"}

    def get(path: str) -> object:
        answer = requests.get(f"{server.api_url}{path}", headers=auth, timeout=5)
        assert answer.status_code == 200, answer.text
        return answer.json()

    def recorded(name: str) -> dict[str, object]:
        return json.loads((RECORDED / name).read_text())

    served_pull = get(f"/repos/{OWNER}/{NAME}/pulls/1")
    assert isinstance(served_pull, dict)
    assert set(recorded("pulls.get.json")) <= set(served_pull)
    assert set(recorded("pulls.get.json")["base"]["repo"]) <= set(served_pull["base"]["repo"])
    served_repo = get(f"/repos/{OWNER}/{NAME}")
    assert isinstance(served_repo, dict)
    assert set(recorded("repos.get.json")) <= set(served_repo)
    assert set(recorded("repos.get.json")["owner"]) <= set(served_repo["owner"])
    comment = get(f"/repos/{OWNER}/{NAME}/issues/1/comments")
    assert isinstance(comment, list)
    assert set(recorded("issues.create-comment.json")) <= set(comment[0])
    labels = get(f"/repos/{OWNER}/{NAME}/issues/1/labels")
    assert isinstance(labels, list)
    assert set(recorded("issues.add-labels.json")[0]) <= set(labels[0])
    with integration(server) as app:
        token = app.requester.requestJsonAndCheck(
            "POST", f"/app/installations/{server.installation_id}/access_tokens", input={}
        )[1]
        installation = app.requester.requestJsonAndCheck(
            "GET", f"/app/installations/{server.installation_id}"
        )[1]
    assert set(recorded("apps.create-installation-access-token.json")) <= set(token)
    assert set(recorded("apps.get-installation.json")) <= set(installation)
