"""The inventory: every workload of every deployed environment, each value with its provenance."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from bot.config import load_config
from bot.manifests.gitops import (
    discover,
    generated_applications,
    gitops_documents,
    plain_directories,
    with_declared,
    yaml_files,
)
from bot.manifests.helm.renderer import HelmRenderer
from bot.manifests.helm.workloads import (
    flux_release,
    flux_sources,
    inflated_resources,
    release_workloads,
    values_from,
    with_values,
)
from bot.manifests.kustomization import (
    HELM_RELEASE,
    KUSTOMIZATION_NAMES,
    VALUES_SOURCE_SECTIONS,
    Resolver,
    normalise,
)
from bot.manifests.model import Deployment, Inventory, Release, Rendered, Workload
from bot.manifests.names import name_problem
from bot.manifests.objects import workloads_of
from bot.manifests.releases import (
    argo_releases,
    environment_name,
    is_values_file,
    vendored_releases,
)
from bot.manifests.yamlio import dig
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
    passed_over: set[str] = field(default_factory=set)
    """Directories GitOps objects name but that are not built, so they are never taken for
    undeployed ones: excluded by a generator, or sources the bot cannot read (a plugin)."""
    unlocated: bool = False
    """A Flux Kustomization names a path this repo does not have (its source is another
    artifact): what it deploys is unknown, so top-level kustomizations nothing else reads
    are environments too. Otherwise the GitOps objects say exactly what is deployed."""


def environments(resolver: Resolver) -> Discovered:
    """The environments the repo names (GitOps objects, else top-level kustomizations), with
    `.rightsizer.yaml`'s `environments:` over them."""
    problems: list[str] = []
    repo = resolver.repo
    files = yaml_files(repo)
    documents = gitops_documents(repo, files, problems, resolver.documents)
    passed_over: set[str] = set()
    discovered = discover(documents, repo, problems, passed_over) or _top_level(resolver, files)
    deployments = with_declared(discovered, load_config(repo).environments)
    argo = [
        release
        for file, document in documents
        if document.get("kind") == "Application"
        for release in argo_releases(repo, file, document, problems)
    ]
    for file, document in documents:
        if document.get("kind") == "ApplicationSet":
            argo += _generated_releases(repo, file, document, problems)
    unlocated = any(
        document.get("kind") == "Kustomization"
        and str(document.get("apiVersion", "")).startswith("kustomize.toolkit.fluxcd.io/")
        and isinstance(path := dig(document, "spec", "path"), str)
        and not (repo / path.strip()).is_dir()
        for _, document in documents
    )
    return Discovered(
        deployments, argo, problems, files, flux_sources(documents), passed_over, unlocated
    )


def _generated_releases(
    repo: Path, file: str, document: dict[str, Any], problems: list[str]
) -> list[Release]:
    """The Helm releases of the Applications an ApplicationSet generates, each told apart by
    the value file it alone reads; releases that share every value file are one environment
    the bot cannot split, reported once."""
    name = str(dig(document, "metadata", "name"))
    releases: dict[str, Release] = {}
    for application in generated_applications(repo, document):
        for release in argo_releases(repo, file, application, problems, generated_by=name):
            if release.id in releases:
                problems.append(
                    f"{file}: ApplicationSet {name}: Applications {releases[release.id].name} "
                    f"and {release.name} read the same value files; give each its own "
                    "(values-<cluster>.yaml) to size them apart"
                )
                continue
            releases[release.id] = release
    return list(releases.values())


def build_inventory(repo: Path, found: Discovered | None = None) -> Inventory:
    """Every workload of every environment, each value with the file and line that set it."""
    with HelmRenderer() as renderer:
        return _build_inventory(repo, found, renderer)


