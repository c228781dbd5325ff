"""The cooldown reads what the bot did from real git history: merges, squashes, direct commits,
and the commits that only look like the bot's."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest

from bot.compose import environment
from bot.config import BotIdentity
from bot.manifests.edit import FileChange
from bot.manifests.quantities import parse_cpu, parse_memory
from bot.rules.cooldown import bot_changes, parse_change, reverts
from bot.workspace import Workspace
from tests.conftest import COST, MONOREPO, UTILISATION, git, make_repo, rightsizer

BOT_AUTHOR = "Rightsizer Bot <rightsizer-bot@acme.example>"
PAYMENTS = "prod/payments/Deployment/payments"
CHECKOUT = "staging/checkout/Deployment/checkout"
SINCE = datetime(2024, 3, 1, tzinfo=UTC)
MERGED = datetime(2024, 4, 1, 12, tzinfo=UTC)
"""When the first bot PR (payments cpu and memory down) was merged with a merge commit."""


class History:
    """A repo on `main` built commit by commit, each at a given time."""

    def __init__(self, root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.monkeypatch = monkeypatch
        self.at("2024-03-01T09:00:00Z")
        self.repo = make_repo(MONOREPO, root / "repo")
        self.count = 0

    def at(self, when: str) -> None:
        self.monkeypatch.setenv("GIT_AUTHOR_DATE", when)
        self.monkeypatch.setenv("GIT_COMMITTER_DATE", when)

    def commit(self, message: str, when: str, author: str | None = None) -> str:
        """A commit on the checked-out branch touching a file of its own."""
        self.count += 1
        (self.repo / "notes").mkdir(exist_ok=True)
        (self.repo / "notes" / f"{self.count}.txt").write_text(f"change {self.count}\n")
        (self.repo.parent / "message.txt").write_text(message)
        self.at(when)
        git(self.repo, "add", "--all")
        extra = [f"--author={author}"] if author else []
        git(self.repo, "commit", "--quiet", "-F", str(self.repo.parent / "message.txt"), *extra)
        return git(self.repo, "rev-parse", "HEAD")

    def branch(self, name: str, message: str, when: str, author: str = BOT_AUTHOR) -> str:
        git(self.repo, "checkout", "--quiet", "-B", name, "main")
        sha = self.commit(message, when, author)
        git(self.repo, "checkout", "--quiet", "main")
        return sha

    def merge(self, name: str, when: str) -> str:
        """What GitHub's "Create a merge commit" does."""
        self.at(when)
        git(self.repo, "merge", "--no-ff", "--quiet", "-m", f"Merge pull request from {name}", name)
        return git(self.repo, "rev-parse", "HEAD")

    def squash(self, name: str, message: str, when: str) -> str:
        """What GitHub's "Squash and merge" does: one commit on main, the PR's message kept."""
        git(self.repo, "merge", "--squash", "--quiet", name)
        (self.repo.parent / "message.txt").write_text(message)
        self.at(when)
        git(self.repo, "commit", "--quiet", "-F", str(self.repo.parent / "message.txt"))
        return git(self.repo, "rev-parse", "HEAD")


