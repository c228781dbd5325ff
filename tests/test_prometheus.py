"""A real Prometheus holds a history we wrote; the bot must read back exactly that history.

The history is half a day of one-minute samples in two clusters: `prod`, where
kube-state-metrics says who owns each pod, and an unlabelled one, where only pod names tell.
Pods start and stop mid-range, so per-pod means and replica counts change over time.
`expected()` works every value out from the history by PromQL's rules (a [5m] rate needs the
whole window, an instant value is the newest sample of the last 5 m). Rates are multiples of
1/16 and memory whole bytes, so only the last bit may differ: Prometheus multiplies by 1/300
where dividing by 300 would be exact.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from itertools import accumulate

import pandas as pd
import pytest

from recommenders.errors import InputError
from recommenders.sources.owners import (
    Controller,
    Pod,
    PodOwner,
    ReplicaSetOwner,
    controller_from_name,
    map_pods,
)
from recommenders.sources.utilisation import prometheus as prometheus_module
from recommenders.sources.utilisation.prometheus import (
    PrometheusSource,
    load_prometheus,
    load_slo,
)
from tests.conftest import rightsizer
from tests.prometheus_server import (
    BASIC_PASSWORD,
    BASIC_USER,
    LocalServer,
    Reply,
    Series,
    api_error,
    free_port,
    start_prometheus,  # noqa: F401 (a fixture)
)

pytestmark = pytest.mark.server

T0 = datetime(2024, 3, 4, tzinfo=UTC)
HOURS = 12
MIB = 2**20
SECRET = "s3cret-t0ken"
CPU, WORKING_SET = "container_cpu_usage_seconds_total", "container_memory_working_set_bytes"


@dataclass(frozen=True)
class PodSpec:
    cluster: str
    """"" writes the series without a cluster label."""
    namespace: str
    name: str
    containers: tuple[str, ...]
    index: int
    first: int = -30
    """Minutes from T0 of its first and last samples."""
    last: int = HOURS * 60
    owner: tuple[str, str] | None = None
    """kube_pod_owner's (owner_kind, owner_name); None writes no owner series."""


RS = "ReplicaSet"
PODS = (
    PodSpec("prod", "shop", "checkout-7d9f8b6c5d-x2x4z", ("app", "istio-proxy"), 0,
            owner=(RS, "checkout-7d9f8b6c5d")),
    PodSpec("prod", "shop", "checkout-7d9f8b6c5d-b7k9p", ("app", "istio-proxy"), 1, last=570,
            owner=(RS, "checkout-7d9f8b6c5d")),
    PodSpec("prod", "shop", "checkout-5c8d7f9b4c-q2w4r", ("app", "istio-proxy"), 2, first=360,
            owner=(RS, "checkout-5c8d7f9b4c")),
    PodSpec("prod", "shop", "postgres-0", ("postgres",), 3, owner=("StatefulSet", "postgres")),
    PodSpec("prod", "shop", "postgres-1", ("postgres",), 4, owner=("StatefulSet", "postgres")),
    PodSpec("prod", "shop", "cache-0", ("redis",), 5),
    PodSpec("prod", "shop", "debug-k8z2m", ("shell",), 6, owner=("<none>", "<none>")),
    PodSpec("prod", "batch", "migrate-x2x4z", ("migrate",), 7, owner=("Job", "migrate")),
    PodSpec("prod", "web", "storefront-6f7b8c9d5f-k2l4m", ("web",), 8,
            owner=(RS, "storefront-6f7b8c9d5f")),
    PodSpec("", "monitoring", "node-exporter-k8z2m", ("node-exporter",), 9),
    PodSpec("", "monitoring", "node-exporter-p9q4r", ("node-exporter",), 10, last=200),
    PodSpec("", "monitoring", "alertmanager-0", ("alertmanager",), 11),
    PodSpec("", "monitoring", "grafana-5f6d7c8b9d-wxz2b", ("grafana",), 12),
    PodSpec("", "monitoring", "scratch", ("scratch",), 13),
)  # fmt: skip
REPLICASETS = {
    "checkout-7d9f8b6c5d": ("Deployment", "checkout"),
    "checkout-5c8d7f9b4c": ("Deployment", "checkout"),
    "storefront-6f7b8c9d5f": ("Rollout", "storefront"),
}
CONTROLLERS = {
    "checkout-7d9f8b6c5d-x2x4z": ("Deployment", "checkout"),
    "checkout-7d9f8b6c5d-b7k9p": ("Deployment", "checkout"),
    "checkout-5c8d7f9b4c-q2w4r": ("Deployment", "checkout"),
    "postgres-0": ("StatefulSet", "postgres"),
    "postgres-1": ("StatefulSet", "postgres"),
    "cache-0": ("StatefulSet", "cache"),
    "migrate-x2x4z": ("Job", "migrate"),
    "storefront-6f7b8c9d5f-k2l4m": ("Rollout", "storefront"),
    "node-exporter-k8z2m": ("DaemonSet", "node-exporter"),
    "node-exporter-p9q4r": ("DaemonSet", "node-exporter"),
    "alertmanager-0": ("StatefulSet", "alertmanager"),
    "grafana-5f6d7c8b9d-wxz2b": ("Deployment", "grafana"),
}
"""What each pod must be mapped to; debug-k8z2m (a bare pod) and scratch map to nothing."""
CPU_REQUESTS: dict[str, float] = {"app": 0.5, "istio-proxy": 0.125, "postgres": 1.0}
MEMORY_REQUESTS: dict[str, float] = {"app": 256 * MIB, "postgres": 2048 * MIB}
MEMORY_LIMITS: dict[str, float] = {"app": 1024 * MIB}
"""No pod has a CPU limit: that query returns no series, which must be a warning."""


