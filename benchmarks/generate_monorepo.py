"""Generate a large, realistic Kustomize monorepo for Rightsizer benchmarks.

Rightsizer, the GitOps right-sizing bot, reads every base and overlay of a repository, so its
performance only shows on a repository far bigger than `fixtures/monorepo` (six services).
A repository with thousands of services is too big to commit and too dull to review, so this
script writes one on demand instead: the same layout and style as the fixture, varied the way
real teams vary it (one to three containers, CPU as millicores or plain numbers, memory in Mi or
Gi, limits or none, comments, both sequence indentation styles, file and inline patches,
`replicas:` entries). The output depends only on `services` and `seed`.

Layout, for each service `svc-NNNN` owned by one of about twenty `team-XX` folders:

    applications/<team>/<service>/base/{deployment,service,kustomization}.yaml (+ hpa.yaml)
    applications/<team>/<service>/overlays/{dev,staging,prod}/kustomization.yaml
    applications/<team>/<service>/overlays/prod/resources-patch.yaml  (about half the services)

Every overlay builds with `kubectl kustomize`. Usage:

    python benchmarks/generate_monorepo.py OUTDIR [--services N] [--seed S]
"""

from __future__ import annotations

import argparse
import pathlib
import random
import sys
import time
from dataclasses import dataclass

TEAMS = 20
ENVIRONMENTS = ("dev", "staging", "prod")
CLUSTERS = {"dev": "AKS dev cluster", "staging": "GKE staging cluster", "prod": "EKS prod cluster"}

# (name, image, cpu request millicores, memory request MiB) for the sidecars teams bolt on.
SIDECARS = (
    ("istio-proxy", "docker.io/istio/proxyv2:1.21.2", 100, 128),
    ("log-shipper", "fluent/fluent-bit:3.0", 50, 64),
    ("config-reloader", "ghcr.io/acme/config-reloader:0.9.1", 10, 32),
)
CPU_REQUESTS = (50, 100, 100, 150, 200, 250, 250, 300, 400, 500, 500, 750, 1000, 1000, 1500, 2000)
MEMORY_REQUESTS = (64, 128, 192, 256, 256, 384, 512, 512, 768, 1024, 1024, 1536, 2048, 3072, 4096)
PORTS = (8080, 8080, 8080, 3000, 8000, 9000)
PURPOSES = (
    "order history API",
    "inventory sync worker",
    "pricing rules engine",
    "image resizing service",
    "session store front",
    "feature flag evaluator",
    "email rendering service",
    "fraud scoring API",
    "shipping quote aggregator",
    "loyalty points ledger",
    "search suggestions API",
    "returns processing worker",
    "tax calculation API",
    "promotion eligibility service",
    "warehouse events consumer",
)
CPU_COMMENTS = (
    "p95 usage was well below this last quarter",
    "set during the 2023 peak, never revisited",
    "TODO: revisit after the next load test",
    "JIT warm-up needs headroom",
)
MEMORY_COMMENTS = (
    "heap + off-heap + page cache",
    "raised after an OOMKill in March",
    "in-memory cache sized to fit",
)
LIMIT_COMMENTS = (
    "no CPU limit: avoid CFS throttling",
    "requests == limits for memory: no OOM surprises",
    "limits agreed with the platform team",
)


@dataclass(frozen=True)
class Container:
    name: str
    image: str
    port: int | None
    requests: tuple[str, str] | None  # (cpu, memory) as written in YAML
    limits: tuple[str | None, str] | None  # cpu may be omitted, memory never is
    cpu_millis: int
    memory_mib: int


@dataclass(frozen=True)
class Hpa:
    min_replicas: int
    max_replicas: int
    utilization: int


@dataclass(frozen=True)
class Service:
    name: str
    team: str
    purpose: str
    replicas: int
    hpa: Hpa | None
    containers: tuple[Container, ...]
    indent: str  # "  " for indented sequences, "" for sequences flush with their key
    probe: str  # "http", "tcp" or "none"


