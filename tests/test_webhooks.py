"""The webhook endpoints, driven with real GitHub and GitLab payloads signed as the forges sign
them, and the `/rightsizer` command parser."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text

from bot.dashboard_ticks import Tick, ticks_key
from bot.forges.base import DASHBOARD_MARKER
from bot.forges.github.service import GitHubService
from bot.forges.github.webhooks import signature
from bot.forges.gitlab.service import GitLabService
from bot.forges.hooks import touches_inputs
from bot.service import metrics
from bot.service.commands import (
    USAGE,
    CommandError,
    Explain,
    Ignore,
    Pin,
    Rerun,
    Snooze,
    WorkloadRef,
    command_line,
    may_command,
    parse_command,
)
from bot.service.settings import ServiceSettings
from bot.service.webhooks import webhook_router
from bot.store import Store, queue, repositories
from bot.store.tables import Delivery, PullRequestRecord
from tests.job_engine import fetch

HOOKS = Path(__file__).resolve().parents[1] / "fixtures" / "github-webhooks"
SECRET = "It's a Secret to Everybody"
TOKEN = "gitlab-hook-token"
PROJECT_TOKEN = "infra-only-hook-token"
METADATA = '<!-- rightsizer:metadata {"version": 1, "group": "prod"} -->'

PUSH = "push/with-new-branch.payload.json"  # refs/heads/master of Codertocat/Hello-World
TAG_PUSH = "push/payload.json"
COMMENT = "issue_comment/created.with-installation.payload.json"
INSTALLED = "installation/created.payload.json"
UNINSTALLED = "installation/deleted.payload.json"
REPOS_ADDED = "installation_repositories/added.payload.json"
RERUN = "check_run/rerequested.payload.json"
RERUN_ALL = "check_suite/rerequested.payload.json"
ISSUE_EDITED = "issues/edited.payload.json"
CLOSED = "pull_request/closed.payload.json"
PING = "ping/payload.json"


# Helpers ------------------------------------------------------------------------------


def raw(name: str) -> bytes:
    """A payload file's exact bytes, as the forge sent them."""
    return (HOOKS / name).read_bytes()


def variant(name: str, change: Callable[[dict[str, Any]], None]) -> bytes:
    """The real payload with only what `change` sets changed, serialised as GitHub does."""
    payload = copy.deepcopy(json.loads(raw(name)))
    change(payload)
    return json.dumps(payload, indent=2).encode()


def touching(*paths: str) -> Callable[[dict[str, Any]], None]:
    def change(payload: dict[str, Any]) -> None:
        payload["commits"][0]["modified"] = list(paths)
        payload["head_commit"]["modified"] = list(paths)

    return change


def commenting(
    body: str, on_pr: bool = True, bot: bool = False, ours: bool = True
) -> Callable[[dict], None]:
    """A comment saying `body`; on one of the bot's PRs (its metadata in the body) unless
    told otherwise."""

    def change(payload: dict[str, Any]) -> None:
        payload["comment"]["body"] = body
        if on_pr:
            url = payload["issue"]["url"].replace("/issues/", "/pulls/")
            payload["issue"]["pull_request"] = {"url": url}
            if not ours:
                payload["issue"]["number"] = 77  # a PR the bot never opened
        if bot:
            payload["sender"].update(login="renovate[bot]", type="Bot")

    return change


class Hooks:
    """A test app with just the webhook router, over a store in a temporary SQLite file."""

    def __init__(self, store: Store, client: TestClient) -> None:
        self.store = store
        self.client = client
        self.deliveries = 0

    def github(
        self,
        event: str,
        body: bytes,
        *,
        secret: str | None = SECRET,
        delivery: str | None = None,
        headers: dict[str, str | bytes] | None = None,
    ) -> Any:
        self.deliveries += 1
        sent: dict[str, str | bytes] = {
            "X-GitHub-Event": event,
            "X-GitHub-Delivery": delivery or f"72d3162e-cc78-11e3-81ab-{self.deliveries:012d}",
            "Content-Type": "application/json",
            "User-Agent": "GitHub-Hookshot/044aadd",
        }
        if secret is not None:
            sent["X-Hub-Signature-256"] = signature(secret, body)
        sent.update(headers or {})
        return self.client.post("/webhooks/github", content=body, headers=sent)

    def gitlab(
        self, event: str, body: bytes, *, token: str | None = TOKEN, uuid: str | None = None
    ) -> Any:
        self.deliveries += 1
        sent = {
            "X-Gitlab-Event": event,
            "X-Gitlab-Event-UUID": uuid or f"13792a34-cac6-4fda-95a8-{self.deliveries:012d}",
            "Content-Type": "application/json",
        }
        if token is not None:
            sent["X-Gitlab-Token"] = token
        return self.client.post("/webhooks/gitlab", content=body, headers=sent)

    def jobs(self) -> list[tuple[int, str, str, int]]:
        return self.store.queue.jobs()

    def bot_opened(self, forge: str, full_name: str, number: int, branch: str) -> None:
        """The PR recorded as the bot's, as a run of the service records what it opened."""
        repository = self.store.repositories.get(forge, full_name) or self.store.repositories.add(
            forge, full_name, 1 if forge == "github" else None
        )
        self.store.runs.record_pull(repository, number, branch, "open", f"https://x/{number}")

    def deliveries_seen(self) -> int:
        with self.store.session() as session:
            return int(session.scalar(select(func.count()).select_from(Delivery)) or 0)

    def details(self, job_id: int) -> dict[str, Any]:
        with self.store.session() as session:
            arguments = session.scalar(
                text("select args from procrastinate_jobs where id = :id"), {"id": job_id}
            )
            return dict(arguments["details"])


@contextmanager
def make_hooks(
    database: str,
    *,
    github: dict[str, Any] | None = None,
    gitlab: dict[str, Any] | None = None,
    **settings: Any,
) -> Iterator[Hooks]:
    """The webhook routes on `database`, each forge's settings as the tests' deliveries
    need them, changed by `github` and `gitlab`, the service's by `settings`."""
    store = Store(database)
    projects = (
        "mike/diaspora, gitlab-org/gitlab-test, gitlabhq/gitlab-test, "
        f"platform/infra={PROJECT_TOKEN}"
    )
    forges = {
        "github": replace(GitHubService(webhook_secret=SECRET), **(github or {})),
        "gitlab": replace(GitLabService(webhook_token=TOKEN, projects=projects), **(gitlab or {})),
    }
    base = ServiceSettings(debounce_seconds=30.0, forges=forges)
    app = FastAPI()
    app.include_router(webhook_router(store, replace(base, **settings)))
    with TestClient(app, raise_server_exceptions=False) as client:
        yield Hooks(store, client)
    store.engine.dispose()


