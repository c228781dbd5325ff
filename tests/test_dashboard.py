"""The dashboard, from a seeded SQLite store, served by uvicorn on 127.0.0.1 and loaded in a
real headless browser (Debian's chromium): the DOM the browser built is what is checked.

Without chromium the browser tests skip naming `make browser`; under CI they fail instead.
The queries and the chart layout are also checked directly, without a browser.
"""

from __future__ import annotations

import dataclasses
import json
import socket
import struct
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI

from bot.service import queries
from bot.service.dashboard import chart_svg, dashboard_router
from bot.store import Store
from bot.store.rows import VerdictRow
from bot.store.tables import RecommendationRecord, Run
from recommenders.model import UsageChart
from tests.job_engine import fetch as fetch_job
from tests.job_engine import finish
from tests.postgres_server import new_database
from tests.prometheus_server import binary

HOSTILE = "<script>alert(1)</script>"
HOSTILE_WORKLOAD = '<img src=x onerror="document.body.dataset.pwned=1">'
WORKLOAD = "prod/shop/Deployment/api"
PR_URL = "https://github.example/acme/infra/pull/7"
START = datetime(2025, 3, 1, 6, 0, tzinfo=UTC)

DAYS = [f"03-{day:02d}" for day in range(1, 22)]
OBSERVED: list[float | None] = [
    *[310.0, 295.5, 320.0, 305.0, None, 298.0, 330.0, 312.0, 301.0, 289.0, 315.0, 322.0, 308.0],
    *[299.0],
    *[None] * 7,
]
FORECAST: list[float | None] = [None] * 14 + [340.0, 342.0, 345.0, 343.0, 347.0, 350.0, 352.0]
CPU_CHART = UsageChart(
    metric="cpu",
    container="api",
    unit="millicores",
    statistic="p95 per day",
    labels=tuple(DAYS),
    observed=tuple(OBSERVED),
    forecast=tuple(FORECAST),
    current=500.0,
    proposed=340.0,  # the strategy's wish; a guardrail made it 355 (the row's value)
)
BARS = sum(v is not None for v in OBSERVED)  # 13: one day of history has no samples
POINTS = sum(v is not None for v in FORECAST)  # 7


@dataclass(frozen=True)
class Seeded:
    infra: int
    hostile: int
    latest_run: int


def seed(store: Store) -> Seeded:
    """An installation with two repositories: acme/infra with two finished runs (the later's
    recommendations are current), an open and a merged PR, and a job queued; a repository
    whose name is an HTML injection, with a PR whose URL is a `javascript:` one."""
    store.repositories.add_installation("github", 42, "acme")
    infra = store.repositories.add("github", "acme/infra", 42)
    hostile = store.repositories.add("github", HOSTILE, 42)
    runs = []
    for number, repository in enumerate([infra, infra, hostile]):
        job, _ = store.queue.enqueue(repository, f"schedule-{number}")
        assert fetch_job(store) == (
            job,
            {"repository": repository.id, "reason": f"schedule-{number}", "details": {}},
        )
        finish(store, job)
        runs.append(job)
    store.queue.enqueue(infra, "push")  # the queue depth the page shows
    store.runs.record_pull(infra, 7, "rightsizer/prod", "open", PR_URL)
    store.runs.record_pull(infra, 3, "rightsizer/dev", "merged", PR_URL.replace("/7", "/3"))
    store.runs.record_pull(hostile, 9, "rightsizer/x", "open", "javascript:alert(1)")
    store.verifications.record(
        infra,
        [
            VerdictRow(WORKLOAD, "a1b2c3d4", "regressed", "OOM killed <b>twice</b>", START),
            VerdictRow("prod/shop/Deployment/web", "a1b2c3d4", "healthy", "verified", START),
        ],
    )
    with store.session() as session:
        old = Run(
            job_id=runs[0],
            repository_id=infra.id,
            reason="schedule",
            started_at=START - timedelta(days=1),
            finished_at=START - timedelta(days=1) + timedelta(seconds=30),
            outcome="done",
            changes=1,
            opened=1,
            updated=0,
        )
        latest = Run(
            job_id=runs[1],
            repository_id=infra.id,
            reason="push",
            started_at=START,
            finished_at=START + timedelta(seconds=84),
            outcome="done",
            changes=2,
            opened=0,
            updated=1,
            message="1 PR updated",
        )
        other = Run(
            job_id=runs[2],
            repository_id=hostile.id,
            reason="installation",
            started_at=START,
            finished_at=None,
            outcome="running",
        )
        session.add_all([old, latest, other])
        session.flush()
        chart = json.dumps(dataclasses.asdict(CPU_CHART))
        session.add_all(
            [
                RecommendationRecord(
                    run_id=old.id,
                    repository_id=infra.id,
                    workload=WORKLOAD,
                    field="api requests.cpu",
                    current=0.5,
                    proposed=0.3,
                    action="apply",
                    explanation="superseded",
                    chart=chart,
                ),
                RecommendationRecord(
                    run_id=latest.id,
                    repository_id=infra.id,
                    workload=WORKLOAD,
                    field="api requests.cpu",
                    current=0.5,
                    proposed=0.355,
                    action="clip",
                    explanation="p95 forecast plus 10% headroom; floor: 355m at least",
                    chart=chart,
                ),
                RecommendationRecord(
                    run_id=latest.id,
                    repository_id=infra.id,
                    workload=WORKLOAD,
                    field="api requests.memory",
                    current=512 * 2**20,
                    proposed=384 * 2**20,
                    action="apply",
                    explanation="peak 301Mi & 25% headroom",
                    chart="",
                ),
                RecommendationRecord(
                    run_id=latest.id,
                    repository_id=infra.id,
                    workload=HOSTILE_WORKLOAD,
                    field="replicas",
                    current=3,
                    proposed=2,
                    action="skip",
                    explanation="<b>frozen</b>",
                    chart="{not json",
                ),
            ]
        )
    return Seeded(infra.id, hostile.id, latest.id)


