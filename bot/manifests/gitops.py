"""Which directories are deployed, to which clusters and namespaces, according to the repo.

Argo CD `Application`s and `ApplicationSet`s (git-directories, git-files, list, matrix and
merge generators) and Flux `Kustomization`s name the paths they sync. When a repo has any,
those paths are its environments; a repo without them falls back to its top-level
kustomizations. Either way, a directory of plain manifests that nothing deploys and no
environment reads is an environment of its own (`plain_directories`), and
`.rightsizer.yaml` may declare environments discovery cannot see (`with_declared`).

A directory is an environment's identity everywhere (file users, renders, edits), so one
path deployed to several clusters is one environment that knows all of its clusters: usage
from any of them is its usage.
"""

from __future__ import annotations

import itertools
import os
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.manifests.kustomization import KUSTOMIZATION_NAMES, WORKLOAD_KINDS
from bot.manifests.model import Deployment
from bot.manifests.yamlio import dig, looks_like_template, parse_positioned, read_text
from recommenders.errors import InputError

if TYPE_CHECKING:
    from bot.config import DeclaredEnvironment

SKIPPED_DIRS = {".git", "node_modules", ".github"}
_GITOPS_KIND = re.compile(
    r"^kind:\s*(Application|ApplicationSet|Kustomization|HelmRepository|OCIRepository)\s*$", re.M
)
"""Argo CD and Flux objects, and the Flux chart sources HelmReleases name."""

PLAIN_KINDS = (*WORKLOAD_KINDS, "HelmRelease")
"""What makes a directory without a kustomization an environment: a workload (Deployment,
StatefulSet, DaemonSet, Job, CronJob, Argo Rollout) or a Flux HelmRelease in one of its files."""
_PLAIN_KIND = re.compile(r"^kind:\s*[\"']?(" + "|".join(PLAIN_KINDS) + r")[\"']?\s*$", re.M)


def yaml_files(repo: Path) -> list[str]:
    found = []
    for current, dirnames, filenames in os.walk(repo):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIPPED_DIRS)
        for name in sorted(filenames):
            if name.endswith((".yaml", ".yml")):
                found.append(Path(current, name).relative_to(repo).as_posix())
    return found


def gitops_documents(
    repo: Path,
    files: list[str],
    problems: list[str],
    parse: Callable[[str, str], list[Any]] = parse_positioned,
) -> list[tuple[str, dict[str, Any]]]:
    """Every Argo CD or Flux object of the repo with its file; files are screened by text
    first, so only the few that may hold one are parsed, by `parse(text, file)`: the
    resolver's, so that a kustomization (`kind: Kustomization` passes the screen) is not
    parsed again when it is built."""
    found = []
    for file in files:
        try:
            text = read_text(repo, file)
        except InputError:
            continue  # reported by the build of any environment that reads it
        if not _GITOPS_KIND.search(text):
            continue
        try:
            documents = parse(text, file)
        except InputError as exc:
            problems.append(str(exc))
            continue
        found += [(file, document) for document in documents if isinstance(document, dict)]
    return found


def discover(
    documents: list[tuple[str, dict[str, Any]]],
    repo: Path,
    problems: list[str] | None = None,
    passed_over: set[str] | None = None,
) -> list[Deployment]:
    """Deployed directories named by GitOps objects, one per path with every cluster that
    path goes to. A source the bot cannot read (a config-management plugin, Jsonnet) is a
    problem naming its file; its path, and every directory a generator excludes, goes into
    `passed_over`, so that none is taken for an undeployed directory later."""
    found = _Found(repo, problems if problems is not None else [])
    deployments: dict[str, Deployment] = {}
    for file, document in documents:
        for deployment in _deployments(found, document, file):
            known = deployments.get(deployment.path)
            deployments[deployment.path] = (
                deployment if known is None else joined(known, deployment)
            )
    if passed_over is not None:
        passed_over |= found.passed_over
    return sorted(deployments.values(), key=lambda d: d.path)


def clusters_of(deployment: Deployment | None) -> tuple[str, ...]:
    """Every cluster a deployment goes to (`cluster` is the first of them)."""
    if deployment is None:
        return ()
    return deployment.clusters or ((deployment.cluster,) if deployment.cluster else ())