def cpu_rate(pod: PodSpec, container: int, minute: int) -> float:
    return 0.25 * (pod.index + 1) / 2**container + (minute // 60 % 4) / 16


def memory(pod: PodSpec, container: int, minute: int) -> float:
    return float((100 + 10 * pod.index + 5 * container + minute // 60 % 6) * MIB)


def pod_requests(pod: PodSpec, name: str, table: dict[str, float]) -> float | None:
    """Per-pod differences, so the mean over postgres-0 and -1 is not just either one."""
    value = table.get(name)
    return None if value is None else value * (1 + pod.index % 2)


def minutes(pod: PodSpec) -> range:
    return range(pod.first, pod.last + 1)


def series(name: str, pod: PodSpec, values, **labels: str) -> Series:
    """`values(minute)` at every minute the pod lived, with the pod's identifying labels."""
    identity = {"namespace": pod.namespace, "pod": pod.name, **labels}
    if pod.cluster:
        identity["cluster"] = pod.cluster
    stamps = [(int(T0.timestamp()) + 60 * m, float(values(m))) for m in minutes(pod)]
    return Series(name, identity, stamps)


def history() -> list[Series]:
    written = []
    for pod in PODS:
        for c, container in enumerate(pod.containers):
            written += _container_history(pod, c, container)
        # cAdvisor's pod-level cgroup and pause container: huge, and the queries must skip them.
        written.append(series(WORKING_SET, pod, lambda m: 64 * 2**30, container=""))
        written.append(series(CPU, pod, lambda m: 64.0 * m + 64e3, container="POD"))
        if pod.owner:
            kind, name = pod.owner
            owner = {"owner_kind": kind, "owner_name": name, "owner_is_controller": "true"}
            written.append(series("kube_pod_owner", pod, lambda m: 1, **owner, uid=pod.name))
    stamps = [(int(T0.timestamp()) + 60 * m, 1.0) for m in range(-30, HOURS * 60 + 1)]
    for replicaset, (kind, name) in REPLICASETS.items():
        labels = {"cluster": "prod", "namespace": "shop" if name == "checkout" else "web",
                  "replicaset": replicaset, "owner_kind": kind, "owner_name": name}  # fmt: skip
        written.append(Series("kube_replicaset_owner", labels, stamps))
    return written


def _container_history(pod: PodSpec, c: int, container: str) -> list[Series]:
    increments = [cpu_rate(pod, c, m) * 60 for m in minutes(pod)]
    counter = dict(zip(minutes(pod), accumulate(increments, initial=1000.0), strict=False))
    written = [
        series(CPU, pod, counter.__getitem__, container=container),
        series(WORKING_SET, pod, lambda m: memory(pod, c, m), container=container),
    ]
    for metric, resource, table in (
        ("requests", "cpu", CPU_REQUESTS),
        ("requests", "memory", MEMORY_REQUESTS),
        ("limits", "memory", MEMORY_LIMITS),
    ):
        value = pod_requests(pod, container, table)
        if value is not None:
            name = f"kube_pod_container_resource_{metric}"
            labels = {"container": container, "resource": resource}
            written.append(series(name, pod, lambda m, v=value: v, **labels))
    return written


def expected() -> tuple[dict[tuple, float], int]:
    """Every value the tidy frame must hold, keyed like its rows, and the samples Prometheus
    returns (unmapped pods' included: they are read, then left out)."""
    per_pod: dict[tuple, list[float]] = {}
    present: dict[tuple, set[str]] = {}
    samples = 0
    for pod in PODS:
        for c, container in enumerate(pod.containers):
            for h in range(HOURS + 1):
                stamp = T0 + timedelta(hours=h)
                values = _at(pod, c, container, 60 * h)
                samples += len(values)
                if pod.name not in CONTROLLERS:
                    continue
                workload = (pod.cluster, pod.namespace, *CONTROLLERS[pod.name])
                for metric, value in values.items():
                    per_pod.setdefault((*workload, container, metric, stamp), []).append(value)
                if {"cpu_cores", "memory_bytes"} & set(values):
                    present.setdefault((*workload, "", "replicas", stamp), set()).add(pod.name)
    means = {key: math.fsum(values) / len(values) for key, values in per_pod.items()}
    return means | {key: float(len(pods)) for key, pods in present.items()}, samples


def _at(pod: PodSpec, c: int, container: str, minute: int) -> dict[str, float]:
    """What the default queries answer for one pod and container at `minute`."""
    lookback = [m for m in range(minute - 5, minute + 1) if pod.first <= m <= pod.last]
    if not lookback:
        return {}
    values = {"memory_bytes": memory(pod, c, lookback[-1])}
    if len(lookback) == 6:
        values["cpu_cores"] = cpu_rate(pod, c, minute - 5)
    else:
        assert len(lookback) == 1, "keep rate windows whole or empty: partial ones extrapolate"
    for metric, table in (
        ("cpu_request_cores", CPU_REQUESTS),
        ("memory_request_bytes", MEMORY_REQUESTS),
        ("memory_limit_bytes", MEMORY_LIMITS),
    ):
        value = pod_requests(pod, container, table)
        if value is not None:
            values[metric] = value
    return values


def as_dict(frame: pd.DataFrame) -> dict[tuple, float]:
    keys = ["environment", "namespace", "kind", "workload", "container", "metric", "timestamp"]
    return {tuple(row[:-1]): row[-1] for row in frame[[*keys, "value"]].itertuples(index=False)}


def source(url: str, **options) -> PrometheusSource:
    return PrometheusSource(url, T0, T0 + timedelta(hours=HOURS), **options)


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch):
    """A developer's HTTP_PROXY must not carry requests to 127.0.0.1 elsewhere."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


@pytest.fixture(scope="module")
def prometheus(start_prometheus) -> str:  # noqa: F811
    return start_prometheus(history())


@pytest.fixture(scope="module")
def usage(prometheus):
    return load_prometheus(source(prometheus))


def test_what_the_bot_reads_is_what_was_backfilled(usage, prometheus):
    values, samples = expected()
    assert as_dict(usage.frame) == pytest.approx(values, rel=1e-15, abs=0)
    assert usage.rows == samples
    assert (usage.origin, usage.format) == (prometheus, "prometheus")
    assert not usage.frame.duplicated(
        ["environment", "namespace", "kind", "workload", "container", "metric", "timestamp"]
    ).any()


def test_replicas_follow_pods_as_they_come_and_go(usage):
    frame = usage.frame
    checkout = frame[(frame["workload"] == "checkout") & (frame["metric"] == "replicas")]
    assert checkout["value"].tolist() == [2.0] * 6 + [3.0] * 4 + [2.0] * 3
    assert set(checkout["container"]) == {""}
    # A pod's first minute has memory but no rate yet: it still counts, but not in CPU's mean.
    app = frame[(frame["workload"] == "checkout") & (frame["container"] == "app")]
    at_six = app[app["timestamp"] == T0 + timedelta(hours=6)].set_index("metric")["value"]
    assert at_six["cpu_cores"] == (0.25 + 0.5) / 2 + 1 / 16
    assert at_six["memory_bytes"] == (100 + 110 + 120 + 0) * MIB / 3


def test_owner_metrics_win_over_names(usage):
    workloads = set(usage.frame[["environment", "kind", "workload"]].itertuples(index=False))
    assert ("prod", "Job", "migrate") in workloads  # the name alone says DaemonSet
    assert ("prod", "Rollout", "storefront") in workloads  # the name alone says Deployment
    assert ("prod", "Deployment", "checkout") in workloads  # two ReplicaSets, one Deployment
    assert not {kind for _, kind, name in workloads if name == "debug"}  # bare: no controller


def test_names_map_pods_where_no_owner_metrics_exist(usage):
    unlabelled = usage.frame[usage.frame["environment"] == ""]
    assert set(unlabelled[["kind", "workload"]].itertuples(index=False)) == {
        ("DaemonSet", "node-exporter"),
        ("StatefulSet", "alertmanager"),
        ("Deployment", "grafana"),
    }


def test_unmapped_pods_and_empty_queries_are_warnings(usage):
    text = "\n".join(usage.warnings)
    assert "2 pod(s) belong to no controller" in text
    assert "prod: shop/debug-k8z2m" in text
    assert "monitoring/scratch" in text
    assert "cpu_limit_cores: no series" in text
    assert "5 pod(s) have no kube_pod_owner series" in text
    assert "memory_limit_bytes" not in text


def test_a_long_range_is_paged_and_stitched_without_duplicates(prometheus, usage):
    with LocalServer.proxy(prometheus) as proxy:
        paged = load_prometheus(source(proxy.url, chunk=5))
    pd.testing.assert_frame_equal(paged.frame, usage.frame)
    assert paged.rows == usage.rows
    assert len(proxy.requests) == 11 * 3  # 13 hourly points in chunks of 5, for each query
    spans = {(float(r.form["start"]), float(r.form["end"])) for r in proxy.requests}
    start = T0.timestamp()
    assert spans == {(start, start + 4 * 3600), (start + 5 * 3600, start + 9 * 3600),
                     (start + 10 * 3600, start + 12 * 3600)}  # fmt: skip


def test_basic_auth_as_prometheus_checks_it(start_prometheus, usage):  # noqa: F811
    url = start_prometheus(history(), basic_auth=True)
    read = load_prometheus(source(url, user=BASIC_USER, password=BASIC_PASSWORD))
    pd.testing.assert_frame_equal(read.frame, usage.frame)
    in_url = url.replace("http://", f"http://{BASIC_USER}:{BASIC_PASSWORD.replace(' ', '%20')}@")
    assert load_prometheus(source(in_url)).origin == url
    with pytest.raises(InputError) as wrong:
        load_prometheus(source(url, user=BASIC_USER, password="wrong horse"))
    assert wrong.value.where == url
    assert "HTTP 401, the credentials were refused" in wrong.value.problem
    assert "wrong horse" not in str(wrong.value)
    with pytest.raises(InputError, match="HTTP 401, it needs credentials"):
        load_prometheus(source(url))


def test_bearer_token(prometheus, usage):
    with LocalServer.proxy(prometheus, authorization=f"Bearer {SECRET}") as proxy:
        read = load_prometheus(source(proxy.url, token=SECRET))
        with pytest.raises(InputError) as wrong:
            load_prometheus(source(proxy.url, token="not-" + SECRET))
    pd.testing.assert_frame_equal(read.frame, usage.frame)
    assert "HTTP 401, the credentials were refused: 'Unauthorized'" in wrong.value.problem
    assert SECRET not in str(wrong.value)


def test_secrets_stay_out_of_repr_and_url():
    configured = source("https://me:pass%20word@prom.example:9090/prometheus", retries=0)
    assert configured.url == "https://prom.example:9090/prometheus"
    assert (configured.user, configured.password) == ("me", "pass word")
    assert "pass word" not in repr(configured)
    assert SECRET not in repr(source("http://prom.example", token=SECRET))


def test_prometheus_own_error_text_is_shown_for_bad_promql(prometheus):
    with pytest.raises(InputError) as error:
        load_prometheus(source(prometheus, queries={"memory_bytes": "sum(rate(x[5m]"}))
    assert error.value.where == prometheus
    assert error.value.problem.startswith("query memory_bytes ('sum(rate(x[5m]'): HTTP 400")
    assert "bad_data" in error.value.problem and "parse error" in error.value.problem


def test_a_query_that_drops_the_pod_label_is_refused(prometheus):
    with pytest.raises(InputError, match=r"without the label\(s\) namespace, pod, container"):
        load_prometheus(
            source(prometheus, queries={"memory_bytes": "sum(container_memory_working_set_bytes)"})
        )


def test_a_url_without_the_api_says_so(prometheus):
    with pytest.raises(InputError, match="HTTP 404, no /api/v1/query_range under this URL"):
        load_prometheus(source(prometheus + "/prometheus"))


def test_nothing_in_the_range_is_an_error(prometheus):
    with pytest.raises(InputError, match="no CPU or memory series from 2023-03-04T00:00:00Z"):
        load_prometheus(replace(source(prometheus), start=T0 - timedelta(days=366),
                                end=T0 - timedelta(days=365)))  # fmt: skip


@pytest.mark.parametrize(
    ("reply", "said"),
    [
        (api_error(500, "internal", "query engine panicked"),
         "HTTP 500, server error: internal: query engine panicked"),
        (api_error(422, "execution", "many-to-many matching not allowed"),
         "HTTP 422, the query could not be evaluated: execution: many-to-many matching"),
        (api_error(200, "timeout", "query timed out in expression evaluation"),
         "HTTP 200, timeout: query timed out"),
        (Reply(200, b"<html><title>Grafana</title>\n<body>log in</body></html>"),
         "HTTP 200 but not a Prometheus API answer: '<html><title>Grafana</title> <body>"),
        (Reply(200), "HTTP 200 but an empty body"),
        (Reply(502, b"<h1>502 Bad Gateway</h1>"), "HTTP 502, server error: '<h1>502 Bad Gateway"),
        (Reply(200, b'{"status":"success","data":{"resultType":"vector","result":[]}}'),
         "unexpected shape: a vector instead of a matrix"),
    ],
)  # fmt: skip
def test_each_failure_names_url_query_status_and_the_server_words(reply, said):
    with LocalServer.scripted(reply) as server, pytest.raises(InputError) as error:
        load_prometheus(source(server.url, token=SECRET))
    assert error.value.where == server.url
    assert error.value.problem.startswith("query cpu_cores (")
    assert said in error.value.problem
    assert SECRET not in str(error.value)


def test_429_and_503_are_retried_after_retry_after(prometheus, usage):
    first = [api_error(429, "too_many", "slow down", **{"Retry-After": "0"}),
             api_error(503, "unavailable", "busy", **{"Retry-After": "0"})]  # fmt: skip
    with LocalServer.proxy(prometheus, first=first) as proxy:
        read = load_prometheus(source(proxy.url))
    pd.testing.assert_frame_equal(read.frame, usage.frame)
    assert len(proxy.requests) == 11 + 2


def test_retries_are_bounded_then_fail_clearly(monkeypatch):
    monkeypatch.setattr(prometheus_module, "MAX_RETRY_WAIT", 0.05)
    busy = api_error(429, "too_many", "rate limited", **{"Retry-After": "3600"})
    began = time.monotonic()
    with LocalServer.scripted(busy) as server, pytest.raises(InputError) as error:
        load_prometheus(source(server.url))
    assert time.monotonic() - began < 2
    assert len(server.requests) == 3
    assert "HTTP 429, too many requests: too_many: rate limited (tried 3 times)" in str(error.value)


def test_a_slow_server_times_out_with_advice():
    slow = LocalServer.scripted(Reply(200, b"{}", delay=1.0))
    with slow as server, pytest.raises(InputError, match=r"no answer within 0\.2 s; raise"):
        load_prometheus(source(server.url, timeout=0.2))


def test_nothing_listening_is_connection_refused():
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(InputError, match="connection refused: is the server running") as error:
        load_prometheus(source(url, user="me", password=SECRET))
    assert error.value.where == url
    assert SECRET not in str(error.value)


@pytest.mark.parametrize(
    ("options", "said"),
    [
        ({"end": T0 - timedelta(hours=1)}, "ends"),
        ({"chunk": 20_000}, "chunk must be 1 to 11000"),
        ({"token": SECRET, "user": "me"}, "not both"),
        ({"queries": {"cpu": "up"}}, "no metric called cpu"),
        ({"environment_label": "cluster-name"}, "not a Prometheus label name"),
    ],
)
def test_impossible_settings_are_refused_up_front(options, said):
    with pytest.raises(InputError, match=said) as error:
        replace(source("http://prom.example"), **options)
    assert SECRET not in str(error.value)


def test_a_url_that_does_not_parse_is_refused_without_echoing_it():
    with pytest.raises(InputError, match="not a URL: Port could not be cast") as error:
        source(f"http://me:{SECRET}@prom.example:90x90")
    assert SECRET not in str(error.value)


@pytest.mark.parametrize(
    ("pod", "controller"),
    [
        ("checkout-7d9f8b6c5d-x2x4z", Controller("Deployment", "checkout")),
        ("web-api-7d9f8b6c5d-x2x4z", Controller("Deployment", "web-api")),
        ("postgres-0", Controller("StatefulSet", "postgres")),
        ("kafka-broker-12", Controller("StatefulSet", "kafka-broker")),
        ("fluent-bit-k8z2m", Controller("DaemonSet", "fluent-bit")),
        ("scratch", None),
        ("web-server", None),  # vowels: never a generated suffix
    ],
)
def test_pod_names_tell_their_controller(pod, controller):
    assert controller_from_name(pod) == controller


def test_a_replicaset_without_owner_series_is_a_deployment_by_its_name():
    pod = Pod("", "shop", "api-7d9f8b6c5d-x2x4z")
    owners = [PodOwner(pod, "ReplicaSet", "api-7d9f8b6c5d")]
    bare = [ReplicaSetOwner("", "shop", "api-7d9f8b6c5d", "<none>", "<none>")]
    assert map_pods([pod], owners).controllers[pod] == Controller("Deployment", "api")
    assert map_pods([pod], owners, bare).controllers[pod] == Controller(
        "ReplicaSet", "api-7d9f8b6c5d"
    )


def test_sources_check_reads_prometheus_from_the_command_line(prometheus, usage, monkeypatch):
    """Through the real CLI: the window ends where asked, and the token (from the environment)
    reaches the server through the proxy that demands it, yet is printed nowhere."""
    monkeypatch.setenv("RIGHTSIZER_PROMETHEUS_TOKEN", SECRET)
    with LocalServer.proxy(prometheus, authorization=f"Bearer {SECRET}") as proxy:
        result = rightsizer(
            "sources", "check", "--prometheus", proxy.url, "--prometheus-window", f"{HOURS}h",
            "--prometheus-end", (T0 + timedelta(hours=HOURS)).isoformat(), "--format", "json",
        )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert SECRET not in result.stdout + result.stderr
    (summary,) = json.loads(result.stdout)
    assert summary["format"] == "prometheus" and summary["rows"] == usage.rows
    assert summary["workloads"] == len(
        usage.frame[["environment", "namespace", "kind", "workload"]].drop_duplicates()
    )
    assert summary["start"] == T0.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_a_query_given_on_the_command_line_replaces_the_default(prometheus):
    result = rightsizer(
        "sources", "check", "--prometheus", prometheus, "--prometheus-window", f"{HOURS}h",
        "--prometheus-end", (T0 + timedelta(hours=HOURS)).isoformat(),
        "--prometheus-query", "memory_bytes=sum(rate(x[5m]",
    )  # fmt: skip
    assert result.returncode == 2
    assert "query memory_bytes ('sum(rate(x[5m]'): HTTP 400" in result.stderr
    assert "Traceback" not in result.stderr


def test_failure_signals_are_read_summed_over_pods_and_optional(start_prometheus):  # noqa: F811
    """An OOM kill and a restart in two pods of one Deployment, and a quarter of CPU
    periods throttled: counts add up over the pods, the share is a mean; a Prometheus
    without such series (the main history above) reads without a warning about them."""
    written = []
    for index, pod in enumerate(("api-5d8f7b9c4-x2x7q", "api-5d8f7b9c4-k9p2m")):
        labels = {"cluster": "prod", "namespace": "shop", "pod": pod, "container": "api"}

        def at(values, labels=labels):
            return [(int(T0.timestamp()) + 60 * m, float(values(m))) for m in range(HOURS * 60)]

        written += [
            Series(CPU, labels, at(lambda m: 6.0 * m)),
            Series(WORKING_SET, labels, at(lambda m: 100 * MIB)),
            Series("container_oom_events_total", labels, at(lambda m, i=index: m >= 200 + i)),
            Series("kube_pod_container_status_restarts_total", labels, at(lambda m: m >= 200)),
            Series("container_cpu_cfs_periods_total", labels, at(lambda m: 10.0 * m)),
            Series("container_cpu_cfs_throttled_periods_total", labels, at(lambda m: 2.5 * m)),
        ]
    usage = load_prometheus(source(start_prometheus(written)))
    frame = usage.frame.set_index("metric")
    assert frame.loc["oom_kills", "value"].sum() == pytest.approx(2, rel=0.05)
    assert frame.loc["restarts", "value"].sum() == pytest.approx(2, rel=0.05)
    assert frame.loc["cpu_throttled_ratio", "value"].dropna().between(0.24, 0.26).all()
    assert set(frame.loc["oom_kills", "workload"]) == {"api"}


def test_missing_failure_signals_are_no_warning(usage):
    assert not any(
        name in warning
        for warning in usage.warnings
        for name in ("oom_kills", "restarts", "cpu_throttled_ratio")
    )


def test_oom_kills_come_from_kube_state_metrics_where_cadvisor_has_none(start_prometheus):  # noqa: F811
    """No `container_oom_events_total` (older cAdvisor): a restart whose last termination
    kube-state-metrics reports as OOMKilled is an OOM kill; one that ended otherwise is not."""
    written = []
    for pod, reason in (("api-5d8f7b9c4-x2x7q", "OOMKilled"), ("api-5d8f7b9c4-k9p2m", "Error")):
        labels = {"cluster": "prod", "namespace": "shop", "pod": pod, "container": "api"}

        def at(values):
            return [(int(T0.timestamp()) + 60 * m, float(values(m))) for m in range(HOURS * 60)]

        written += [
            Series(CPU, labels, at(lambda m: 6.0 * m)),
            Series(WORKING_SET, labels, at(lambda m: 100 * MIB)),
            Series("kube_pod_container_status_restarts_total", labels, at(lambda m: m >= 200)),
            Series(
                "kube_pod_container_status_last_terminated_reason",
                {**labels, "reason": reason},
                at(lambda m: 1.0),
            ),
        ]
    frame = load_prometheus(source(start_prometheus(written))).frame.set_index("metric")
    assert frame.loc["restarts", "value"].sum() == pytest.approx(2, rel=0.05)
    assert frame.loc["oom_kills", "value"].sum() == pytest.approx(1, rel=0.05)


def test_an_slo_query_answers_one_hourly_series_or_says_why_not(prometheus):
    """Verification after merge compares a workload's SLO query before and after: one
    number an hour, read from the real server."""
    slo = load_slo(source(prometheus), "sum(container_memory_working_set_bytes)")
    assert slo.index.tz is not None and (slo.index.to_series().diff().dropna() == "1h").all()
    assert len(slo) >= HOURS and (slo > 0).all()
    with pytest.raises(InputError) as error:
        load_slo(source(prometheus), "container_memory_working_set_bytes")
    assert "an SLO query must answer one" in error.value.problem
