"""Every data source a run was given, read and validated before anything is planned or written.

The CLI and (later) the service name sources the same way, so reading them lives here, once:
files by detected or named format, Prometheus by URL, and the unit prices they imply.
"""

from __future__ import annotations

import contextvars
import os
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.stages import stage
from recommenders.errors import InputError
from recommenders.model import UnitPrices
from recommenders.sources.frames import Cost, Usage
from recommenders.sources.prices import unit_prices
from recommenders.sources.registry import load_cost, load_utilisation
from recommenders.sources.usage import UsageTable
from recommenders.sources.utilisation.prometheus import PrometheusSource, load_prometheus

TOKEN_ENV, TOKEN_FILE_ENV = "RIGHTSIZER_PROMETHEUS_TOKEN", "RIGHTSIZER_PROMETHEUS_TOKEN_FILE"
USER_ENV, PASSWORD_ENV = "RIGHTSIZER_PROMETHEUS_USER", "RIGHTSIZER_PROMETHEUS_PASSWORD"
URL_ENV, SOURCES_ENV = "RIGHTSIZER_PROMETHEUS_URL", "RIGHTSIZER_PROMETHEUS_SOURCES"
SLO_ENV = "RIGHTSIZER_SLO_QUERIES"
"""`true` lets repositories' `slo-query` annotations run on the operator's Prometheus."""
DEFAULT_PROMETHEUS = "default"
SOURCE_NAME = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
"""How a repository names one of the operator's Prometheus servers (a DNS label)."""
_DURATION = re.compile(r"(\d+)([smhdw])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


@dataclass(frozen=True)
class SourceRequest:
    """What the user pointed at; formats are detected from headers unless named."""

    utilisation: Sequence[Path] = ()
    cost: Sequence[Path] = ()
    utilisation_format: str | None = None
    cost_format: str | None = None
    prometheus: PrometheusSource | None = None


@dataclass
class Inputs:
    usages: list[Usage]
    costs: list[Cost]
    table: UsageTable
    prices: dict[str, UnitPrices]
    """By environment; "" holds prices from cost data that names no environment."""
    price_notes: list[str] = field(default_factory=list)


def read_inputs(request: SourceRequest) -> Inputs:
    usages = [load_utilisation(path, request.utilisation_format) for path in request.utilisation]
    if request.prometheus is not None:
        usages.append(load_prometheus(request.prometheus))
    costs = [load_cost(path, request.cost_format) for path in request.cost]
    prices, notes = unit_prices(costs)
    return Inputs(usages, costs, UsageTable(usages), prices, notes)


@contextmanager
def read_meanwhile(request: SourceRequest) -> Iterator[Callable[[], Inputs]]:
    """The inputs read in a thread while the caller inventories the repository, handed over
    by the function this yields, once: kept by the reading, the sources' frames held 0.4 GiB
    through a 5,000-workload plan. Reading is Arrow and numpy, which let go of the GIL; the
    inventory is Python. One after the other, a cold 5,000-workload plan read for 12 s and
    inspected (inventory and renders) for 35 s; at once, both took 39-40 s. When both fail,
    the inputs' error is the one raised, as when they were read first."""
    context = contextvars.copy_context()  # the reading's stage is timed with the others

    def read() -> Inputs:
        with stage("inputs"):
            return read_inputs(request)

    with ThreadPoolExecutor(1, thread_name_prefix="rightsizer-inputs") as pool:
        reading: Future[Inputs] | None = pool.submit(context.run, read)

        def take() -> Inputs:
            nonlocal reading
            if reading is None:
                raise RuntimeError("the inputs were handed over already")
            found, reading = reading.result(), None
            return found

        try:
            yield take
        except Exception:  # an interrupt stays one
            if reading is not None and (failed := reading.exception()) is not None:
                raise failed from None
            raise


def prometheus_source(
    url: str,
    window: str,
    step: str,
    end: str | None,
    queries: Sequence[str] = (),
    environ: Mapping[str, str] = os.environ,
) -> PrometheusSource:
    """The Prometheus to read, credentials from the environment (or a token file), never from
    the command line, where `ps` and shell history would keep them."""
    step_delta = parse_duration(step, "--prometheus-step")
    if end is None:
        now = datetime.now(UTC)
        stop = now - (now - datetime(1970, 1, 1, tzinfo=UTC)) % step_delta
    else:
        try:
            stop = datetime.fromisoformat(end.replace("Z", "+00:00"))
        except ValueError as exc:
            raise InputError("--prometheus-end", f"{end!r} is not an ISO 8601 time") from exc
    token = environ.get(TOKEN_ENV)
    if not token and environ.get(TOKEN_FILE_ENV):
        token_path = Path(environ[TOKEN_FILE_ENV])
        try:
            token = token_path.read_text().strip()
        except OSError as exc:
            raise InputError(
                str(token_path), f"cannot read the token file ({exc.strerror})"
            ) from exc
    return PrometheusSource(
        url,
        start=stop - parse_duration(window, "--prometheus-window"),
        end=stop,
        step=step_delta,
        token=token or None,
        user=environ.get(USER_ENV) or None,
        password=environ.get(PASSWORD_ENV) or None,
        queries=dict(_assignment(text) for text in queries),
    )


def operator_prometheus(environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """The Prometheus servers repositories may read, by name, as the operator set them:
    `RIGHTSIZER_PROMETHEUS_URL` is `default`, `RIGHTSIZER_PROMETHEUS_SOURCES` names others
    (`prod=https://...,staging=https://...`). The bot's credentials go to these only: a
    repository picks one by name and never supplies a URL, or a push could send the
    operator's token to a host of the pusher's choice."""
    named = {DEFAULT_PROMETHEUS: environ[URL_ENV]} if environ.get(URL_ENV) else {}
    for item in environ.get(SOURCES_ENV, "").split(","):
        if not item.strip():
            continue
        name, _, url = (part.strip() for part in item.partition("="))
        if not SOURCE_NAME.fullmatch(name) or not url.startswith(("http://", "https://")):
            raise InputError(SOURCES_ENV, f"expected name=http(s)://URL items, got {item!r}")
        named[name] = url
    return named


def operator_runs_slo_queries(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether a repository's own PromQL (its workloads' `slo-query`) may run with the
    operator's Prometheus credentials. Off unless the operator says so: a query reads
    whatever the credentials can, other tenants' series included, and its numbers reach
    PR text. A user running the CLI against their own `--prometheus` needs no leave."""
    return environ.get(SLO_ENV, "").strip().lower() == "true"


def configured_prometheus(name: str, environ: Mapping[str, str] = os.environ) -> str:
    """The URL of the operator's Prometheus that `.rightsizer.yaml` names."""
    known = operator_prometheus(environ)
    if name not in known:
        listed = ", ".join(sorted(known)) or f"none: the operator sets {URL_ENV} or {SOURCES_ENV}"
        raise InputError(
            ".rightsizer.yaml",
            f"sources.prometheus: {name!r} is not one of the operator's Prometheus sources "
            f"(known: {listed})",
        )
    return known[name]


def _assignment(text: str) -> tuple[str, str]:
    name, equals, query = text.partition("=")
    if not equals or not name.strip() or not query.strip():
        raise InputError("--prometheus-query", f"{text!r} is not METRIC=PROMQL")
    return name.strip(), query.strip()


def parse_duration(text: str, option: str) -> timedelta:
    """Prometheus-style durations: `30d`, `1h`, `1h30m`."""
    parts = _DURATION.findall(text)
    if not parts or "".join(number + unit for number, unit in parts) != text:
        raise InputError(option, f"{text!r} is not a duration like 30d, 12h or 1h30m")
    total = timedelta()
    for number, unit in parts:
        total += timedelta(**{_UNITS[unit]: int(number)})
    if total <= timedelta():
        raise InputError(option, f"{text!r} must be longer than zero")
    return total
