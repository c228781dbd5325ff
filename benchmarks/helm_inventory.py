"""Inventory with provenance of a generated monorepo of 2,000 workloads, half of them Helm.

Why: a Helm workload's provenance is found by rendering its chart several times (stand-ins
for every number, probes in every mapping), which the Kustomize resolver never needs; this
shows what that costs per release, in one renderer child for the whole repo. The Kustomize
half comes from generate_monorepo.py; the Helm half is Argo CD Applications, one per service
and environment, rendering one of a few shared charts with the service's own values file (as
`helm.valueFiles: [../../services/<svc>/values-<env>.yaml]`). Medians are printed, and the
ratio of a Helm workload's cost to a Kustomize one's, both measured in this process.

    python benchmarks/helm_inventory.py [--workloads 2000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import random
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from generate_monorepo import generate

from bot.manifests.inventory import build_inventory

CHARTS = 4
ENVIRONMENTS = ("staging", "prod")
TEMPLATE = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}
spec:
  {{- if not .Values.autoscaling.enabled }}
  replicas: {{ .Values.replicaCount }}
  {{- end }}
  selector:
    matchLabels: {app: {{ .Release.Name }}}
  template:
    metadata:
      labels: {app: {{ .Release.Name }}}
    spec:
      containers:
        - name: app
          image: "{{ .Values.image.repository }}:{{ .Values.image.tag }}"
          ports:
            - containerPort: {{ .Values.service.port }}
          resources:
            {{- toYaml .Values.resources | nindent 12 }}
        {{- if .Values.sidecar.enabled }}
        - name: sidecar
          image: envoyproxy/envoy:v1.31
          resources:
            {{- toYaml .Values.sidecar.resources | nindent 12 }}
        {{- end }}
---
{{- if .Values.autoscaling.enabled }}
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {{ .Release.Name }}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: {{ .Release.Name }}}
  minReplicas: {{ .Values.autoscaling.minReplicas }}
  maxReplicas: {{ .Values.autoscaling.maxReplicas }}
  metrics:
    - type: Resource
      resource:
        name: cpu
        target: {type: Utilization, averageUtilization: {{ .Values.autoscaling.target }}}
{{- end }}
"""
DEFAULTS = """\
replicaCount: 1
image: {repository: ghcr.io/acme/app, tag: "1.0"}
service: {port: 8080}
resources: {}
sidecar:
  enabled: false
  resources: {requests: {cpu: 20m, memory: 32Mi}}
autoscaling: {enabled: false, minReplicas: 1, maxReplicas: 4, target: 75}
podAnnotations: {}
nodeSelector: {}
tolerations: []
"""


def generate_helm(root: Path, services: int, seed: int = 11) -> None:
    rng = random.Random(seed)
    for number in range(CHARTS):
        chart = root / "charts" / f"app-{number}"
        (chart / "templates").mkdir(parents=True)
        (chart / "Chart.yaml").write_text(f"apiVersion: v2\nname: app-{number}\nversion: 1.0.0\n")
        (chart / "values.yaml").write_text(DEFAULTS)
        (chart / "templates" / "app.yaml").write_text(TEMPLATE)
    for number in range(services):
        name, chart = f"helm-{number:04d}", f"app-{number % CHARTS}"
        for env in ENVIRONMENTS:
            values = root / "services" / name / f"values-{env}.yaml"
            values.parent.mkdir(parents=True, exist_ok=True)
            lines = [f"replicaCount: {rng.randint(1, 6)}"]
            if rng.random() < 0.8:  # a fifth leave resources to the chart's empty default
                lines += [
                    "resources:",
                    "  requests:",
                    f"    cpu: {rng.choice((50, 100, 250, 500))}m",
                    f"    memory: {rng.choice((64, 128, 256, 512))}Mi",
                ]
            if rng.random() < 0.3:
                lines += ["sidecar:", "  enabled: true"]
            if rng.random() < 0.3:
                lines += ["autoscaling:", "  enabled: true", f"  maxReplicas: {rng.randint(4, 12)}"]
            values.write_text("\n".join(lines) + "\n")
            application = root / "argocd" / "helm" / f"{name}-{env}.yaml"
            application.parent.mkdir(parents=True, exist_ok=True)
            application.write_text(
                "apiVersion: argoproj.io/v1alpha1\nkind: Application\n"
                f"metadata:\n  name: {name}-{env}\nspec:\n  source:\n"
                f"    repoURL: https://git.example.com/infra.git\n    path: charts/{chart}\n"
                f"    helm:\n      releaseName: {name}\n      valueFiles:\n"
                f"        - ../../services/{name}/values-{env}.yaml\n"
                f"  destination:\n    name: {env}\n    namespace: {name}\n"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workloads", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    half = args.workloads // 2
    with tempfile.TemporaryDirectory(prefix="rightsizer-bench-") as scratch:
        kustomize_repo = Path(scratch) / "kustomize"
        generate(kustomize_repo, max(1, half // 3))  # three environments a service
        mixed = Path(scratch) / "mixed"
        generate(mixed, max(1, half // 3))
        generate_helm(mixed, half // len(ENVIRONMENTS))

        def timed(repo: Path) -> tuple[float, int]:
            times, count = [], 0
            for _ in range(args.repeat):
                start = time.perf_counter()
                inventory = build_inventory(repo)
                times.append(time.perf_counter() - start)
                assert not inventory.problems, inventory.problems[:3]
                count = len(inventory.workloads)
            return statistics.median(times), count

        base, base_count = timed(kustomize_repo)
        both, both_count = timed(mixed)
        helm_count = both_count - base_count
        per_kustomize = base / base_count * 1000
        per_helm = (both - base) / helm_count * 1000
        print(
            f"Kustomize only: {base_count} workloads, median {base:.2f} s "
            f"({per_kustomize:.2f} ms each)"
        )
        print(
            f"Kustomize + Helm: {both_count} workloads ({helm_count} from {helm_count} Helm "
            f"releases of {CHARTS} charts), median {both:.2f} s"
        )
        print(
            f"Helm workload with provenance: {per_helm:.2f} ms each, "
            f"{per_helm / per_kustomize:.1f}x a Kustomize workload's"
        )
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        print(f"peak memory: this process {peak:.0f} MiB, largest child {child:.0f} MiB")


if __name__ == "__main__":
    main()
