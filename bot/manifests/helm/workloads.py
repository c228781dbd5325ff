"""A Helm release's workloads, each field with the values key and the file line that set it.

The chart is rendered with the release's values; its workloads are read from that render
by the same code that reads any manifest; then each field is traced to its values key
(`provenance`) and that key to the highest values layer that writes it, which is where an
edit goes. A field no key sets (hard-coded in a template) keeps no origin.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bot.manifests.helm.charts import ChartUnavailable, cached, chart_cache, in_repo
from bot.manifests.helm.provenance import Provenance, find_provenance
from bot.manifests.helm.renderer import HelmRenderer, RenderError
from bot.manifests.kustomization import HELM_RELEASE, Resource, new_resource
from bot.manifests.model import (
    Deployment,
    HelmBinding,
    Release,
    Rendered,
    Tracked,
    ValuesLayer,
    Workload,
)
from bot.manifests.objects import workloads_of
from bot.manifests.releases import layer_values, merged, tracked_value
from bot.manifests.render import field_path
from bot.manifests.yamlio import dig, parse_positioned
from recommenders.errors import InputError


def with_values(repo: Path, release: Release) -> Release:
    """The release with each layer read from the repo as it is now."""
    layers = [layer_values(repo, layer) for layer in release.layers]
    return dataclasses.replace(release, layer_values=layers, values=merged(layers))


def chart_path(repo: Path, release: Release) -> Path:
    if release.chart is not None:
        found = in_repo(repo, release.chart)
        if found is not None:
            return found
    name, _, version = release.chart_ref.rpartition(" ")[2].partition("@")
    found = cached(name, version, chart_cache())
    if found is None:
        raise ChartUnavailable(release.source, release.chart_ref)
    return found


def release_workloads(
    repo: Path, release: Release, renderer: HelmRenderer, deployment: Deployment
) -> tuple[list[Workload], Rendered]:
    """Every workload the release renders, bound to its values keys, and the render itself.
    Raises InputError (a chart not available locally, a template that fails) for the caller
    to report."""
    found, resources = _rendered(repo, release, renderer)
    workloads = workloads_of(deployment, resources)
    for workload in workloads:
        _bind(workload, release, found)
    return workloads, found.rendered


def inflated_resources(repo: Path, renderer: HelmRenderer, declared: Release) -> list[Resource]:
    """A kustomization's `helmCharts:` entry as the resolver's resources: rendered like a
    release, each tracked field's origin the values line that sets it (none for a chart
    default or a hard-coded field, which an overlay then patches like any shared value).
    The kustomization's own transformers and patches act on them afterwards."""
    release = with_values(repo, declared)
    found, resources = _rendered(repo, release, renderer)
    for resource in resources:
        resource.inflated = True
        identity = (resource.kind, resource.namespace or "", resource.name)
        for tracked, assign in _tracked_fields(resource):
            path = _steps(tracked.origin.yaml_path) if tracked.origin else None
            key = found.leaves.get((identity, path)) if path else None
            assign(tracked_value(release, key, tracked.raw) if key else Tracked(tracked.raw, None))
    return resources


def _rendered(
    repo: Path, release: Release, renderer: HelmRenderer
) -> tuple[Provenance, list[Resource]]:
    """The release rendered with its values' provenance, and the objects the resolver tracks;
    their annotations are named by the release, since the render's lines are no place."""
    chart = chart_path(repo, release)
    try:
        found = find_provenance(
            renderer, chart, _plain(release.values), release.name, release.namespace or "default"
        )
    except RenderError as exc:
        raise InputError(release.source, f"Helm cannot render {release.chart_ref}: {exc}") from exc
    resources = [
        resource
        for document in parse_positioned(found.text, release.source)
        if (resource := new_resource(document, release.source)) is not None
    ]
    for resource in resources:
        resource.annotation_sources = dict.fromkeys(resource.annotations, release.source)
    return found, resources


def _tracked_fields(resource: Resource) -> list[tuple[Tracked, Callable[[Tracked], None]]]:
    """Each value the resolver tracks on a resource, with how to put a new one in its place."""
    fields: list[tuple[Tracked, Callable[[Tracked], None]]] = []
    if resource.replicas is not None:
        fields.append((resource.replicas, lambda value: setattr(resource, "replicas", value)))
    for spec in resource.containers.values():
        for name, tracked in spec.resources.items():
            fields.append((tracked, functools.partial(spec.resources.__setitem__, name)))
    for name, tracked in resource.hpa_fields.items():
        fields.append((tracked, functools.partial(resource.hpa_fields.__setitem__, name)))
    return fields


_STEP = re.compile(r"([^.\[\]]+)|\[([^\]]+)\]")


def _steps(path: str) -> tuple[str, ...]:
    """`spec.template.spec.containers[web].resources.requests.cpu` as a rendered field's
    path: list items by name, or by index where they have none."""
    return tuple(key or item for key, item in _STEP.findall(path))