@pytest.fixture
def store(database: str) -> Store:
    return Store(database)


def app_for(store: Store) -> FastAPI:
    app = FastAPI()
    app.include_router(dashboard_router(store))
    return app


# Without a browser ---------------------------------------------------------------------------


def test_queries_read_what_was_stored(store: Store) -> None:
    seeded = seed(store)
    overview = queries.overview(store)
    assert overview.queue_depth == 1
    assert [(i.forge, i.id, i.account, i.active) for i in overview.installations] == [
        ("github", 42, "acme", True)
    ]
    by_name = {r.full_name: r for r in overview.repositories}
    infra = by_name["acme/infra"]
    assert infra.last_run is not None and infra.last_run.id == seeded.latest_run
    assert (infra.last_run.reason, infra.last_run.outcome, infra.last_run.seconds) == (
        "push",
        "done",
        84.0,
    )
    assert [(p.number, p.url) for p in infra.open_pulls] == [(7, PR_URL)]
    running = by_name[HOSTILE].last_run
    assert running is not None and running.seconds is None
    assert {p.number for p in overview.open_pulls} == {7, 9}
    assert [r.repository for r in overview.recent_runs][:1] == [HOSTILE]

    detail = queries.repository_detail(store, seeded.infra)
    assert detail is not None
    assert detail.recommendations_run is not None
    assert detail.recommendations_run.id == seeded.latest_run
    assert [w.workload for w in detail.workloads] == [WORKLOAD, HOSTILE_WORKLOAD]
    api, other = detail.workloads
    assert [(r.field, r.proposed) for r in api.recommendations] == [
        ("api requests.cpu", 0.355),
        ("api requests.memory", 384 * 2**20),
    ]
    # The stored JSON reads back as the chart, its proposed line the decided value.
    assert api.recommendations[0].chart == CPU_CHART
    assert api.charts == (dataclasses.replace(CPU_CHART, proposed=355.0),)
    assert other.charts == () and other.recommendations[0].chart is None
    assert [(v.workload, v.state) for v in detail.verifications] == [
        (WORKLOAD, "regressed"),
        ("prod/shop/Deployment/web", "healthy"),
    ]
    assert queries.repository_detail(store, 999) is None


def test_chart_json_that_is_not_a_chart_reads_as_none() -> None:
    good = dataclasses.asdict(CPU_CHART)
    assert queries.chart_from_json(json.dumps(good)) == CPU_CHART
    for bad in ["", "[]", "{", json.dumps({**good, "metric": "gpu"}), json.dumps({"unit": 1})]:
        assert queries.chart_from_json(bad) is None
    short = queries.chart_from_json(json.dumps({**good, "observed": [1.0, "x"]}))
    assert short is None
    padded = queries.chart_from_json(json.dumps({**good, "forecast": [1.0]}))
    assert padded is not None and padded.forecast == (1.0,) + (None,) * (len(DAYS) - 1)


def test_a_chart_draws_the_decided_request() -> None:
    """As the PR does: the proposed line is what is written, today's value when skipped; a
    limit's row keeps the strategy's line."""

    def row(field: str, proposed: float, action: str) -> queries.RecommendationView:
        return queries.RecommendationView(WORKLOAD, field, 0.5, proposed, action, "", CPU_CHART)

    [applied] = queries.group_by_workload([row("api requests.cpu", 0.4, "apply")])
    assert applied.charts[0].proposed == 400.0
    [skipped] = queries.group_by_workload([row("api requests.cpu", 0.4, "skip")])
    assert skipped.charts[0].proposed == CPU_CHART.current
    [limit] = queries.group_by_workload([row("api limits.cpu", 0.9, "apply")])
    assert limit.charts == (CPU_CHART,)
    [both] = queries.group_by_workload(
        [row("api limits.cpu", 0.9, "apply"), row("api requests.cpu", 0.4, "apply")]
    )
    assert [c.proposed for c in both.charts] == [400.0]


