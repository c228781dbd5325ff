"""Usage read live from a Prometheus-compatible API: Prometheus, Thanos, VictoriaMetrics, Mimir.

All of them answer `POST /api/v1/query_range`, so that is the only endpoint used. Metrics name
pods while manifests name controllers, so series are mapped through `owners` and averaged over
each controller's pods. Owner metrics are range queries over the same window, like the usage,
so pods that came and went before the end are mapped too, not only the ones alive now.

Long ranges are read in chunks of at most `chunk` points per series: Prometheus refuses more
than 11,000, and smaller answers are kinder to a shared server. Each chunk starts one step
after the previous one ended, on the grid a single request would use, so the stitched series
equal one request's. Only the standard library speaks HTTP: no new dependency.
"""

from __future__ import annotations

import base64
import http.client
import json
import math
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import Message
from email.utils import parsedate_to_datetime
from typing import Any

import numpy as np
import pandas as pd

from recommenders.errors import InputError
from recommenders.sources.checks import check_usage
from recommenders.sources.frames import SIGNALS, USAGE_COLUMNS, Usage
from recommenders.sources.owners import Pod, PodMapping, PodOwner, ReplicaSetOwner, map_pods

MAX_POINTS = 11_000
"""Prometheus refuses a range query that would return more points per series."""
MAX_RETRY_WAIT = 5.0
"""Seconds waited at most before retrying a 429/503, whatever Retry-After asks: a run that
would have to wait minutes should fail and say so rather than hang."""
RETRY_STATUSES = frozenset({429, 503})
USAGE_METRICS = (
    "cpu_cores",
    "memory_bytes",
    "cpu_request_cores",
    "memory_request_bytes",
    "cpu_limit_cores",
    "memory_limit_bytes",
)
COUNTED_SIGNALS = ("oom_kills", "restarts")
"""Signals that count events: summed over a controller's pods, not averaged."""
PRESENCE_METRICS = ("cpu_cores", "memory_bytes")
"""A pod counts towards `replicas` where it has usage: pending pods have request series too."""
OWNER_QUERIES = ("pod_owner", "replicaset_owner")
KEYS = ["environment", "namespace", "kind", "workload"]
POD_LABELS = ("namespace", "pod", "container")
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_SNIPPET = 200
"""Characters of an unexpected body quoted in a message: enough to recognise a login page."""


def default_queries(
    environment_label: str = "cluster", step: timedelta = timedelta(hours=1)
) -> dict[str, str]:
    """PromQL per metric: cAdvisor usage, kube-state-metrics v2 requests, limits and owners,
    and the failure signals: OOM kills (cAdvisor), restarts (kube-state-metrics) and the
    share of CFS periods throttled, each over one step."""
    by = f"sum by ({environment_label}, namespace, pod, container)"
    real = 'container!="", container!="POD"'  # "" is the pod's own cgroup, POD the pause one
    window = f"{max(60, round(step.total_seconds()))}s"
    restarts = f"increase(kube_pod_container_status_restarts_total[{window}])"
    pod_labels = f"{environment_label}, namespace, pod, container"

    def throttled(name: str) -> str:
        return f"{by} (rate(container_cpu_cfs_{name}_total{{{real}}}[5m]))"

    def resource(kind: str, name: str) -> str:
        return f'{by} (kube_pod_container_resource_{kind}{{resource="{name}"}})'

    return {
        "cpu_cores": f"{by} (rate(container_cpu_usage_seconds_total{{{real}}}[5m]))",
        "memory_bytes": f"{by} (container_memory_working_set_bytes{{{real}}})",
        "cpu_request_cores": resource("requests", "cpu"),
        "memory_request_bytes": resource("requests", "memory"),
        "cpu_limit_cores": resource("limits", "cpu"),
        "memory_limit_bytes": resource("limits", "memory"),
        # cAdvisor's OOM counter where it exists, else restarts whose last termination
        # kube-state-metrics reports as OOMKilled.
        "oom_kills": f"({by} (increase(container_oom_events_total{{{real}}}[{window}]))) or "
        f"({by} ({restarts} * on ({pod_labels}) group_left max by ({pod_labels}) "
        '(kube_pod_container_status_last_terminated_reason{reason="OOMKilled"})))',
        "restarts": f"{by} ({restarts})",
        "cpu_throttled_ratio": f"{throttled('throttled_periods')} / {throttled('periods')}",
        "pod_owner": f"max by ({environment_label}, namespace, pod, owner_kind, owner_name, "
        "owner_is_controller) (kube_pod_owner)",
        "replicaset_owner": f"max by ({environment_label}, namespace, replicaset, owner_kind, "
        "owner_name) (kube_replicaset_owner)",
    }


