"""The service's settings: environment variables over an optional YAML file, checked at start.

A secret may be given as its value or, better, as a file (`..._FILE`, a mounted secret), and
is kept out of `repr` so it can never reach a log line.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from bot.cron import CronSchedule
from bot.pipeline import run_moment
from bot.settings_files import load_mapping
from bot.store.database import sqlalchemy_url
from recommenders.errors import InputError

SETTINGS_FILE = "RIGHTSIZER_SETTINGS_FILE"


@dataclass(frozen=True)
class ServiceSettings:
    database_url: str | None = field(default=None, repr=False)
    """A PostgreSQL URL (it may hold a password); none starts an embedded PostgreSQL in
    `data_dir`, for a trial or a single node."""
    data_dir: Path = Path("rightsizer-data")
    """Where the embedded PostgreSQL keeps its cluster (`postgres/`); a volume in a container."""
    github_url: str = "https://api.github.com"
    github_app_id: str | None = None
    github_private_key: Path | None = None
    github_webhook_secret: str | None = field(default=None, repr=False)
    github_write_interval: float = 1.0
    gitlab_url: str = "https://gitlab.com"
    gitlab_token: str | None = field(default=None, repr=False)
    gitlab_webhook_token: str | None = field(default=None, repr=False)
    gitlab_projects: str | None = field(default=None, repr=False)
    """The GitLab projects served, comma-separated paths, each optionally with a webhook token
    of its own (`group/app=token`). GitLab sends no installation events: a project is served
    only when listed, and one with its own token answers to that token only."""
    max_body_bytes: int = 5 * 1024 * 1024
    """Larger deliveries are refused before they are read; GitHub caps payloads at 25 MB, but
    the events the bot acts on are far smaller."""
    debounce_seconds: float = 30.0
    """A push waits this long for the next one, so a burst of merges makes one run."""
    schedule: str = "0 6 * * *"
    """The default cron (in UTC) for repos whose `.rightsizer.yaml` names none."""
    schedule_jitter_seconds: int = 3600
    worker_heartbeat_seconds: float = 10.0
    """Each worker process says it is alive this often; one silent for three times as long is
    taken for dead, and its job is retried."""
    job_history_days: float = 14.0
    """Finished jobs are deleted after this long (each run's record stays on the dashboard)."""
    api_requests_per_run: int = 100
    """GitHub API requests set aside from an installation's hourly budget for each run."""
    worker_concurrency: int = 0
    """Jobs a worker process runs at once; 0: one per CPU of the container's quota (its
    cgroup limit and affinity, not the node's core count)."""
    job_timeout_seconds: float = 1800.0
    """A run's process is stopped after this long; the job is retried, then given up on."""
    retry_seconds: float = 60.0
    org_policy: str | None = None
    forecast_cache: Path | None = None
    """A directory holding one forecast cache per repository (none: every run starts cold)."""
    dashboard_token: str | None = None
    """The dashboard and /metrics answer only to it (HTTP Bearer, or Basic with it as the
    password); without one they are not served at all."""
    as_of: str | None = None
    """Plan as of this fixed moment instead of now: a replay of bundled exports (a demo)."""


_NAMES = {
    "database_url": "RIGHTSIZER_DATABASE_URL",
    "data_dir": "RIGHTSIZER_DATA_DIR",
    "github_url": "RIGHTSIZER_GITHUB_URL",
    "github_app_id": "RIGHTSIZER_GITHUB_APP_ID",
    "github_private_key": "RIGHTSIZER_GITHUB_PRIVATE_KEY",
    "github_webhook_secret": "RIGHTSIZER_GITHUB_WEBHOOK_SECRET",
    "github_write_interval": "RIGHTSIZER_GITHUB_WRITE_INTERVAL",
    "gitlab_url": "RIGHTSIZER_GITLAB_URL",
    "gitlab_token": "RIGHTSIZER_GITLAB_TOKEN",
    "gitlab_webhook_token": "RIGHTSIZER_GITLAB_WEBHOOK_TOKEN",
    "gitlab_projects": "RIGHTSIZER_GITLAB_PROJECTS",
    "max_body_bytes": "RIGHTSIZER_MAX_BODY_BYTES",
    "debounce_seconds": "RIGHTSIZER_DEBOUNCE_SECONDS",
    "schedule": "RIGHTSIZER_SCHEDULE",
    "schedule_jitter_seconds": "RIGHTSIZER_SCHEDULE_JITTER_SECONDS",
    "worker_heartbeat_seconds": "RIGHTSIZER_WORKER_HEARTBEAT_SECONDS",
    "worker_concurrency": "RIGHTSIZER_WORKER_CONCURRENCY",
    "api_requests_per_run": "RIGHTSIZER_API_REQUESTS_PER_RUN",
    "job_history_days": "RIGHTSIZER_JOB_HISTORY_DAYS",
    "job_timeout_seconds": "RIGHTSIZER_JOB_TIMEOUT_SECONDS",
    "retry_seconds": "RIGHTSIZER_RETRY_SECONDS",
    "org_policy": "RIGHTSIZER_ORG_POLICY",
    "forecast_cache": "RIGHTSIZER_FORECAST_CACHE",
    "as_of": "RIGHTSIZER_AS_OF",
    "dashboard_token": "RIGHTSIZER_DASHBOARD_TOKEN",
}
_SECRETS = {
    "database_url",
    "github_webhook_secret",
    "gitlab_token",
    "gitlab_webhook_token",
    "gitlab_projects",
    "dashboard_token",
}
_PROJECT = re.compile(r"[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)+")


def load_settings(environ: dict[str, str] | None = None) -> ServiceSettings:
    """Settings from the file `RIGHTSIZER_SETTINGS_FILE` names (keys as the field names),
    then the environment; every value is checked, naming the variable or key at fault."""
    env = dict(os.environ if environ is None else environ)
    raw: dict[str, tuple[object, str]] = {}
    if env.get(SETTINGS_FILE):
        path = Path(env[SETTINGS_FILE])
        if not path.is_file():
            raise InputError(SETTINGS_FILE, f"{path} does not exist")
        for key, value in load_mapping(path, str(path)).items():
            if key not in _NAMES:
                raise InputError(str(path), f"unknown setting {key!r}; known: {', '.join(_NAMES)}")
            raw[key] = (value, f"{path}: {key}")
    for key, name in _NAMES.items():
        if env.get(name):
            raw[key] = (env[name], name)
        elif key in _SECRETS and env.get(f"{name}_FILE"):
            raw[key] = (_read_secret(env[f"{name}_FILE"], f"{name}_FILE"), f"{name}_FILE")
    values = {key: _typed(key, value, where) for key, (value, where) in raw.items()}
    settings = ServiceSettings(**values)  # type: ignore[arg-type]
    _check(settings)
    return settings


def _read_secret(path: str, where: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise InputError(where, f"cannot read {path}: {exc.strerror}") from exc


def _typed(key: str, value: object, where: str) -> object:
    default = getattr(ServiceSettings(), key)
    try:
        if isinstance(default, bool):
            raise TypeError
        if isinstance(default, float):
            return float(value)  # type: ignore[arg-type]
        if isinstance(default, int):
            return int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError) as exc:
        raise InputError(where, f"expected a number, got {value!r}") from exc
    if key in ("github_private_key", "forecast_cache", "data_dir"):
        return Path(str(value))
    return str(value)


def gitlab_projects(settings: ServiceSettings) -> dict[str, str | None]:
    """`RIGHTSIZER_GITLAB_PROJECTS` as project path -> its own webhook token, or None."""
    projects: dict[str, str | None] = {}
    for item in (settings.gitlab_projects or "").split(","):
        if not item.strip():
            continue
        path, has_token, token = (part.strip() for part in item.partition("="))
        if not _PROJECT.fullmatch(path) or (has_token and not token):
            shown = path if _PROJECT.fullmatch(path) else "an item"
            raise InputError(
                _NAMES["gitlab_projects"], f"{shown} is not group/project or group/project=token"
            )
        projects[path] = token or None
    return projects


def settings_warnings(settings: ServiceSettings) -> list[str]:
    """What is allowed but unsafe, said once at start: a private key that other users of the
    machine can read (as ssh refuses such a key, but the service has no second copy)."""
    key = settings.github_private_key
    if key is not None and key.is_file() and key.stat().st_mode & 0o077:
        mode = f"{key.stat().st_mode & 0o777:o}"
        name = _NAMES["github_private_key"]
        return [f"{name}: {key} is readable by others (mode {mode}); chmod 600 it"]
    return []


def _check(settings: ServiceSettings) -> None:
    run_moment(settings.as_of, _NAMES["as_of"])
    if settings.database_url:
        sqlalchemy_url(settings.database_url)
    if settings.github_app_id and settings.github_private_key is None:
        raise InputError(_NAMES["github_private_key"], "the App's private key file is needed")
    if settings.github_private_key is not None and not settings.github_private_key.is_file():
        raise InputError(
            _NAMES["github_private_key"], f"{settings.github_private_key} is not a file"
        )
    if settings.github_app_id and not settings.github_webhook_secret:
        raise InputError(
            _NAMES["github_webhook_secret"],
            "set it to the App's webhook secret: unsigned deliveries are never accepted",
        )
    try:
        CronSchedule(settings.schedule)
    except ValueError as exc:
        raise InputError(_NAMES["schedule"], str(exc)) from exc
    if settings.max_body_bytes < 1024:
        raise InputError(_NAMES["max_body_bytes"], "must be at least 1024")
    gitlab_projects(settings)
    if settings.job_timeout_seconds <= 0:
        raise InputError(_NAMES["job_timeout_seconds"], "must be positive")
    if settings.worker_heartbeat_seconds <= 0:
        raise InputError(_NAMES["worker_heartbeat_seconds"], "must be positive")
    for key in (
        "debounce_seconds",
        "retry_seconds",
        "worker_concurrency",
        "api_requests_per_run",
        "job_history_days",
    ):
        if getattr(settings, key) < 0:
            raise InputError(_NAMES[key], "must not be negative")