def test_chart_layout() -> None:
    layout = chart_svg(CPU_CHART, "c")
    assert len(layout.bars) == BARS and len(layout.forecast) == POINTS
    assert len(layout.forecast_path.split()) == POINTS
    # Higher values are higher up: smaller y. The axis tops out above every value.
    current, proposed = layout.levels
    assert (current.name, proposed.name) == ("current", "proposed")
    assert current.y < proposed.y < min(b.y for b in layout.bars) + 1
    assert float(layout.y_ticks[-1].text.replace(",", "")) >= 500
    assert proposed.text == "proposed 340"
    assert len(layout.x_ticks) <= 8
    assert layout.horizon_x is not None
    # Two lines at the same value keep their labels apart.
    same = chart_svg(dataclasses.replace(CPU_CHART, proposed=500.0), "s")
    assert abs(same.levels[0].label_y - same.levels[1].label_y) >= 12
    assert same.levels[1].text == "proposed 500 (same)"
    # An empty chart still lays out.
    empty = chart_svg(
        dataclasses.replace(CPU_CHART, labels=(), observed=(), forecast=(), current=0.0), "e"
    )
    assert empty.bars == () and empty.forecast_path == ""


def fetch(url: str) -> tuple[int, dict[str, str], str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, dict(response.headers), response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read().decode()


def test_pages_escape_everything_without_a_browser(served: tuple[str, Seeded]) -> None:
    base, seeded = served
    status, headers, index = fetch(base + "/")
    assert status == 200 and headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in headers["content-security-policy"]
    assert "script-src" not in headers["content-security-policy"]
    assert HOSTILE not in index and "&lt;script&gt;alert(1)&lt;/script&gt;" in index
    assert "javascript:" not in index
    status, _, page = fetch(f"{base}/repositories/{seeded.infra}")
    assert status == 200
    assert HOSTILE_WORKLOAD not in page and "<b>frozen</b>" not in page
    assert "&lt;b&gt;frozen&lt;/b&gt;" in page
    assert (
        "OOM killed &lt;b&gt;twice&lt;/b&gt;" in page
        and '<span class="badge bad">regressed' in page
    )
    status, _, missing = fetch(base + "/repositories/999")
    assert status == 404 and "There is no repository 999" in missing


# In a real browser ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def served(postgres_server: str) -> Iterator[tuple[str, Seeded]]:
    """The dashboard under uvicorn on 127.0.0.1, on a port the kernel picked."""
    store = Store(new_database(postgres_server))
    seeded = seed(store)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app_for(store), log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}", seeded
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
        store.engine.dispose()