@dataclass(frozen=True)
class PrometheusSource:
    """Where and what to read. Credentials written into `url` (`https://user:pw@host`) are
    moved to `user` and `password`, so neither `url`, repr nor any message shows them."""

    url: str
    start: datetime
    """Naive datetimes are UTC, as everywhere in Rightsizer."""
    end: datetime
    step: timedelta = timedelta(hours=1)
    chunk: int = 1000
    """Points per series per request; longer ranges are paged."""
    timeout: float = 30.0
    """Seconds per request."""
    environment_label: str = "cluster"
    """The label that tells clusters apart; a series without it gets environment ""."""
    token: str | None = field(default=None, repr=False)
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    queries: Mapping[str, str] = field(default_factory=dict)
    """PromQL per metric name, overriding `default_queries`."""
    retries: int = 2
    """Attempts after a 429 or 503, each after its Retry-After (at most MAX_RETRY_WAIT)."""

    def __post_init__(self) -> None:
        try:
            parts = urllib.parse.urlsplit(self.url)
            parts.port  # noqa: B018 (raises for a port that is not a number)
        except ValueError as exc:
            raise InputError("the Prometheus URL", f"not a URL: {exc}") from exc
        if "@" in parts.netloc:
            user, _, password = parts.netloc.rpartition("@")[0].partition(":")
            netloc = parts.netloc.rpartition("@")[2]
            object.__setattr__(self, "url", parts._replace(netloc=netloc).geturl())
            object.__setattr__(self, "user", self.user or urllib.parse.unquote(user))
            object.__setattr__(self, "password", self.password or urllib.parse.unquote(password))
        problem = self._problem()
        if problem:
            raise InputError(self.url, problem)

    def query(self, name: str) -> str:
        return self.queries.get(name) or default_queries(self.environment_label, self.step)[name]

    def _problem(self) -> str | None:
        parts = urllib.parse.urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return "not the http(s) URL of a Prometheus-compatible server"
        if _ms(self.end) <= _ms(self.start):
            return f"the range ends ({self.end}) before it starts ({self.start})"
        if self.step.total_seconds() < 0.001:
            return f"the step must be at least a millisecond, not {self.step}"
        if not 1 <= self.chunk <= MAX_POINTS:
            return f"chunk must be 1 to {MAX_POINTS} points per request, not {self.chunk}"
        if self.timeout <= 0 or self.retries < 0:
            return "the timeout must be positive and retries not negative"
        if self.token and (self.user or self.password):
            return "give a bearer token or a user and password, not both"
        if not _LABEL_NAME.fullmatch(self.environment_label):
            return f"{self.environment_label!r} is not a Prometheus label name"
        unknown = sorted(set(self.queries) - set(default_queries()))
        if unknown:
            known = ", ".join(default_queries())
            return f"no metric called {', '.join(unknown)} to query; the metrics are {known}"
        return None


@dataclass(frozen=True)
class _Series:
    labels: dict[str, str]
    timestamps: np.ndarray
    """Milliseconds since the epoch."""
    values: np.ndarray


