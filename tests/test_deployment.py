"""How platform teams deploy the bot: the Helm chart, rendered by Helm's own engine (the
wheel the bot renders charts with) and validated against the Kubernetes API schemas, and
the compose file of a trial."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from bot.manifests.helm.command import template
from recommenders.errors import InputError
from tests.conftest import ROOT

CHART = ROOT / "deploy" / "helm" / "rightsizer"
KUBERNETES = "1.31"
CPU_QUOTA_VALUES = """
existingSecret: rightsizer-credentials
serviceMonitor: {enabled: true}
worker:
  autoscaling: {enabled: true, maxReplicas: 6}
  resources: {limits: {cpu: "3", memory: 6Gi}}
settings: {RIGHTSIZER_SCHEDULE: "0 5 * * 1-5"}
"""


def render(tmp_path: Path, values: str) -> dict[tuple[str, str], dict[str, Any]]:
    """The chart's objects by (kind, name), as `helm template` renders them."""
    given = tmp_path / "values.yaml"
    given.write_text(values)
    text = template(["rs", str(CHART), "--namespace", "platform", "-f", str(given)])
    objects = [document for document in yaml.safe_load_all(text) if document]
    return {(o["kind"], o["metadata"]["name"]): o for o in objects}


def test_the_chart_renders_objects_the_kubernetes_api_accepts(tmp_path: Path) -> None:
    objects = render(tmp_path, CPU_QUOTA_VALUES)
    assert sorted(objects) == [
        ("Deployment", "rs-rightsizer-web"),
        ("Deployment", "rs-rightsizer-worker"),
        ("HorizontalPodAutoscaler", "rs-rightsizer-worker"),
        ("PodDisruptionBudget", "rs-rightsizer-web"),
        ("PodDisruptionBudget", "rs-rightsizer-worker"),
        ("Service", "rs-rightsizer"),
        ("ServiceMonitor", "rs-rightsizer"),
    ]
    for (kind, name), manifest in objects.items():
        if kind == "ServiceMonitor":  # a CRD: not in the API's own schemas
            continue
        try:
            kubernetes_validate.validate(manifest, KUBERNETES, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{kind}/{name}: {exc.message} at {list(exc.path)}")


def test_web_serves_workers_run_jobs_as_many_as_their_cpu_limit(tmp_path: Path) -> None:
    objects = render(tmp_path, CPU_QUOTA_VALUES)
    web = objects["Deployment", "rs-rightsizer-web"]["spec"]["template"]["spec"]
    worker_deployment = objects["Deployment", "rs-rightsizer-worker"]["spec"]
    worker = worker_deployment["template"]["spec"]
    (web_container,) = web["containers"]
    (worker_container,) = worker["containers"]
    assert web_container["command"] + web_container["args"][:1] == ["rightsizer", "serve"]
    assert worker_container["command"] + worker_container["args"] == ["rightsizer", "worker"]
    assert web_container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    concurrency = next(
        e for e in worker_container["env"] if e["name"] == "RIGHTSIZER_WORKER_CONCURRENCY"
    )
    assert concurrency["valueFrom"]["resourceFieldRef"] == {
        "containerName": "worker",
        "resource": "limits.cpu",
        "divisor": "1",
    }, "jobs at once follow the container's CPU limit, not the node's cores"
    assert worker_container["resources"]["limits"]["cpu"] == "3"
    assert "replicas" not in worker_deployment, "the HPA owns the worker count"
    hpa = objects["HorizontalPodAutoscaler", "rs-rightsizer-worker"]["spec"]
    (metric,) = hpa["metrics"]
    assert metric["external"]["metric"]["name"] == "rightsizer_queue_depth"
    assert hpa["maxReplicas"] == 6
    assert {"name": "RIGHTSIZER_SCHEDULE", "value": "0 5 * * 1-5"} in web_container["env"]


def test_secrets_come_from_an_existing_secret_and_never_from_values(tmp_path: Path) -> None:
    objects = render(tmp_path, CPU_QUOTA_VALUES)
    assert not [kind for kind, _ in objects if kind == "Secret"]
    for name in ("rs-rightsizer-web", "rs-rightsizer-worker"):
        spec = objects["Deployment", name]["spec"]["template"]["spec"]
        (container,) = spec["containers"]
        assert container["envFrom"] == [{"secretRef": {"name": "rightsizer-credentials"}}]
        key = next(v for v in spec["volumes"] if v["name"] == "github-app")["secret"]
        assert key["secretName"] == "rightsizer-credentials" and key["defaultMode"] == 0o400
    monitor = objects["ServiceMonitor", "rs-rightsizer"]["spec"]["endpoints"][0]
    assert monitor["authorization"]["credentials"] == {
        "name": "rightsizer-credentials",
        "key": "RIGHTSIZER_DASHBOARD_TOKEN",
    }
    with pytest.raises(InputError, match="existingSecret: the name of the Secret"):
        render(tmp_path, "{}")


def test_the_compose_file_runs_one_web_two_workers_and_postgresql() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert services["web"]["command"][:2] == ["rightsizer", "serve"]
    assert services["worker"]["command"] == ["rightsizer", "worker"]
    assert services["worker"]["deploy"]["replicas"] == 2
    url = "postgresql://rightsizer:${POSTGRES_PASSWORD:-rightsizer}@postgres:5432/rightsizer"
    for name in ("web", "worker"):
        assert services[name]["environment"]["RIGHTSIZER_DATABASE_URL"] == url
        assert services[name]["depends_on"]["postgres"] == {"condition": "service_healthy"}
    assert services["postgres"]["image"].startswith("postgres:")
    assert "web:8080" in (ROOT / "deploy" / "prometheus.yml").read_text()