@pytest.fixture
def hooks(database: str) -> Iterator[Hooks]:
    with make_hooks(database) as made:
        yield made


def counted(forge: str, event: str, outcome: str) -> float:
    labels = {"forge": forge, "event": event, "outcome": outcome}
    return metrics.REGISTRY.get_sample_value("rightsizer_webhooks_total", labels) or 0.0


# Signatures ---------------------------------------------------------------------------


def test_signature_matches_githubs_published_test_vector() -> None:
    vector = json.loads(raw("_signature-test-vector.json"))
    assert vector["secret"] == SECRET and vector["payload"] == "Hello, World!"
    made = signature(vector["secret"], vector["payload"].encode())
    assert made == vector["expected_header_value"]
    assert made == "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    expected = hmac.new(SECRET.encode(), raw(PUSH), hashlib.sha256).hexdigest()
    assert signature(SECRET, raw(PUSH)) == f"sha256={expected}"


def test_a_real_delivery_signed_with_the_secret_is_accepted(hooks: Hooks) -> None:
    answer = hooks.github("ping", raw(PING))
    assert (answer.status_code, answer.json()) == (200, {"status": "pong"})


def test_bad_signature_is_refused_and_nothing_recorded(hooks: Hooks) -> None:
    hooks.store.repositories.add_installation("github", 1, "Codertocat")
    body = variant(PUSH, touching("apps/web/deployment.yaml"))
    before = counted("github", "push", "refused")
    answer = hooks.github("push", body, secret="not the secret")
    assert answer.status_code == 401
    assert "does not match" in answer.json()["detail"]
    tampered = body.replace(b"Codertocat", b"Codertocaz")
    forged = hooks.github(
        "push", tampered, secret=None, headers={"X-Hub-Signature-256": signature(SECRET, body)}
    )
    assert forged.status_code == 401
    malformed = hooks.github("push", body, secret=None, headers={"X-Hub-Signature-256": "sha1=x"})
    assert malformed.status_code == 401
    not_ascii = hooks.github(
        "push", body, secret=None, headers={"X-Hub-Signature-256": "sha256=é".encode("latin-1")}
    )
    assert not_ascii.status_code == 401
    assert hooks.jobs() == [] and hooks.deliveries_seen() == 0
    assert hooks.store.repositories.active() == []
    assert counted("github", "push", "refused") == before + 4


def test_missing_signature_is_refused(hooks: Hooks) -> None:
    answer = hooks.github("push", variant(PUSH, touching("a.yaml")), secret=None)
    assert answer.status_code == 401
    assert answer.json() == {"detail": "X-Hub-Signature-256 is missing"}
    assert hooks.jobs() == [] and hooks.deliveries_seen() == 0


def test_without_a_configured_secret_every_delivery_is_refused(database: str) -> None:
    with make_hooks(database, github={"webhook_secret": None}) as hooks:
        for secret in (SECRET, ""):
            answer = hooks.github("ping", raw(PING), secret=secret)
            assert answer.status_code == 401
            assert answer.json() == {"detail": "no GitHub webhook secret is configured"}
        assert hooks.deliveries_seen() == 0


def test_oversize_bodies_are_refused_before_or_while_reading(database: str) -> None:
    with make_hooks(database, max_body_bytes=2048) as hooks:
        body = raw(PUSH)
        assert len(body) > 2048
        answer = hooks.github("push", body)
        assert answer.status_code == 413
        assert answer.json() == {"detail": "the body is over 2048 bytes"}

        def chunked() -> Iterator[bytes]:  # no Content-Length: the bound is kept while reading
            for start in range(0, len(body), 512):
                yield body[start : start + 512]

        streamed = hooks.client.post(
            "/webhooks/github",
            content=chunked(),
            headers={
                "X-GitHub-Event": "push",
                "X-GitHub-Delivery": "chunked-1",
                "X-Hub-Signature-256": signature(SECRET, body),
            },
        )
        assert streamed.status_code == 413
        assert hooks.github("ping", b'{"zen": "small"}').status_code == 200
        assert hooks.jobs() == [] and hooks.deliveries_seen() == 1


def test_signed_but_not_json_or_without_delivery_id_is_invalid(hooks: Hooks) -> None:
    assert hooks.github("push", b"not json").status_code == 400
    assert hooks.github("push", b"[1, 2]").status_code == 400
    deep = b"[" * 100_000 + b"]" * 100_000
    for answer in (hooks.github("push", deep), hooks.gitlab("Push Hook", deep)):
        assert answer.status_code == 400
        assert "nested too deeply" in answer.text
    no_id = hooks.client.post(
        "/webhooks/github",
        content=raw(PING),
        headers={"X-GitHub-Event": "ping", "X-Hub-Signature-256": signature(SECRET, raw(PING))},
    )
    assert no_id.status_code == 400
    assert hooks.deliveries_seen() == 0