@dataclass
class _Reading:
    """Everything one load read: series per query, and what the server warned about."""

    series: dict[str, list[_Series]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    non_finite: int = 0


def load_prometheus(source: PrometheusSource) -> Usage:
    """Per-pod means per controller, container and step, and `replicas` per controller.

    `rows` counts the usage samples read (owner series are not usage). Raises InputError
    naming the URL and the query for anything the server refuses or cannot answer.
    """
    reading = _Reading()
    for name in (*USAGE_METRICS, *SIGNALS, *OWNER_QUERIES):
        reading.series[name] = _read_range(source, name, reading)
    if not any(reading.series[name] for name in PRESENCE_METRICS):
        raise InputError(
            source.url,
            f"no CPU or memory series from {_iso(source.start)} to {_iso(source.end)}; check "
            "the range, and that cAdvisor metrics are scraped (queries: "
            f"{source.query('cpu_cores')!r}, {source.query('memory_bytes')!r})",
        )
    per_pod = _pod_frame(source, reading)
    mapping = map_pods(
        (
            Pod(*key)
            for key in per_pod[["environment", "namespace", "pod"]].drop_duplicates().values
        ),
        _pod_owners(source, reading),
        _replicaset_owners(source, reading),
    )
    frame = _by_controller(per_pod, mapping)
    checked = check_usage(frame, source.url)
    warnings = [
        *dict.fromkeys(reading.warnings),
        *_empty_warnings(source, reading),
        *_mapping_warnings(mapping, owners_read=bool(reading.series["pod_owner"])),
        *checked.warnings,
    ]
    if reading.non_finite:
        warnings.append(f"{reading.non_finite} NaN or infinite samples were left out")
    rows = sum(len(s.values) for name in USAGE_METRICS for s in reading.series[name])
    return Usage(
        frame, source.url, "prometheus", rows, warnings, checked.missing_steps, checked.order
    )


def _pod_frame(source: PrometheusSource, reading: _Reading) -> pd.DataFrame:
    """One row per pod, container, metric and timestamp (ms), as the queries answered."""
    parts = []
    for metric in (*USAGE_METRICS, *SIGNALS):
        series = reading.series[metric]
        if not series:
            continue
        labels = [
            [s.labels.get(source.environment_label, ""), *_labels(s, POD_LABELS, source, metric)]
            for s in series
        ]
        index = np.repeat(np.arange(len(series)), [len(s.values) for s in series])
        columns = ["environment", "namespace", "pod", "container"]
        part = pd.DataFrame(labels, columns=columns).iloc[index].reset_index(drop=True)
        part["metric"] = metric
        part["timestamp"] = np.concatenate([s.timestamps for s in series])
        part["value"] = np.concatenate([s.values for s in series])
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def _by_controller(per_pod: pd.DataFrame, mapping: PodMapping) -> pd.DataFrame:
    """Mean over each controller's pods per step; pods that map to no controller are left out
    (the mapping lists them). A pod's duplicate series (two scrape jobs) count once."""
    owners = pd.DataFrame(
        [
            (p.environment, p.namespace, p.name, c.kind, c.name)
            for p, c in mapping.controllers.items()
        ],
        columns=["environment", "namespace", "pod", "kind", "workload"],
    )
    mapped = per_pod.merge(owners, on=["environment", "namespace", "pod"], how="inner")
    series = [*KEYS, "container", "metric", "timestamp"]
    per_pod_means = mapped.groupby([*series, "pod"], sort=False)["value"].mean()
    counted = per_pod_means.index.get_level_values("metric").isin(COUNTED_SIGNALS)
    means = pd.concat(
        [
            per_pod_means[~counted].groupby(level=series, sort=False).mean(),
            per_pod_means[counted].groupby(level=series, sort=False).sum(),
        ]
    ).reset_index()
    present = mapped[mapped["metric"].isin(PRESENCE_METRICS)]
    replicas = present.groupby([*KEYS, "timestamp"], sort=False)["pod"].nunique()
    replicas = replicas.astype(float).reset_index(name="value")
    replicas["container"], replicas["metric"] = "", "replicas"
    frame = pd.concat([means, replicas], ignore_index=True)
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], unit="ms", utc=True)
    frame = frame.sort_values([*KEYS, "metric", "container", "timestamp"], ignore_index=True)
    return frame[list(USAGE_COLUMNS)]


