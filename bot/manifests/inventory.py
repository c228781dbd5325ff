"""The inventory: every workload of every deployed environment, each value with its provenance."""

from __future__ import annotations

from pathlib import Path

from bot.manifests.gitops import discover, yaml_files
from bot.manifests.kustomization import (
    KUSTOMIZATION_NAMES,
    WORKLOAD_KINDS,
    Resolver,
    Resource,
    normalise,
)
from bot.manifests.model import Deployment, HpaSpec, Inventory, Workload
from recommenders.errors import InputError


def environments(resolver: Resolver) -> tuple[list[Deployment], list[str]]:
    """The directories the repo's Argo CD or Flux objects deploy, or, when it has none, its
    top-level kustomizations (ones no other kustomization includes); and any problems."""
    problems: list[str] = []
    files = yaml_files(resolver.repo)
    return discover(resolver.repo, files, problems) or _top_level(resolver, files), problems


def build_inventory(
    repo: Path, found: tuple[list[Deployment], list[str]] | None = None
) -> Inventory:
    """Every workload of every environment, each value with the file and line that set it."""
    resolver = Resolver(repo)
    deployments, problems = found or environments(resolver)
    workloads: list[Workload] = []
    file_users: dict[str, set[str]] = {}
    for deployment in deployments:
        used: set[str] = set()
        try:
            resources = resolver.build(deployment.path, used)
        except InputError as exc:
            problems.append(f"{exc} (environment {deployment.path} skipped)")
            continue
        built = _workloads(deployment, resources)
        workloads.extend(built)
        if built:
            for file in used:
                file_users.setdefault(file, set()).add(deployment.path)
    return Inventory(workloads, file_users, problems)


def _top_level(resolver: Resolver, files: list[str]) -> list[Deployment]:
    directories = sorted(
        {
            f.rsplit("/", 1)[0] if "/" in f else "."
            for f in files
            if f.rsplit("/", 1)[-1] in KUSTOMIZATION_NAMES
        }
    )
    included: set[str] = set()
    for directory in directories:
        try:
            _, kustomization = resolver.kustomization(directory)
        except InputError:
            continue  # reported when the directory is built, if it is top-level
        if kustomization.get("kind") == "Component":
            included.add(directory)  # only ever applied inside another kustomization
        for key in ("resources", "components"):
            for entry in kustomization.get(key) or []:
                if isinstance(entry, str):
                    included.add(normalise(directory, entry))
    return [Deployment(d) for d in directories if d not in included]


def environment_name(path: str) -> str:
    """`applications/shop/overlays/prod` -> `prod`; otherwise the directory's own name."""
    parts = path.split("/")
    if "overlays" in parts[:-1]:
        return parts[parts.index("overlays") + 1]
    return parts[-1] if parts[-1] != "." else "default"


def _workloads(deployment: Deployment, resources: list[Resource]) -> list[Workload]:
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
                    origin_file=scaler.origin_file,
                    original_name=scaler.original_name,
                    kind=scaler.kind,
                ),
                annotations=resource.annotations,
                labels=resource.labels,
                origin_file=resource.origin_file,
                original_name=resource.original_name,
                deployment=deployment,
                patch_namespace=resource.patch_namespace,
            )
        )
    return workloads
