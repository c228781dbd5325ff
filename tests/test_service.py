"""`rightsizer serve` under uvicorn, driven as GitHub drives it: real webhook payloads (from
fixtures/github-webhooks, retargeted at the test repository), signed with the App's webhook
secret, against the GitHub test server. The service's worker runs the real bot.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from bot.service.worker import POISON_AFTER
from bot.store import Store
from bot.store.database import database_url
from tests.conftest import EXPORTS_AS_OF, FIXTURES, GIT_ENV, ROOT
from tests.crashing_service import BOMB
from tests.forge_servers.github import GitHubServer
from tests.forge_story import pulls_by_branch, served_monorepo, usage

pytestmark = [pytest.mark.server, pytest.mark.slow]
OWNER, NAME = "acme", "infra"
SECRET = "webhook secret, not in the repo"
DASHBOARD_TOKEN = "dashboard token, not in the repo"
PAYLOADS = FIXTURES / "github-webhooks"


def payload(name: str, server: GitHubServer) -> dict:
    """A recorded payload, retargeted at acme/infra and the test App's installation."""
    data = json.loads((PAYLOADS / name).read_text())
    data["installation"] = {"id": server.installation_id}
    if "repository" in data:
        repository = copy.deepcopy(data["repository"])
        repository.update(full_name=f"{OWNER}/{NAME}", name=NAME, default_branch="main")
        repository["owner"]["login"] = OWNER
        data["repository"] = repository
    return data