def _pod_owners(source: PrometheusSource, reading: _Reading) -> list[PodOwner]:
    owners = []
    for s in reading.series["pod_owner"]:
        namespace, pod, kind, name = _labels(
            s, ("namespace", "pod", "owner_kind", "owner_name"), source, "pod_owner"
        )
        environment = s.labels.get(source.environment_label, "")
        controls = s.labels.get("owner_is_controller", "true") != "false"
        owners.append(PodOwner(Pod(environment, namespace, pod), kind, name, controls))
    return owners


def _replicaset_owners(source: PrometheusSource, reading: _Reading) -> list[ReplicaSetOwner]:
    owners = []
    for s in reading.series["replicaset_owner"]:
        labels = _labels(
            s, ("namespace", "replicaset", "owner_kind", "owner_name"), source, "replicaset_owner"
        )
        owners.append(ReplicaSetOwner(s.labels.get(source.environment_label, ""), *labels))
    return owners


def _labels(
    series: _Series, names: tuple[str, ...], source: PrometheusSource, query: str
) -> list[str]:
    """The labels a series must carry to be placed; a query that aggregated them away is a
    mistake in the user's override, so it is reported rather than guessed around."""
    missing = [name for name in names if name not in series.labels]
    if missing:
        raise InputError(
            source.url,
            f"query {query} ({source.query(query)!r}) returned a series without the label(s) "
            f"{', '.join(missing)} (its labels: {series.labels or 'none'}); keep "
            f"{', '.join(names)} in its `by (...)`",
        )
    return [series.labels[name] for name in names]


def _empty_warnings(source: PrometheusSource, reading: _Reading) -> Iterator[str]:
    for name, series in reading.series.items():
        if series or name in SIGNALS:  # optional: most clusters never OOM-kill or restart
            continue
        consequence = {
            "pod_owner": "; pods were mapped to controllers by their names alone "
            "(is kube-state-metrics scraped?)",
            "replicaset_owner": "; a ReplicaSet's Deployment is taken from its name",
        }.get(name, "")
        yield f"{name}: no series for {source.query(name)!r}{consequence}"


def _mapping_warnings(mapping: PodMapping, *, owners_read: bool) -> Iterator[str]:
    if mapping.unmapped:
        pods = ", ".join(map(str, mapping.unmapped))
        yield (
            f"{len(mapping.unmapped)} pod(s) belong to no controller we can tell and were left "
            f"out: {pods}"
        )
    if owners_read and mapping.by_name:
        yield (
            f"{len(mapping.by_name)} pod(s) have no kube_pod_owner series and were mapped to "
            "controllers by their names"
        )


def load_slo(source: PrometheusSource, query: str) -> pd.Series:
    """A workload's SLO query (`<prefix>slo-query`: p99 latency, an error ratio) over the
    source's range, as hourly means on a UTC index. It must answer one series: verification
    compares one number before a merge with one after, and an unaggregated query's many
    series say nothing a reviewer could check."""
    found = _read_range(source, "slo", _Reading(), query)
    if len(found) != 1:
        raise _error(
            source, "slo", query, f"answered {len(found)} series; an SLO query must answer one"
        )
    stamps = pd.to_datetime(found[0].timestamps, unit="ms", utc=True)
    series = pd.Series(found[0].values, stamps).sort_index()
    return series.resample("1h").mean().dropna()