def _cpu(rng: random.Random, millis: int) -> str:
    """A CPU quantity written the ways people write it: `250m`, `0.5`, `1`."""
    if millis % 1000 == 0 and rng.random() < 0.7:
        return str(millis // 1000)
    if millis % 250 == 0 and rng.random() < 0.35:
        return f"{millis / 1000:g}"
    return f"{millis}m"


def _memory(rng: random.Random, mib: int) -> str:
    """A memory quantity in `Gi` where it divides evenly (mostly), otherwise in `Mi`."""
    if mib % 1024 == 0 and rng.random() < 0.75:
        return f"{mib // 1024}Gi"
    return f"{mib}Mi"


def _limits(rng: random.Random, cpu_millis: int, memory_mib: int) -> tuple[str | None, str] | None:
    roll = rng.random()
    if roll < 0.4:
        return None
    memory = _memory(rng, memory_mib * rng.choice((1, 1, 2)))
    if roll < 0.7:
        return (None, memory)  # memory-only limit
    return (_cpu(rng, cpu_millis * rng.choice((1, 2, 2, 4))), memory)


def _container(
    rng: random.Random, name: str, image: str, port: int | None, cpu: int, mem: int
) -> Container:
    return Container(
        name=name,
        image=image,
        port=port,
        requests=(_cpu(rng, cpu), _memory(rng, mem)),
        limits=_limits(rng, cpu, mem),
        cpu_millis=cpu,
        memory_mib=mem,
    )


def _service(rng: random.Random, number: int) -> Service:
    name = f"svc-{number:04d}"
    image = f"ghcr.io/acme/{name}:{rng.randint(0, 4)}.{rng.randint(0, 20)}.{rng.randint(0, 9)}"
    main = _container(
        rng, name, image, rng.choice(PORTS), rng.choice(CPU_REQUESTS), rng.choice(MEMORY_REQUESTS)
    )
    containers = [main]
    for sidecar, sidecar_image, cpu, mem in rng.sample(SIDECARS, rng.choice((0, 0, 1, 1, 2))):
        if rng.random() < 0.15:  # some sidecars ship without any resources block
            containers.append(Container(sidecar, sidecar_image, None, None, None, cpu, mem))
        else:
            containers.append(_container(rng, sidecar, sidecar_image, None, cpu, mem))
    hpa = None
    if rng.random() < 1 / 3:
        low = rng.randint(1, 3)
        hpa = Hpa(low, low + rng.randint(2, 18), rng.choice((60, 65, 70, 75, 80)))
    return Service(
        name=name,
        team=f"team-{rng.randrange(TEAMS) + 1:02d}",
        purpose=rng.choice(PURPOSES),
        replicas=rng.randint(1, 6),
        hpa=hpa,
        containers=tuple(containers),
        indent=rng.choice(("  ", "")),
        probe=rng.choice(("http", "http", "tcp", "none")),
    )


def _maybe(rng: random.Random, comments: tuple[str, ...], chance: float) -> str:
    return f"  # {rng.choice(comments)}" if rng.random() < chance else ""


def _container_lines(rng: random.Random, svc: Service, c: Container, col: str) -> list[str]:
    """One `containers:` item; `col` is the indentation of the `containers:` key."""
    d = svc.indent
    body = col + d + "  "
    lines = [f"{col}{d}- name: {c.name}", f"{body}image: {c.image}"]
    if c.port is not None:
        lines += [
            f"{body}ports:",
            f"{body}{d}- name: http",
            f"{body}{d}  containerPort: {c.port}",
        ]
        if svc.probe == "http":
            lines += [
                f"{body}readinessProbe:",
                f"{body}  httpGet:",
                f"{body}    path: /healthz",
                f"{body}    port: http",
                f"{body}  periodSeconds: 10",
            ]
        elif svc.probe == "tcp":
            lines += [
                f"{body}readinessProbe:",
                f"{body}  tcpSocket:",
                f"{body}    port: http",
                f"{body}  initialDelaySeconds: {rng.choice((5, 10, 20))}",
            ]
    if c.requests is not None:
        lines += [
            f"{body}resources:",
            f"{body}  requests:",
            f"{body}    cpu: {c.requests[0]}{_maybe(rng, CPU_COMMENTS, 0.1)}",
            f"{body}    memory: {c.requests[1]}{_maybe(rng, MEMORY_COMMENTS, 0.1)}",
        ]
        if c.limits is not None:
            cpu_limit, memory_limit = c.limits
            lines.append(f"{body}  limits:")
            if cpu_limit is not None:
                lines.append(f"{body}    cpu: {cpu_limit}")
            lines.append(f"{body}    memory: {memory_limit}{_maybe(rng, LIMIT_COMMENTS, 0.15)}")
    return lines


def _deployment(rng: random.Random, svc: Service) -> str:
    n = svc.name
    lines = [f"# {n}: {svc.purpose}, owned by {svc.team}."]
    if svc.hpa is not None:
        lines.append("# Replica count is intentionally omitted: the HPA in hpa.yaml owns scaling.")
    elif rng.random() < 0.5:
        lines.append("# Fixed replica count (no HPA): load is steady.")
    lines += [
        "apiVersion: apps/v1",
        "kind: Deployment",
        "metadata:",
        f"  name: {n}",
        "  labels:",
        f"    app: {n}",
        f"    team: {svc.team}  # owning team, used for cost allocation",
        "spec:",
    ]
    if svc.hpa is None:
        lines.append(f"  replicas: {svc.replicas}")
    if rng.random() < 0.4:
        lines.append(f"  revisionHistoryLimit: {rng.choice((3, 5, 10))}")
    lines += [
        "  selector:",
        "    matchLabels:",
        f"      app: {n}",
        "  template:",
        "    metadata:",
        "      labels:",
        f"        app: {n}",
        "    spec:",
    ]
    if rng.random() < 0.25:
        lines.append(f"      terminationGracePeriodSeconds: {rng.choice((30, 45, 60))}")
    lines.append("      containers:")
    for container in svc.containers:
        lines += _container_lines(rng, svc, container, "      ")
    return "\n".join(lines) + "\n"


def _service_manifest(svc: Service) -> str:
    d = svc.indent
    port = svc.containers[0].port
    return (
        "\n".join(
            [
                f"# In-cluster Service for {svc.name}.",
                "apiVersion: v1",
                "kind: Service",
                "metadata:",
                f"  name: {svc.name}",
                "  labels:",
                f"    app: {svc.name}",
                "spec:",
                "  type: ClusterIP",
                "  selector:",
                f"    app: {svc.name}",
                "  ports:",
                f"  {d}- name: http",
                f"  {d}  port: 80",
                f"  {d}  targetPort: http  # named port on the container ({port})",
            ]
        )
        + "\n"
    )


def _hpa_manifest(svc: Service, hpa: Hpa) -> str:
    d = svc.indent
    return (
        "\n".join(
            [
                f"# Horizontal autoscaling for {svc.name}, driven by CPU utilisation.",
                "apiVersion: autoscaling/v2",
                "kind: HorizontalPodAutoscaler",
                "metadata:",
                f"  name: {svc.name}",
                "  labels:",
                f"    app: {svc.name}",
                "spec:",
                "  scaleTargetRef:",
                "    apiVersion: apps/v1",
                "    kind: Deployment",
                f"    name: {svc.name}",
                f"  minReplicas: {hpa.min_replicas}",
                f"  maxReplicas: {hpa.max_replicas}",
                "  metrics:",
                f"  {d}- type: Resource",
                f"  {d}  resource:",
                f"  {d}    name: cpu",
                f"  {d}    target:",
                f"  {d}      type: Utilization",
                f"  {d}      averageUtilization: {hpa.utilization}  # percent of the CPU request",
            ]
        )
        + "\n"
    )


def _base_kustomization(svc: Service) -> str:
    d = svc.indent
    lines = [
        f"# Base manifests for {svc.name}, shared by every environment.",
        "apiVersion: kustomize.config.k8s.io/v1beta1",
        "kind: Kustomization",
        "resources:",
        f"{d}- deployment.yaml",
        f"{d}- service.yaml",
    ]
    if svc.hpa is not None:
        lines.append(f"{d}- hpa.yaml  # HPA owns the replica count")
    return "\n".join(lines) + "\n"


def _overlay_head(rng: random.Random, svc: Service, env: str) -> list[str]:
    d = svc.indent
    lines = [
        f"# {env.capitalize()} overlay for {svc.name} ({CLUSTERS[env]}).",
        "apiVersion: kustomize.config.k8s.io/v1beta1",
        "kind: Kustomization",
        "resources:",
        f"{d}- ../../base",
        f"namespace: {svc.name}",
    ]
    if rng.random() < 0.8:
        lines += [
            "labels:",
            f"{d}- pairs:",
            f"{d}    env: {env}",
            f"{d}  includeSelectors: false  # selectors are immutable, keep them env-agnostic",
        ]
    return lines


def _staging_patch(rng: random.Random, svc: Service) -> list[str]:
    """An inline `patch: |-` with a `target:`, strategic-merge or JSON 6902."""
    d = svc.indent
    p = f"{d}    "  # indentation of the block scalar's content
    if svc.hpa is not None:
        group, version, kind = "autoscaling", "v2", "HorizontalPodAutoscaler"
        field = "maxReplicas"
        value = max(svc.hpa.min_replicas, svc.hpa.max_replicas // 2)
    else:
        group, version, kind = "apps", "v1", "Deployment"
        field = "replicas"
        value = svc.replicas - 1 if svc.replicas > 1 else 2  # always a real change
    lines = ["patches:", f"{d}- target:"]
    if rng.random() < 0.3:
        lines += [
            f"{d}    group: {group}",
            f"{d}    version: {version}",
            f"{d}    kind: {kind}",
            f"{d}    name: {svc.name}",
            f"{d}  patch: |-",
            f"{p}- op: replace",
            f"{p}  path: /spec/{field}",
            f"{p}  value: {value}",
        ]
    else:
        lines += [
            f"{d}    kind: {kind}",
            f"{d}    name: {svc.name}",
            f"{d}  patch: |-",
            f"{p}apiVersion: {group}/{version}",
            f"{p}kind: {kind}",
            f"{p}metadata:",
            f"{p}  name: {svc.name}",
            f"{p}spec:",
            f"{p}  {field}: {value}",
        ]
    return lines


def _resources_patch(rng: random.Random, svc: Service) -> str:
    """Prod sizing for the main container (strategic-merge patch file)."""
    main = svc.containers[0]
    d = svc.indent
    # Prod runs bigger than base: 1.5x to 3x, rounded to 50m and 64Mi like a human would.
    cpu = (main.cpu_millis * rng.choice((3, 4, 6)) // 2 + 25) // 50 * 50
    mem = (main.memory_mib * rng.choice((3, 4)) // 2 + 32) // 64 * 64
    body = f"      {d}  "
    lines = [
        f"# Prod sizing for {svc.name} (strategic-merge patch).",
        "apiVersion: apps/v1",
        "kind: Deployment",
        "metadata:",
        f"  name: {svc.name}",
        "spec:",
        "  template:",
        "    spec:",
        "      containers:",
        f"      {d}- name: {svc.name}",
        f"{body}resources:",
        f"{body}  requests:",
        f"{body}    cpu: {_cpu(rng, cpu)}",
        f"{body}    memory: {_memory(rng, mem)}{_maybe(rng, MEMORY_COMMENTS, 0.2)}",
    ]
    if main.limits is not None:  # keep requests <= limits where the base sets limits
        cpu_limit, _ = main.limits
        lines.append(f"{body}  limits:")
        if cpu_limit is not None:
            lines.append(f"{body}    cpu: {_cpu(rng, cpu * 2)}")
        lines.append(f"{body}    memory: {_memory(rng, mem)}")
    return "\n".join(lines) + "\n"


def _overlays(rng: random.Random, svc: Service) -> dict[str, str]:
    """File name (relative to `overlays/`) -> content."""
    d = svc.indent
    files = {"dev/kustomization.yaml": "\n".join(_overlay_head(rng, svc, "dev")) + "\n"}

    staging = _overlay_head(rng, svc, "staging")
    if rng.random() < 0.2:
        staging += _staging_patch(rng, svc)
    files["staging/kustomization.yaml"] = "\n".join(staging) + "\n"

    prod = _overlay_head(rng, svc, "prod")
    if rng.random() < 0.5:
        prod += ["patches:", f"{d}- path: resources-patch.yaml  # container sizing"]
        files["prod/resources-patch.yaml"] = _resources_patch(rng, svc)
    # ~10% of all prod overlays; only Deployments without an HPA (about two thirds) qualify.
    if svc.hpa is None and rng.random() < 0.15:
        prod += [
            "replicas:",
            f"{d}- name: {svc.name}",
            f"{d}  count: {svc.replicas + rng.randint(1, 3)}  # extra capacity for zone failover",
        ]
    files["prod/kustomization.yaml"] = "\n".join(prod) + "\n"
    return files


def generate(root: pathlib.Path, services: int, seed: int = 7) -> None:
    """Write a monorepo of `services` services under `root` (which must be missing or empty)."""
    if services < 0:
        raise ValueError(f"services must be >= 0, got {services}")
    if root.exists() and any(root.iterdir()):
        raise FileExistsError(f"{root} is not empty; refusing to mix generated and existing files")
    rng = random.Random(seed)
    for number in range(1, services + 1):
        svc = _service(rng, number)
        home = root / "applications" / svc.team / svc.name
        files = {
            "base/deployment.yaml": _deployment(rng, svc),
            "base/service.yaml": _service_manifest(svc),
            "base/kustomization.yaml": _base_kustomization(svc),
        }
        if svc.hpa is not None:
            files["base/hpa.yaml"] = _hpa_manifest(svc, svc.hpa)
        for relative, text in _overlays(rng, svc).items():
            files[f"overlays/{relative}"] = text
        for folder in ("base", *(f"overlays/{env}" for env in ENVIRONMENTS)):
            (home / folder).mkdir(parents=True, exist_ok=True)
        for relative, text in files.items():
            (home / relative).write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("outdir", type=pathlib.Path, help="missing or empty output directory")
    parser.add_argument("--services", type=int, default=2000, help="number of services (2000)")
    parser.add_argument("--seed", type=int, default=7, help="random seed (7)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    try:
        generate(args.outdir, args.services, args.seed)
    except (FileExistsError, ValueError) as error:
        parser.error(str(error))
    elapsed = time.perf_counter() - started
    count = sum(1 for path in args.outdir.rglob("*") if path.is_file())
    print(f"wrote {count} files for {args.services} services to {args.outdir} in {elapsed:.2f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
