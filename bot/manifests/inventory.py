"""The inventory: every workload of every deployed environment, each value with its provenance."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path

from bot.manifests.gitops import discover, gitops_documents, yaml_files
from bot.manifests.helm.renderer import HelmRenderer
from bot.manifests.helm.workloads import flux_release, flux_sources, release_workloads, with_values
from bot.manifests.kustomization import (
    HELM_RELEASE,
    KUSTOMIZATION_NAMES,
    WORKLOAD_KINDS,
    Resolver,
    normalise,
)
from bot.manifests.model import Deployment, Inventory, Release
from bot.manifests.objects import workloads_of
from bot.manifests.releases import (
    argo_releases,
    environment_name,
    is_values_file,
    vendored_releases,
)
from bot.manifests.yamlio import looks_like_template, read_text
from recommenders.errors import InputError


@dataclass
class Discovered:
    """What the repo says it deploys: Kustomize or plain directories (Argo CD, Flux, else
    top-level kustomizations), Argo CD Helm sources, the Flux chart sources HelmReleases
    name, and the files themselves. A Flux HelmRelease is found in the directory that holds
    it when that is built; a chart nothing deploys, after every build."""

    deployments: list[Deployment]
    releases: list[Release] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    flux_sources: dict[tuple[str, str], tuple[str, str | None]] = field(default_factory=dict)


def environments(resolver: Resolver) -> Discovered:
    problems: list[str] = []
    repo = resolver.repo
    files = yaml_files(repo)
    documents = gitops_documents(repo, files, problems)
    deployments = discover(documents, repo) or _top_level(resolver, files)
    argo = [
        release
        for file, document in documents
        if document.get("kind") == "Application"
        for release in argo_releases(repo, file, document, problems)
    ]
    return Discovered(deployments, argo, problems, files, flux_sources(documents))


def build_inventory(repo: Path, found: Discovered | None = None) -> Inventory:
    """Every workload of every environment, each value with the file and line that set it."""
    resolver = Resolver(repo)
    found = found or environments(resolver)
    inventory = Inventory([], {}, list(found.problems))
    releases = list(found.releases)
    deployments = list(found.deployments)
    built: set[str] = set()
    while deployments:
        deployment = deployments.pop(0)
        built.add(deployment.path)
        used: set[str] = set()
        try:
            resources = resolver.build(deployment.path, used)
        except InputError as exc:
            inventory.problems.append(f"{exc} (environment {deployment.path} skipped)")
            continue
        workloads = workloads_of(deployment, resources)
        inventory.workloads.extend(workloads)
        helm = [
            flux_release(r, deployment.path, found.flux_sources, repo)
            for r in resources
            if r.kind == HELM_RELEASE
        ]
        releases += helm
        if workloads or helm:
            for file in used:
                inventory.file_users.setdefault(file, set()).add(deployment.path)
        if not deployments and found.files:
            deployments = _undeployed(resolver, found.files, inventory.file_users, built)
    if found.files:  # a chart no Application or HelmRelease deploys is a release itself
        claimed = {release.chart for release in releases if release.chart}
        releases += vendored_releases(repo, found.files, claimed, inventory.problems)
    _add_releases(repo, releases, found.deployments, inventory)
    inventory.directories = built
    return inventory


_WORKLOAD_KIND = re.compile(r"^kind:\s*(" + "|".join(WORKLOAD_KINDS) + r"|HelmRelease)\s*$", re.M)


def _undeployed(
    resolver: Resolver, files: list[str], file_users: dict[str, set[str]], built: set[str]
) -> list[Deployment]:
    """Directories that hold workloads (or HelmReleases) which no environment reads: top-level
    kustomizations beside the ones Argo CD or Flux deploy, and directories of plain manifests,
    which `kubectl apply -f DIR` reaches a cluster from. Each is named by its path."""
    repo = resolver.repo
    found = {
        d.path
        for d in _top_level(resolver, files)
        if d.path not in built and resolver.kustomization_file(d.path) not in file_users
    }
    for file in files:
        directory = file.rsplit("/", 1)[0] if "/" in file else "."
        if file in file_users or directory in built or directory in found:
            continue
        if "/templates/" in f"/{file}" or _has_kustomization(repo / directory):
            continue
        try:
            text = read_text(repo, file)
        except InputError:
            continue
        if _WORKLOAD_KIND.search(text) and not looks_like_template(text):
            found.add(directory)
    return [Deployment(d) for d in sorted(found)]


def _has_kustomization(directory: Path) -> bool:
    return any((directory / name).is_file() for name in KUSTOMIZATION_NAMES)


def _add_releases(
    repo: Path, releases: list[Release], deployments: list[Deployment], inventory: Inventory
) -> None:
    """Each release rendered once by Helm, in one child process for the whole repo; a chart
    that is not here, or does not render, is reported with the file that declares it."""
    if not releases:
        return
    by_path = {d.path: d for d in deployments}
    with HelmRenderer() as renderer:
        for declared in releases:
            try:
                release = with_values(repo, declared)
                deployment = replace(
                    by_path.get(release.environment, Deployment(release.environment)),
                    name=environment_name(release, release.name) if release.values_file else None,
                    namespace=release.namespace,
                    source=release.source,
                    cluster=release.cluster,
                )
                workloads = release_workloads(repo, release, renderer, deployment)
            except InputError as exc:
                inventory.problems.append(f"{exc} (environment {declared.environment})")
                continue
            inventory.workloads.extend(workloads)
            inventory.releases.setdefault(release.id, []).append(release)
            for file in {layer.file for layer in release.layers} | _chart_files(repo, release):
                inventory.file_users.setdefault(file, set()).add(release.id)


def _chart_files(repo: Path, release: Release) -> set[str]:
    """A chart in the repo is read by every release of it: its own values.yaml included,
    but not the per-environment values files beside it, which only their release reads."""
    if release.chart is None or not (repo / release.chart).is_dir():
        return set()
    root = repo / release.chart
    return {
        path.relative_to(repo).as_posix()
        for path in root.rglob("*")
        if path.is_file() and not (path.parent == root and is_values_file(path.name))
    }


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