def _read_range(
    source: PrometheusSource, name: str, reading: _Reading, query: str | None = None
) -> list[_Series]:
    """Every series of one query (the metric `name`'s, unless given) over the whole range,
    chunk by chunk, stitched by labels."""
    query = query or source.query(name)
    stitched: dict[tuple[tuple[str, str], ...], list[tuple[np.ndarray, np.ndarray]]] = {}
    for start_ms, end_ms in _windows(source):
        data = _request(source, name, query, start_ms, end_ms, reading)
        for labels, stamps, values in _matrix(source, name, query, data, reading):
            stitched.setdefault(tuple(sorted(labels.items())), []).append((stamps, values))
    return [
        _Series(
            dict(key), np.concatenate([s for s, _ in parts]), np.concatenate([v for _, v in parts])
        )
        for key, parts in stitched.items()
    ]


def _windows(source: PrometheusSource) -> Iterator[tuple[int, int]]:
    """[start, end] in ms of each request, on one grid: start + k × step for every k."""
    start, end = _ms(source.start), _ms(source.end)
    step = round(source.step.total_seconds() * 1000)
    while start <= end:
        yield start, min(start + (source.chunk - 1) * step, end)
        start += source.chunk * step


def _matrix(
    source: PrometheusSource, name: str, query: str, data: Any, reading: _Reading
) -> Iterator[tuple[dict[str, str], np.ndarray, np.ndarray]]:
    try:
        if data["resultType"] != "matrix":
            raise ValueError(f"a {data['resultType']} instead of a matrix (a range vector)")
        for item in data["result"]:
            labels = {str(key): str(value) for key, value in item["metric"].items()}
            points = item["values"]
            stamps = np.array([round(float(t) * 1000) for t, _ in points], dtype=np.int64)
            values = np.array([float(v) for _, v in points], dtype=float)
            finite = np.isfinite(values)
            reading.non_finite += int((~finite).sum())
            yield labels, stamps[finite], values[finite]
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise _error(source, name, query, f"answered in an unexpected shape: {exc}") from exc


def _request(
    source: PrometheusSource, name: str, query: str, start_ms: int, end_ms: int, reading: _Reading
) -> Any:
    """The `data` of one query_range answer, after up to `retries` waits on 429/503."""
    form = {
        "query": query,
        "start": f"{start_ms / 1000:.3f}",
        "end": f"{end_ms / 1000:.3f}",
        "step": f"{source.step.total_seconds():g}",
    }
    request = urllib.request.Request(
        source.url.rstrip("/") + "/api/v1/query_range",
        data=urllib.parse.urlencode(form).encode(),
        headers={"Accept": "application/json", "User-Agent": "rightsizer", **_auth(source)},
        method="POST",
    )
    attempt = 0
    while True:
        try:
            with _NO_REDIRECTS.open(request, timeout=source.timeout) as response:
                return _data(source, name, query, response.status, response.read(), reading)
        except urllib.error.HTTPError as exc:
            status, body = exc.code, _read_quietly(exc)
            if status in RETRY_STATUSES and attempt < source.retries:
                attempt += 1
                time.sleep(_retry_wait(exc.headers))
                continue
            tries = f" (tried {attempt + 1} times)" if status in RETRY_STATUSES else ""
            raise _error(source, name, query, _http_problem(source, status, body) + tries) from exc
        except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
            raise _error(source, name, query, _connection_problem(source, exc)) from exc


class _RefuseRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is answered as the error it is, never followed: urllib would send the
    credentials' header on to wherever it points, and a Prometheus API does not redirect."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_NO_REDIRECTS = urllib.request.build_opener(_RefuseRedirects)


def _data(
    source: PrometheusSource, name: str, query: str, status: int, body: bytes, reading: _Reading
) -> Any:
    answer = _json(body)
    if not isinstance(answer, dict) or "status" not in answer:
        raise _error(source, name, query, f"HTTP {status} but {_not_prometheus(body)}")
    if answer["status"] != "success":
        raise _error(source, name, query, f"HTTP {status}, {_prometheus_error(answer)}")
    reading.warnings.extend(f"{name}: the server warned: {w}" for w in answer.get("warnings", []))
    return answer.get("data")