def joined(first: Deployment, other: Deployment) -> Deployment:
    """One directory deployed twice (two Applications, or a generator with two clusters):
    the first says the namespace and the source; both clusters are kept."""
    clusters = tuple(dict.fromkeys((*clusters_of(first), *clusters_of(other))))
    return replace(first, cluster=clusters[0] if clusters else None, clusters=clusters)


@dataclass
class _Found:
    """What discovery carries along: the repo, the problems found, and the directories
    GitOps objects name without deploying them."""

    repo: Path
    problems: list[str]
    passed_over: set[str] = field(default_factory=set)


def _deployments(found: _Found, document: dict[str, Any], file: str) -> list[Deployment]:
    """The directories one GitOps object deploys. Helm sources (`chart:`, `helm:`, a path
    holding a Chart.yaml, a Flux HelmRelease) are found by `bot.manifests.releases`."""
    kind, api = document.get("kind"), str(document.get("apiVersion", ""))
    spec = document.get("spec") or {}
    if not isinstance(spec, dict):
        return []
    name = dig(document, "metadata", "name")
    if kind == "Application" and api.startswith("argoproj.io/"):
        return _application(found, spec, {}, file, f"Application {name}")
    if kind == "ApplicationSet" and api.startswith("argoproj.io/"):
        return _application_set(found, spec, file, f"ApplicationSet {name}")
    if kind == "Kustomization" and api.startswith("kustomize.toolkit.fluxcd.io/"):
        path = _path_in(found.repo, spec.get("path"))
        cluster = _flux_cluster(file)
        return [_deployment(path, cluster, spec.get("targetNamespace"), file)] if path else []
    return []


def _application(
    found: _Found, spec: dict[str, Any], values: dict[str, str], file: str, label: str
) -> list[Deployment]:
    """An Application's spec (or an ApplicationSet's template, its placeholders filled from
    `values`): each source with a path in this repo is a deployment to its destination."""
    destination = spec.get("destination") or {}
    if not isinstance(destination, dict):
        destination = {}
    cluster = _fill(destination.get("name") or destination.get("server"), values)
    namespace = _fill(destination.get("namespace"), values)
    single = spec.get("source")
    sources = [single] if single else list(spec.get("sources") or [])
    deployments = []
    for source in sources:
        if not isinstance(source, dict):
            continue
        path = _path_in(found.repo, _fill(source.get("path"), values))
        if path is None or is_helm_source(found.repo, source):
            continue
        reason = _unreadable(found.repo, source, path)
        if reason is not None:
            found.problems.append(f"{file}: {label} uses {reason}; not read (environment {path})")
            found.passed_over.add(path)
            continue
        deployments.append(_deployment(path, cluster, namespace, file))
    return deployments


def _unreadable(repo: Path, source: dict[str, Any], path: str) -> str | None:
    """Why a source's manifests cannot be read as Kustomize or plain YAML, if they cannot."""
    if "plugin" in source:
        return "a config-management plugin"
    directory = source.get("directory")
    if isinstance(directory, dict) and "jsonnet" in directory:
        return "Jsonnet (directory.jsonnet)"
    kustomized = any((repo / path / name).is_file() for name in KUSTOMIZATION_NAMES)
    if not kustomized and any((repo / path).glob("*.jsonnet")):
        return "Jsonnet (.jsonnet files)"
    return None


def is_helm_source(repo: Path, source: Any) -> bool:
    """An Argo CD source Helm renders: a chart from a repository, `helm:` settings, or a
    path holding a Chart.yaml (which Argo CD detects the same way)."""
    if not isinstance(source, dict):
        return False
    path = source.get("path")
    local = isinstance(path, str) and (repo / path.strip() / "Chart.yaml").is_file()
    return "chart" in source or "helm" in source or local