def test_form_encoded_deliveries_are_read_from_their_payload_field(hooks: Hooks) -> None:
    body = urlencode({"payload": raw(PING).decode()}).encode()
    answer = hooks.github(
        "ping", body, headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert (answer.status_code, answer.json()) == (200, {"status": "pong"})


# Deduplication and debouncing ---------------------------------------------------------


def test_a_redelivery_makes_one_job(hooks: Hooks) -> None:
    hooks.store.repositories.add_installation("github", 1, "Codertocat")
    body = variant(PUSH, touching("apps/web/overlays/prod/deployment.yaml"))
    first = hooks.github("push", body, delivery="d-1")
    again = hooks.github("push", body, delivery="d-1")
    assert first.status_code == 202
    assert (again.status_code, again.json()) == (200, {"status": "duplicate"})
    assert [(reason, state) for _, reason, state, _ in hooks.jobs()] == [("push", "queued")]


def test_two_pushes_are_debounced_into_one_queued_job(hooks: Hooks) -> None:
    hooks.store.repositories.add_installation("github", 1, "Codertocat")
    first = hooks.github("push", variant(PUSH, touching("apps/web/deployment.yaml")))
    second = hooks.github("push", variant(PUSH, touching("policies/prod.yaml")))
    assert first.status_code == second.status_code == 202
    [job1], [job2] = first.json()["jobs"], second.json()["jobs"]
    assert (job1["repository"], job1["reason"]) == ("Codertocat/Hello-World", "push")
    assert job1["new"] is True and job2["new"] is False and job1["id"] == job2["id"]
    assert len(hooks.jobs()) == 1
    assert fetch(hooks.store) is None  # not due before the debounce delay
    assert metrics.REGISTRY.get_sample_value("rightsizer_queue_depth") == 1


def test_a_push_is_queued_without_delay_when_debounce_is_zero(database: str) -> None:
    with make_hooks(database, debounce_seconds=0.0) as hooks:
        hooks.store.repositories.add_installation("github", 1, "Codertocat")
        assert hooks.github("push", variant(PUSH, touching(".rightsizer.yaml"))).status_code == 202
        job = fetch(hooks.store)
        assert job is not None and job[1]["reason"] == "push"
        repository = hooks.store.repositories.served(job[1]["repository"])
        assert repository is not None and repository.full_name == "Codertocat/Hello-World"
        assert repository.installation_id == 1


# Push ---------------------------------------------------------------------------------


def test_pushes_that_do_not_call_for_a_run_are_ignored(hooks: Hooks) -> None:
    hooks.store.repositories.add_installation("github", 1, "Codertocat")

    def other_branch(payload: dict[str, Any]) -> None:
        touching("apps/web/deployment.yaml")(payload)
        payload["ref"] = "refs/heads/rightsizer/prod"

    cases = {
        "refs/heads/rightsizer/prod is not the default branch master": variant(PUSH, other_branch),
        "refs/tags/simple-tag is not the default branch master": raw(TAG_PUSH),
        "no manifest, policy, config or export changed": raw(PUSH),  # README.md only
    }
    for why, body in cases.items():
        answer = hooks.github("push", body)
        assert (answer.status_code, answer.json()) == (200, {"status": "ignored", "why": why})
    assert hooks.jobs() == []


def test_a_push_to_a_repository_of_no_known_installation_is_ignored(hooks: Hooks) -> None:
    answer = hooks.github("push", variant(PUSH, touching("apps/web/deployment.yaml")))
    assert answer.json() == {"status": "ignored", "why": "repository not installed"}
    assert hooks.store.repositories.active() == [] and hooks.jobs() == []


def test_a_push_to_a_repository_removed_from_its_installation_is_ignored(hooks: Hooks) -> None:
    hooks.store.repositories.add_installation("github", 1, "Codertocat")
    hooks.store.repositories.add("github", "Codertocat/Hello-World", 1)
    hooks.store.repositories.remove("github", "Codertocat/Hello-World")
    answer = hooks.github("push", variant(PUSH, touching("apps/web/deployment.yaml")))
    assert answer.json()["why"] == "repository was removed from the installation"
    assert hooks.jobs() == [] and hooks.deliveries_seen() == 1


def test_the_queued_push_is_the_one_the_store_knows(hooks: Hooks) -> None:
    repository = hooks.store.repositories.add("github", "Codertocat/Hello-World", 1)
    answer = hooks.github("push", variant(PUSH, touching("apps/web/deployment.yaml")))
    [job] = answer.json()["jobs"]
    assert hooks.store.queue.enqueue(repository, "push", delay=0) == (job["id"], False)
    assert (
        hooks.github("push", variant(PUSH, touching("b.yml"))).json()["jobs"][0]["id"]
        == (job["id"])
    )


def test_which_paths_count_as_inputs() -> None:
    for path in (
        "apps/web/deployment.yaml",
        "clusters/prod/kustomization.yml",
        "exports/usage.csv",
        "exports/usage.parquet",
        "exports/allocation.json",
        "policies/rightsizer.rego",
        ".rightsizer.yaml",
        ".rightsizer/templates/pr_body.md.j2",
        "team/policies/limits.cue",
    ):
        assert touches_inputs(path), path
    for path in ("README.md", "src/main.go", "Dockerfile", "docs/policies.md"):
        assert not touches_inputs(path), path


# Comments -----------------------------------------------------------------------------


def test_a_rerun_command_on_a_pr_makes_one_command_job(hooks: Hooks) -> None:
    hooks.store.repositories.add_installation("github", 1, "Codertocat")
    hooks.bot_opened("github", "Codertocat/Hello-World", 1, "rightsizer/prod")
    body = variant(COMMENT, commenting("Thanks!\n\n  /rightsizer rerun  \nmore text"))
    answer = hooks.github("issue_comment", body)
    assert answer.status_code == 202
    [job] = answer.json()["jobs"]
    comment_id = json.loads(body)["comment"]["id"]
    assert job["reason"] == f"command:{comment_id}"
    assert hooks.details(job["id"]) == {
        "number": 1,
        "login": "Codertocat",
        "command": "/rightsizer rerun",
        "comment_id": comment_id,
        "delivery": f"72d3162e-cc78-11e3-81ab-{hooks.deliveries:012d}",  # for its log lines
    }
    claimed = fetch(hooks.store)  # delay 0: due at once
    assert claimed is not None and claimed[1]["details"]["command"] == "/rightsizer rerun"
    assert len(hooks.jobs()) == 1


def test_comments_the_bot_does_not_act_on_are_ignored(hooks: Hooks) -> None:
    hooks.store.repositories.add_installation("github", 1, "Codertocat")
    cases = {
        "a comment by a bot": variant(COMMENT, commenting("/rightsizer rerun", bot=True)),
        "a comment on an issue, not on a pull request": variant(
            COMMENT, commenting("/rightsizer rerun", on_pr=False)
        ),
        "no /rightsizer command in the comment": variant(
            COMMENT, commenting("> /rightsizer rerun\nplease don't, /rightsizerx")
        ),
        "a command on a pull request Rightsizer did not open": variant(
            COMMENT, commenting("/rightsizer rerun", ours=False)
        ),
    }
    for why, body in cases.items():
        assert hooks.github("issue_comment", body).json() == {"status": "ignored", "why": why}
    # the real comment, unchanged: on an issue and no command
    assert hooks.github("issue_comment", raw(COMMENT)).json()["status"] == "ignored"

    def edited(payload: dict[str, Any]) -> None:
        commenting("/rightsizer rerun")(payload)
        payload["action"] = "edited"

    assert hooks.github("issue_comment", variant(COMMENT, edited)).json()["status"] == "ignored"
    assert hooks.jobs() == []


# Installations, check runs, closed PRs -------------------------------------------------


def test_installation_created_adds_its_repositories_with_one_job_each(hooks: Hooks) -> None:
    answer = hooks.github("installation", raw(INSTALLED))
    assert answer.status_code == 202
    assert [(j["repository"], j["reason"]) for j in answer.json()["jobs"]] == [
        ("Codertocat/Hello-World", "installation")
    ]
    [repository] = hooks.store.repositories.active()
    assert (repository.full_name, repository.installation_id) == ("Codertocat/Hello-World", 957387)

    added = hooks.github("installation_repositories", raw(REPOS_ADDED))
    assert [j["repository"] for j in added.json()["jobs"]] == ["Codertocat/Space"]
    assert sorted(r.full_name for r in hooks.store.repositories.active()) == [
        "Codertocat/Hello-World",
        "Codertocat/Space",
    ]
    assert [reason for _, reason, _, _ in hooks.jobs()] == ["installation", "installation"]

    def deleted(payload: dict[str, Any]) -> None:
        payload["installation"]["id"] = 957387

    gone = hooks.github("installation", variant(UNINSTALLED, deleted))
    assert gone.json() == {"status": "recorded", "what": "installation 957387 removed"}
    assert hooks.store.repositories.active() == []


def test_installation_repositories_removed_forgets_them(hooks: Hooks) -> None:
    hooks.store.repositories.add_installation("github", 2, "octocat")
    hooks.store.repositories.add("github", "octocat/Hello-World", 2)
    answer = hooks.github(
        "installation_repositories", raw("installation_repositories/removed.payload.json")
    )
    assert answer.json() == {"status": "recorded", "what": "1 repositories removed"}
    assert hooks.store.repositories.active() == []


def test_installation_deleted_unchanged_is_recorded(hooks: Hooks) -> None:
    hooks.store.repositories.add_installation("github", 2, "octocat")
    hooks.store.repositories.add("github", "octocat/Hello-World", 2)
    assert hooks.github("installation", raw(UNINSTALLED)).status_code == 200
    assert hooks.store.repositories.active() == []


def test_a_rerequested_check_run_queues_a_rerun(hooks: Hooks) -> None:
    hooks.store.repositories.add_installation("github", 1, "github")
    answer = hooks.github("check_run", raw(RERUN))
    assert answer.status_code == 202
    assert [(j["repository"], j["reason"]) for j in answer.json()["jobs"]] == [
        ("github/hello-world", "rerun")
    ]


def test_re_run_all_checks_queues_a_rerun_unless_another_app_s_suite(database: str) -> None:
    for ours, queued in (("29310", True), ("12", False)):  # the payload's suite is App 29310's
        with make_hooks(database, github={"app_id": ours}) as hooks:
            hooks.store.repositories.add_installation("github", 957387, "Codertocat")
            delivery = f"72d3162e-cc78-11e3-81ab-{ours:0>12}"  # one database, two deliveries
            answer = hooks.github("check_suite", raw(RERUN_ALL), delivery=delivery).json()
            jobs = [(j["repository"], j["reason"]) for j in answer.get("jobs", [])]
            assert jobs == ([("Codertocat/Hello-World", "rerun")] if queued else [])
            assert queued or answer["why"] == "a check suite of another app"


def test_the_app_manifest_asks_for_the_events_acted_on_and_the_least_permissions(
    hooks: Hooks,
) -> None:
    """deploy/github-app-manifest.json: each event it subscribes to is one the service acts
    on, shown with a real delivery of it; no permission beyond what the forge's calls need
    (a PR comment, its labels and reviewers need `pull_requests`; `issues` is for the
    dashboard issue alone)."""
    manifest = json.loads((HOOKS.parents[1] / "deploy" / "github-app-manifest.json").read_text())
    assert manifest["default_permissions"] == {
        "contents": "write",
        "pull_requests": "write",
        "checks": "write",
        "issues": "write",
        "metadata": "read",
    }
    deliveries = {
        "push": PUSH, "pull_request": CLOSED, "issue_comment": COMMENT,
        "check_run": RERUN, "check_suite": RERUN_ALL, "issues": ISSUE_EDITED,
    }  # fmt: skip
    assert sorted(manifest["default_events"]) == sorted(deliveries)
    for event, name in deliveries.items():
        answer = hooks.github(event, raw(name)).json()
        assert "is not an event the bot acts on" not in answer.get("why", ""), (event, answer)


def test_a_merged_bot_pr_is_recorded_and_others_are_not(hooks: Hooks) -> None:
    repository = hooks.store.repositories.add("github", "Codertocat/Hello-World", 1)
    not_ours = hooks.github("pull_request", raw(CLOSED))  # unchanged: a person's PR
    assert not_ours.json() == {"status": "ignored", "why": "not a pull request of the bot"}

    def marked(payload: dict[str, Any]) -> None:  # the bot's marker, written by a person
        payload["pull_request"]["body"] = "Right-size prod\n\n" + METADATA

    claimed = hooks.github("pull_request", variant(CLOSED, marked))
    assert claimed.json() == {"status": "ignored", "why": "not a pull request of the bot"}
    head = json.loads(raw(CLOSED))["pull_request"]["head"]["ref"]
    hooks.bot_opened("github", "Codertocat/Hello-World", 2, head)

    def merged_bot_pr(payload: dict[str, Any]) -> None:
        payload["pull_request"]["merged"] = True

    answer = hooks.github("pull_request", variant(CLOSED, merged_bot_pr))
    assert (answer.status_code, answer.json()) == (
        200,
        {"status": "recorded", "number": 2, "state": "merged"},
    )
    with hooks.store.session() as session:
        record = session.get(PullRequestRecord, (repository.id, 2))
        assert record is not None
        assert (record.branch, record.state, record.url) == (
            "changes",
            "merged",
            "https://github.com/Codertocat/Hello-World/pull/2",
        )
    assert hooks.jobs() == []


@pytest.mark.parametrize(
    ("event", "name", "change", "field"),
    [
        ("push", PUSH, lambda p: p["commits"][0].update(added=5), "commits.0.added"),
        ("push", PUSH, lambda p: p["repository"].update(full_name=""), "repository.full_name"),
        ("issue_comment", COMMENT, lambda p: p["issue"].update(number="7"), "issue.number"),
        ("issue_comment", COMMENT, lambda p: p["sender"].pop("login"), "sender.login"),
        ("installation", INSTALLED, lambda p: p["installation"].update(id=True), "installation.id"),
        ("check_run", RERUN, lambda p: p.update(check_run=[]), "check_run"),
        (
            "pull_request",
            CLOSED,
            lambda p: p["pull_request"]["head"].update(ref=1),
            "pull_request.head.ref",
        ),
    ],
)
def test_a_signed_payload_of_the_wrong_shape_is_refused_naming_the_field(
    hooks: Hooks, event: str, name: str, change: Callable[[dict[str, Any]], None], field: str
) -> None:
    """Checked against the event's model, strictly: "7" is not a number, True is not an id."""
    answer = hooks.github(event, variant(name, change))
    assert answer.status_code == 400
    assert answer.json() == {"detail": f"payload has no valid {field}"}
    assert hooks.jobs() == [] and hooks.deliveries_seen() == 0


def test_a_gitlab_payload_of_the_wrong_shape_is_refused_naming_the_field(hooks: Hooks) -> None:
    def note_id_as_text(payload: dict[str, Any]) -> None:
        payload["object_attributes"].update(note="/rightsizer rerun", id="1244")

    answer = hooks.gitlab("Note Hook", gitlab_variant("note_merge_request.json", note_id_as_text))
    assert (answer.status_code, answer.json()) == (
        400,
        {"detail": "payload has no valid object_attributes.id"},
    )
    no_project = gitlab_variant("push.json", lambda p: p.update(project="mike/diaspora"))
    assert hooks.gitlab("Push Hook", no_project).json() == {
        "detail": "payload has no valid project"
    }
    assert hooks.jobs() == []


def test_an_unknown_event_is_ignored_with_why(hooks: Hooks) -> None:
    answer = hooks.github("star", b'{"action": "created"}')
    assert answer.json() == {
        "status": "ignored",
        "why": "star created is not an event the bot acts on",
    }
    assert counted("github", "other", "ignored") >= 1


def test_a_push_that_fails_midway_leaves_neither_delivery_nor_job(
    hooks: Hooks, monkeypatch: pytest.MonkeyPatch
) -> None:
    hooks.store.repositories.add_installation("github", 1, "Codertocat")
    hooks.store.repositories.add("github", "Codertocat/Hello-World", 1)
    body = variant(PUSH, touching("apps/web/deployment.yaml"))
    enqueue = queue.enqueue_in

    def broken(*args: Any, **kwargs: Any) -> Any:  # the delivery row is written, then this
        raise RuntimeError("the database went away")

    monkeypatch.setattr(queue, "enqueue_in", broken)
    assert hooks.github("push", body, delivery="d-9").status_code == 500
    assert hooks.deliveries_seen() == 0 and hooks.jobs() == []
    monkeypatch.setattr(queue, "enqueue_in", enqueue)
    assert hooks.github("push", body, delivery="d-9").status_code == 202  # the redelivery
    assert len(hooks.jobs()) == 1


def test_an_installation_that_fails_midway_is_forgotten_for_its_redelivery(
    hooks: Hooks, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Delivery, installation, repositories and jobs are one transaction: a failure at the
    last step leaves none of them, so GitHub's redelivery installs everything."""
    enqueue = repositories.enqueue_in

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("the database went away")

    monkeypatch.setattr(repositories, "enqueue_in", broken)
    assert hooks.github("installation", raw(INSTALLED), delivery="d-10").status_code == 500
    installation = json.loads(raw(INSTALLED))["installation"]["id"]
    assert hooks.deliveries_seen() == 0
    assert not hooks.store.repositories.installation_active("github", installation)
    monkeypatch.setattr(repositories, "enqueue_in", enqueue)
    assert hooks.github("installation", raw(INSTALLED), delivery="d-10").status_code == 202
    assert len(hooks.jobs()) == 1
    assert hooks.store.repositories.installation_active("github", installation)


def test_one_log_line_per_delivery_without_secrets(
    hooks: Hooks, caplog: pytest.LogCaptureFixture
) -> None:
    hooks.store.repositories.add_installation("github", 1, "Codertocat")
    body = variant(PUSH, touching("apps/web/deployment.yaml"))
    with caplog.at_level(logging.INFO, logger="rightsizer.webhooks"):
        hooks.github("push", body, delivery="log-1")
        hooks.github("push", body, secret="wrong", delivery="log-2")
    records = [r for r in caplog.records if r.name == "rightsizer.webhooks"]
    assert [(r.delivery, r.outcome, r.status_code) for r in records] == [  # type: ignore[attr-defined]
        ("log-1", "queued", 202),
        ("log-2", "refused", 401),
    ]
    assert records[0].repository == "Codertocat/Hello-World"  # type: ignore[attr-defined]
    text = " ".join(f"{r.getMessage()} {r.__dict__}" for r in records)
    assert SECRET not in text and signature(SECRET, body) not in text
    assert "README" not in text and "Codertocat/Hello-World/commit" not in text


# GitLab -------------------------------------------------------------------------------


def gitlab_variant(name: str, change: Callable[[dict[str, Any]], None]) -> bytes:
    return variant(f"gitlab/{name}", change)


def test_gitlab_token_is_checked(hooks: Hooks) -> None:
    body = gitlab_variant("push.json", lambda p: p["commits"][0]["modified"].append("a.yaml"))
    for token in (None, "wrong", TOKEN + "x", ""):
        answer = hooks.gitlab("Push Hook", body, token=token)
        assert answer.status_code == 401, token
    assert hooks.jobs() == [] and hooks.deliveries_seen() == 0
    good = hooks.gitlab("Push Hook", body, uuid="u-1")
    assert good.status_code == 202
    assert [j["repository"] for j in good.json()["jobs"]] == ["mike/diaspora"]
    assert hooks.gitlab("Push Hook", body, uuid="u-1").json() == {"status": "duplicate"}
    assert len(hooks.jobs()) == 1


def test_gitlab_without_a_configured_token_refuses(database: str) -> None:
    with make_hooks(database, gitlab={"webhook_token": None, "projects": None}) as hooks:
        assert hooks.gitlab("Push Hook", raw("gitlab/push.json"), token="").status_code == 401


def test_gitlab_serves_only_listed_projects_each_with_its_own_token(hooks: Hooks) -> None:
    def project(path: str) -> Callable[[dict[str, Any]], None]:
        def change(payload: dict[str, Any]) -> None:
            payload["project"]["path_with_namespace"] = path
            payload["commits"][0]["modified"].append("apps/web/deployment.yaml")

        return change

    stranger = hooks.gitlab("Push Hook", gitlab_variant("push.json", project("evil/fork")))
    assert stranger.json() == {
        "status": "ignored",
        "why": "project not served: it is not in RIGHTSIZER_GITLAB_PROJECTS",
    }
    infra = gitlab_variant("push.json", project("platform/infra"))
    assert hooks.gitlab("Push Hook", infra).status_code == 401  # the shared token: not its
    assert hooks.gitlab("Push Hook", infra, token=PROJECT_TOKEN).status_code == 202
    diaspora = gitlab_variant("push.json", project("mike/diaspora"))
    assert hooks.gitlab("Push Hook", diaspora, token=PROJECT_TOKEN).status_code == 401
    assert [job[1] for job in hooks.jobs()] == ["push"]
    assert hooks.store.repositories.get("gitlab", "evil/fork") is None


def test_gitlab_push_touching_no_input_is_ignored(hooks: Hooks) -> None:
    answer = hooks.gitlab("Push Hook", raw("gitlab/push.json"))  # CHANGELOG and a .rb file
    assert answer.json() == {
        "status": "ignored",
        "why": "no manifest, policy, config or export changed",
    }


def test_gitlab_push_listing_only_the_last_20_commits_is_run_anyway(hooks: Hooks) -> None:
    def many(payload: dict[str, Any]) -> None:
        payload["commits"] = [copy.deepcopy(payload["commits"][0]) for _ in range(20)]
        payload["total_commits_count"] = 25  # five more commits than listed: they may touch inputs

    assert hooks.gitlab("Push Hook", gitlab_variant("push.json", many)).status_code == 202


def test_gitlab_note_with_a_command_on_an_mr_makes_a_command_job(hooks: Hooks) -> None:
    hooks.bot_opened("gitlab", "gitlab-org/gitlab-test", 1, "master")

    def command(payload: dict[str, Any]) -> None:
        payload["object_attributes"].update(note="/rightsizer snooze Deployment/web 7")

    answer = hooks.gitlab("Note Hook", gitlab_variant("note_merge_request.json", command))
    assert answer.status_code == 202
    [job] = answer.json()["jobs"]
    assert (job["repository"], job["reason"]) == ("gitlab-org/gitlab-test", "command:1244")
    details = hooks.details(job["id"])
    assert details.pop("delivery")  # GitLab's X-Gitlab-Event-UUID, for the run's log lines
    assert details == {
        "number": 1,
        "login": "root",
        "command": "/rightsizer snooze Deployment/web 7",
        "comment_id": 1244,
    }

    def by_token_bot(payload: dict[str, Any]) -> None:
        command(payload)
        payload["object_attributes"].update(note="/rightsizer rerun", id=1245)
        payload["user"]["username"] = "project_42_bot_0123abcd"

    by_token = gitlab_variant("note_merge_request.json", by_token_bot)
    assert hooks.gitlab("Note Hook", by_token).json()["why"] == "a note by a bot"
    assert hooks.gitlab("Note Hook", raw("gitlab/note_merge_request.json")).json() == {
        "status": "ignored",
        "why": "no /rightsizer command in the note",
    }

    def on_a_person_s_mr(payload: dict[str, Any]) -> None:
        payload["object_attributes"].update(note="/rightsizer rerun", id=1246)
        payload["merge_request"].update(iid=2, description=f"Right-size prod\n{METADATA}")

    theirs = gitlab_variant("note_merge_request.json", on_a_person_s_mr)
    assert hooks.gitlab("Note Hook", theirs).json()["why"] == (
        "a command on a merge request Rightsizer did not open"
    )


def test_gitlab_merge_of_a_bot_mr_is_recorded(hooks: Hooks) -> None:
    assert hooks.gitlab("Merge Request Hook", raw("gitlab/merge_request.json")).json() == {
        "status": "ignored",
        "why": "merge request open, not merged or closed",
    }

    def merged(payload: dict[str, Any]) -> None:
        payload["object_attributes"].update(action="merge", description=METADATA)

    not_yet = hooks.gitlab("Merge Request Hook", gitlab_variant("merge_request.json", merged))
    assert not_yet.json() == {"status": "ignored", "why": "not a merge request of the bot"}
    hooks.bot_opened("gitlab", "gitlabhq/gitlab-test", 1, "ms-viewport")

    answer = hooks.gitlab("Merge Request Hook", gitlab_variant("merge_request.json", merged))
    assert answer.json() == {"status": "recorded", "number": 1, "state": "merged"}
    repository = hooks.store.repositories.get("gitlab", "gitlabhq/gitlab-test")
    assert repository is not None
    with hooks.store.session() as session:
        record = session.get(PullRequestRecord, (repository.id, 1))
        assert record is not None and (record.branch, record.state) == ("ms-viewport", "merged")


# GitLab: the dashboard issue -----------------------------------------------------------


def dashboard_text(*ticked: str) -> str:
    """The dashboard's text with the named boxes ticked: `rerun`, or a group to release."""
    boxes = (Tick("rerun"), Tick("release", "prod"), Tick("release", "staging"))
    lines = [
        f"- [{'x' if (box.group or box.action) in ticked else ' '}] {box.marker()}" for box in boxes
    ]
    return "\n".join([DASHBOARD_MARKER, "## Rightsizer", *lines])


GITLAB_TEST_TOKEN = "gitlab-test-own-hook-token"
"""gitlabhq/gitlab-test's own webhook token: GitLab's issue events act only with one."""


@pytest.fixture
def own_token(database: str) -> Iterator[Hooks]:
    """The hooks with gitlabhq/gitlab-test (the recorded issue event's project) listed with
    a webhook token of its own."""
    projects = f"gitlabhq/gitlab-test={GITLAB_TEST_TOKEN}, platform/infra={PROJECT_TOKEN}"
    with make_hooks(database, gitlab={"projects": projects}) as made:
        yield made


def issue_edit(before: str, after: str, username: str = "root", bot: bool | None = None) -> bytes:
    """The real issue event as an edit of the description from `before` to `after`."""

    def change(payload: dict[str, Any]) -> None:
        payload["object_attributes"].update(action="update", description=after)
        payload["changes"]["description"] = {"previous": before, "current": after}
        payload["user"]["username"] = username
        if bot is not None:
            payload["user"]["bot"] = bot

    return gitlab_variant("issue.json", change)


def test_gitlab_ticking_a_dashboard_box_queues_a_dashboard_job(own_token: Hooks) -> None:
    hooks = own_token
    before = counted("gitlab", "Issue Hook", "queued")
    ticking = issue_edit(dashboard_text(), dashboard_text("prod"))
    answer = hooks.gitlab("Issue Hook", ticking, token=GITLAB_TEST_TOKEN)
    assert answer.status_code == 202
    [job] = answer.json()["jobs"]
    prod = f"dashboard:23:root:{ticks_key([Tick('release', 'prod')])}"
    assert (job["repository"], job["reason"]) == ("gitlabhq/gitlab-test", prod)
    details = hooks.details(job["id"])
    assert details.pop("delivery")
    assert details == {"number": 23, "login": "root", "ticks": [["release", "prod"]]}
    assert counted("gitlab", "Issue Hook", "queued") == before + 1

    # Another person's ticks are another job; the same ticks delivered again join the waiting
    # job; other ticks by the same person make a job of their own, which keeps them.
    by_alice = issue_edit(dashboard_text("prod"), dashboard_text("prod", "rerun"), "alice")
    [alices] = hooks.gitlab("Issue Hook", by_alice, token=GITLAB_TEST_TOKEN).json()["jobs"]
    assert alices["reason"] == f"dashboard:23:alice:{ticks_key([Tick('rerun')])}"
    [joined] = hooks.gitlab("Issue Hook", ticking, token=GITLAB_TEST_TOKEN).json()["jobs"]
    assert (joined["id"], joined["new"]) == (job["id"], False)
    again = issue_edit(dashboard_text("prod", "rerun"), dashboard_text("prod", "staging"))
    [staging] = hooks.gitlab("Issue Hook", again, token=GITLAB_TEST_TOKEN).json()["jobs"]
    assert staging["new"] and hooks.details(staging["id"])["ticks"] == [["release", "staging"]]
    assert len(hooks.jobs()) == 3


def test_gitlab_issue_events_that_tick_no_dashboard_box_are_ignored(own_token: Hooks) -> None:
    hooks = own_token

    def title_only(payload: dict[str, Any]) -> None:
        payload["object_attributes"].update(action="update")
        del payload["changes"]["description"]  # the real event's other changes stay

    cases = {
        "issue open, not an edit": raw("gitlab/issue.json"),  # the real event, unchanged
        "an issue edit that leaves the description as it was": gitlab_variant(
            "issue.json", title_only
        ),
        # the bot's own rewrite after acting: every box clear again
        "an issue edit that ticks no dashboard box": issue_edit(
            dashboard_text("prod"), dashboard_text()
        ),
        "an edit of an issue that is not the dashboard": issue_edit(
            "Tasks:\n- [ ] <!-- rightsizer:rerun -->",
            "Tasks:\n- [x] <!-- rightsizer:rerun -->",
        ),
        "an issue edit by a bot": issue_edit(
            dashboard_text(), dashboard_text("rerun"), "project_42_bot_0123abcd"
        ),
    }
    for why, body in cases.items():
        answer = hooks.gitlab("Issue Hook", body, token=GITLAB_TEST_TOKEN)
        assert (answer.status_code, answer.json()) == (200, {"status": "ignored", "why": why})
    # text edited around a box ticked before, and a user GitLab flags as a bot
    around = issue_edit(dashboard_text("rerun"), dashboard_text("rerun") + "\nThanks!")
    flagged = issue_edit(dashboard_text(), dashboard_text("rerun"), "renovate", bot=True)
    assert hooks.gitlab("Issue Hook", around, token=GITLAB_TEST_TOKEN).json()["why"] == (
        "an issue edit that ticks no dashboard box"
    )
    assert hooks.gitlab("Issue Hook", flagged, token=GITLAB_TEST_TOKEN).json()["why"] == (
        "an issue edit by a bot"
    )
    assert hooks.jobs() == []


def test_gitlab_dashboard_boxes_need_the_projects_own_webhook_token(hooks: Hooks) -> None:
    """GitLab names who edited an issue only in the payload; with the token every project
    shares, one project's maintainers could write that payload for another project."""
    ticking = issue_edit(dashboard_text(), dashboard_text("prod"))
    answer = hooks.gitlab("Issue Hook", ticking)  # gitlabhq/gitlab-test on the shared token
    assert answer.json()["why"].startswith("dashboard boxes need the project's own webhook token")
    assert hooks.jobs() == []


def test_gitlab_issue_events_with_a_wrong_token_or_shape_are_refused(own_token: Hooks) -> None:
    hooks = own_token
    ticking = issue_edit(dashboard_text(), dashboard_text("rerun"))
    assert hooks.gitlab("Issue Hook", ticking, token=PROJECT_TOKEN).status_code == 401
    assert hooks.gitlab("Issue Hook", ticking, token=TOKEN).status_code == 401

    def iid_as_text(payload: dict[str, Any]) -> None:
        payload["object_attributes"]["iid"] = "23"

    answer = hooks.gitlab(
        "Issue Hook", gitlab_variant("issue.json", iid_as_text), token=GITLAB_TEST_TOKEN
    )
    assert (answer.status_code, answer.json()) == (
        400,
        {"detail": "payload has no valid object_attributes.iid"},
    )
    assert hooks.jobs() == []


# GitHub: the dashboard issue -----------------------------------------------------------


def dashboard_edit(
    before: str | None, after: str, *, sender: str = "Codertocat", author: str = "Bot"
) -> bytes:
    """The real `issues` edited delivery, as an edit of the bot's dashboard text."""

    def change(payload: dict[str, Any]) -> None:
        payload["issue"].update(body=after, number=5)
        payload["issue"]["user"].update(login="rightsizer[bot]", type=author)
        payload["changes"] = {} if before is None else {"body": {"from": before}}
        payload["sender"].update(login=sender, type="Bot" if sender.endswith("[bot]") else "User")
        payload["installation"] = {"id": 1}

    return variant(ISSUE_EDITED, change)


def test_ticking_a_dashboard_box_on_github_queues_a_dashboard_job(hooks: Hooks) -> None:
    hooks.store.repositories.add_installation("github", 1, "Codertocat")
    answer = hooks.github("issues", dashboard_edit(dashboard_text(), dashboard_text("staging")))
    assert answer.status_code == 202
    [job] = answer.json()["jobs"]
    assert (job["repository"], job["reason"]) == (
        "Codertocat/Hello-World",
        f"dashboard:5:Codertocat:{ticks_key([Tick('release', 'staging')])}",
    )
    details = hooks.details(job["id"])
    assert details.pop("delivery")
    assert details == {"number": 5, "login": "Codertocat", "ticks": [["release", "staging"]]}


def test_github_issue_edits_that_tick_no_dashboard_box_are_ignored(hooks: Hooks) -> None:
    hooks.store.repositories.add_installation("github", 1, "Codertocat")
    plain = hooks.github("issues", raw(ISSUE_EDITED)).json()  # a person's issue, as delivered
    assert plain["why"] == "an issue edited that is not the dashboard issue"
    cases = {
        "an issue carrying the dashboard marker, not written by a bot": dashboard_edit(
            dashboard_text(), dashboard_text("rerun"), author="User"
        ),
        "the dashboard issue edited by a bot": dashboard_edit(
            dashboard_text("prod"), dashboard_text(), sender="rightsizer[bot]"
        ),
        "a dashboard edit that ticks no box": dashboard_edit(
            dashboard_text("prod"), dashboard_text("prod") + "\nthanks!"
        ),
    }
    for why, body in cases.items():
        assert hooks.github("issues", body).json() == {"status": "ignored", "why": why}, why
    unticked = hooks.github("issues", dashboard_edit(dashboard_text("prod"), dashboard_text()))
    assert unticked.json()["why"] == "a dashboard edit that ticks no box"
    title_only = hooks.github("issues", dashboard_edit(None, dashboard_text("prod")))
    assert title_only.json()["why"] == "a dashboard edit that ticks no box"
    assert hooks.jobs() == []


# Commands -----------------------------------------------------------------------------


def test_command_line_finds_the_first_command_line() -> None:
    assert command_line("LGTM\r\n/rightsizer   explain Deployment/web\n") == (
        "/rightsizer   explain Deployment/web"
    )
    assert command_line("/rightsizer") == "/rightsizer"
    assert command_line("see /rightsizer rerun") is None
    assert command_line("/rightsizers rerun") is None
    assert command_line("") is None


def test_parse_commands() -> None:
    web = WorkloadRef("Deployment", "web")
    assert parse_command("/rightsizer rerun") == Rerun()
    assert parse_command("/rightsizer RERUN") == Rerun()
    assert parse_command("/rightsizer ignore Deployment/web") == Ignore(web)
    assert parse_command("/rightsizer explain shop/StatefulSet/db-0") == Explain(
        WorkloadRef("StatefulSet", "db-0", namespace="shop")
    )
    assert parse_command("/rightsizer snooze prod:shop/Deployment/web 14") == Snooze(
        WorkloadRef("Deployment", "web", namespace="shop", env="prod"), 14
    )
    assert parse_command("/rightsizer pin Deployment/web requests.cpu=500m") == Pin(
        web, "requests.cpu", "500m"
    )
    assert parse_command("/rightsizer pin staging:Deployment/web limits.memory=1Gi") == Pin(
        WorkloadRef("Deployment", "web", env="staging"), "limits.memory", "1Gi"
    )
    assert parse_command("/rightsizer pin Deployment/web replicas=0").value == "0"  # type: ignore[union-attr]
    assert parse_command("/rightsizer pin Deployment/web hpa.maxReplicas=10") == Pin(
        web, "hpa.maxReplicas", "10"
    )
    assert str(WorkloadRef("Deployment", "web", "shop", "prod")) == "prod:shop/Deployment/web"
    assert str(web) == "Deployment/web"


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("/rightsizer", "no command given"),
        ("/rightsizer help", "unknown command `help`"),
        ("/rightsizer deploy Deployment/web", "unknown command `deploy`"),
        ("/rightsizer rerun now", "rerun takes nothing, got 1 argument(s)"),
        ("/rightsizer ignore", "ignore takes <workload>, got 0 argument(s)"),
        ("/rightsizer ignore web", "`web` is not a workload"),
        ("/rightsizer ignore a/b/c/d", "`a/b/c/d` is not a workload"),
        ("/rightsizer ignore Deployment/Web_1", "`Web_1` is not a Kubernetes object name"),
        ("/rightsizer ignore Shop/Deployment/web", "`Shop` is not a namespace"),
        ("/rightsizer ignore 9Deploy/web", "`9Deploy` is not a kind, such as Deployment"),
        ("/rightsizer ignore :Deployment/web", "`` is not an environment name"),
        ("/rightsizer snooze Deployment/web", "snooze takes <workload> <days>, got 1 argument(s)"),
        ("/rightsizer snooze Deployment/web 0", "days must be a whole number from 1 to 365"),
        ("/rightsizer snooze Deployment/web 1.5", "days must be a whole number from 1 to 365"),
        ("/rightsizer snooze Deployment/web 400", "days must be a whole number from 1 to 365"),
        ("/rightsizer pin Deployment/web cpu=1", "expected <field>=<value> with <field> one of"),
        ("/rightsizer pin Deployment/web requests.cpu", "expected <field>=<value>"),
        ("/rightsizer pin Deployment/web requests.cpu=1Gi", "must be cores or millicores"),
        ("/rightsizer pin Deployment/web requests.memory=lots", "is not a Kubernetes quantity"),
        ("/rightsizer pin Deployment/web replicas=-1", "replicas takes a whole number"),
        ("/rightsizer pin Deployment/web hpa.minReplicas=0", "hpa.minReplicas must be at least 1"),
        ("/rightsizer pin Deployment/web hpa.cpuUtilization=150", "a percentage, 1 to 100"),
        ("/rightsizer ignore Deployment/`x`", "is not a Kubernetes object name"),
        ("rerun", "a command starts with /rightsizer"),
    ],
)
def test_malformed_commands_answer_with_the_usage(line: str, problem: str) -> None:
    with pytest.raises(CommandError) as raised:
        parse_command(line)
    message = str(raised.value)
    assert problem in message
    assert message.endswith(USAGE) and "\n" not in message
    assert "`" not in raised.value.problem.replace("`", "", 2)  # user text cannot break quoting


def test_who_may_command() -> None:
    assert all(may_command(p) for p in ("admin", "maintain", "write", "Write"))
    assert not any(may_command(p) for p in ("triage", "read", "none", ""))
