"""Webhook acknowledgement latency and job deduplication under a realistic burst of deliveries.

Why: GitHub waits 10 s for an answer and marks slower deliveries failed; the bot should answer
in milliseconds (p99 under 50 ms) and turn a burst into exactly one queued job per (repository,
reason). This starts uvicorn on 127.0.0.1 in a subprocess with an app made of just the webhook
router over a temporary store (an embedded PostgreSQL), and sends signed deliveries built from
the real payloads in fixtures/github-webhooks: an installation of a handful of repositories,
pushes to them (most touching manifests, some only a README or another branch), `/rightsizer`
comments (some by bots), check-run reruns, GitLab pushes and pings, and about one in seven
resent with the same delivery id as a forge redelivers. It does so twice, each time on a fresh
server and store: from one client, then from several concurrent clients, each with its own
connection pool. Latency is measured by the client, request sent to answer read.

    python benchmarks/webhooks.py [--deliveries 1000] [--clients 4] [--repos 5]
"""

from __future__ import annotations

import argparse
import copy
import json
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.forges.github.webhooks import signature  # noqa: E402
from bot.store.database import database_url  # noqa: E402

HOOKS = ROOT / "fixtures" / "github-webhooks"
SECRET = "benchmark webhook secret"
TOKEN = "benchmark gitlab token"
INSTALLATION = 957387
COMMENT = "issue_comment/created.with-installation.payload.json"
GITLAB_PROJECTS = ("platform/infra-0", "platform/infra-1")
"""GitLab sends no installation events: the service serves only the projects it is given."""


@dataclass
class Delivery:
    path: str
    headers: dict[str, str]
    body: bytes
    expected: int
    queues: tuple[str, str, str] | None
    """(forge, repository, reason) of the job it should queue, if any."""


