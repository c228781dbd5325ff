"""`bot.decisions` decides from facts alone: the holds of a run, given what the forge and the
branches say, without a forge or a checkout in reach."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

from bot.config import PullRequestSettings
from bot.decisions.holds import HUMAN_PUSH, BranchFacts, decide_holds
from bot.decisions.releases import Release, releasing
from bot.forges.base import PullRequest
from bot.groups import Group
from bot.manifests.model import Inventory
from bot.planner import Plan

NOW = datetime(2026, 11, 27, 6, tzinfo=UTC)
PLAN = Plan(Inventory([], {}), [], {}, {})


def _group(name: str) -> Group:
    return Group(name, f"rightsizer/{name}", ())


def _pull(number: int, group: str, state: str, hours_ago: float = 48) -> PullRequest:
    created = NOW - timedelta(hours=hours_ago)
    closed = created + timedelta(hours=1) if state != "open" else None
    return PullRequest(number, f"rightsizer/{group}", state, f"pr/{number}", "", created, closed)


def _holds(groups, facts, found=(), releases=(), **settings):
    return decide_holds(
        groups, facts, list(found), PLAN, PullRequestSettings(**settings), NOW, releases
    )


def test_a_pr_closed_without_merging_is_a_no_until_the_human_handed_it_back():
    closed = _pull(7, "prod", "closed")
    held = _holds([_group("prod")], {"rightsizer/prod": BranchFacts(closed, False, None)})
    assert held["prod"].hit.rule == "closed-pr"
    assert held["prod"].hit.text.startswith("#7 was closed without merging on 2026-11-25")
    handed = _holds([_group("prod")], {"rightsizer/prod": BranchFacts(closed, True, None)})
    assert handed == {}


def test_a_human_commit_holds_the_branch_and_names_the_open_pr_to_comment_on():
    commit = SimpleNamespace(committer=SimpleNamespace(name="Ada"), hexsha="f" * 40)
    open_pr = _pull(3, "dev", "open")
    held = _holds([_group("dev")], {"rightsizer/dev": BranchFacts(open_pr, False, commit)})
    assert held["dev"].hit.rule == HUMAN_PUSH
    assert held["dev"].hit.text.startswith("Ada pushed ffffffffffff to `rightsizer/dev`")
    assert held["dev"].pull is open_pr
    merged = _pull(3, "dev", "merged")
    assert _holds([_group("dev")], {"rightsizer/dev": BranchFacts(merged, False, commit)}) == {}


def test_the_pr_limits_fall_on_the_later_groups_and_never_on_an_open_pr():
    groups = [_group("a"), _group("b"), _group("c")]
    open_a = _pull(1, "a", "open")
    facts = {
        "rightsizer/a": BranchFacts(open_a, False, None),
        "rightsizer/b": BranchFacts(None, False, None),
        "rightsizer/c": BranchFacts(None, False, None),
    }
    held = _holds(groups, facts, [open_a], max_open=2)
    assert list(held) == ["c"]
    assert held["c"].limit
    assert held["c"].hit.text == "2 open PRs is the limit (pull_requests.max_open)"
    recent = [_pull(9, "x", "closed", hours_ago=0.5)]
    held = _holds(groups, facts, [open_a, *recent], max_per_hour=1)
    assert set(held) == {"b", "c"}
    assert held["b"].hit.text.startswith("1 PRs opened in the last hour")


def test_a_released_group_opens_past_the_limits_and_a_reviewers_close():
    """A box ticked in the dashboard issue lets the group through what is the bot's own
    caution; the limits count it, so the groups after it still wait."""
    groups = [_group("a"), _group("b"), _group("c")]
    open_x = _pull(1, "x", "open")
    facts = {f"rightsizer/{n}": BranchFacts(None, False, None) for n in "abc"}
    assert set(_holds(groups, facts, [open_x], max_open=1)) == {"a", "b", "c"}
    released = [Release("b", "ada", NOW - timedelta(minutes=5))]
    held = _holds(groups, facts, [open_x], released, max_open=1)
    assert set(held) == {"a", "c"}
    assert held["c"].hit.text == "2 open PRs is the limit (pull_requests.max_open)"

    closed = _pull(7, "prod", "closed")  # closed two days ago, before the release
    prod = {"rightsizer/prod": BranchFacts(closed, False, None)}
    assert _holds([_group("prod")], prod)["prod"].hit.rule == "closed-pr"
    assert _holds([_group("prod")], prod, releases=[Release("prod", "ada", NOW)]) == {}


def test_a_release_ends_when_its_pr_is_closed_and_never_lifts_a_human_push():
    given = NOW - timedelta(days=3)
    closed_after = _pull(8, "prod", "closed")  # closed a day after the release was given
    prod = {"rightsizer/prod": BranchFacts(closed_after, False, None)}
    held = _holds([_group("prod")], prod, releases=[Release("prod", "ada", given)])
    assert held["prod"].hit.rule == "closed-pr"

    commit = SimpleNamespace(committer=SimpleNamespace(name="Ada"), hexsha="f" * 40)
    taken = {"rightsizer/prod": BranchFacts(_pull(7, "prod", "closed"), False, commit)}
    held = _holds([_group("prod")], taken, releases=[Release("prod", "ada", NOW)])
    assert held["prod"].hit.rule == HUMAN_PUSH
    other = _holds([_group("prod")], prod, releases=[Release("dev", "ada", NOW)])
    assert other["prod"].hit.rule == "closed-pr"


def test_a_release_that_let_nothing_through_lapses_after_a_week():
    """Released while frozen (nothing opened): a group back a month later is asked again."""
    groups = [_group("a"), _group("b")]
    open_x = _pull(1, "x", "open")
    facts = {f"rightsizer/{n}": BranchFacts(None, False, None) for n in "ab"}
    fresh = [Release("b", "ada", NOW - timedelta(days=6))]
    stale = [Release("b", "ada", NOW - timedelta(days=8))]
    assert set(_holds(groups, facts, [open_x], fresh, max_open=1)) == {"a"}
    assert set(_holds(groups, facts, [open_x], stale, max_open=1)) == {"a", "b"}


def test_a_release_lasts_while_the_pr_it_let_through_is_open_and_ends_with_it():
    given = NOW - timedelta(days=20)
    release = [Release("prod", "ada", given)]
    day = timedelta(days=1)
    # The PR it let through, open for twenty days: still in force.
    assert releasing("prod", given + day, None, release, NOW) == release[0]
    # Merged or closed since: judged afresh, though the PR predates the release (it was
    # open when the box was ticked, to update it despite too small a saving).
    assert releasing("prod", given - day, given + day, release, NOW) is None
    assert releasing("prod", given + day, given + 2 * day, release, NOW) is None
    # A PR closed before the release (the reviewer's "no" it overrides): a week to use it.
    assert releasing("prod", given - 2 * day, given - day, release, given + 6 * day)
    assert releasing("prod", given - 2 * day, given - day, release, given + 8 * day) is None
    assert releasing("dev", None, None, release, given) is None