def _message(title: str, *trailers: str, extra: str = "") -> str:
    lines = "".join(f"Rightsizer-Change: {t}\n" for t in trailers)
    return f"{title}\n\nRightsizer sized these from observed usage.\n\n{lines}{extra}"


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    with pytest.MonkeyPatch.context() as monkeypatch:
        h = History(tmp_path_factory.mktemp("cooldown"), monkeypatch)
        shas = {}
        # The bot's payments PR, opened 12 days before it was merged with a merge commit.
        shas["payments"] = h.branch(
            "rightsizer/prod",
            _message(
                "Rightsize prod: 2 changes, -$20.00/month",
                f"{PAYMENTS} payments requests.cpu 0.25 -> 0.175",
                f"{PAYMENTS} payments requests.memory 536870912 -> 402653184",
            ),
            "2024-03-20T10:00:00Z",
        )
        shas["payments-merge"] = h.merge("rightsizer/prod", "2024-04-01T12:00:00Z")
        h.commit("Bump the payments image", "2024-04-02T09:00:00Z")
        # Written under the bot's name, but with no trailer: not a record of a change.
        h.branch("rightsizer/dev", "Rightsize dev\n\nNo trailer.\n", "2024-04-02T10:00:00Z")
        h.merge("rightsizer/dev", "2024-04-03T09:00:00Z")
        # Squash-merged; GitHub keeps the trailers and adds its own to the same block.
        staging = _message(
            "Rightsize staging: 1 change, -$3.00/month",
            f"{CHECKOUT} - hpa.minReplicas 3 -> 2",
            extra="Co-authored-by: Rightsizer Bot <rightsizer-bot@acme.example>\n",
        )
        h.branch("rightsizer/staging", staging, "2024-04-04T09:00:00Z")
        shas["checkout"] = h.squash(
            "rightsizer/staging",
            staging.replace(", -$3.00/month", ", -$3.00/month (#7)"),
            "2024-04-05T08:00:00Z",
        )
        # One malformed trailer spoils the commit: none of it is read.
        h.branch(
            "rightsizer/broken",
            _message(
                "Rightsize prod: hand-edited",
                f"{PAYMENTS} payments limits.cpu 0.5 -> 0.35",
                f"{PAYMENTS} payments requests.cpu lots -> fewer",
            ),
            "2024-04-05T10:00:00Z",
        )
        h.merge("rightsizer/broken", "2024-04-06T09:00:00Z")
        # A line that looks like a trailer in the middle of a message is not one.
        h.commit(
            f"Notes on sizing\n\nRightsizer-Change: {PAYMENTS} payments limits.memory 1 -> 2\n"
            "\nThat line above is quoted from a PR, not a trailer.\n",
            "2024-04-07T09:00:00Z",
        )
        # A person may write the trailer (e.g. a rebase-merged commit): the trailer is the contract.
        shas["dev"] = h.commit(
            _message("Size dev payments by hand", "dev/payments/Deployment/payments web "
                     "requests.cpu 0.1 -> 0.2"),
            "2024-04-08T09:00:00Z",
        )  # fmt: skip
        return h.repo, shas


def test_changes_are_read_from_merges_squashes_and_direct_commits(history):
    repo, shas = history
    changes = bot_changes(repo, "main", SINCE)
    assert [(c.key, c.container, c.field, c.old, c.new, c.sha) for c in changes] == [
        ("dev/payments/Deployment/payments", "web", "requests.cpu", 0.1, 0.2, shas["dev"]),
        (CHECKOUT, None, "hpa.minReplicas", 3, 2, shas["checkout"]),
        (PAYMENTS, "payments", "requests.cpu", 0.25, 0.175, shas["payments"]),
        (PAYMENTS, "payments", "requests.memory", 536870912, 402653184, shas["payments"]),
    ]
    # Dated by when they reached main (the merge), not when the bot wrote them.
    assert changes[2].when == MERGED
    assert changes[1].when == datetime(2024, 4, 5, 8, tzinfo=UTC)


def test_the_walk_stops_at_changes_older_than_since(history):
    repo, shas = history
    changes = bot_changes(repo, "main", datetime(2024, 4, 2, tzinfo=UTC))
    assert {c.sha for c in changes} == {shas["dev"], shas["checkout"]}


def test_a_reversal_within_the_cooldown_is_caught_and_names_the_commit(history):
    repo, shas = history
    past = bot_changes(repo, "main", SINCE)
    hit = reverts(past, PAYMENTS, "payments", "requests.cpu", 0.175, 0.25, MERGED, 7)
    assert hit is not None and hit.rule == "cooldown"
    assert hit.text == (
        f"reverses 250m -> 175m merged 2024-04-01 12:00 UTC ({shas['payments'][:7]}); "
        "no reversal within 7 days"
    )
    later = MERGED + timedelta(days=6, hours=23)
    memory = reverts(past, PAYMENTS, "payments", "requests.memory", 402653184, 5e8, later, 7)
    assert memory is not None and "512Mi -> 384Mi" in memory.text
    replicas = reverts(past, CHECKOUT, None, "hpa.minReplicas", 2, 3, MERGED + timedelta(5), 7)
    assert replicas is not None and f"({shas['checkout'][:7]})" in replicas.text


