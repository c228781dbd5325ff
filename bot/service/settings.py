"""The service's settings: environment variables over an optional YAML file, checked at start.

A secret may be given as its value or, better, as a file (`..._FILE`, a mounted secret), and
is kept out of `repr` so it can never reach a log line. Each forge's own settings are its
folder's (`bot/forges/<name>/service.py`, `RIGHTSIZER_<NAME>_<FIELD>`), read here for every
forge the registry lists: adding a forge adds no field here.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from bot.cron import CronSchedule
from bot.forges.registry import FORGES
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
    forges: Mapping[str, Any] = field(default_factory=dict)
    """Each forge's own settings by its name, where any were given (`forge` gives the rest
    their defaults)."""
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

    def forge(self, name: str) -> Any:
        """The settings of forge `name` (its `service.py` dataclass)."""
        found = self.forges.get(name)
        if found is not None:
            return found
        service = FORGES[name].service
        assert service is not None, f"{name} is not a forge the service serves"
        return service()

    def secrets(self) -> list[str]:
        """Every secret value set, the forges' included: what the logs mask."""
        found = [self.database_url, self.dashboard_token]
        for name in _SERVED:
            settings = self.forge(name)
            found += [getattr(settings, key) for key in sorted(settings.SECRETS)]
        return [value for value in found if value]


_NAMES = {
    "database_url": "RIGHTSIZER_DATABASE_URL",
    "data_dir": "RIGHTSIZER_DATA_DIR",
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
_SECRETS = {"database_url", "dashboard_token"}
_SERVED = [name for name, kind in FORGES.items() if kind.service is not None]
"""The forges with service settings, read as `<forge>_<field>` beside the keys above."""


def forge_variable(forge: str, key: str) -> str:
    """`RIGHTSIZER_GITHUB_APP_ID` for the `github` forge's `app_id`."""
    return f"RIGHTSIZER_{forge.upper()}_{key.upper()}"


def load_settings(environ: dict[str, str] | None = None) -> ServiceSettings:
    """Settings from the file `RIGHTSIZER_SETTINGS_FILE` names (keys as the field names),
    then the environment; every value is checked, naming the variable or key at fault."""
    env = dict(os.environ if environ is None else environ)
    names = dict(_NAMES)
    secrets, paths = set(_SECRETS), {"forecast_cache", "data_dir"}
    for forge in _SERVED:
        service = FORGES[forge].service
        for item in fields(service):  # type: ignore[arg-type]
            names[f"{forge}_{item.name}"] = forge_variable(forge, item.name)
        secrets |= {f"{forge}_{key}" for key in service.SECRETS}  # type: ignore[union-attr]
        paths |= {f"{forge}_{key}" for key in service.PATHS}  # type: ignore[union-attr]
    raw: dict[str, tuple[object, str]] = {}
    if env.get(SETTINGS_FILE):
        path = Path(env[SETTINGS_FILE])
        if not path.is_file():
            raise InputError(SETTINGS_FILE, f"{path} does not exist")
        for key, value in load_mapping(path, str(path)).items():
            if key not in names:
                raise InputError(str(path), f"unknown setting {key!r}; known: {', '.join(names)}")
            raw[key] = (value, f"{path}: {key}")
    for key, name in names.items():
        if env.get(name):
            raw[key] = (env[name], name)
        elif key in secrets and env.get(f"{name}_FILE"):
            raw[key] = (_read_secret(env[f"{name}_FILE"], f"{name}_FILE"), f"{name}_FILE")
    values = {
        key: _typed(_default(key), value, where, key in paths)
        for key, (value, where) in raw.items()
    }
    by_forge: dict[str, dict[str, object]] = {}
    for forge in _SERVED:
        prefix = f"{forge}_"
        given = {k.removeprefix(prefix): v for k, v in values.items() if k.startswith(prefix)}
        if given:
            by_forge[forge] = given
    own = {k: v for k, v in values.items() if k in _NAMES}
    forges = {forge: FORGES[forge].service(**given) for forge, given in by_forge.items()}  # type: ignore[misc]
    settings = ServiceSettings(**own, forges=forges)  # type: ignore[arg-type]
    _check(settings)
    return settings


def _default(key: str) -> object:
    """The default of a setting, a forge's (`github_app_id`) included."""
    if key in _NAMES:
        return getattr(ServiceSettings(), key)
    forge, _, name = key.partition("_")
    return getattr(FORGES[forge].service(), name)  # type: ignore[misc]


def _read_secret(path: str, where: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise InputError(where, f"cannot read {path}: {exc.strerror}") from exc


def _typed(default: object, value: object, where: str, path: bool) -> object:
    try:
        if isinstance(default, bool):
            raise TypeError
        if isinstance(default, float):
            return float(value)  # type: ignore[arg-type]
        if isinstance(default, int):
            return int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError) as exc:
        raise InputError(where, f"expected a number, got {value!r}") from exc
    return Path(str(value)) if path else str(value)


def settings_warnings(settings: ServiceSettings) -> list[str]:
    """What is allowed but unsafe, said once at start (each forge says what is, for it)."""
    return [
        warning for forge in _SERVED for warning in settings.forge(forge).warnings(_namer(forge))
    ]


def _namer(forge: str) -> Callable[[str], str]:
    return lambda key: forge_variable(forge, key)


def _check(settings: ServiceSettings) -> None:
    run_moment(settings.as_of, _NAMES["as_of"])
    if settings.database_url:
        sqlalchemy_url(settings.database_url)
    for forge in _SERVED:
        settings.forge(forge).check(_namer(forge))
    try:
        CronSchedule(settings.schedule)
    except ValueError as exc:
        raise InputError(_NAMES["schedule"], str(exc)) from exc
    if settings.max_body_bytes < 1024:
        raise InputError(_NAMES["max_body_bytes"], "must be at least 1024")
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
