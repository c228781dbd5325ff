"""The web app of `rightsizer serve`: webhooks, dashboard, health and metrics, and in the same
process the worker and the scheduler, started and stopped with the app."""

from __future__ import annotations

import base64
import binascii
import hmac
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI, HTTPException, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from bot.service import metrics
from bot.service.dashboard import dashboard_router
from bot.service.logs import configure
from bot.service.scheduler import Schedules
from bot.service.settings import ServiceSettings, load_settings, settings_warnings
from bot.service.webhooks import webhook_router
from bot.service.worker import RunSummary, Worker
from bot.store import Store
from bot.store.database import database_url

log = logging.getLogger("rightsizer.service")


def run_service(host: str, port: int, work: Callable[..., RunSummary] | None = None) -> None:
    """`rightsizer serve`: the settings checked, logs that mask secrets, the app under
    uvicorn. `work` is what each run's process does (a test gives one that crashes)."""
    import uvicorn

    settings = load_settings()
    secrets = [
        settings.github_webhook_secret or "",
        settings.gitlab_token or "",
        settings.gitlab_webhook_token or "",
        settings.dashboard_token or "",
        settings.database_url or "",
    ]
    configure(secrets)
    for warning in settings_warnings(settings):
        logging.getLogger("rightsizer").warning(warning)
    app = create_app(settings, work)
    uvicorn.run(app, host=host, port=port, log_config=None, access_log=False)


def create_app(settings: ServiceSettings, work: Callable[..., RunSummary] | None = None) -> FastAPI:
    store = Store(database_url(settings.database_url, settings.data_dir))
    worker = Worker(store, settings, work=work)
    schedules = Schedules(store, settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        worker.start()
        schedules.start()
        try:
            yield
        finally:
            schedules.stop()
            worker.stop()

    app = FastAPI(title="Rightsizer", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.include_router(webhook_router(store, settings))
    if settings.dashboard_token:
        guard = [Depends(_token_guard(settings.dashboard_token))]
        app.include_router(dashboard_router(store), dependencies=guard)
        app.add_api_route("/metrics", _metrics(store), methods=["GET"], dependencies=guard)
    else:
        log.warning("the dashboard and /metrics are off: set RIGHTSIZER_DASHBOARD_TOKEN")

    @app.get("/healthz")
    def healthz(response: Response) -> dict[str, str]:
        """Alive: the process answers and its worker thread runs. A dead worker is fixed
        only by a restart, which is what a failing liveness check asks for; a database that
        is down is not (see /readyz)."""
        if not worker.alive:
            response.status_code = 503
            return {"status": "worker stopped"}
        return {"status": "ok"}

    @app.get("/readyz")
    def readyz(response: Response) -> dict[str, object]:
        """Ready: the database answers and the worker and scheduler run."""
        checks = {
            "database": _safe(store.ready),
            "worker": worker.alive,
            "scheduler": schedules.scheduler.running,
        }
        if not all(checks.values()):
            response.status_code = 503
        return {"status": "ready" if all(checks.values()) else "not ready", **checks}

    app.state.store, app.state.worker, app.state.schedules = store, worker, schedules
    return app


def _safe(check: object) -> bool:
    try:
        return bool(check())  # type: ignore[operator]
    except Exception:
        return False


def _metrics(store: Store) -> Callable[[], Response]:
    def prometheus_metrics() -> Response:
        metrics.QUEUE_DEPTH.set(store.queue.depth())
        return Response(generate_latest(metrics.REGISTRY), media_type=CONTENT_TYPE_LATEST)

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
