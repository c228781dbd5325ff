"""`rightsizer run --forge gitlab` end to end: the real CLI, python-gitlab over HTTP to the
GitLab test server with a project access token, real git pushes over smart HTTP.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import COST, rightsizer
from tests.forge_servers.gitlab import GitLabServer
from tests.forge_story import small_monorepo, succeeded, usage

pytestmark = [pytest.mark.server, pytest.mark.slow]
PROJECT = "platform/infra"
TOKEN = "glpat-rightsizer-project-token"
BRANCHES = ("rightsizer/dev", "rightsizer/prod", "rightsizer/staging")


@pytest.fixture
def gitlab(tmp_path: Path):
    with GitLabServer(tmp_path / "gitlab") as server:
        server.add_project(PROJECT, small_monorepo(tmp_path / "infra"))
        server.add_token(TOKEN, kind="project", project=PROJECT)
        yield server
    assert not server.errors, server.errors


def run(server: GitLabServer, exports: Path, token: str = TOKEN):
    return rightsizer(
        "run", "--forge", "gitlab", "--repository", PROJECT, "--gitlab-url", server.url,
        "--utilisation", exports, "--cost", COST,
        env={"RIGHTSIZER_GITLAB_TOKEN": token},
    )  # fmt: skip


def by_branch(server: GitLabServer) -> dict[str, list[dict]]:
    found: dict[str, list[dict]] = {}
    for request in server.merge_requests(PROJECT):
        found.setdefault(request["source_branch"], []).append(request)
    return found


def heads(server: GitLabServer) -> dict[str, str | None]:
    return {branch: server.branch_head(PROJECT, branch) for branch in BRANCHES}


def api_writes(server: GitLabServer, since: int) -> list[str]:
    return [
        f"{r.method} {r.path}"
        for r in server.requests[since:]
        if r.method not in ("GET", "HEAD") and r.path.startswith("/api/")
    ]


def test_merge_requests_open_once_rerun_quietly_and_update_in_place(gitlab, tmp_path):
    exports = usage(tmp_path / "usage.csv")
    succeeded(run(gitlab, exports))
    first, requests = heads(gitlab), by_branch(gitlab)
    assert sorted(requests) == list(BRANCHES)
    for branch, (request,) in requests.items():
        assert request["state"] == "opened" and request["target_branch"] == "main"
        assert request["labels"] == ["rightsizer"]
        assert request["description"].rstrip().endswith("-->")
        assert "<!-- rightsizer:metadata " in request["description"]
        (status,) = gitlab.statuses(PROJECT, first[branch])
        assert status["name"] == "rightsizer" and status["status"] == "success"

    pushes, seen = gitlab.pushes(PROJECT), len(gitlab.requests)
    succeeded(run(gitlab, exports))
    assert gitlab.pushes(PROJECT) == pushes and heads(gitlab) == first
    assert api_writes(gitlab, seen) == []

    more = usage(tmp_path / "more.csv", {("prod", "checkout", "memory_bytes"): 1.6})
    out = succeeded(run(gitlab, more))
    after = heads(gitlab)
    assert after["rightsizer/prod"] != first["rightsizer/prod"]
    assert {b: after[b] for b in BRANCHES if b != "rightsizer/prod"} == {
        b: first[b] for b in BRANCHES if b != "rightsizer/prod"
    }
    (prod,) = by_branch(gitlab)["rightsizer/prod"]
    assert prod["iid"] == requests["rightsizer/prod"][0]["iid"]
    assert prod["sha"] == after["rightsizer/prod"]
    assert "rightsizer/prod: branch updated, PR updated" in out


def test_a_human_commit_a_closed_request_and_a_rate_limit(gitlab, tmp_path):
    exports = usage(tmp_path / "usage.csv")
    succeeded(run(gitlab, exports))
    requests = {branch: found[0] for branch, found in by_branch(gitlab).items()}
    human = gitlab.commit_as_human(
        PROJECT, "rightsizer/prod", {"NOTES.md": "Reviewed.\n"}, "Reviewer's fix"
    )
    gitlab.close_merge_request(PROJECT, requests["rightsizer/dev"]["iid"])
    # GitLab throttles the first listing; python-gitlab waits Retry-After and goes on.
    fault = gitlab.rate_limit("GET", r"/merge_requests$", retry_after=1)

    moved = usage(tmp_path / "moved.csv", {("prod", "checkout", "memory_bytes"): 1.6})
    for _ in range(2):
        out = succeeded(run(gitlab, moved))
        assert gitlab.branch_head(PROJECT, "rightsizer/prod") == human
        notes = [
            note
            for note in gitlab.notes(PROJECT, requests["rightsizer/prod"]["iid"])
            if not note["system"]
        ]
        assert len(notes) == 1 and "no longer updates it" in notes[0]["body"]
        assert notes[0]["author"]["username"].startswith("project_")  # the token's bot user
        assert len(by_branch(gitlab)["rightsizer/dev"]) == 1, "closed request not reopened"
        assert "closed-pr" in out and "human-push" in out
    (limited,) = fault.served
    retry = next(
        r.time
        for r in gitlab.requests
        if r.time > limited and r.status == 200 and "/merge_requests?" in r.path
    )
    assert retry - limited >= 1.0, "Retry-After was honoured"


def test_a_revoked_token_is_refused_clearly(gitlab, tmp_path):
    gitlab.revoke_token(TOKEN)
    result = run(gitlab, usage(tmp_path / "usage.csv"))
    assert result.returncode == 3
    assert "GitLab answered 401" in result.stderr and "Traceback" not in result.stderr
    assert TOKEN not in result.stderr + result.stdout
    assert gitlab.pushes(PROJECT) == 0


def test_a_command_note_is_read_back_from_gitlab_with_its_real_author(gitlab, tmp_path):
    """GitLab signs nothing: anyone holding the shared webhook token can send a note
    "by" a maintainer. The worker reads the note from the API instead."""
    import httpx

    from bot.forges.gitlab import GitLabConversation, GitLabSettings

    succeeded(run(gitlab, usage(tmp_path / "usage.csv")))
    iid = by_branch(gitlab)["rightsizer/prod"][0]["iid"]
    gitlab.add_token("glpat-mallory", "mallory", project=PROJECT, access_level=20)
    posted = httpx.post(
        f"{gitlab.url}/api/v4/projects/{PROJECT.replace('/', '%2F')}/merge_requests/{iid}/notes",
        json={"body": "/rightsizer ignore prod:Deployment/checkout"},
        headers={"PRIVATE-TOKEN": "glpat-mallory"},
    ).json()
    conversation = GitLabConversation(GitLabSettings(PROJECT, gitlab.url, TOKEN))
    assert conversation.comment(iid, posted["id"]) == (
        "mallory",
        "/rightsizer ignore prod:Deployment/checkout",
    )
    assert conversation.permission("mallory") == "read"