def _http_problem(source: PrometheusSource, status: int, body: bytes) -> str:
    hint = {
        400: "the server refused the query",
        401: "the credentials were refused" if _auth(source) else "it needs credentials",
        403: "these credentials may not read this",
        404: "no /api/v1/query_range under this URL (is its path prefix right?)",
        422: "the query could not be evaluated",
        429: "too many requests",
        503: "the server is unavailable or overloaded",
    }.get(status, "server error" if status >= 500 else "refused")
    if 300 <= status < 400:
        hint = "a redirect, not followed: credentials go only to the configured URL"
    return f"HTTP {status}, {hint}: {_server_said(body)}"


def _server_said(body: bytes) -> str:
    """Prometheus's own `error` text when the body is its JSON, else the body's start."""
    answer = _json(body)
    if isinstance(answer, dict) and "error" in answer:
        return _prometheus_error(answer)
    return repr(_snippet(body)) if body.strip() else "no explanation"


def _connection_problem(source: PrometheusSource, exc: Exception) -> str:
    reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    if isinstance(reason, TimeoutError):
        return (
            f"no answer within {source.timeout:g} s; raise the timeout, or read a shorter range "
            "or a smaller chunk"
        )
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused: is the server running, and are host and port right?"
    if isinstance(reason, http.client.HTTPException):
        return f"the answer is not HTTP ({type(reason).__name__}): is this the right port?"
    text = getattr(reason, "strerror", None) or str(reason) or type(reason).__name__
    return f"cannot connect: {text}"


def _prometheus_error(answer: dict[str, Any]) -> str:
    kind = answer.get("errorType")
    return f"{kind}: {answer.get('error')}" if kind else str(answer.get("error"))


def _not_prometheus(body: bytes) -> str:
    if not body.strip():
        return "an empty body"
    return f"not a Prometheus API answer: {_snippet(body)!r}"


def _error(source: PrometheusSource, name: str, query: str, problem: str) -> InputError:
    """Where: the URL, without credentials. Problem: which query, then what went wrong, with
    any secret the server might echo blanked out."""
    text = f"query {name} ({query!r}): {problem}"
    for secret in (source.token, source.password):
        if secret:
            text = text.replace(secret, "***")
    return InputError(source.url, text)


def _auth(source: PrometheusSource) -> dict[str, str]:
    if source.token:
        return {"Authorization": f"Bearer {source.token}"}
    if source.user or source.password:
        pair = f"{source.user or ''}:{source.password or ''}".encode()
        return {"Authorization": "Basic " + base64.b64encode(pair).decode("ascii")}
    return {}


def _retry_wait(headers: Message) -> float:
    """Seconds from Retry-After (a number or an HTTP date), 1 when absent, capped."""
    value = (headers.get("Retry-After") or "").strip()
    try:
        wait = float(value) if value else 1.0
    except ValueError:
        try:
            wait = (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds()
        except (TypeError, ValueError):
            wait = 1.0
    return min(max(wait, 0.0), MAX_RETRY_WAIT) if math.isfinite(wait) else MAX_RETRY_WAIT


def _read_quietly(response: urllib.error.HTTPError) -> bytes:
    """An error's body, or nothing if reading it fails too: the status says enough."""
    try:
        return response.read()
    except (OSError, http.client.HTTPException):
        return b""
    finally:
        response.close()


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None


def _snippet(body: bytes) -> str:
    text = " ".join(body.decode("utf-8", errors="replace").split())
    return text if len(text) <= _SNIPPET else text[:_SNIPPET] + "…"


def _ms(moment: datetime) -> int:
    return round(_utc(moment).timestamp() * 1000)


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _iso(moment: datetime) -> str:
    return f"{_utc(moment):%Y-%m-%dT%H:%M:%SZ}"
