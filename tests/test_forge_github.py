"""`rightsizer run --forge github` end to end: the real CLI, PyGithub over HTTP to the GitHub
test server (which checks the App's JWT and issues installation tokens), real git pushes.

Each test tells one story a user lives through, run after run, and asserts what GitHub holds
after each: PRs, branch heads, pushes, comments, check runs.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from bot.forges.base import DASHBOARD_MARKER
from bot.forges.github.forge import GitHubConversation, GitHubSettings, connect
from tests.conftest import COST, git, rightsizer
from tests.forge_servers.github import DEFAULT_APP_PERMISSIONS, GitHubServer
from tests.forge_story import pulls_by_branch, small_monorepo, succeeded, usage

pytestmark = [pytest.mark.server, pytest.mark.slow]
OWNER, NAME = "acme", "infra"
BRANCHES = ("rightsizer/dev", "rightsizer/prod", "rightsizer/staging")


@pytest.fixture
def github(tmp_path: Path):
    with GitHubServer(tmp_path / "github") as server:
        server.add_repository(OWNER, NAME, small_monorepo(tmp_path / "infra"))
        yield server


def run(server: GitHubServer, tmp_path: Path, exports: Path, *extra: str, key: bytes | None = None):
    pem = tmp_path / "app.pem"
    pem.write_bytes(key or server.private_key_pem)
    return rightsizer(
        "run", "--forge", "github", "--repository", f"{OWNER}/{NAME}",
        "--utilisation", exports, "--cost", COST, *extra,
        env={
            "RIGHTSIZER_GITHUB_URL": server.api_url,
            "RIGHTSIZER_GITHUB_APP_ID": str(server.app_id),
            "RIGHTSIZER_GITHUB_PRIVATE_KEY": str(pem),
            "RIGHTSIZER_GITHUB_WRITE_INTERVAL": "0",
        },
    )  # fmt: skip


def heads(server: GitHubServer) -> dict[str, str | None]:
    return {branch: server.branch_sha(OWNER, NAME, branch) for branch in BRANCHES}


def writes(server: GitHubServer, since: int) -> list[tuple[str, str]]:
    """API calls that change something (git's fetches are POSTs too, but read)."""
    return [
        (r.method, r.path)
        for r in server.requests[since:]
        if r.method not in ("GET", "HEAD") and r.path.startswith("/api/")
    ]


def by_branch(server: GitHubServer) -> dict[str, list[dict]]:
    return pulls_by_branch(server, OWNER, NAME)


def test_opens_one_pr_per_group_then_reruns_quietly_and_updates_in_place(github, tmp_path):
    exports = usage(tmp_path / "usage.csv")
    succeeded(run(github, tmp_path, exports))
    pulls = by_branch(github)
    assert sorted(pulls) == list(BRANCHES)
    first = heads(github)
    for branch, (pull,) in pulls.items():
        assert pull["state"] == "open" and pull["base"]["ref"] == "main"
        assert pull["head"]["sha"] == first[branch]
        assert [label["name"] for label in pull["labels"]] == ["rightsizer"]
        assert "<!-- rightsizer:metadata " in pull["body"]
        assert "```mermaid" in pull["body"]
        (check,) = github.check_runs(OWNER, NAME, first[branch])
        assert check["name"] == "Rightsizer" and check["conclusion"] == "neutral"
        assert check["app"]["slug"] == github.app_slug
        # A notice on each changed line that writes a proposed value, naming its change.
        notes = github.check_annotations(OWNER, NAME, first[branch])
        assert notes and check["output"]["annotations_count"] == len(notes)
        bare = github.root / OWNER / f"{NAME}.git"
        changed = git(bare, "diff", "--name-only", f"main...{first[branch]}").split()
        for note in notes:
            assert note["path"] in changed and note["annotation_level"] == "notice"
            line = git(bare, "show", f"{first[branch]}:{note['path']}").splitlines()
            written = line[note["start_line"] - 1].split(":", 1)[1].split(" #")[0].strip()
            assert f" → {written.strip(chr(39))} (" in note["message"]  # the value it proposes
    assert github.tokens_issued == 1
    # The dashboard issue, the App's own, links each PR.
    [issue] = github.issues(OWNER, NAME)
    assert issue["user"]["login"] == f"{github.app_slug}[bot]"
    assert issue["title"] == "Rightsizer Dashboard" and issue["body"].startswith(DASHBOARD_MARKER)
    for (pull,) in pulls.values():
        assert f"- [{pull['title']}]({pull['html_url']}): " in issue["body"]

    # Same inputs: nothing pushed, nothing written, not even a label or the issue.
    pushes, seen = github.pushes(OWNER, NAME), len(github.requests)
    succeeded(run(github, tmp_path, exports))
    assert github.pushes(OWNER, NAME) == pushes
    assert writes(github, seen) == [
        ("POST", f"/api/v3/app/installations/{github.installation_id}/access_tokens")
    ]
    assert heads(github) == first

    # main moves on (a human edits an unrelated file) and prod's checkout needs more memory:
    # prod's branch is rebuilt and its PR edited; dev and staging still merge cleanly and
    # their recommendation did not change, so they are left alone (no CI rerun there).
    github.commit(OWNER, NAME, "main", {"README.md": "Edited by a human.\n"})
    seen = len(github.requests)
    more = usage(tmp_path / "more.csv", {("prod", "checkout", "memory_bytes"): 1.6})
    out = succeeded(run(github, tmp_path, more))
    after = heads(github)
    assert after["rightsizer/dev"] == first["rightsizer/dev"]
    assert after["rightsizer/staging"] == first["rightsizer/staging"]
    assert after["rightsizer/prod"] != first["rightsizer/prod"]
    assert github.pushes(OWNER, NAME) == pushes + 1
    prod = by_branch(github)["rightsizer/prod"]
    assert len(prod) == 1 and prod[0]["number"] == pulls["rightsizer/prod"][0]["number"]
    assert prod[0]["body"] != pulls["rightsizer/prod"][0]["body"]
    main = github.branch_sha(OWNER, NAME, "main")
    parent = git(github.root / OWNER / f"{NAME}.git", "rev-parse", f"{after['rightsizer/prod']}^")
    assert parent == main, "the updated branch is built on the new main"
    assert ("PATCH", f"/api/v3/repos/{OWNER}/{NAME}/pulls/{prod[0]['number']}") in writes(
        github, seen
    )
    assert "rightsizer/prod: branch updated, PR updated" in out


def test_a_human_commit_stops_the_bot_and_a_closed_pr_stays_closed(github, tmp_path):
    # This story opens seven PRs within the hour; the default limit is five.
    config = git(github.root / OWNER / f"{NAME}.git", "show", "main:.rightsizer.yaml")
    extra = "pull_requests:\n  max_per_hour: 10\n"
    github.commit(OWNER, NAME, "main", {".rightsizer.yaml": f"{config}\n{extra}"})
    exports = usage(tmp_path / "usage.csv")
    succeeded(run(github, tmp_path, exports))
    pulls = {branch: p[0] for branch, p in by_branch(github).items()}

    # A reviewer fixes prod's PR by hand; another closes dev's without merging; staging's
    # is merged.
    human = github.commit(OWNER, NAME, "rightsizer/prod", {"NOTES.md": "Reviewed.\n"})
    github.close_pull(OWNER, NAME, pulls["rightsizer/dev"]["number"])
    github.close_pull(OWNER, NAME, pulls["rightsizer/staging"]["number"], merged=True)
    moved_a_little = usage(
        tmp_path / "little.csv",
        {("prod", "checkout", "memory_bytes"): 1.6, ("dev", "checkout", "memory_bytes"): 1.05},
    )
    outputs = []
    for _ in range(2):
        out = succeeded(run(github, tmp_path, moved_a_little))
        outputs.append(out)
        assert github.branch_sha(OWNER, NAME, "rightsizer/prod") == human
        comments = github.comments(OWNER, NAME, pulls["rightsizer/prod"]["number"])
        assert len(comments) == 1, "said once, not every run"
        assert "no longer updates it" in comments[0]["body"]
        assert comments[0]["user"]["login"] == github.bot_login
        assert len(by_branch(github)["rightsizer/dev"]) == 1, "closed PR not reopened"
        # The merged PR took staging one max-step down; the next step is a new PR (one, on
        # both runs), and the run that opened it says the merged one was accepted.
        staging = sorted(by_branch(github)["rightsizer/staging"], key=lambda p: p["number"])
        assert [(p["state"], p["merged"]) for p in staging] == [("closed", True), ("open", False)]
        assert "closed-pr" in out and "human-push" in out
    assert f"#{pulls['rightsizer/staging']['number']} was merged: accepted" in outputs[0]

    # dev's recommendation moves well past 20 %: a new PR asks again. The reviewer hands
    # prod back as the comment says, by deleting the branch (GitHub closes its PR): that
    # closed PR is no "no", and prod gets a fresh PR too.
    github.delete_branch(OWNER, NAME, "rightsizer/prod")
    moved_a_lot = usage(tmp_path / "lot.csv", {("dev", "checkout", "memory_bytes"): 1.6})
    succeeded(run(github, tmp_path, moved_a_lot))
    for branch in ("rightsizer/dev", "rightsizer/prod"):
        found = sorted(by_branch(github)[branch], key=lambda p: p["number"])
        assert [p["state"] for p in found] == ["closed", "open"], branch
    assert github.branch_sha(OWNER, NAME, "rightsizer/prod") not in (None, human)


def test_rate_limits_are_waited_out_and_a_crash_after_the_push_converges(github, tmp_path):
    exports = usage(tmp_path / "usage.csv")
    # GitHub fails every attempt to open a PR: the run stops after the first push, cleanly.
    outage = github.server_error("POST", r"/pulls$", status=502, times=100)
    result = run(github, tmp_path, exports)
    assert len(outage.served) > 1, "5xx answers were retried"
    outage.times = 0
    assert result.returncode == 3, result.stderr
    assert "forge error" in result.stderr and "Traceback" not in result.stderr
    assert github.pulls(OWNER, NAME) == []
    pushed = {b: s for b, s in heads(github).items() if s}
    assert list(pushed) == ["rightsizer/dev"]

    # The next run meets a secondary rate limit first, waits as told, and converges: the
    # branch already holds the change, so it is not pushed again; all three PRs open.
    # Installation tokens now expire within PyGithub's 20 s refresh margin, so every call
    # (git's pushes included) must ask for a fresh one: a run longer than a token's hour.
    fault = github.rate_limit_secondary("POST", r"/pulls$", retry_after=1)
    pushes, tokens = github.pushes(OWNER, NAME), github.tokens_issued
    github.token_lifetime = 10
    succeeded(run(github, tmp_path, exports))
    assert github.tokens_issued > tokens + 2
    assert sorted(by_branch(github)) == list(BRANCHES)
    assert heads(github)["rightsizer/dev"] == pushed["rightsizer/dev"]
    assert github.pushes(OWNER, NAME) == pushes + 2
    (limited,) = fault.served
    retry = next(
        r.time
        for r in github.requests
        if r.method == "POST" and r.path.endswith("/pulls") and r.time > limited and r.status == 201
    )
    assert retry - limited >= 1.0, "Retry-After was honoured"


def test_pr_limits_hold_groups_back_and_say_so(github, tmp_path):
    settings = (
        "\npull_requests:\n  max_per_hour: 2\n  labels: [rightsizer, cost]\n  draft: true\n"
        "  reviewers: [alice]\n  team_reviewers: [platform]\n  assignees: [bob]\n"
    )
    for login in ("alice", "bob"):
        github.set_permission(OWNER, NAME, login, "write")
    github.add_team(OWNER, "platform")
    source = github.root / OWNER / f"{NAME}.git"
    config = git(source, "show", "main:.rightsizer.yaml")
    github.commit(OWNER, NAME, "main", {".rightsizer.yaml": config + settings})
    out = succeeded(run(github, tmp_path, usage(tmp_path / "usage.csv")))
    pulls = by_branch(github)
    assert sorted(pulls) == ["rightsizer/dev", "rightsizer/prod"]
    assert heads(github)["rightsizer/staging"] is None, "a held group pushes nothing"
    for (pull,) in pulls.values():
        assert pull["draft"] is True
        assert [user["login"] for user in pull["requested_reviewers"]] == ["alice"]
        assert [team["slug"] for team in pull["requested_teams"]] == ["platform"]
        assert [user["login"] for user in pull["assignees"]] == ["bob"]
        assert [label["name"] for label in pull["labels"]] == ["rightsizer", "cost"]
        assert re.search(r"staging.*2 PRs opened in the last hour", pull["body"])
    assert "pr-limit" in out


def test_a_wrong_key_is_refused_clearly_and_nothing_is_written(github, tmp_path):
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = other.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    result = run(github, tmp_path, usage(tmp_path / "usage.csv"), key=pem)
    assert result.returncode == 3
    assert "GitHub answered 401" in result.stderr and "Traceback" not in result.stderr
    assert github.pushes(OWNER, NAME) == 0 and github.pulls(OWNER, NAME) == []
    assert "PRIVATE KEY" not in result.stderr + result.stdout


def test_the_dashboard_is_the_bots_own_issue_rewritten_in_place(github, tmp_path):
    """A person's or another App's issue carrying the marker is never adopted; the bot's own
    is edited in place, its ticked boxes cleared by the run."""
    claimed = github.open_issue(OWNER, NAME, "Rightsizer Dashboard", DASHBOARD_MARKER, "mallory")
    other = github.open_issue(OWNER, NAME, "Dashboard", DASHBOARD_MARKER, "renovate[bot]")
    exports = usage(tmp_path / "usage.csv")
    succeeded(run(github, tmp_path, exports))
    theirs, others, ours = github.issues(OWNER, NAME)
    assert theirs["number"] == claimed and theirs["body"] == DASHBOARD_MARKER
    assert others["number"] == other and others["body"] == DASHBOARD_MARKER
    assert ours["user"]["login"] == f"{github.app_slug}[bot]"
    ticked = ours["body"].replace("- [ ] <!-- rightsizer:rerun", "- [x] <!-- rightsizer:rerun")
    github.edit_issue(OWNER, NAME, ours["number"], ticked)
    seen = len(github.requests)
    out = succeeded(run(github, tmp_path, exports))
    assert writes(github, seen)[1:] == [
        ("PATCH", f"/api/v3/repos/{OWNER}/{NAME}/issues/{ours['number']}")
    ]
    assert github.issues(OWNER, NAME)[2]["body"] == ours["body"]
    assert "Dashboard issue updated." in out
    # The worker's question before it acts on a box: is that issue the bot's own, open?
    pem = tmp_path / "app.pem"
    settings = GitHubSettings(
        f"{OWNER}/{NAME}", github.api_url, str(github.app_id), pem, write_interval=0
    )
    conversation = GitHubConversation(settings)
    assert conversation.is_dashboard(ours["number"])
    assert not conversation.is_dashboard(claimed) and not conversation.is_dashboard(other)
    pull = by_branch(github)["rightsizer/dev"][0]["number"]
    assert not conversation.is_dashboard(pull)

    # Turned off: the bot closes its own dashboard, once, and nobody else's.
    forge = connect(settings, tmp_path / "clone")
    assert forge.close_dashboard() and not forge.close_dashboard()
    states = {i["number"]: i["state"] for i in github.issues(OWNER, NAME)}
    assert states == {claimed: "open", other: "open", ours["number"]: "closed"}
    assert not conversation.is_dashboard(ours["number"])


def test_an_app_without_the_issues_permission_publishes_its_prs_and_says_why(tmp_path):
    permissions = {k: v for k, v in DEFAULT_APP_PERMISSIONS.items() if k != "issues"}
    with GitHubServer(tmp_path / "github", permissions=permissions) as server:
        server.add_repository(OWNER, NAME, small_monorepo(tmp_path / "infra"))
        result = run(server, tmp_path, usage(tmp_path / "usage.csv"))
        assert result.returncode == 0, result.stderr
        assert sorted(pulls_by_branch(server, OWNER, NAME)) == list(BRANCHES)
        assert server.issues(OWNER, NAME) == []
    assert (
        "warning: the dashboard issue was not written: write the dashboard issue: GitHub "
        "answered 403: Resource not accessible by integration"
    ) in result.stderr


def test_an_installation_token_given_as_a_token_keeps_one_dashboard(github, tmp_path):
    """Actions' GITHUB_TOKEN is an installation's: GitHub will not say whose it is (GET /user
    answers 403), so the bot knows its issue by its `Bot` author, and finds it again."""
    from github import Auth, GithubIntegration

    auth = Auth.AppAuth(str(github.app_id), github.private_key_pem.decode())
    integration = GithubIntegration(auth=auth, base_url=github.api_url)
    token = integration.get_access_token(github.installation_id).token
    exports = usage(tmp_path / "usage.csv")

    def run_with_token():
        return rightsizer(
            "run", "--forge", "github", "--repository", f"{OWNER}/{NAME}",
            "--utilisation", exports, "--cost", COST,
            env={"RIGHTSIZER_GITHUB_URL": github.api_url, "RIGHTSIZER_GITHUB_TOKEN": token,
                 "RIGHTSIZER_GITHUB_WRITE_INTERVAL": "0"},
        )  # fmt: skip

    assert "Dashboard issue created." in succeeded(run_with_token())
    assert "Dashboard" not in succeeded(run_with_token())
    [issue] = github.issues(OWNER, NAME)
    assert issue["user"]["type"] == "Bot"


def test_a_merged_bot_pr_reads_back_with_its_head_and_merge_time(github, tmp_path):
    """What verification after merge finds the merged PR by, to comment on it once."""
    succeeded(run(github, tmp_path, usage(tmp_path / "usage.csv")))
    prod = by_branch(github)["rightsizer/prod"][0]
    head = github.branch_sha(OWNER, NAME, "rightsizer/prod")
    github.close_pull(OWNER, NAME, prod["number"], merged=True)
    settings = GitHubSettings(
        f"{OWNER}/{NAME}", github.api_url, str(github.app_id), tmp_path / "app.pem",
        write_interval=0,
    )  # fmt: skip
    forge = connect(settings, tmp_path / "clone")
    (pull,) = [p for p in forge.pull_requests("rightsizer/") if p.branch == "rightsizer/prod"]
    assert (pull.number, pull.state, pull.head) == (prod["number"], "merged", head)
    assert pull.closed_at is not None