def test_after_the_cooldown_a_reversal_is_allowed(history):
    repo, _ = history
    past = bot_changes(repo, "main", SINCE)
    now = MERGED + timedelta(days=7)
    assert reverts(past, PAYMENTS, "payments", "requests.cpu", 0.175, 0.25, now, 7) is None
    assert reverts(past, PAYMENTS, "payments", "requests.cpu", 0.175, 0.25, now, 0) is None


def test_a_second_step_in_the_same_direction_is_allowed(history):
    repo, _ = history
    past = bot_changes(repo, "main", SINCE)
    assert reverts(past, PAYMENTS, "payments", "requests.cpu", 0.175, 0.125, MERGED, 7) is None
    assert reverts(past, PAYMENTS, "payments", "requests.cpu", 0.175, 0.175, MERGED, 7) is None


def test_other_workloads_containers_and_fields_are_not_affected(history):
    repo, _ = history
    past = bot_changes(repo, "main", SINCE)
    up = (0.175, 0.25, MERGED, 7)
    for other in ("prod/payments/Deployment/ledger", "staging/payments/Deployment/payments"):
        assert reverts(past, other, "payments", "requests.cpu", *up) is None
    assert reverts(past, PAYMENTS, "sidecar", "requests.cpu", *up) is None
    assert reverts(past, PAYMENTS, None, "requests.cpu", *up) is None
    assert reverts(past, PAYMENTS, "payments", "limits.cpu", *up) is None


def test_commits_without_or_with_malformed_trailers_are_ignored(history):
    repo, _ = history
    changes = bot_changes(repo, "main", SINCE)
    assert not [c for c in changes if c.field in ("limits.cpu", "limits.memory")]
    assert len(changes) == 4  # nothing from the bot-authored commit without a trailer


@pytest.mark.parametrize(
    "value",
    [
        "prod/payments/payments payments requests.cpu 0.25 -> 0.175",  # key without a kind
        f"{PAYMENTS} payments requests.cpu 0.25 0.175",
        f"{PAYMENTS} payments requests.cpu 0.25 -> nan",
        f"{PAYMENTS} payments requests.cpu 250m -> 175m",  # units are not the format
        f"{PAYMENTS} payments requests.cpu 0.25 -> 0.175 extra",
        "",
    ],
)
def test_malformed_values_do_not_parse(value):
    assert parse_change(value, MERGED, "0" * 40) is None


def test_a_missing_branch_is_an_input_error(history):
    from recommenders.errors import InputError

    repo, _ = history
    with pytest.raises(InputError, match="no branch 'trunk'"):
        bot_changes(repo, "trunk", SINCE)


HUMAN_LINE = r"- ([^/\s]+)/(\S+/\S+) (?:(\S+) )?(\S+): (\S+) -> (\S+)( \(.*\))?"
"""`- <namespace>/<Kind>/<name> [<container> ]<field>: <current> -> <proposed>[ (<rules>)]`"""


def _value(field: str, raw: str) -> float:
    if field.endswith(".cpu"):
        return parse_cpu(raw)
    if field.endswith(".memory"):
        return parse_memory(raw)
    return float(raw)