def _application_set(
    found: _Found, spec: dict[str, Any], file: str, label: str
) -> list[Deployment]:
    """Each generator's parameter sets filled into the template: one Application each. A
    generator whose parameters live outside the repo (a `clusters` generator reads Argo
    CD's cluster secrets) yields one empty set, so a path that does not depend on it is
    still found, with its cluster unknown; it is reported either way."""
    template = dig(spec, "template", "spec")
    if not isinstance(template, dict):
        return []
    deployments = []
    for generator in spec.get("generators") or []:
        outside: list[str] = []
        for values in _parameters(found, generator, outside):
            deployments += _application(found, template, values, file, label)
        if outside:
            found.problems.append(
                f"{file}: {label}: the parameters of its {', '.join(sorted(set(outside)))} "
                "generator are not in the repo; what depends on them is not known"
            )
    return deployments


def generated_applications(repo: Path, document: dict[str, Any]) -> list[dict[str, Any]]:
    """The Applications an ApplicationSet generates from what the repo holds: its template
    once per parameter set, every string whose placeholders all resolve filled in (Helm
    values may hold `{{ }}` of their own, left as written). Discovery reports generators
    whose parameters are outside the repo; a set from one of them fills nothing."""
    template = dig(document, "spec", "template")
    if not isinstance(template, dict):
        return []
    found = _Found(repo, [])
    applications = []
    for generator in dig(document, "spec", "generators") or []:
        for values in _parameters(found, generator, []):
            if values:
                applications.append({"kind": "Application", **_filled(template, values)})
    return applications


def _filled(node: Any, values: dict[str, str]) -> Any:
    if isinstance(node, dict):
        return {key: _filled(value, values) for key, value in node.items()}
    if isinstance(node, list):
        return [_filled(item, values) for item in node]
    if isinstance(node, str) and "{{" in node:
        filled = _fill(node, values)
        return node if filled is None else filled
    return node


def _parameters(found: _Found, generator: Any, outside: list[str]) -> list[dict[str, str]]:
    """The parameter sets a generator yields, flattened to `key.sub` strings (goTemplate's
    `{{.key.sub}}` and fasttemplate's `{{key.sub}}` both look them up). A generator whose
    parameters are not in the repo (clusters, SCM providers, pull requests, plugins) is
    named in `outside` and yields one empty set."""
    if not isinstance(generator, dict):
        return []
    repo = found.repo
    if isinstance(generator.get("list"), dict):
        elements = generator["list"].get("elements") or []
        if not elements and "elementsYaml" in generator["list"]:
            outside.append("list (elementsYaml)")
            return [{}]
        return [_flat(element) for element in elements if isinstance(element, dict)]
    git = generator.get("git")
    if isinstance(git, dict) and isinstance(git.get("directories"), list):
        included, excluded = _git_directories(repo, git["directories"])
        found.passed_over |= excluded
        return [_path_values(path) for path in included]
    if isinstance(git, dict) and isinstance(git.get("files"), list):
        return _git_files(repo, git["files"])
    for combine in ("matrix", "merge"):
        children = dig(generator, combine, "generators")
        if isinstance(children, list) and children:
            sets = [_parameters(found, child, outside) for child in children]
            if combine == "matrix":
                return [_merged(*combination) for combination in itertools.product(*sets)]
            keys = dig(generator, combine, "mergeKeys") or []
            return _merge(sets, [str(k) for k in keys])
    outside.append(", ".join(sorted(str(key) for key in generator if key != "selector")))
    return [{}]


def _git_directories(repo: Path, entries: list[Any]) -> tuple[list[str], set[str]]:
    """Directories matching an include entry and no `exclude: true` entry, whatever their
    order (as Argo CD reads them); and the excluded ones, which are not environments."""
    included: dict[str, None] = {}
    excluded: set[str] = set()
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("path"), str):
            continue
        matches = {
            match.relative_to(repo).as_posix()
            for match in _glob(repo, entry["path"])
            if match.is_dir() and not set(match.relative_to(repo).parts) & SKIPPED_DIRS
        }
        if entry.get("exclude") is True or str(entry.get("exclude")).lower() == "true":
            excluded |= matches
        else:
            included.update(dict.fromkeys(sorted(matches)))
    return [path for path in included if path not in excluded], excluded