def _build_inventory(repo: Path, found: Discovered | None, renderer: HelmRenderer) -> Inventory:
    """One Helm renderer for the run: `helmCharts:` inflate while kustomizations are
    resolved, and releases render after."""
    resolver = Resolver(repo, functools.partial(inflated_resources, repo, renderer))
    found = found or environments(resolver)
    inventory = Inventory([], {}, list(found.problems))
    releases = list(found.releases)
    unrendered: set[str] = set()
    """Charts of HelmReleases that cannot be rendered: still theirs, never releases alone."""
    deployments = list(found.deployments)
    built: set[str] = set()
    read: set[str] = set()
    undeployed = bool(found.files)  # looked for once every named environment is built
    while deployments or undeployed:
        if not deployments:
            undeployed = False
            taken = built | found.passed_over
            deployments = _undeployed(resolver, found, read, taken)
            continue
        deployment = deployments.pop(0)
        built.add(deployment.path)
        used: set[str] = set()
        try:
            resources = resolver.build(deployment.path, used)
        except InputError as exc:
            inventory.problems.append(f"{exc} (environment {deployment.path} skipped)")
            continue
        read |= used
        workloads = workloads_of(deployment, resources)
        inventory.workloads.extend(workloads)
        values_sources = {
            (r.kind, name): r.values_sources
            for r in resources
            if r.kind in VALUES_SOURCE_SECTIONS
            for name in (r.original_name, r.name)
        }
        helm = []
        for resource in (r for r in resources if r.kind == HELM_RELEASE):
            release = flux_release(resource, deployment.path, found.flux_sources)
            try:
                release.layers[:0] = values_from(resource, values_sources)
            except InputError as exc:
                inventory.problems.append(f"{exc} (environment {deployment.path})")
                unrendered |= {release.chart} if release.chart else set()
                continue
            helm.append(release)
        releases += helm
        if workloads or helm:
            for file in used:
                inventory.file_users.setdefault(file, set()).add(deployment.path)
    if found.files:  # a chart no Application or HelmRelease deploys is a release itself
        claimed = {r.chart for r in releases if r.chart} | unrendered | resolver.inflated
        releases += vendored_releases(repo, found.files, claimed, inventory.problems)
    _add_releases(repo, releases, found.deployments, inventory, renderer)
    inventory.directories = built
    inventory.workloads = [w for w in inventory.workloads if _well_named(w, inventory.problems)]
    return inventory


def _well_named(workload: Workload, problems: list[str]) -> bool:
    problem = name_problem(workload)
    if problem is not None:
        problems.append(f"{workload.overlay}: {workload.kind} {problem}; left out")
    return problem is None


def _undeployed(
    resolver: Resolver, discovered: Discovered, read: set[str], taken: set[str]
) -> list[Deployment]:
    """Directories that hold workloads (or HelmReleases) which no environment reads:
    directories of plain manifests, which `kubectl apply -f DIR` reaches a cluster from, and
    top-level kustomizations when a Flux Kustomization's path is not in this repo. Each is
    named by its path."""
    files = discovered.files
    found = {
        d.path
        for d in (_top_level(resolver, files) if discovered.unlocated else [])
        if d.path not in taken and resolver.kustomization_file(d.path) not in read
    }
    plain = plain_directories(resolver.repo, files, read, taken | found)
    return sorted([Deployment(d) for d in found] + plain, key=lambda d: d.path)


def _add_releases(
    repo: Path,
    releases: list[Release],
    deployments: list[Deployment],
    inventory: Inventory,
    renderer: HelmRenderer,
) -> None:
    """Each release rendered once by Helm, in the run's one child process; a chart
    that is not here, or does not render, is reported with the file that declares it."""
    if not releases:
        return
    by_path = {d.path: d for d in deployments}
    for declared in releases:
        try:
            release = with_values(repo, declared)
            # What `.rightsizer.yaml` declares for the directory wins, as for any other.
            base = by_path.get(release.environment, Deployment(release.environment))
            named = environment_name(release, release.name) if release.values_file else None
            cluster = release.cluster or base.cluster
            deployment = replace(
                base,
                name=base.name or named,
                namespace=release.namespace or base.namespace,
                source=release.source,
                cluster=cluster,
                clusters=base.clusters or ((cluster,) if cluster else ()),
            )
            workloads, rendered = release_workloads(repo, release, renderer, deployment)
        except InputError as exc:
            inventory.problems.append(f"{exc} (environment {declared.environment})")
            continue
        inventory.workloads.extend(workloads)
        before = inventory.helm_renders.get(release.id, Rendered({}))
        inventory.helm_renders[release.id] = Rendered(
            before.objects | rendered.objects, before.error or rendered.error
        )
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