class Service:
    """`rightsizer serve` in a subprocess, with its settings in the environment."""

    def __init__(
        self,
        tmp_path: Path,
        server: GitHubServer,
        database: str | None,
        module: str = "bot.cli",
        **settings: str,
    ) -> None:
        self.module = module
        """What `python -m` runs with `serve --port N`: the CLI, or a test's variant."""
        key = tmp_path / "app.pem"
        key.write_bytes(server.private_key_pem)
        # None: the embedded PostgreSQL a trial gets, in a data directory with a short path
        # (its Unix socket's name must fit 107 bytes); it stops with the service.
        self.data_dir = Path(tempfile.mkdtemp(prefix="rs-data-"))
        self.database = database
        self.env = {
            **os.environ,
            **GIT_ENV,
            **({"RIGHTSIZER_DATABASE_URL": database} if database else {}),
            "RIGHTSIZER_DATA_DIR": str(self.data_dir),
            "RIGHTSIZER_GITHUB_URL": server.api_url,
            "RIGHTSIZER_GITHUB_APP_ID": str(server.app_id),
            "RIGHTSIZER_GITHUB_PRIVATE_KEY": str(key),
            "RIGHTSIZER_GITHUB_WEBHOOK_SECRET": SECRET,
            "RIGHTSIZER_GITHUB_WRITE_INTERVAL": "0",
            "RIGHTSIZER_DEBOUNCE_SECONDS": "1",
            "RIGHTSIZER_RETRY_SECONDS": "1",
            "RIGHTSIZER_AS_OF": EXPORTS_AS_OF,
            "RIGHTSIZER_DASHBOARD_TOKEN": DASHBOARD_TOKEN,
            **settings,
        }
        self.log = tmp_path / "service.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Service:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        # On the embedded database `serve` runs the jobs itself (no other process can reach
        # it); on a configured one it is asked to.
        worker = ["--with-worker"] if self.database else []
        command = [sys.executable, "-m", self.module, "serve", *worker, "--port", str(port)]
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(command, cwd=ROOT, env=self.env, stdout=log, stderr=log)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"service did not get ready:\n{self.log.read_text()}")

    def kill(self) -> None:
        """As a crash or an OOM kill would: no shutdown hooks run."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)

    def deliver(self, event: str, body: dict, delivery: str | None = None, sign: bool = True):
        raw = json.dumps(body).encode()
        headers = {
            "Content-Type": "application/json",
            "X-GitHub-Event": event,
            "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
            "User-Agent": "GitHub-Hookshot/test",
        }
        if sign:
            digest = hmac.new(SECRET.encode(), raw, hashlib.sha256).hexdigest()
            headers["X-Hub-Signature-256"] = f"sha256={digest}"
        return httpx.post(f"{self.url}/webhooks/github", content=raw, headers=headers, timeout=10)

    def store(self) -> Store:
        """The service's database, seen from the test; with the embedded server, the one it
        started (running while the service does)."""
        return Store(self.database or database_url(None, self.data_dir))


def wait_for(condition, what: str, service: Service, seconds: float = 120):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.25)
    jobs = service.store().queue.jobs()
    lines = service.log.read_text().splitlines()
    log = "\n".join(line for line in lines if "apscheduler" not in line)
    raise AssertionError(f"timed out waiting for {what}; jobs {jobs}:\n{log[-6000:]}")


@pytest.fixture
def github(tmp_path: Path) -> Iterator[GitHubServer]:
    """acme/infra with its exports and `sources:` committed, as the service reads them."""
    with GitHubServer(tmp_path / "github") as server:
        server.add_repository(OWNER, NAME, served_monorepo(tmp_path / "infra"))
        yield server


def push_payload(server: GitHubServer) -> dict:
    body = payload("push/payload.json", server)
    # The recorded push deleted a tag and carries no commits; ours moved main and changed
    # the export.
    body.update(ref="refs/heads/main", deleted=False, created=False, after="1" * 40)
    commit = {"id": "0" * 40, "message": "Daily export", "added": [], "removed": [],
              "modified": ["exports/utilisation.csv"]}  # fmt: skip
    body["commits"], body["head_commit"] = [commit], commit
    return body


def by_branch(server: GitHubServer) -> dict[str, list[dict]]:
    return pulls_by_branch(server, OWNER, NAME)


def test_signed_webhooks_drive_runs_whose_prs_appear_on_the_forge(github, tmp_path):
    service = Service(tmp_path, github, None).start()
    try:
        # Unsigned or wrongly signed: 401, and no job.
        assert service.deliver("push", push_payload(github), sign=False).status_code == 401
        forged = push_payload(github)
        answer = httpx.post(
            f"{service.url}/webhooks/github",
            content=json.dumps(forged).encode(),
            headers={"X-GitHub-Event": "push", "X-GitHub-Delivery": "forged",
                     "X-Hub-Signature-256": "sha256=" + "0" * 64},
        )  # fmt: skip
        assert answer.status_code == 401
        assert service.store().queue.jobs() == []

        # The App is installed on the repository: a first run opens the PRs.
        installed = payload("installation_repositories/added.payload.json", github)
        installed["repositories_added"] = [
            {"id": 1, "name": NAME, "full_name": f"{OWNER}/{NAME}", "private": True}
        ]
        assert service.deliver("installation_repositories", installed).status_code == 202
        wait_for(lambda: len(by_branch(github)) == 3, "the first PRs", service)
        first = {b: p[0]["head"]["sha"] for b, p in by_branch(github).items()}

        # Prod's checkout now needs more memory; the export lands on main: one push, sent
        # twice by GitHub (same delivery) and followed by a second push: one rerun.
        github.commit(OWNER, NAME, "main", {
            "exports/utilisation.csv": usage(
                tmp_path / "more.csv", {("prod", "checkout", "memory_bytes"): 1.6}
            ).read_text(),
        })  # fmt: skip
        delivery = str(uuid.uuid4())
        assert service.deliver("push", push_payload(github), delivery).status_code == 202
        again = service.deliver("push", push_payload(github), delivery)
        assert again.status_code == 200 and again.json()["status"] == "duplicate"
        assert service.deliver("push", push_payload(github)).status_code == 202
        store = service.store()
        repository = store.repositories.get("github", f"{OWNER}/{NAME}")
        assert repository is not None
        wait_for(
            lambda: (
                [r[0] for r in store.runs.of(repository)] == ["installation", "push"]
                and store.runs.of(repository)[-1][1] == "ok"
            ),
            "one push run",
            service,
        )
        pulls = by_branch(github)
        assert all(len(found) == 1 for found in pulls.values()), "updated, not duplicated"
        with store.session() as session:  # what GitHub's rate headers said, for all workers
            remaining, reserved = session.execute(
                text("select remaining, reserved from api_budgets where installation_id = :i"),
                {"i": github.installation_id},
            ).one()
        assert 0 < remaining < 5000 and reserved == 0
        assert pulls["rightsizer/prod"][0]["head"]["sha"] != first["rightsizer/prod"]
        assert pulls["rightsizer/dev"][0]["head"]["sha"] == first["rightsizer/dev"]

        # A command from someone without write access is refused, politely, on the PR.
        comment = payload("issue_comment/created.with-installation.payload.json", github)
        number = pulls["rightsizer/prod"][0]["number"]
        # GitHub sends the PR's own body as the issue's: the bot's metadata is in it.
        body = pulls["rightsizer/prod"][0]["body"]
        comment["issue"].update(number=number, pull_request={"url": "x"}, body=body)

        def post_as(login: str, text: str) -> None:
            """The comment made on GitHub (the worker reads it back from there), then the
            webhook GitHub sends about it."""
            github.add_token(f"token-of-{login}", login)
            made = httpx.post(
                f"{github.api_url}/repos/{OWNER}/{NAME}/issues/{number}/comments",
                json={"body": text},
                headers={"Authorization": f"token token-of-{login}"},
            )
            assert made.status_code == 201, made.text
            comment["comment"].update(body=text, id=made.json()["id"])
            comment["sender"].update(login=login, type="User")
            assert service.deliver("issue_comment", comment).status_code == 202

        post_as("mallory", "/rightsizer rerun")
        mallorys = comment["comment"]["id"]

        def refused():
            bodies = [c["body"] for c in github.comments(OWNER, NAME, number)]
            return [b for b in bodies if b.startswith("@mallory")]

        (reply,) = wait_for(refused, "the polite refusal", service)
        assert "only people with write access" in reply
        assert len(store.runs.of(repository)) == 2, "a refused command runs nothing"

        # A maintainer snoozes prod's checkout: the service keeps it, reruns, and the PR
        # holds checkout back, naming who and until when; then asks why it was sized so.
        github.set_permission(OWNER, NAME, "alice", "write")
        # A payload that says alice wrote mallory's comment: the worker reads the comment
        # back from GitHub, finds mallory, and refuses again.
        comment["comment"].update(id=mallorys, body="/rightsizer rerun")
        comment["sender"].update(login="alice")
        assert service.deliver("issue_comment", comment).status_code == 202
        wait_for(lambda: len(refused()) == 2, "the second refusal", service)

        def command(text: str):
            post_as("alice", text)

        def replies():
            return [
                c["body"]
                for c in github.comments(OWNER, NAME, number)
                if c["body"].startswith("@alice")
            ]

        command("/rightsizer snooze prod:Deployment/checkout 7")
        (done,) = wait_for(replies, "the snooze's answer", service)
        assert "snoozed by @alice until" in done
        runs = store.runs.of
        wait_for(lambda: len(runs(repository)) == 3 and runs(repository)[-1][1] == "ok",
                 "the rerun", service)  # fmt: skip
        (prod,) = by_branch(github)["rightsizer/prod"]
        assert (
            "**command.snooze**: snoozed by @&#8203;alice until" in prod["body"]
        )  # read, not a ping
        command("/rightsizer explain prod:Deployment/checkout")
        wait_for(lambda: len(replies()) == 2, "the explanation", service, seconds=30)
        assert "how Rightsizer sized `prod/checkout/Deployment/checkout`" in replies()[1]
        assert "requests.memory" in replies()[1]

        assert httpx.get(f"{service.url}/metrics").status_code == 401
        assert httpx.get(f"{service.url}/", auth=("me", "wrong")).status_code == 401
        assert httpx.get(f"{service.url}/", auth=("me", DASHBOARD_TOKEN)).status_code == 200
        bearer = {"Authorization": f"Bearer {DASHBOARD_TOKEN}"}
        metrics = httpx.get(f"{service.url}/metrics", headers=bearer).text
        assert 'rightsizer_webhooks_total{event="push",forge="github",outcome="refused"}' in metrics
        assert "rightsizer_runs_total" in metrics
        assert SECRET not in service.log.read_text()
        assert DASHBOARD_TOKEN not in service.log.read_text()
    finally:
        service.stop()


def test_jobs_queued_when_the_service_dies_run_after_a_restart(github, tmp_path, database):
    service = Service(tmp_path, github, database, RIGHTSIZER_DEBOUNCE_SECONDS="4").start()
    store = service.store()
    store.repositories.add_installation("github", github.installation_id, OWNER)
    store.repositories.add("github", f"{OWNER}/{NAME}", github.installation_id)
    assert service.deliver("push", push_payload(github)).status_code == 202
    service.kill()
    assert [(reason, state) for _, reason, state, _ in store.queue.jobs()] == [("push", "queued")]
    assert github.pulls(OWNER, NAME) == []

    service.start()
    try:
        wait_for(lambda: len(by_branch(github)) == 3, "the PRs after a restart", service)
        wait_for(lambda: store.queue.jobs()[0][2] == "done", "the job done", service)
    finally:
        service.stop()


def _failed_error(store: Store) -> str | None:
    """What the last run of a job that failed for good said."""
    with store.session() as session:
        return session.scalar(
            text(
                "select runs.message from runs join procrastinate_jobs job "
                "on job.id = runs.job_id where job.status = 'failed' order by runs.id desc"
            )
        )


def test_a_segfaulting_repository_is_poisoned_while_the_service_and_others_go_on(
    github, tmp_path, database
):
    """A repository whose parse segfaults its run's process costs that job only: it fails,
    is poisoned after three crashes, `serve` stays healthy and another repository's job runs
    to its PRs meanwhile."""
    bomb_owner, bomb_name = BOMB.split("/")
    github.add_repository(bomb_owner, bomb_name, tmp_path / "infra")
    service = Service(tmp_path, github, database, module="tests.crashing_service").start()
    try:
        store = service.store()
        store.repositories.add_installation("github", github.installation_id, OWNER)
        store.repositories.add("github", f"{OWNER}/{NAME}", github.installation_id)
        store.repositories.add("github", BOMB, github.installation_id)
        push = push_payload(github)
        bomb_push = {**push, "repository": {**push["repository"], "full_name": BOMB}}
        bomb_push["repository"]["name"] = bomb_name
        assert service.deliver("push", bomb_push).status_code == 202
        assert service.deliver("push", push).status_code == 202

        error = wait_for(lambda: _failed_error(store), "the job to be poisoned", service)
        assert error == (
            f"the run's process died of SIGSEGV; poisoned after {POISON_AFTER} attempts, "
            "not tried again"
        )
        wait_for(lambda: len(by_branch(github)) == 3, "the other repository's PRs", service)
        assert httpx.get(f"{service.url}/healthz", timeout=5).json() == {"status": "ok"}
        assert service.process is not None and service.process.poll() is None
        runs = store.runs.of(store.repositories.get("github", BOMB))
        assert [outcome for _, outcome, _, _ in runs] == ["failed"] * POISON_AFTER
        page = httpx.get(
            f"{service.url}/", headers={"Authorization": f"Bearer {DASHBOARD_TOKEN}"}, timeout=5
        )
        assert BOMB in page.text
    finally:
        service.stop()


def test_a_box_ticked_in_the_dashboard_releases_a_held_group(github, tmp_path):
    """One PR at a time: the first run opens dev and holds prod and staging, each with a
    box. Mallory, who may only read, ticks staging: refused, nothing runs. Alice ticks prod
    beside it: her box alone is acted on, prod's PR opens, staging stays held, and the run
    rewrites the issue with its boxes clear."""
    config = git_show(github, ".rightsizer.yaml")
    github.commit(
        OWNER, NAME, "main", {".rightsizer.yaml": config + "pull_requests: {max_open: 1}\n"}
    )
    service = Service(tmp_path, github, None).start()
    try:
        installed = payload("installation_repositories/added.payload.json", github)
        installed["repositories_added"] = [
            {"id": 1, "name": NAME, "full_name": f"{OWNER}/{NAME}", "private": True}
        ]
        assert service.deliver("installation_repositories", installed).status_code == 202
        [issue] = wait_for(lambda: github.issues(OWNER, NAME), "the dashboard issue", service)
        assert sorted(by_branch(github)) == ["rightsizer/dev"]
        boxes = {g: f"- [ ] <!-- rightsizer:release {g} -->" for g in ("prod", "staging")}
        assert all(box in issue["body"] for box in boxes.values())
        store = service.store()
        repository = store.repositories.get("github", f"{OWNER}/{NAME}")
        assert repository is not None

        def tick(body: str, group: str, login: str) -> str:
            """`login` ticks `group`'s box on GitHub, which sends the edit."""
            ticked = body.replace(boxes[group], boxes[group].replace("[ ]", "[x]"))
            github.edit_issue(OWNER, NAME, issue["number"], ticked)
            edited = payload("issues/edited.payload.json", github)
            edited["issue"].update(number=issue["number"], body=ticked, user=issue["user"])
            edited["changes"] = {"body": {"from": body}}
            edited["sender"].update(login=login, type="User")
            assert service.deliver("issues", edited).status_code == 202
            return ticked

        by_mallory = tick(issue["body"], "staging", "mallory")  # read access only: refused

        def refused() -> bool:
            """The refusal logged, and its job ended (the log line comes first)."""
            reason, state = [job[1:3] for job in store.queue.jobs()][-1]
            logged = "dashboard box refused: mallory may not write" in service.log.read_text()
            return logged and reason.startswith("dashboard:2:mallory:") and state == "done"

        wait_for(refused, "the refusal", service)
        assert len(store.runs.of(repository)) == 1 and store.releases.of(repository) == []

        github.set_permission(OWNER, NAME, "alice", "write")
        tick(by_mallory, "prod", "alice")
        wait_for(lambda: "rightsizer/prod" in by_branch(github), "prod's PR", service)
        wait_for(lambda: store.runs.of(repository)[-1][1] == "ok", "the rerun", service)
        assert sorted(by_branch(github)) == ["rightsizer/dev", "rightsizer/prod"]
        [release] = store.releases.of(repository)
        assert (release.group, release.by) == ("prod", "alice")
        [rewritten] = github.issues(OWNER, NAME)
        assert rewritten["number"] == issue["number"] and "[x]" not in rewritten["body"]
        assert "<!-- rightsizer:release prod -->" not in rewritten["body"]
        assert boxes["staging"] in rewritten["body"]
    finally:
        service.stop()


def git_show(server: GitHubServer, path: str) -> str:
    bare = server.root / OWNER / f"{NAME}.git"
    return subprocess.run(
        ["git", "show", f"main:{path}"], cwd=bare, capture_output=True, text=True, check=True
    ).stdout