def _git_files(repo: Path, entries: list[Any]) -> list[dict[str, str]]:
    """The git-files generator: each matching YAML or JSON file's keys, plus its path."""
    found = []
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("path"), str):
            continue
        for match in _glob(repo, entry["path"]):
            relative = match.relative_to(repo).as_posix()
            if not match.is_file():
                continue
            try:
                documents = parse_positioned(read_text(repo, relative), relative)
            except InputError:
                continue  # not a parameter file Argo CD could read either
            for document in documents:
                if isinstance(document, dict):
                    directory = os.path.dirname(relative) or "."
                    found.append(
                        _flat(document) | _path_values(directory) | {"path.filename": match.name}
                    )
    return found


def _glob(repo: Path, pattern: str) -> list[Path]:
    """What a generator's path pattern matches in the repo; nothing for a pattern that
    could only match outside it (absolute, `..`)."""
    relative = pattern.strip().removeprefix("./")
    if not relative or relative.startswith("/") or ".." in relative.split("/"):
        return []
    try:
        return sorted(repo.glob(relative))
    except (ValueError, NotImplementedError):
        return []


def _path_values(path: str) -> dict[str, str]:
    """A git generator's path parameters, in both template styles."""
    parts = path.split("/")
    basename = parts[-1]
    values = {
        "path": path,
        "path.path": path,
        "path.basename": basename,
        "path.basenameNormalized": re.sub(r"[^a-z0-9-]", "-", basename.lower()),
    }
    values.update({f"path[{i}]": part for i, part in enumerate(parts)})
    return values


def _flat(mapping: dict[Any, Any], prefix: str = "") -> dict[str, str]:
    values: dict[str, str] = {}
    for key, value in mapping.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            values |= _flat(value, f"{name}.")
        elif value is not None and not isinstance(value, list):
            values[name] = str(value).lower() if isinstance(value, bool) else str(value)
    return values


def _merged(*sets: dict[str, str]) -> dict[str, str]:
    values: dict[str, str] = {}
    for one in sets:
        values |= one
    return values


def _merge(sets: Sequence[list[dict[str, str]]], keys: list[str]) -> list[dict[str, str]]:
    """The merge generator: the first generator's sets, each overridden by the later sets
    that agree with it on every merge key."""
    merged = []
    for base in sets[0]:
        values = dict(base)
        for later in sets[1:]:
            for other in later:
                if keys and all(other.get(k) == base.get(k) for k in keys):
                    values |= other
        merged.append(values)
    return merged


_PLACEHOLDER = re.compile(
    r"\{\{-?\s*(?:index\s+\.path\.segments\s+(?P<index>\d+)|\.?(?P<key>[\w.\[\]-]+?))\s*-?\}\}"
)


def _fill(template: Any, values: dict[str, str]) -> str | None:
    """A template's `{{key}}` or `{{.key}}` placeholders filled in; None when one is left
    that no parameter names (the value is then unknown, not the placeholder's text)."""
    if not isinstance(template, str):
        return None
    missing = False

    def value(match: re.Match[str]) -> str:
        nonlocal missing
        key = f"path[{match['index']}]" if match["index"] is not None else match["key"]
        if key not in values:
            missing = True
            return match.group(0)
        return values[key]

    filled = _PLACEHOLDER.sub(value, template)
    return None if missing or "{{" in filled else filled


def _deployment(path: str, cluster: str | None, namespace: Any, source: str) -> Deployment:
    return Deployment(
        path,
        cluster,
        namespace if isinstance(namespace, str) and namespace else None,
        source,
        clusters=(cluster,) if cluster else (),
    )


def _flux_cluster(file: str) -> str | None:
    """Flux's own layout keeps each cluster's objects under `clusters/<name>/` (what
    `flux bootstrap --path` makes), so that directory names the cluster."""
    parts = file.split("/")
    if "clusters" in parts[:-2]:
        return parts[parts.index("clusters") + 1]
    return None


def _path_in(repo: Path, path: Any) -> str | None:
    if not isinstance(path, str) or not path.strip():
        return None
    relative = os.path.normpath(path.strip().removeprefix("./")).replace(os.sep, "/")
    return relative if (repo / relative).is_dir() and not relative.startswith("..") else None