def _bind(workload: Workload, release: Release, found: Provenance) -> None:
    paths = {}
    for name, container, tracked in workload.fields():
        location = field_path(found.rendered, workload, name, container)
        key = found.leaves.get(location) if location else None
        value = tracked_value(release, key, tracked.raw) if key else Tracked(tracked.raw, None)
        if key:
            paths[(container, name)] = key
        _replace(workload, name, container, value)
    resources_paths = {}
    for spec in workload.containers:
        location = field_path(found.rendered, workload, "requests.cpu", spec.name)
        if location is None:
            continue
        object_id, path = location
        key = found.mappings.get((object_id, path[:-2]))
        if key is not None:
            resources_paths[spec.name] = key
    workload.origin_file = release.values_file or release.source
    workload.helm = HelmBinding(release, paths, resources_paths)


def _replace(workload: Workload, name: str, container: str | None, value: Tracked) -> None:
    if name == "replicas":
        workload.replicas = value
    elif name.startswith("hpa.") and workload.hpa is not None:
        workload.hpa.fields[name] = value
    elif container is not None:
        workload.container(container).resources[name] = value


def _plain(values: Any) -> Any:
    """Positioned mappings as plain JSON-able data, for the renderer."""
    if isinstance(values, dict):
        return {str(k): _plain(v) for k, v in values.items()}
    if isinstance(values, list):
        return [_plain(v) for v in values]
    return values


def flux_release(
    resource: Resource,
    environment: str,
    sources: dict[tuple[str, str], tuple[str, str | None]],
) -> Release:
    """A Flux HelmRelease as the environment's overlays leave it: its chart from a
    GitRepository (a path in this repo), a HelmRepository or an OCIRepository, and its
    `spec.values` layers (`values_from` puts the `valuesFrom` layers under them)."""
    spec = resource.helm_spec
    chart_spec = dig(spec, "chart", "spec") or {}
    chart_name = str(chart_spec.get("chart", ""))
    source = chart_spec.get("sourceRef") or dig(spec, "chartRef") or {}
    kind, name = str(source.get("kind", "")), str(source.get("name", ""))
    version = chart_spec.get("version")
    local: str | None = None
    if kind == "GitRepository":
        local = chart_name.strip().removeprefix("./")
        ref = local
    else:
        url, pinned = sources.get((kind, name), (f"{kind}/{name}", None))
        if kind == "OCIRepository":
            chart_name, version = url.rstrip("/").rsplit("/", 1)[-1], pinned
        ref = f"{url} {chart_name}@{version or ''}"
    return Release(
        environment=environment,
        name=str(spec.get("releaseName") or resource.name),
        namespace=spec.get("targetNamespace") or resource.namespace,
        chart=local,
        chart_ref=ref,
        layers=[layer for layer, _ in resource.values_layers],
        source=resource.origin_file,
        manifest=(resource.api_version, resource.original_name, resource.patch_namespace),
    )


def values_from(
    resource: Resource, found: dict[tuple[str, str], dict[str, ValuesLayer]]
) -> list[ValuesLayer]:
    """The layers `spec.valuesFrom` names, in order, from ConfigMaps and Secrets the
    environment builds from the repo; Flux merges `spec.values` over them. One the repo does
    not hold fails the release, as it fails Flux, unless it is `optional`; a `targetPath`
    entry (one value, not a values document) is refused by name, since rendering without it
    would size from values the cluster does not have."""
    layers = []
    for index, entry in enumerate(resource.helm_spec.get("valuesFrom") or []):
        where = f"{resource.origin_file}: {HELM_RELEASE} {resource.name} valuesFrom[{index}]"
        if not isinstance(entry, dict):
            raise InputError(where, "is not a mapping")
        kind, name = str(entry.get("kind", "")), str(entry.get("name", ""))
        key = str(entry.get("valuesKey") or "values.yaml")
        if entry.get("targetPath"):
            raise InputError(where, f"targetPath {entry['targetPath']!r} is not supported")
        layer = found.get((kind, name), {}).get(key)
        if layer is not None:
            layers.append(layer)
        elif not entry.get("optional"):
            raise InputError(
                where,
                f"{kind} {name} with key {key} is not in the repository (a {kind} made in the "
                "cluster, or an encrypted Secret): the release cannot be rendered as Flux does",
            )
    return layers


FLUX_SOURCE_KINDS = ("HelmRepository", "OCIRepository")


def flux_sources(
    documents: list[tuple[str, dict[str, Any]]],
) -> dict[tuple[str, str], tuple[str, str | None]]:
    """The repo's Flux HelmRepository and OCIRepository objects by kind and name: the URL,
    and for an OCI repository the tag (or semver range) it pins the chart to."""
    found = {}
    for _, document in documents:
        url = dig(document, "spec", "url")
        if document.get("kind") in FLUX_SOURCE_KINDS and isinstance(url, str):
            ref = dig(document, "spec", "ref") or {}
            version = ref.get("tag") or ref.get("semver") if isinstance(ref, dict) else None
            key = (str(document.get("kind")), str(dig(document, "metadata", "name")))
            found[key] = (url, str(version) if version else None)
    return found