def load(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((HOOKS / name).read_bytes())
    return loaded


def github(event: str, payload: dict[str, Any], delivery: str) -> tuple[dict[str, str], bytes]:
    body = json.dumps(payload).encode()
    return {
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery,
        "X-Hub-Signature-256": signature(SECRET, body),
        "Content-Type": "application/json",
        "User-Agent": "GitHub-Hookshot/benchmark",
    }, body


def repository_names(repos: int) -> list[str]:
    return [f"acme/infra-{i}" for i in range(repos)]


def seed_pulls(database: str, repos: int) -> None:
    """Each repository known with a PR the bot opened, the one the comments are made on: the
    service acts only on comments on its own PRs, as it recorded them."""
    from bot.store import Store

    store = Store(database)
    number = int(load(COMMENT)["issue"]["number"])
    for name in repository_names(repos):
        repository = store.repositories.add("github", name, INSTALLATION)
        store.runs.record_pull(repository, number, "rightsizer/prod", "open", "https://x/1")
    store.engine.dispose()


def deliveries(
    count: int, repos: int, seed: int
) -> tuple[list[Delivery], list[tuple[str, str, str]]]:
    """The mix, and the jobs its first delivery (the App installed on `repos` repositories)
    should queue."""
    rng = random.Random(seed)
    names = repository_names(repos)
    push, comment = (
        load("push/with-new-branch.payload.json"),
        load(COMMENT),
    )
    check_run, ping = load("check_run/rerequested.payload.json"), load("ping/payload.json")
    installed, gitlab_push = load("installation/created.payload.json"), load("gitlab/push.json")
    out: list[Delivery] = []

    def add(event: str, payload: dict[str, Any], expected: int, queues: Any = None) -> None:
        headers, body = github(event, payload, f"bench-{len(out):06d}")
        out.append(Delivery("/webhooks/github", headers, body, expected, queues))

    first = copy.deepcopy(installed)
    template = first["repositories"][0]
    first["repositories"] = [{**template, "full_name": n, "name": n.split("/")[1]} for n in names]
    add("installation", first, 202)  # one delivery, one job per repository
    installs = [("github", n, "installation") for n in names]
    comment_id = 2_000_000
    while len(out) < count:
        roll = rng.random()
        name = rng.choice(names)
        if out and roll < 0.14:  # a redelivery of an earlier delivery: same id, same body
            again = rng.choice(out[1:] or out)
            out.append(Delivery(again.path, again.headers, again.body, 200, None))
        elif roll < 0.60:
            payload = copy.deepcopy(push)
            payload["repository"].update(full_name=name, name=name.split("/")[1])
            payload["installation"]["id"] = INSTALLATION
            kind = rng.random()
            files = [f"apps/svc-{rng.randrange(40)}/overlays/prod/deployment.yaml"]
            if kind < 0.10:
                files = ["README.md"]
            elif kind < 0.18:
                payload["ref"] = "refs/heads/feature/x"
            payload["commits"][0]["added"], payload["head_commit"]["added"] = files, files
            touches = kind >= 0.18 and files != ["README.md"]
            add(
                "push",
                payload,
                202 if touches else 200,
                ("github", name, "push") if touches else None,
            )
        elif roll < 0.78:
            payload = copy.deepcopy(comment)
            comment_id += 1
            payload["repository"].update(full_name=name, name=name.split("/")[1])
            payload["installation"]["id"] = INSTALLATION
            payload["issue"]["pull_request"] = {"url": payload["issue"]["url"]}
            payload["comment"]["id"] = comment_id
            bot = rng.random() < 0.15
            if bot:
                payload["sender"].update(login="rightsizer[bot]", type="Bot")
            payload["comment"]["body"] = rng.choice(
                [
                    "/rightsizer rerun",
                    "/rightsizer snooze Deployment/web 7",
                    "LGTM\n/rightsizer explain Deployment/api",
                ]
            )
            reason = ("github", name, f"command:{comment_id}")
            add("issue_comment", payload, 200 if bot else 202, None if bot else reason)
        elif roll < 0.88:
            payload = copy.deepcopy(check_run)
            payload["repository"].update(full_name=name, name=name.split("/")[1])
            payload["installation"]["id"] = INSTALLATION
            add("check_run", payload, 202, ("github", name, "rerun"))
        elif roll < 0.97:
            payload = copy.deepcopy(gitlab_push)
            project = rng.choice(GITLAB_PROJECTS)
            payload["project"]["path_with_namespace"] = project
            payload["commits"][0]["modified"] = ["clusters/prod/hpa.yaml"]
            body = json.dumps(payload).encode()
            headers = {
                "X-Gitlab-Event": "Push Hook",
                "X-Gitlab-Token": TOKEN,
                "X-Gitlab-Event-UUID": f"bench-gl-{len(out):06d}",
                "Content-Type": "application/json",
            }
            out.append(
                Delivery("/webhooks/gitlab", headers, body, 202, ("gitlab", project, "push"))
            )
        else:
            add("ping", ping, 200)
    return out, installs


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def serve(database: str, port: int, timings: str) -> None:
    """The server side, in its own process: uvicorn with the webhook router only. The time
    each delivery took inside the handler (from its log line) is written to `timings` at
    shutdown, to tell the handler's own time from waiting."""
    import logging

    import uvicorn
    from fastapi import FastAPI

    from bot.forges.github.service import GitHubService
    from bot.forges.gitlab.service import GitLabService
    from bot.service.settings import ServiceSettings
    from bot.service.webhooks import webhook_router
    from bot.store import Store

    forges = {
        "github": GitHubService(webhook_secret=SECRET),
        "gitlab": GitLabService(webhook_token=TOKEN, projects=",".join(GITLAB_PROJECTS)),
    }
    settings = ServiceSettings(database_url=database, debounce_seconds=30.0, forges=forges)
    handled: list[float] = []

    class Timings(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            handled.append(float(record.__dict__["elapsed_ms"]))

    logger = logging.getLogger("rightsizer.webhooks")
    logger.setLevel(logging.INFO)
    logger.propagate = False
    logger.addHandler(Timings())

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        Path(timings).write_text(json.dumps(handled))  # uvicorn re-raises SIGTERM after this

    app = FastAPI(lifespan=lifespan)
    app.include_router(webhook_router(Store(database), settings))
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def start_server(database: str, timings: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    command = [sys.executable, __file__, "--serve", database, "--port", str(port)]
    process = subprocess.Popen([*command, "--timings", str(timings)], cwd=ROOT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(url + "/", timeout=1)
            return process, url
        except httpx.TransportError:
            if process.poll() is not None:
                raise SystemExit("the server did not start") from None
            time.sleep(0.05)
    process.kill()
    raise SystemExit("the server did not answer within 30 s")


def run(mix: list[Delivery], clients: int, url: str) -> tuple[list[float], Counter[str]]:
    """Sends the mix (the installation first, alone), split across `clients` threads, each
    with its own pooled client; latencies in ms, and mismatched answers by kind."""
    latencies: list[float] = []
    problems: Counter[str] = Counter()
    lock = threading.Lock()

    def send(client: httpx.Client, batch: list[Delivery]) -> None:
        for delivery in batch:
            start = time.perf_counter()
            answer = client.post(delivery.path, content=delivery.body, headers=delivery.headers)
            elapsed = (time.perf_counter() - start) * 1000
            with lock:
                latencies.append(elapsed)
                if answer.status_code != delivery.expected and not (
                    delivery.expected == 200 and answer.json().get("status") == "duplicate"
                ):
                    problems[f"{delivery.headers.get('X-GitHub-Event')}: {answer.status_code}"] += 1

    limits = httpx.Limits(max_connections=4, max_keepalive_connections=4)
    pools = [httpx.Client(base_url=url, limits=limits, timeout=10) for _ in range(clients)]
    try:
        for client in pools:  # warm-up, not measured: connections and the first imports
            for _ in range(5):
                client.get("/")
        send(pools[0], mix[:1])
        batches: list[list[Delivery]] = [[] for _ in range(clients)]
        first: dict[str, int] = {}
        for index, delivery in enumerate(mix[1:]):
            # a redelivery goes through the client that sent the original, after it
            key = delivery_id(delivery)
            batches[first.setdefault(key, index % clients)].append(delivery)
        threads = [
            threading.Thread(target=send, args=(pools[i], batches[i])) for i in range(clients)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        for client in pools:
            client.close()
    return latencies, problems


def delivery_id(delivery: Delivery) -> str:
    return delivery.headers.get("X-GitHub-Delivery") or delivery.headers["X-Gitlab-Event-UUID"]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


def jobs_in(database: str) -> tuple[int, int, set[tuple[str, str, str]]]:
    from sqlalchemy import text

    from bot.store import Store

    store = Store(database)
    with store.session() as session:
        rows = session.execute(
            text(
                "select repository.forge, repository.full_name, job.args->>'reason', count(*) "
                "from procrastinate_jobs job join repositories repository "
                "on repository.id = (job.args->>'repository')::int "
                "where job.status = 'todo' group by 1, 2, 3"
            )
        ).all()
    store.engine.dispose()
    total = sum(int(count) for *_, count in rows)
    most = max((int(count) for *_, count in rows), default=0)
    return total, most, {(forge, name, reason) for forge, name, reason, _ in rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deliveries", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--repos", type=int, default=5)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--timings", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port, args.timings)
        return
    mix, installs = deliveries(args.deliveries, args.repos, args.seed)
    windows = {d.queues for d in mix if d.queues} | set(installs)
    kinds = Counter(d.headers.get("X-GitHub-Event") or d.headers.get("X-Gitlab-Event") for d in mix)
    redelivered = len(mix) - len({delivery_id(d) for d in mix})
    print(
        f"{len(mix)} deliveries to {args.repos} GitHub repos and 2 GitLab projects: "
        + ", ".join(f"{kind} {n}" for kind, n in kinds.most_common())
        + f"; {redelivered} of them redelivered"
    )
    print(f"distinct (repo, reason) windows the mix should queue: {len(windows)}")
    failed = False
    for clients in (1, args.clients):
        with tempfile.TemporaryDirectory(prefix="rs-bench-") as tmp:
            # An embedded PostgreSQL, started here for the server process to use.
            database = database_url(None, Path(tmp) / "data")
            seed_pulls(database, args.repos)
            timings = Path(tmp) / "timings.json"
            process, url = start_server(database, timings)
            try:
                started = time.perf_counter()
                latencies, problems = run(mix, clients, url)
                wall = time.perf_counter() - started
            finally:
                process.terminate()
                process.wait(timeout=10)
            total, most, queued = jobs_in(database)
            handled = json.loads(timings.read_text()) if timings.exists() else []
        p50, p90, p99 = (percentile(latencies, q) for q in (50, 90, 99))
        print(
            f"\n{clients} client{'s' if clients > 1 else ''}: {len(latencies)} acknowledged in "
            f"{wall:.1f} s ({len(latencies) / wall:.0f}/s); latency ms p50 {p50:.1f}  "
            f"p90 {p90:.1f}  p99 {p99:.1f}  max {max(latencies):.1f}  "
            f"(mean {statistics.mean(latencies):.1f})"
        )
        if handled:
            print(
                f"  in the handler (HTTP excluded, waits for the store included): "
                f"p50 {percentile(handled, 50):.1f}  p99 {percentile(handled, 99):.1f} ms"
            )
        exact = queued == windows and most == 1
        print(
            f"  jobs queued {total} for {len(windows)} distinct (repo, reason) windows; "
            f"most per window {most}; {'exactly one each' if exact else 'MISMATCH'}"
        )
        if problems:
            print(f"  unexpected answers: {dict(problems)}")
        failed |= not exact or bool(problems) or p99 >= 50
    print(
        "\naim: p99 < 50 ms and exactly one queued job per (repo, reason):",
        "met" if not failed else "NOT met",
    )
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
