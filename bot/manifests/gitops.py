"""Which directories are deployed, to which cluster and namespace, according to the repo itself.

Argo CD `Application`s (and the git-directories generator of `ApplicationSet`s) and Flux
`Kustomization`s name the paths they sync. When a repo has any, those paths are its
environments; a repo without them falls back to its top-level kustomizations.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from bot.manifests.model import Deployment
from bot.manifests.yamlio import dig, parse_positioned, read_text
from recommenders.errors import InputError

SKIPPED_DIRS = {".git", "node_modules", ".github"}
_GITOPS_KIND = re.compile(r"^kind:\s*(Application|ApplicationSet|Kustomization)\s*$", re.M)


def yaml_files(repo: Path) -> list[str]:
    found = []
    for current, dirnames, filenames in os.walk(repo):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIPPED_DIRS)
        for name in sorted(filenames):
            if name.endswith((".yaml", ".yml")):
                found.append(Path(current, name).relative_to(repo).as_posix())
    return found


def gitops_documents(
    repo: Path, files: list[str], problems: list[str]
) -> list[tuple[str, dict[str, Any]]]:
    """Every Argo CD or Flux object of the repo with its file; files are screened by text
    first, so only the few that may hold one are parsed."""
    found = []
    for file in files:
        try:
            text = read_text(repo, file)
        except InputError:
            continue  # reported by the build of any environment that reads it
        if not _GITOPS_KIND.search(text):
            continue
        try:
            documents = parse_positioned(text, file)
        except InputError as exc:
            problems.append(str(exc))
            continue
        found += [(file, document) for document in documents if isinstance(document, dict)]
    return found


def discover(documents: list[tuple[str, dict[str, Any]]], repo: Path) -> list[Deployment]:
    """Deployed directories named by GitOps objects."""
    deployments: dict[str, Deployment] = {}
    for file, document in documents:
        for deployment in _deployments(repo, document, file):
            deployments.setdefault(deployment.path, deployment)
    return sorted(deployments.values(), key=lambda d: d.path)


def _deployments(repo: Path, document: dict[str, Any], file: str) -> list[Deployment]:
    kind, api = document.get("kind"), str(document.get("apiVersion", ""))
    spec = document.get("spec") or {}
    if kind == "Application" and api.startswith("argoproj.io/"):
        destination = spec.get("destination") or {}
        cluster = destination.get("name") or destination.get("server")
        sources = [spec.get("source")] if spec.get("source") else list(spec.get("sources") or [])
        return [
            Deployment(path, cluster, destination.get("namespace"), file)
            for source in sources
            if not is_helm_source(repo, source) and (path := _path_in(repo, dig(source, "path")))
        ]
    if kind == "ApplicationSet" and api.startswith("argoproj.io/"):
        return _application_set(repo, spec, file)
    if kind == "Kustomization" and api.startswith("kustomize.toolkit.fluxcd.io/"):
        path = _path_in(repo, spec.get("path"))
        return [Deployment(path, None, spec.get("targetNamespace"), file)] if path else []
    return []


def is_helm_source(repo: Path, source: Any) -> bool:
    """An Argo CD source Helm renders: a chart from a repository, `helm:` settings, or a
    path holding a Chart.yaml (which Argo CD detects the same way)."""
    if not isinstance(source, dict):
        return False
    path = source.get("path")
    local = isinstance(path, str) and (repo / path.strip() / "Chart.yaml").is_file()
    return "chart" in source or "helm" in source or local


def _application_set(repo: Path, spec: Any, file: str) -> list[Deployment]:
    """The git-directories generator: each matching directory is one deployment."""
    template = spec.get("template") or {}
    destination = dig(template, "spec", "destination") or {}
    found = []
    for generator in spec.get("generators") or []:
        for entry in dig(generator, "git", "directories") or []:
            if entry.get("exclude"):
                continue
            for match in sorted(repo.glob(str(entry.get("path", "")))):
                if not match.is_dir():
                    continue
                path = match.relative_to(repo).as_posix()
                values = {"path": path, "path.basename": match.name}
                found.append(
                    Deployment(
                        path,
                        _fill(destination.get("name") or destination.get("server"), values),
                        _fill(destination.get("namespace"), values),
                        file,
                    )
                )
    return found


def _fill(template: Any, values: dict[str, str]) -> str | None:
    if not isinstance(template, str):
        return None
    return re.sub(
        r"\{\{\s*\.?([\w.]+)\s*\}\}", lambda m: values.get(m.group(1), m.group(0)), template
    )


def _path_in(repo: Path, path: Any) -> str | None:
    if not isinstance(path, str) or not path.strip():
        return None
    relative = os.path.normpath(path.strip().removeprefix("./")).replace(os.sep, "/")
    return relative if (repo / relative).is_dir() and not relative.startswith("..") else None


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