def with_declared(
    deployments: list[Deployment], declared: Iterable[DeclaredEnvironment]
) -> list[Deployment]:
    """`.rightsizer.yaml`'s `environments:` over discovery: a declared name, cluster or
    namespace replaces the discovered one for that path, and a path discovery missed is
    added (deployed by the config file, as far as the bot can tell)."""
    by_path = {deployment.path: deployment for deployment in deployments}
    for entry in declared:
        known = by_path.get(entry.path) or Deployment(entry.path, source=entry.source)
        clusters = (entry.cluster,) if entry.cluster else clusters_of(known)
        by_path[entry.path] = replace(
            known,
            name=entry.name or known.name,
            cluster=clusters[0] if clusters else None,
            clusters=clusters,
            namespace=entry.namespace or known.namespace,
        )
    return sorted(by_path.values(), key=lambda d: d.path)


def plain_directories(
    repo: Path, files: list[str], read: set[str], taken: set[str]
) -> list[Deployment]:
    """Directories of plain manifests that nothing deploys: no kustomization, no Argo CD,
    Flux or declared environment names them (`taken`), no environment reads their files
    (`read`), yet a file of theirs declares a workload. `kubectl apply -f DIR` is how such a
    directory reaches a cluster, so each is an environment named by its path.

    Files are screened by a `^kind:` look before any is parsed; Helm and Go templates, a
    chart's own files and files that do not parse are never counted."""
    charts = {_directory(file) for file in files if file.rsplit("/", 1)[-1] == "Chart.yaml"}
    found: set[str] = set()
    for file in files:
        directory = _directory(file)
        if file in read or directory in taken or directory in found:
            continue
        if _inside(directory, charts) or _has_kustomization(repo / directory):
            continue
        try:
            text = read_text(repo, file)
        except InputError:
            continue
        if not _PLAIN_KIND.search(text) or looks_like_template(text):
            continue
        try:
            documents = parse_positioned(text, file)
        except InputError:
            continue  # a file no environment can parse does not make one
        if any(isinstance(d, dict) and d.get("kind") in PLAIN_KINDS for d in documents):
            found.add(directory)
    return [Deployment(directory) for directory in sorted(found)]


def _directory(file: str) -> str:
    return file.rsplit("/", 1)[0] if "/" in file else "."


def _inside(directory: str, roots: set[str]) -> bool:
    return any(
        root == "." or directory == root or directory.startswith(f"{root}/") for root in roots
    )


def _has_kustomization(directory: Path) -> bool:
    return any((directory / name).is_file() for name in KUSTOMIZATION_NAMES)


_REVISION_HINT = re.compile(r"^\s*(targetRevision|revision|branch):", re.M)


def deploy_branches(repo: Path) -> dict[str, str]:
    """Branches a GitOps controller syncs from, each with the file that says so: Argo CD's
    `targetRevision` (Applications, ApplicationSet templates and git generators) and Flux
    `GitRepository` `spec.ref.branch`. `HEAD`, or no revision, is the repo's default branch."""
    found: dict[str, str] = {}
    for file in yaml_files(repo):
        try:
            text = read_text(repo, file)
            documents = parse_positioned(text, file) if _REVISION_HINT.search(text) else []
        except InputError:
            continue  # a broken file is reported where environments are discovered
        for document in documents:
            if isinstance(document, dict):
                for revision in _revisions(document):
                    found.setdefault(revision, file)
    return found


def _revisions(document: dict[str, Any]) -> list[str]:
    kind, api = document.get("kind"), str(document.get("apiVersion", ""))
    spec = document.get("spec") or {}
    if api.startswith("source.toolkit.fluxcd.io/") and kind == "GitRepository":
        branch = dig(spec, "ref", "branch")
        return [branch] if isinstance(branch, str) else []
    if not api.startswith("argoproj.io/"):
        return []
    if kind == "ApplicationSet":
        generators = [dig(g, "git", "revision") for g in spec.get("generators") or []]
        spec = dig(spec, "template", "spec") or {}
    elif kind == "Application":
        generators = []
    else:
        return []
    sources = [spec.get("source")] if spec.get("source") else list(spec.get("sources") or [])
    revisions = [dig(source, "targetRevision") for source in sources] + generators
    return [r if isinstance(r, str) and r.strip() else "HEAD" for r in revisions]