@pytest.mark.slow
def test_the_bots_own_commit_trailers_round_trip(tmp_path):
    """The real run writes the commits (compose renders templates/commit_message.txt.j2); each
    human-readable line has a trailer git parses, holding the same change in base units."""
    repo = make_repo(MONOREPO, tmp_path / "monorepo")
    result = rightsizer(
        "run", "--repo", repo, "--utilisation", UTILISATION, "--cost", COST,
        "--pr-dir", tmp_path / "pull-requests",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    git(repo, "merge", "--no-ff", "--quiet", "-m", "Merge rightsizer/prod", "rightsizer/prod")
    bot_sha = git(repo, "rev-parse", "rightsizer/prod")
    message = git(repo, "log", "-1", "--format=%B", bot_sha)
    (tmp_path / "message.txt").write_text(message)
    trailers = git(repo, "interpret-trailers", "--parse", str(tmp_path / "message.txt"))
    lines = [line for line in message.splitlines() if line.startswith("- ")]
    assert lines and len(trailers.splitlines()) == len(lines)
    assert message.rstrip().endswith(trailers.splitlines()[-1])

    past = bot_changes(repo, "main", datetime.now(UTC) - timedelta(hours=1))
    assert len(past) == len(lines) and {c.sha for c in past} == {bot_sha}
    for line, change in zip(lines, past, strict=True):
        shown = re.fullmatch(HUMAN_LINE, line)
        assert shown is not None, line
        namespace, ref, container, field, current, proposed, _ = shown.groups()
        assert change.key == f"prod/{namespace}/{ref}"
        assert (change.container, change.field) == (container, field)
        assert change.old == pytest.approx(_value(field, current), rel=1e-9)
        # The manifest holds the value rounded up to its unit; the trailer the exact decision.
        assert change.new == pytest.approx(_value(field, proposed), rel=0.02, abs=0.005)
        back = reverts(
            past, change.key, change.container, change.field, change.new, change.old,
            datetime.now(UTC), 7,
        )  # fmt: skip
        assert back is not None and f"({bot_sha[:7]})" in back.text


def _planned(environment, namespace, name, container, field, current, proposed, old, new, *rules):
    """A stand-in for `PlannedChange` with what the commit message template reads."""
    workload = SimpleNamespace(
        environment=environment, namespace=namespace, kind="Deployment", name=name,
        ref=f"Deployment/{name}",
    )  # fmt: skip
    recommendation = SimpleNamespace(current=old, field=field, container=container)
    decision = SimpleNamespace(
        recommendation=recommendation, value=new, action="apply",
        rules=tuple(SimpleNamespace(rule=r) for r in rules),
    )  # fmt: skip
    return SimpleNamespace(
        workload=workload, decision=decision, current=current, current_text=str(current),
        proposed=proposed, container=container, field=field,
    )  # fmt: skip


def test_the_commit_message_template_writes_trailers_that_read_back(monorepo, tmp_path):
    changes = (
        _planned("prod", "payments", "payments", "payments", "requests.cpu", "250m", "175m",
                 0.25, 0.1 + 0.07, "max-step.decrease"),
        _planned("prod", "payments", "payments", "payments", "requests.memory", "1Gi", "700Mi",
                 2**30, 733_000_000.5),
        _planned("prod", "payments", "payments", None, "replicas", 4, 3, 4, 3),
    )  # fmt: skip
    group = SimpleNamespace(name="prod", applied=changes, monthly_cost_delta=-12.3)
    message = environment().get_template("commit_message.txt.j2").render(group=group)
    assert message == (
        "Rightsize prod: 3 changes\n\n"
        "Rightsizer sized these from observed usage and its forecast; each line names\n"
        "the rule that bounded it, if any. The pull request explains each one.\n\n"
        "- payments/Deployment/payments payments requests.cpu: 250m -> 175m (max-step.decrease)\n"
        "- payments/Deployment/payments payments requests.memory: 1Gi -> 700Mi\n"
        "- payments/Deployment/payments replicas: 4 -> 3\n\n"
        f"Rightsizer-Change: {PAYMENTS} payments requests.cpu 0.25 -> 0.17\n"
        f"Rightsizer-Change: {PAYMENTS} payments requests.memory 1073741824 -> 733000000.5\n"
        f"Rightsizer-Change: {PAYMENTS} - replicas 4 -> 3\n"
    )
    workspace = Workspace(monorepo)
    base = workspace.base_commit("main")
    edit = FileChange("notes.txt", None, "sized\n")
    commit = workspace.prepare_commit(base, "rightsizer/prod", [edit], message, BotIdentity())
    assert commit.sha is not None
    workspace.move_branch("rightsizer/prod", commit.sha, None)
    (tmp_path / "message.txt").write_text(git(monorepo, "log", "-1", "--format=%B", commit.sha))
    assert git(monorepo, "interpret-trailers", "--parse", str(tmp_path / "message.txt")) == (
        message[message.index("Rightsizer-Change:") :].strip()
    )
    git(monorepo, "merge", "--no-ff", "--quiet", "-m", "Merge pull request #1", "rightsizer/prod")
    past = bot_changes(monorepo, "main", datetime.now(UTC) - timedelta(hours=1))
    assert [(c.container, c.field, c.old, c.new, c.sha) for c in past] == [
        ("payments", "requests.cpu", 0.25, 0.1 + 0.07, commit.sha),
        ("payments", "requests.memory", 2**30, 733_000_000.5, commit.sha),
        (None, "replicas", 4, 3, commit.sha),
    ]
