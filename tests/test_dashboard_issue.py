"""The dashboard issue: what it lists, the boxes it offers and reads back, and the local
forge's copy written by `rightsizer run` (the GitHub and GitLab forges are shown against
their test servers in `test_forge_github.py` and `test_forge_gitlab.py`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.compose import PullRequestText
from bot.dashboard_issue import dashboard, dashboard_body
from bot.dashboard_ticks import MAX_TICKS, Tick, newly_ticked, ticked
from bot.decisions.model import RuleHit
from bot.decisions.overrides import Override
from bot.forges.base import DASHBOARD_MARKER, PullRequest
from bot.pr_metadata import PullRequestMetadata
from bot.run import GroupResult, Publication
from tests.conftest import COST, MONOREPO, UTILISATION, git, make_repo, rightsizer

NOW = datetime(2026, 11, 27, 6, tzinfo=UTC)
HOSTILE = "prod --> <img src=x> [x](http://evil) @team #1"


def _opened(group: str, number: int, delta: float) -> GroupResult:
    text = PullRequestText(
        f"Rightsize {group}: 3 changes", "body", "commit", PullRequestMetadata(group, ()), "", delta
    )
    url = f"https://github.com/acme/infra/pull/{number}"
    return GroupResult(group, f"rightsizer/{group}", "created", "created", url, text, (), number)


def _held(group: str, rule: str, text: str) -> GroupResult:
    hit = RuleHit(rule, text)
    why = f"{rule}: {text}"
    return GroupResult(group, f"rightsizer/{group}", "held", "not opened", why, hold=hit)


def _override(kind: str, name: str = "web", **more) -> Override:
    fields = {"namespace": "shop", "environment": "prod", "by": "ada", "since": NOW} | more
    return Override(kind, "Deployment", name, **fields)  # type: ignore[arg-type]


def test_boxes_are_read_back_for_any_group_name_and_only_when_newly_ticked():
    release, rerun = Tick("release", HOSTILE), Tick("rerun")
    assert "-->" not in release.marker()[4:-4] and "<img" not in release.marker()
    body = f"- [ ] {release.marker()} **prod**: held\n\n- [ ] {rerun.marker()} Tick to rerun\n"
    assert ticked(body) == []
    both = body.replace("[ ]", "[x]")
    assert ticked(both) == [release, rerun]
    one = body.replace("- [ ] <!-- rightsizer:rerun", "* [X] <!-- rightsizer:rerun")
    assert newly_ticked(body, one) == [rerun]
    assert newly_ticked(one, both) == [release]  # the rerun box was ticked already
    assert newly_ticked(both, body) == []  # the bot's rewrite clears them: no request
    # A box's marker must be its own: text after it, a release without a group, or a
    # marker typed in prose asks for nothing.
    assert ticked("I ticked <!-- rightsizer:rerun --> here [x]") == []
    assert ticked("- [x] <!-- rightsizer:release -->") == []
    assert ticked("- [x] <!-- rightsizer:rerun prod -->") == []
    # An issue edited to hold thousands of boxes asks for a bounded number of releases.
    many = "\n".join(f"- [x] {Tick('release', f'app-{n}').marker()}" for n in range(5000))
    assert len(ticked(many)) == MAX_TICKS


def _listed(number: int, group: str, title: str) -> PullRequest:
    url = f"https://github.com/acme/infra/pull/{number}"
    return PullRequest(number, f"rightsizer/{group}", "open", url, "", NOW, title=title)


def test_the_issue_lists_open_held_closed_failed_and_the_commands_in_force():
    results = [
        _opened("dev", 12, 4.5),
        _held("prod", "freeze", "in a freeze window: no pull request is opened until Monday"),
        _held("staging", "pr-limit", "10 open PRs is the limit (pull_requests.max_open)"),
        _held(HOSTILE, "closed-pr", "#7 was closed without merging on 2026-11-20"),
        _held("qa", "human-push", "Ada pushed 0123456789ab to `rightsizer/qa`"),
        GroupResult("ops", "rightsizer/ops", "failed", "not opened", "proof failed: kustomize"),
    ]
    overrides = [
        _override("ignore"),
        _override("pin", field="requests.cpu", value="500m"),
        _override("snooze", until=NOW + timedelta(days=3)),
        _override("snooze", name="old", until=NOW - timedelta(days=1)),  # over
    ]
    # Open on the forge: dev's (published again this run), and a group this run did not plan.
    pulls = [
        _listed(12, "dev", "Rightsize dev: 3 changes"),
        _listed(9, "batch", "Rightsize batch: 1 change"),
        _listed(8, "prod", "Rightsize prod: 5 changes"),
    ]
    board = dashboard(Publication(results, pulls), overrides, NOW)
    body = dashboard_body(board, None, 65_536)
    assert body.startswith(DASHBOARD_MARKER + "\n")
    opened = body.split("## Open")[1].split("##")[0]
    dev = "- [Rightsize dev: 3 changes](https://github.com/acme/infra/pull/12): +$4.50/month"
    assert dev in opened and opened.count("/pull/12)") == 1  # published and listed: once
    assert "- [Rightsize batch: 1 change](https://github.com/acme/infra/pull/9)\n" in opened
    held = body.split("## Held back")[1].split("##")[0]
    # Only the bot's own caution has a box; a freeze and a human's branch do not.
    assert "- **prod**: in a freeze window" in held
    assert "- **qa**: Ada pushed 0123456789ab to `rightsizer/qa`.\n" in held
    assert (
        "- [ ] <!-- rightsizer:release staging --> **staging**: 10 open PRs is the limit "
        "(pull\\_requests.max\\_open). Tick to open it now."
    ) in held
    closed = body.split("## Closed and ignored")[1].split("##")[0]
    assert closed.count("- [ ] <!-- rightsizer:release prod%20--%3E") == 1
    assert "`prod:shop/Deployment/web`: ignored by @&#8203;ada since 2026-11-27" in closed
    pinned = body.split("## Pinned and snoozed")[1].split("##")[0]
    assert "`prod:shop/Deployment/web`: requests.cpu pinned at 500m by @&#8203;ada" in pinned
    assert "snoozed by @&#8203;ada until 2026-11-30" in pinned and "old" not in pinned
    assert "- **ops**: proof failed: kustomize.\n" in body
    rerun = "- [ ] <!-- rightsizer:rerun --> Tick to rerun Rightsizer on this repository now."
    assert body.splitlines()[3] == rerun
    # A group's name is text: no tag, link or mention survives, and its box reads it back.
    assert "<img" not in body and "[x](http" not in body and "@team" not in body
    assert [t.group for t in ticked(body.replace("[ ]", "[x]"))] == [None, "staging", HOSTILE]
    # Nothing in it moves by itself: the same run writes the same text (no edit, no mail).
    later = dashboard(Publication(results, pulls), overrides, NOW + timedelta(hours=5))
    assert dashboard_body(later, None, 65_536) == body


def test_a_long_issue_is_cut_at_a_line_to_the_forges_limit_and_keeps_its_marker():
    results = [_held(f"app-{n:04}", "pr-limit", "10 open PRs is the limit") for n in range(3000)]
    body = dashboard_body(dashboard(Publication(results, []), [], NOW), None, 20_000)
    assert len(body) <= 20_000 and body.startswith(DASHBOARD_MARKER)
    assert body.endswith("…(cut to fit the forge's size limit)\n")
    assert body.split("\n…(cut")[0].endswith("Tick to open it now.")
    assert ticked(body.replace("[ ]", "[x]"))[0] == Tick("rerun")  # the box that matters most


def test_run_writes_the_dashboard_once_and_the_config_turns_it_off(tmp_path: Path):
    repo = make_repo(MONOREPO, tmp_path / "monorepo")
    config = repo / ".rightsizer.yaml"
    config.write_text(config.read_text() + "pull_requests: {max_open: 1}\n")
    git(repo, "commit", "-qam", "one PR at a time")
    pr_dir = tmp_path / "pull-requests"

    def run() -> str:
        result = rightsizer(
            "run", "--repo", repo, "--utilisation", UTILISATION, "--cost", COST,
            "--pr-dir", pr_dir,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        return result.stdout

    first = run()
    assert first.splitlines()[-1] == "Dashboard issue created."
    issue = pr_dir / "dashboard.issue.md"
    text = issue.read_text()
    assert text.startswith(f"# Rightsizer Dashboard\n\n{DASHBOARD_MARKER}\n")
    assert "- Rightsize dev: 4 changes (`" in text
    assert "pull-requests/dev.md`): +$0.04/month" in text
    for group in ("prod", "staging"):
        assert (
            f"- [ ] <!-- rightsizer:release {group} --> **{group}**: 1 open PRs is the limit"
        ) in text
    assert sorted(p.name for p in pr_dir.iterdir()) == ["dashboard.issue.md", "dev.md"]

    assert "Dashboard" not in run()  # nothing changed: the issue is left as it was
    assert issue.read_text() == text

    # A box ticked in the file is read by the next run: staging opens past the limit, and
    # the issue is written again with its boxes clear.
    box = "- [ ] <!-- rightsizer:release staging -->"
    issue.write_text(text.replace(box, box.replace("[ ]", "[x]")))
    assert "rightsizer/staging: branch created, PR created" in run()
    assert sorted(p.name for p in pr_dir.iterdir()) == [
        "dashboard.issue.md", "dev.md", "staging.md"
    ]  # fmt: skip
    text = issue.read_text()
    assert "[x]" not in text and "<!-- rightsizer:release staging -->" not in text
    assert "- [ ] <!-- rightsizer:release prod -->" in text

    # Turned off: the issue is closed (its file gone), once; nothing is written again.
    config.write_text(config.read_text() + "dashboard: false\n")
    git(repo, "commit", "-qam", "no dashboard")
    assert run().splitlines()[-1] == "Dashboard issue closed."
    assert not issue.exists()
    assert "Dashboard" not in run()
    assert not issue.exists()
