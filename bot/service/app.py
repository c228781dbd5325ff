"""The service's processes: `rightsizer serve` (webhooks, dashboard, health and metrics, the
scheduler; with `--with-worker` the jobs too) and `rightsizer worker` (jobs only, as many
processes as the load needs, all on one PostgreSQL)."""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI, HTTPException, Request, Response
from loky import cpu_count
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from bot.service import metrics
from bot.service.dashboard import dashboard_router
from bot.service.engine import engine_app, run_worker
from bot.service.logs import configure
from bot.service.scheduler import Schedules
from bot.service.settings import ServiceSettings, load_settings, settings_warnings
from bot.service.webhooks import webhook_router
from bot.service.worker import RunSummary, Worker
from bot.store import Store
from bot.store.database import database_url
from recommenders.errors import InputError

log = logging.getLogger("rightsizer.service")


def run_service(
    host: str,
    port: int,
    with_worker: bool = False,
    concurrency: int | None = None,
    work: Callable[..., RunSummary] | None = None,
) -> None:
    """`rightsizer serve`: the settings checked, logs that mask secrets, the app under
    uvicorn. `work` is what each run's process does (a test gives one that crashes)."""
    import uvicorn

    settings = _started()
    if not settings.database_url and not with_worker:
        # The embedded database lives and dies with this process: no other could run jobs.
        log.info("no RIGHTSIZER_DATABASE_URL: the embedded database's jobs run here too")
        with_worker = True
    app = create_app(settings, work, workers=concurrency if with_worker else 0)
    uvicorn.run(app, host=host, port=port, log_config=None, access_log=False)


def run_workers(concurrency: int | None, work: Callable[..., RunSummary] | None = None) -> None:
    """`rightsizer worker`: jobs run until SIGTERM or SIGINT, which lets the running ones
    finish (up to the job timeout) before the process exits."""
    settings = _started()
    if not settings.database_url:
        raise InputError(
            "RIGHTSIZER_DATABASE_URL",
            "a worker of its own needs the PostgreSQL the web process uses; on one node, "
            "run `rightsizer serve --with-worker` instead",
        )
    store = Store(database_url(settings.database_url, settings.data_dir))
    worker = Worker(store, settings, work)
    engine = engine_app(settings.database_url)

    async def working() -> None:
        async with engine.open_async():
            await run_worker(engine, worker, _concurrency(settings, concurrency))

    asyncio.run(working())


def _started() -> ServiceSettings:
    """The settings, checked, and logs that mask every secret in them."""
    settings = load_settings()
    configure(settings.secrets())
    for warning in settings_warnings(settings):
        logging.getLogger("rightsizer").warning(warning)
    return settings


def _concurrency(settings: ServiceSettings, given: int | None) -> int:
    """Jobs at once: as asked, else one per CPU the container may use (loky reads the cgroup
    quota and the affinity mask; `os.cpu_count()` would say 64 on a 64-core node)."""
    return given or settings.worker_concurrency or cpu_count()


def create_app(
    settings: ServiceSettings,
    work: Callable[..., RunSummary] | None = None,
    workers: int | None = 0,
) -> FastAPI:
    """The web app; with `workers` other than 0 it also runs jobs, that many at once (None:
    as the settings or the CPU quota say)."""
    url = database_url(settings.database_url, settings.data_dir)
    store = Store(url)
    schedules = Schedules(store, settings)
    running: list[asyncio.Task[None]] = []

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        schedules.start()
        # Only to run jobs: the web process defers them through the store.
        engine = engine_app(url) if workers != 0 else None
        if engine is not None:
            await engine.open_async()
            worker = Worker(store, settings, work)
            concurrency = _concurrency(settings, workers)
            running.append(
                asyncio.create_task(run_worker(engine, worker, concurrency, signals=False))
            )
        try:
            yield
        finally:
            schedules.stop()
            for task in running:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
            if engine is not None:
                await engine.close_async()

    app = FastAPI(title="Rightsizer", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.include_router(webhook_router(store, settings))
    if settings.dashboard_token:
        guard = [Depends(_token_guard(settings.dashboard_token))]
        app.include_router(dashboard_router(store), dependencies=guard)
        app.add_api_route("/metrics", _metrics(store), methods=["GET"], dependencies=guard)
    else:
        log.warning("the dashboard and /metrics are off: set RIGHTSIZER_DASHBOARD_TOKEN")

    def worker_alive() -> bool:
        return all(not task.done() for task in running)

    @app.get("/healthz")
    def healthz(response: Response) -> dict[str, str]:
        """Alive: the process answers and, when it runs jobs, its worker runs. A dead worker
        is fixed only by a restart, which is what a failing liveness check asks for; a
        database that is down is not (see /readyz)."""
        if not worker_alive():
            response.status_code = 503
            return {"status": "worker stopped"}
        return {"status": "ok"}

    @app.get("/readyz")
    def readyz(response: Response) -> dict[str, object]:
        """Ready: the database answers and the scheduler (and the worker, if any) run."""
        checks = {
            "database": _safe(store.ready),
            "worker": worker_alive(),
            "scheduler": schedules.scheduler.running,
        }
        if not all(checks.values()):
            response.status_code = 503
        return {"status": "ready" if all(checks.values()) else "not ready", **checks}

    app.state.store, app.state.schedules = store, schedules
    return app


def _safe(check: object) -> bool:
    try:
        return bool(check())  # type: ignore[operator]
    except Exception:
        return False


def _metrics(store: Store) -> Callable[[], Response]:
    shared = CollectorRegistry(auto_describe=False)
    shared.register(metrics.StoreCollector(store))

    def prometheus_metrics() -> Response:
        metrics.QUEUE_DEPTH.set(store.queue.depth())
        text = generate_latest(metrics.REGISTRY) + generate_latest(shared)
        return Response(text, media_type=CONTENT_TYPE_LATEST)

    return prometheus_metrics


def _token_guard(token: str) -> Callable[[Request], None]:
    """The dashboard shows every repository's plans and errors, and /metrics their names:
    neither is for anyone who reaches the webhook listener. A browser logs in with HTTP
    Basic (any user name, the token as the password); Prometheus sends it as a Bearer."""
    expected = token.encode("utf-8")

    def guard(request: Request) -> None:
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        given = b""
        if scheme.lower() == "bearer":
            given = value.strip().encode("utf-8")
        elif scheme.lower() == "basic":
            try:
                given = base64.b64decode(value.strip(), validate=True).partition(b":")[2]
            except (binascii.Error, ValueError):
                given = b""
        if not given or not hmac.compare_digest(given, expected):
            raise HTTPException(
                401, "a token is needed", headers={"WWW-Authenticate": 'Basic realm="rightsizer"'}
            )

    return guard
