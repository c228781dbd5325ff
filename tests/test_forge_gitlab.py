"""`rightsizer run --forge gitlab` end to end: the real CLI, python-gitlab over HTTP to the
GitLab test server with a project access token, real git pushes over smart HTTP.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.dashboard_ticks import Tick
from bot.forges.base import DASHBOARD_MARKER, ForgeError
from bot.forges.gitlab import GitLabConversation
from bot.forges.gitlab.forge import GitLabSettings, connect
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


# The dashboard issue ---------------------------------------------------------------------

DASHBOARD_TITLE = "Rightsizer dashboard"


def dashboard_body(*ticked: str) -> str:
    """A dashboard body as the bot writes it: the marker first, then its boxes."""
    boxes = [Tick("rerun"), Tick("release", "prod")]
    lines = [
        f"- [{'x' if (b.group or b.action) in ticked else ' '}] {b.marker()} {b.action}"
        for b in boxes
    ]
    return "\n".join([DASHBOARD_MARKER, "", *lines, ""])


def forge_of(server: GitLabServer, tmp_path: Path, token: str = TOKEN):
    return connect(GitLabSettings(PROJECT, server.url, token), tmp_path / "clone")


def test_the_dashboard_issue_is_opened_once_left_alone_and_edited_in_place(gitlab, tmp_path):
    forge = forge_of(gitlab, tmp_path)
    outcome, issue = forge.ensure_dashboard(DASHBOARD_TITLE, dashboard_body())
    (opened,) = gitlab.issues(PROJECT)
    assert outcome == "created"
    assert (issue.number, issue.url, issue.body) == (
        opened["iid"],
        opened["web_url"],
        dashboard_body(),
    )
    assert opened["author"]["username"].startswith("project_")  # the token's bot user
    assert (opened["title"], opened["state"]) == (DASHBOARD_TITLE, "opened")

    seen = len(gitlab.requests)
    assert forge.ensure_dashboard(DASHBOARD_TITLE, dashboard_body()) == ("unchanged", issue)
    assert api_writes(gitlab, seen) == []

    seen = len(gitlab.requests)
    changed = dashboard_body() + "\nprod is held: its PR waits for a release.\n"
    outcome, edited = forge.ensure_dashboard("Rightsizer dashboard (1 held)", changed)
    assert (outcome, edited.number, edited.body) == ("updated", issue.number, changed)
    path = f"/api/v4/projects/{gitlab.project_id(PROJECT)}/issues/{issue.number}"
    assert api_writes(gitlab, seen) == [f"PUT {path}"]
    (after,) = gitlab.issues(PROJECT)
    assert (after["iid"], after["title"], after["description"]) == (
        issue.number,
        "Rightsizer dashboard (1 held)",
        changed,
    )

    # Turned off: closed, once.
    assert forge.close_dashboard() and not forge.close_dashboard()
    assert [i["state"] for i in gitlab.issues(PROJECT)] == ["closed"]


def test_a_stranger_s_issue_carrying_the_marker_is_never_adopted(gitlab, tmp_path):
    """Anyone who may open an issue can paste the marker: the bot writes only its own."""
    gitlab.set_access(PROJECT, gitlab.add_user("mallory")["username"], 10)  # a Guest
    forged = gitlab.add_issue(
        PROJECT, DASHBOARD_TITLE, dashboard_body("rerun", "prod"), author="mallory"
    )
    forge = forge_of(gitlab, tmp_path)

    outcome, issue = forge.ensure_dashboard(DASHBOARD_TITLE, dashboard_body())
    assert outcome == "created" and issue.number != forged["iid"]
    theirs, mine = gitlab.issues(PROJECT)
    assert theirs == forged, "the stranger's issue is untouched"
    assert mine["iid"] == issue.number and mine["author"]["username"].startswith("project_")
    assert forge.ensure_dashboard(DASHBOARD_TITLE, dashboard_body())[0] == "unchanged"

    gitlab.close_issue(PROJECT, issue.number)  # a closed dashboard is not brought back
    outcome, reopened = forge.ensure_dashboard(DASHBOARD_TITLE, dashboard_body())
    assert outcome == "created" and reopened.number not in (forged["iid"], issue.number)
    assert [i["state"] for i in gitlab.issues(PROJECT)] == ["opened", "closed", "opened"]


def test_a_token_that_may_only_read_gets_a_forge_error_and_writes_nothing(gitlab, tmp_path):
    gitlab.add_token("glpat-read-only", kind="project", project=PROJECT, scopes=("read_api",))
    forge = forge_of(gitlab, tmp_path, "glpat-read-only")
    with pytest.raises(ForgeError, match="GitLab answered 403") as raised:
        forge.ensure_dashboard(DASHBOARD_TITLE, dashboard_body())
    assert raised.value.action == "open or update the dashboard issue"
    assert gitlab.issues(PROJECT) == []


def test_only_the_bots_own_open_dashboard_is_taken_for_it(gitlab, tmp_path):
    """Boxes ticked in a stranger's issue carrying the marker, or in a dashboard closed
    since, ask for nothing: the worker asks GitLab which issue it is."""
    _, issue = forge_of(gitlab, tmp_path).ensure_dashboard(DASHBOARD_TITLE, dashboard_body())
    conversation = GitLabConversation(GitLabSettings(PROJECT, gitlab.url, TOKEN))
    assert conversation.is_dashboard(issue.number)

    gitlab.set_access(PROJECT, gitlab.add_user("mallory")["username"], 10)  # a Guest
    forged = gitlab.add_issue(PROJECT, DASHBOARD_TITLE, dashboard_body("prod"), author="mallory")
    assert not conversation.is_dashboard(forged["iid"])
    gitlab.close_issue(PROJECT, issue.number)
    assert not conversation.is_dashboard(issue.number)
    with pytest.raises(ForgeError, match="GitLab answered 404"):
        conversation.is_dashboard(issue.number + 10)


def test_a_merged_bot_merge_request_reads_back_with_its_head_and_merge_time(gitlab, tmp_path):
    """What verification after merge finds the merged request by, to comment on it once."""
    succeeded(run(gitlab, usage(tmp_path / "usage.csv")))
    prod = by_branch(gitlab)["rightsizer/prod"][0]
    head = gitlab.branch_head(PROJECT, "rightsizer/prod")
    gitlab.merge_merge_request(PROJECT, prod["iid"])
    forge = forge_of(gitlab, tmp_path)
    (pull,) = [p for p in forge.pull_requests("rightsizer/") if p.branch == "rightsizer/prod"]
    assert (pull.number, pull.state, pull.head) == (prod["iid"], "merged", head)
    assert pull.closed_at is not None
