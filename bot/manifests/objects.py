"""Workloads from resolved objects: each paired with its autoscaler and named for its
environment. Shared by the Kustomize resolver's objects and a Helm chart's rendered ones."""

from __future__ import annotations

from bot.manifests.kustomization import WORKLOAD_KINDS, Resource
from bot.manifests.model import Deployment, HpaSpec, Workload


def environment_name(path: str) -> str:
    """`applications/shop/overlays/prod` -> `prod`; otherwise the directory's own name."""
    parts = path.split("/")
    if "overlays" in parts[:-1]:
        return parts[parts.index("overlays") + 1]
    return parts[-1] if parts[-1] != "." else "default"


def workloads_of(deployment: Deployment, resources: list[Resource]) -> list[Workload]:
    autoscalers = {
        (r.namespace, r.target): r
        for r in resources
        if r.kind not in WORKLOAD_KINDS and r.target is not None
    }
    workloads = []
    for resource in resources:
        if resource.kind not in WORKLOAD_KINDS:
            continue
        namespace = resource.namespace or deployment.namespace or "default"
        scaler = autoscalers.get((resource.namespace, (resource.kind, resource.original_name)))
        workloads.append(
            Workload(
                environment=deployment.name or environment_name(deployment.path),
                overlay=deployment.path,
                kind=resource.kind,
                api_version=resource.api_version,
                name=resource.name,
                namespace=namespace,
                containers=list(resource.containers.values()),
                replicas=resource.replicas,
                hpa=None
                if scaler is None
                else HpaSpec(
                    name=scaler.name,
                    api_version=scaler.api_version,
                    fields=scaler.hpa_fields,
                    annotations=scaler.annotations,
                    annotation_sources=scaler.annotation_sources,
                    origin_file=scaler.origin_file,
                    original_name=scaler.original_name,
                    kind=scaler.kind,
                ),
                annotations=resource.annotations,
                annotation_sources=resource.annotation_sources,
                labels=resource.labels,
                origin_file=resource.origin_file,
                original_name=resource.original_name,
                deployment=deployment,
                patch_namespace=resource.patch_namespace,
            )
        )
    return workloads