def chromium(*args: str, profile: Path) -> subprocess.CompletedProcess[str]:
    command = [
        binary("chromium", make_target="browser"),
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-extensions",
        f"--user-data-dir={profile}",
        *args,
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    return result


@dataclass
class Node:
    tag: str
    attrs: dict[str, str]
    children: list[Node | str] = field(default_factory=list)

    def classes(self) -> set[str]:
        return set(self.attrs.get("class", "").split())

    def all(self, tag: str, cls: str | None = None) -> list[Node]:
        found = []
        for child in self.children:
            if isinstance(child, Node):
                if child.tag == tag and (cls is None or cls in child.classes()):
                    found.append(child)
                found += child.all(tag, cls)
        return found

    def one(self, tag: str, cls: str | None = None) -> Node:
        found = self.all(tag, cls)
        assert len(found) == 1, f"{len(found)} <{tag} class={cls}>"
        return found[0]

    def text(self) -> str:
        return "".join(c if isinstance(c, str) else c.text() for c in self.children)


VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source"}


class TreeBuilder(HTMLParser):
    """The DOM chromium dumped, as a tree (html.parser only streams tags)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#document", {})
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {k: v or "" for k, v in attrs})
        self.stack[-1].children.append(node)
        if tag not in VOID:
            self.stack.append(node)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.stack[-1].children.append(Node(tag, {k: v or "" for k, v in attrs}))

    def handle_endtag(self, tag: str) -> None:
        for depth in range(len(self.stack) - 1, 0, -1):
            if self.stack[depth].tag == tag:
                del self.stack[depth:]
                return

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(data)


def dom(url: str, profile: Path) -> Node:
    """The document as chromium built it (after parsing, styling and any script)."""
    builder = TreeBuilder()
    builder.feed(chromium("--dump-dom", url, profile=profile).stdout)
    builder.close()
    return builder.root


def normal(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.server
@pytest.mark.slow
def test_front_page_in_a_browser(served: tuple[str, Seeded], tmp_path: Path) -> None:
    base, seeded = served
    page = dom(base + "/", tmp_path / "profile")
    assert page.all("script") == [] and page.all("img") == []
    assert normal(page.all("li")[0].text()) == "1 jobs queued"

    repos = page.one("table", "repositories")
    rows = {normal(r.all("td")[0].text()): r for r in repos.all("tr", "repository")}
    assert set(rows) == {"acme/infra", HOSTILE}  # the injection is text, not an element
    infra = rows["acme/infra"]
    assert infra.all("a")[0].attrs["href"] == f"./repositories/{seeded.infra}"
    cells = [normal(td.text()) for td in infra.all("td")]
    assert cells[2:8] == ["push", "done", "2025-03-01 06:00 UTC", "1 min 24 s", "2", "0 / 1"]
    pull = infra.one("a", "pull")
    assert (pull.attrs["href"], pull.text()) == (PR_URL, "#7")
    hostile_pull = rows[HOSTILE].one("span", "pull")  # a javascript: URL is not a link
    assert hostile_pull.text() == "#9" and hostile_pull.attrs.get("href") is None

    installations = page.one("table", "installations")
    assert [normal(td.text()) for td in installations.all("td")][:3] == ["github", "acme", "42"]
    runs = page.one("table", "runs")
    assert len(runs.all("tr")) == 1 + 3
    assert "data-pwned" not in page.one("body").attrs


@pytest.mark.server
@pytest.mark.slow
def test_repository_page_in_a_browser(served: tuple[str, Seeded], tmp_path: Path) -> None:
    base, seeded = served
    page = dom(f"{base}/repositories/{seeded.infra}", tmp_path / "profile")
    assert page.all("script") == [] and page.all("img") == []
    assert "data-pwned" not in page.one("body").attrs  # the workload name ran no script
    assert normal(page.one("h1").text()) == "acme/infra"
    assert page.one("a", "pull").attrs["href"] == PR_URL

    sections = page.all("section", "workload")
    assert [normal(s.one("h3").text()) for s in sections] == [WORKLOAD, HOSTILE_WORKLOAD]
    api, hostile = sections
    table = [
        [normal(td.text()) for td in tr.all("td")]
        for tr in api.one("table", "recommendations").all("tr")[1:]
    ]
    assert table == [
        [
            "api requests.cpu",
            "500m",
            "355m",
            "-29%",
            "clip",
            "p95 forecast plus 10% headroom; floor: 355m at least",
        ],
        ["api requests.memory", "512Mi", "384Mi", "-25%", "apply", "peak 301Mi & 25% headroom"],
    ]
    hostile_row = [normal(td.text()) for td in hostile.one("table").all("td")]
    assert hostile_row == ["replicas", "3", "2", "-33%", "skip", "<b>frozen</b>"]
    assert hostile.all("svg") == [] and "No usage chart" in hostile.text()

    svg = api.one("svg", "usage-chart")
    assert svg.attrs["data-metric"] == "cpu" and svg.attrs["data-container"] == "api"
    assert len(svg.all("rect", "bar")) == BARS
    line = svg.one("polyline", "forecast")
    assert len(line.attrs["points"].split()) == POINTS
    assert len(svg.all("circle", "forecast-point")) == POINTS
    assert normal(svg.one("text", "proposed").text()) == "proposed 355"
    assert normal(svg.one("text", "current").text()) == "current 500"
    proposed_y = float(svg.one("line", "proposed").attrs["y1"])
    current_y = float(svg.one("line", "current").attrs["y1"])
    assert current_y < proposed_y  # 500 is drawn above 355
    assert normal(svg.one("text", "y").text()) == "millicores"
    assert normal(svg.one("text", "x").text()) == "p95 per day"
    assert normal(svg.all("title")[0].text()) == "api cpu (millicores)"
    assert "superseded" not in page.text()  # the older run's recommendations are not shown


@pytest.mark.server
@pytest.mark.slow
def test_repository_page_renders_to_pixels(served: tuple[str, Seeded], tmp_path: Path) -> None:
    """A screenshot: the page lays out and paints with the inline stylesheet (allowed by the
    Content Security Policy) and without anything from the network."""
    base, seeded = served
    shot = tmp_path / "repository.png"
    chromium(
        f"--screenshot={shot}",
        "--window-size=1280,1600",
        "--hide-scrollbars",
        f"{base}/repositories/{seeded.infra}",
        profile=tmp_path / "profile",
    )
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (1280, 1600)
    assert len(data) > 20_000  # text, tables and a chart, not a blank page
