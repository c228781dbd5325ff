"""A built-in Kustomize resolver that remembers where every sizing value was written.

Kustomize renders the final objects but forgets which file and line set each field; an
editor needs exactly that. This follows `resources`, `components`, strategic-merge and JSON
6902 patches (inline or from files, current and legacy fields), `replicas`, `namespace` and
`namePrefix`/`nameSuffix` for the fields the bot sizes, and records the last writer of each.
Everything else passes through untouched. `bot.manifests.render` checks its answer against
the real kustomize.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import re2

from bot.manifests.model import (
    POD_SPEC_PATHS,
    REPLICATED_KINDS,
    ContainerSpec,
    Origin,
    Release,
    Tracked,
    ValuesLayer,
)
from bot.manifests.releases import deep_merge, kustomize_chart
from bot.manifests.yamlio import (
    YamlFile,
    dig,
    load_file,
    looks_like_template,
    parse_positioned,
    position,
)
from recommenders.errors import InputError

KUSTOMIZATION_NAMES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
WORKLOAD_KINDS = tuple(POD_SPEC_PATHS)
KUSTOMIZE_REPLICAS_KINDS = ("Deployment", "StatefulSet")
"""The kinds kustomize's `replicas:` field sets (and ReplicaSets, which nobody writes)."""
AUTOSCALER_FIELDS = {
    "HorizontalPodAutoscaler": {"hpa.minReplicas": "minReplicas", "hpa.maxReplicas": "maxReplicas"},
    "ScaledObject": {"hpa.minReplicas": "minReplicaCount", "hpa.maxReplicas": "maxReplicaCount"},
}
"""Where each autoscaler kind keeps its replica bounds; KEDA names them differently."""
HELM_RELEASE = "HelmRelease"
VALUES_SOURCE_SECTIONS = {"ConfigMap": ("data",), "Secret": ("stringData",)}
"""Where a HelmRelease's `valuesFrom` finds values text in a ConfigMap or Secret written in the
repo; a Secret's `data` is base64 (or SOPS-encrypted) and never read."""
TRACKED_KINDS = (*WORKLOAD_KINDS, *AUTOSCALER_FIELDS, HELM_RELEASE, *VALUES_SOURCE_SECTIONS)
GENERATORS = {"configMapGenerator": "ConfigMap", "secretGenerator": "Secret"}


@dataclass(frozen=True)
class Frame:
    """Maps positions inside a parsed text to positions in the file that holds it.

    An inline patch is YAML inside a literal block scalar: its line 1 is the line after the
    `patch: |-` indicator, shifted right by the block's indentation. Text that is not a literal
    block (a quoted inline patch) has no usable positions, so its values are not editable.
    """

    file: str
    line_offset: int = 0
    col_offset: int = 0
    editable: bool = True

    def tracked(self, parent: Any, key: str | int, path: str) -> Tracked:
        raw = parent[key]
        if not self.editable:
            return Tracked(raw, None)
        line, col = position(parent, key)
        return Tracked(raw, Origin(self.file, line + self.line_offset, col + self.col_offset, path))


@dataclass
class Resource:
    """A workload or autoscaler while an overlay is built; patches overwrite tracked fields."""

    kind: str
    name: str
    namespace: str | None
    api_version: str
    origin_file: str
    original_name: str
    containers: dict[str, ContainerSpec] = field(default_factory=dict)
    replicas: Tracked | None = None
    annotations: dict[str, str] = field(default_factory=dict)
    annotation_sources: dict[str, str] = field(default_factory=dict)
    """Where each annotation was last set, `file:line`: a patch's, not the base's."""
    labels: dict[str, str] = field(default_factory=dict)
    hpa_fields: dict[str, Tracked] = field(default_factory=dict)
    values_layers: list[tuple[ValuesLayer, Any]] = field(default_factory=list)
    """A Flux HelmRelease's `spec.values` from its file and each patch, in the order applied
    (empty where one writes none)."""
    helm_spec: dict[str, Any] = field(default_factory=dict)
    """A HelmRelease's `spec` keys other than `values`, as patched (chart, releaseName...)."""
    values_sources: dict[str, ValuesLayer] = field(default_factory=dict)
    """For a ConfigMap or Secret: each key a HelmRelease's `valuesFrom` may read, as a layer
    (a generator's file, editable; a manifest's YAML string, read only)."""
    target: tuple[str, str] | None = None
    """For an autoscaler: the kind and original name of the workload it scales."""
    inflated: bool = False
    """Made by a `helmCharts:` entry: since kustomize 5.8 its `namespace:` goes to Helm as
    the release namespace and leaves the rendered objects as they are (kustomize#6058)."""
    patch_namespace: str | None = None
    """Its namespace when the environment's own patches apply: a new patch must name it."""

    def answers_to(self, pattern: re2._Regexp) -> bool:
        """Patch targets may use the name before or after a prefix/suffix (regex allowed)."""
        return any(pattern.fullmatch(candidate) for candidate in (self.name, self.original_name))


Inflate = Callable[[Release], list["Resource"]]
"""Renders a `helmCharts:` entry into resources with values provenance; the resolver is
handed one (`bot.manifests.helm.workloads.inflated_resources`) rather than rendering Helm."""


class Resolver:
    """Builds kustomization directories of one repo, parsing each file once per run."""

    def __init__(self, repo: Path, inflate: Inflate | None = None) -> None:
        self.repo = repo
        self.inflate = inflate
        self.inflated: set[str] = set()
        """Charts a `helmCharts:` entry reads: a kustomization's, never releases alone."""
        self._files: dict[str, YamlFile] = {}
        self._inline_patches: dict[tuple[str, str], list[Any]] = {}

    def file(self, relative: str) -> YamlFile:
        if relative not in self._files:
            self._files[relative] = load_file(self.repo, relative)
        return self._files[relative]

    def documents(self, text: str, relative: str) -> list[Any]:
        """`relative`'s documents from its `text`, already read, kept for `file` to hand out
        (a template is parsed but not kept: `file` refuses it by name)."""
        if relative in self._files:
            return self._files[relative].documents
        documents = parse_positioned(text, relative)
        if not looks_like_template(text):
            self._files[relative] = YamlFile(relative, text, documents)
        return documents

    def kustomization_file(self, directory: str) -> str | None:
        for name in KUSTOMIZATION_NAMES:
            if (self.repo / directory / name).is_file():
                return normalise(directory, name)
        return None

    def kustomization(self, directory: str) -> tuple[str, dict[str, Any]]:
        file = self.kustomization_file(directory)
        if file is None:
            raise InputError(directory, "no kustomization.yaml in this directory")
        documents = self.file(file).documents
        if len(documents) != 1 or not isinstance(documents[0], dict):
            raise InputError(file, "a kustomization must be a single YAML mapping")
        return file, documents[0]

    def build(self, directory: str, used: set[str]) -> list[Resource]:
        """The tracked resources `directory` produces; `used` collects every file it read."""
        if self.kustomization_file(directory) is None:
            return self._plain_directory(directory, used)
        return self._build(directory, used, stack=(), into=None)

    def _plain_directory(self, directory: str, used: set[str]) -> list[Resource]:
        """A directory of plain manifests, as Argo CD deploys one without Kustomize."""
        resources = []
        for path in sorted((self.repo / directory).iterdir()):
            if path.suffix in (".yaml", ".yml") and path.is_file():
                resources.extend(self._resources_in(normalise(directory, path.name), used))
        return resources

    def _resources_in(self, file: str, used: set[str]) -> list[Resource]:
        used.add(file)
        found = []
        for document in self.file(file).documents:
            resource = new_resource(document, file)
            if resource is not None:
                found.append(resource)
        return found

    def _build(
        self, directory: str, used: set[str], stack: tuple[str, ...], into: list[Resource] | None
    ) -> list[Resource]:
        """Resources, then components (which act on what the parent has so far), then this
        kustomization's own transformers, in kustomize's order: patches, namespace, prefix and
        suffix, legacy JSON 6902 patches, replicas."""
        if directory in stack:
            raise InputError(directory, "kustomization includes itself: " + " -> ".join(stack))
        file, kustomization = self.kustomization(directory)
        used.add(file)
        resources: list[Resource] = into if into is not None else []
        for entry in _list(kustomization, "resources"):
            relative = self._entry(file, directory, entry)
            if (self.repo / relative).is_dir():
                resources.extend(self._build(relative, used, (*stack, directory), None))
            else:
                resources.extend(self._resources_in(relative, used))
        for index in range(len(_list(kustomization, "helmCharts"))):
            release = kustomize_chart(self.repo, directory, file, kustomization, index)
            if self.inflate is None:
                raise InputError(file, "helmCharts need the Helm renderer")
            used |= {layer.file for layer in release.layers}
            self.inflated |= {release.chart} if release.chart else set()
            resources.extend(self.inflate(release))
        self._generate(directory, file, kustomization, resources, used)
        for entry in _list(kustomization, "components"):
            relative = self._entry(file, directory, entry)
            self._build(relative, used, (*stack, directory), resources)
        if not stack:
            for resource in resources:
                resource.patch_namespace = resource.namespace
        patches = _list(kustomization, "patches") + [
            {"path": item} if "\n" not in item else {"patch": item}
            for item in _list(kustomization, "patchesStrategicMerge")
            if isinstance(item, str)
        ]
        self._apply_patches(directory, file, patches, resources, used)
        _rename(resources, kustomization, file)
        legacy = _list(kustomization, "patchesJson6902")
        self._apply_patches(directory, file, legacy, resources, used)
        for item in _list(kustomization, "replicas"):
            for resource in resources:
                if resource.kind in KUSTOMIZE_REPLICAS_KINDS and resource.answers_to(
                    name_pattern(str(item.get("name")), file)
                ):
                    resource.replicas = Frame(file).tracked(item, "count", "replicas")
        return resources

    def _generate(
        self,
        directory: str,
        file: str,
        kustomization: dict[str, Any],
        resources: list[Resource],
        used: set[str],
    ) -> None:
        """ConfigMaps and Secrets a generator makes from files, for `valuesFrom`: each file
        is a values file of its own (`files: [values.yaml]`, `[key=path]`). An overlay's
        `behavior: merge` adds keys to the base's generator, `replace` starts again."""
        for section, kind in GENERATORS.items():
            for index, entry in enumerate(_list(kustomization, section)):
                name = entry.get("name") if isinstance(entry, dict) else None
                if not isinstance(name, str):
                    raise InputError(file, f"{section} entry {index + 1} has no name")
                sources = {}
                for item in _list(entry, "files"):
                    key, _, path = str(item).rpartition("=")
                    relative = self._entry(file, directory, path)
                    used.add(relative)
                    sources[key or os.path.basename(relative)] = ValuesLayer(
                        relative, read_through=(kind, name)
                    )
                existing = next(
                    (r for r in resources if r.kind == kind and r.original_name == name), None
                )
                if existing is not None and entry.get("behavior") in ("merge", "replace"):
                    if entry.get("behavior") == "replace":
                        existing.values_sources.clear()
                    existing.values_sources.update(sources)
                    continue
                resource = Resource(kind, name, None, "v1", file, name, values_sources=sources)
                resources.append(resource)

    def _entry(self, file: str, directory: str, entry: Any) -> str:
        if not isinstance(entry, str):
            raise InputError(file, f"resource entry {entry!r} is not a path")
        if "://" in entry or entry.startswith(("github.com/", "git@", "ssh:")):
            raise InputError(file, f"remote resource {entry!r} is not supported")
        relative = normalise(directory, entry)
        if relative.startswith("../"):
            raise InputError(file, f"{entry!r} points outside the repository")
        return relative

    def _apply_patches(
        self,
        directory: str,
        kustomization_file: str,
        entries: list[Any],
        resources: list[Resource],
        used: set[str],
    ) -> None:
        for index, entry in enumerate(entries):
            if not isinstance(entry, dict):
                raise InputError(kustomization_file, f"patch {index + 1} is not a mapping")
            if "path" in entry:
                file = self._entry(kustomization_file, directory, entry["path"])
                used.add(file)
                documents, frame = self.file(file).documents, Frame(file)
            elif "patch" in entry:
                frame = self._inline_frame(kustomization_file, entry)
                documents = self._inline(kustomization_file, str(entry["patch"]))
            else:
                raise InputError(kustomization_file, f"patch {index + 1} has no path or patch")
            target = entry.get("target")
            if len(documents) == 1 and isinstance(documents[0], list):
                for resource in _targets(resources, target, None, kustomization_file):
                    _apply_json6902(resource, documents[0], frame)
                continue
            for document in documents:
                if not isinstance(document, dict):
                    continue
                for resource in _targets(resources, target, document, kustomization_file):
                    if document.get("$patch") == "delete":
                        resources.remove(resource)
                    else:
                        merge(resource, document, frame)

    def _inline(self, kustomization_file: str, text: str) -> list[Any]:
        key = (kustomization_file, text)
        if key not in self._inline_patches:
            self._inline_patches[key] = parse_positioned(text, kustomization_file)
        return self._inline_patches[key]

    def _inline_frame(self, kustomization_file: str, entry: dict[str, Any]) -> Frame:
        if getattr(entry["patch"], "style", None) != "|":
            return Frame(kustomization_file, editable=False)
        indicator_line, _ = position(entry, "patch")
        lines = self.file(kustomization_file).text.splitlines()
        body = next((line for line in lines[indicator_line:] if line.strip()), "")
        indent = len(body) - len(body.lstrip(" "))
        return Frame(kustomization_file, line_offset=indicator_line, col_offset=indent)


def normalise(directory: str, entry: str) -> str:
    return os.path.normpath(os.path.join(directory, entry)).replace(os.sep, "/")


def _list(mapping: dict[str, Any], key: str) -> list[Any]:
    value = mapping.get(key)
    return list(value) if isinstance(value, list) else []


def _rename(resources: list[Resource], kustomization: dict[str, Any], file: str) -> None:
    namespace = kustomization.get("namespace")
    prefix, suffix = kustomization.get("namePrefix") or "", kustomization.get("nameSuffix") or ""
    if not all(isinstance(v, str) for v in (prefix, suffix)):
        raise InputError(file, "namePrefix and nameSuffix must be strings")
    for resource in resources:
        if isinstance(namespace, str) and not resource.inflated:
            resource.namespace = namespace
        resource.name = f"{prefix}{resource.name}{suffix}"


def new_resource(document: Any, file: str) -> Resource | None:
    if not isinstance(document, dict):
        return None
    kind = document.get("kind")
    if kind not in TRACKED_KINDS:
        return None
    name = dig(document, "metadata", "name")
    if not isinstance(name, str):
        raise InputError(file, f"{kind} without metadata.name")
    resource = Resource(
        kind=kind,
        name=name,
        namespace=dig(document, "metadata", "namespace"),
        api_version=str(document.get("apiVersion", "")),
        origin_file=file,
        original_name=name,
    )
    merge(resource, document, Frame(file))
    return resource


def merge(resource: Resource, patch: dict[str, Any], frame: Frame) -> None:
    """Apply a strategic-merge document to the tracked fields (a base document is one too)."""
    for key, values in (("annotations", resource.annotations), ("labels", resource.labels)):
        found = dig(patch, "metadata", key)
        if isinstance(found, dict):
            values.update({str(k): str(v) for k, v in found.items()})
    annotations = dig(patch, "metadata", "annotations")
    for key in annotations if isinstance(annotations, dict) else ():
        _annotated_at(resource, str(key), frame.tracked(annotations, key, "metadata"), frame)
    if resource.kind in VALUES_SOURCE_SECTIONS:
        _merge_values_source(resource, patch, frame)
        return
    spec = patch.get("spec")
    if not isinstance(spec, dict):
        return
    if resource.kind == HELM_RELEASE:
        _merge_helm_release(resource, patch, spec, frame)
        return
    if resource.kind in WORKLOAD_KINDS:
        if "replicas" in spec and resource.kind in REPLICATED_KINDS:
            resource.replicas = frame.tracked(spec, "replicas", "spec.replicas")
        pod_path = POD_SPEC_PATHS[resource.kind]
        for container in dig(patch, *pod_path, "containers") or []:
            if isinstance(container, dict) and isinstance(container.get("name"), str):
                _merge_container(resource, container["name"], container, frame)
        return
    for field_name, key in AUTOSCALER_FIELDS[resource.kind].items():
        if key in spec:
            resource.hpa_fields[field_name] = frame.tracked(spec, key, f"spec.{key}")
    if "targetCPUUtilizationPercentage" in spec:
        resource.hpa_fields["hpa.cpuUtilization"] = frame.tracked(
            spec, "targetCPUUtilizationPercentage", "spec.targetCPUUtilizationPercentage"
        )
    for index, metric in enumerate(spec.get("metrics") or []):
        target = dig(metric, "resource", "target")
        if dig(metric, "resource", "name") == "cpu" and "averageUtilization" in (target or {}):
            path = f"spec.metrics[{index}].resource.target.averageUtilization"
            resource.hpa_fields["hpa.cpuUtilization"] = frame.tracked(
                target, "averageUtilization", path
            )
    for index, trigger in enumerate(spec.get("triggers") or []):
        # KEDA's cpu trigger: `metadata.value` is the target utilisation, as a string.
        metadata = dig(trigger, "metadata")
        if (
            dig(trigger, "type") == "cpu"
            and dig(trigger, "metricType") in (None, "Utilization")
            and isinstance(metadata, dict)
            and "value" in metadata
        ):
            path = f"spec.triggers[{index}].metadata.value"
            resource.hpa_fields["hpa.cpuUtilization"] = frame.tracked(metadata, "value", path)
    ref = spec.get("scaleTargetRef")
    if isinstance(ref, dict) and "name" in ref:
        resource.target = (str(ref.get("kind", "Deployment")), str(ref["name"]))


def _merge_helm_release(
    resource: Resource, patch: dict[str, Any], spec: dict[str, Any], frame: Frame
) -> None:
    """Values stay in layers, each with where it is written, so the editor can tell the
    overlay's own values from the base's; the rest of the spec is merged as kustomize merges
    a custom resource (mappings key by key)."""
    others = {key: value for key, value in spec.items() if key != "values"}
    resource.helm_spec = deep_merge(resource.helm_spec, others)
    values = spec.get("values")
    # A document without values is a layer too: an empty one, where the editor can add them.
    if values is None or isinstance(values, dict):
        name = dig(patch, "metadata", "name")
        layer = ValuesLayer(
            frame.file,
            ("spec", "values"),
            (HELM_RELEASE, (str(name),)),
            editable=frame.editable and frame.line_offset == 0 and isinstance(name, str),
        )
        resource.values_layers.append((layer, values))


def _annotated_at(resource: Resource, key: str, tracked: Tracked, frame: Frame) -> None:
    """Where an annotation was last written: its line, or the file where the text has no
    lines of its own (a quoted inline patch)."""
    resource.annotation_sources[key] = str(tracked.origin) if tracked.origin else frame.file


def _merge_values_source(resource: Resource, patch: dict[str, Any], frame: Frame) -> None:
    """Each text key of a ConfigMap or Secret, read only: its values are YAML inside a string,
    whose lines the editor cannot address."""
    name = dig(patch, "metadata", "name")
    for section in VALUES_SOURCE_SECTIONS[resource.kind]:
        data = patch.get(section)
        if not isinstance(data, dict) or not isinstance(name, str):
            continue
        for key, value in data.items():
            if isinstance(value, str):
                resource.values_sources[str(key)] = ValuesLayer(
                    frame.file,
                    (section, str(key)),
                    (resource.kind, (name,)),
                    editable=False,
                    read_through=(resource.kind, name),
                )


def _merge_container(resource: Resource, name: str, container: Any, frame: Frame) -> None:
    spec = resource.containers.setdefault(name, ContainerSpec(name))
    for item in container.get("env") or []:
        if isinstance(item, dict) and isinstance(item.get("name"), str):
            if item.get("$patch") == "delete" or "value" not in item:
                spec.env.pop(item["name"], None)
            else:
                spec.env[item["name"]] = str(item["value"])
    for key in ("command", "args"):  # lists of strings: a patch replaces them whole
        if isinstance(container.get(key), list):
            setattr(spec, key, tuple(str(token) for token in container[key]))
    for bound in ("requests", "limits"):
        values = dig(container, "resources", bound)
        if not isinstance(values, dict):
            continue
        for kind in ("cpu", "memory"):
            if kind in values:
                pod = ".".join(POD_SPEC_PATHS[resource.kind])
                path = f"{pod}.containers[{name}].resources.{bound}.{kind}"
                spec.resources[f"{bound}.{kind}"] = frame.tracked(values, kind, path)


def name_pattern(name: str, file: str) -> re2._Regexp:
    """A patch target's name as kustomize reads it: a regular expression in Go's syntax
    (RE2), matched whole. RE2 runs in time linear in the name, so a pattern written to
    backtrack forever (`(a+)+$`) costs no more than any other; one RE2 cannot read is an
    error naming the kustomization, as it is for kustomize."""
    try:
        return _compiled(name)
    except re2.error as exc:
        raise InputError(
            file, f"target name {name!r} is not a regular expression kustomize accepts: {exc}"
        ) from exc


@functools.lru_cache(maxsize=1024)
def _compiled(name: str) -> re2._Regexp:
    return re2.compile(name)


def _targets(
    resources: list[Resource], target: Any, document: dict[str, Any] | None, file: str
) -> list[Resource]:
    """Resources a patch applies to: by its `target` selector, else by the patch's kind and name."""
    if isinstance(target, dict):
        kind, name, namespace = target.get("kind"), target.get("name"), target.get("namespace")
    elif document is not None:
        kind, name = document.get("kind"), dig(document, "metadata", "name")
        namespace = dig(document, "metadata", "namespace")
    else:
        return []
    pattern = None if name is None else name_pattern(str(name), file)
    return [
        resource
        for resource in resources
        if (kind is None or resource.kind == kind)
        and (pattern is None or resource.answers_to(pattern))
        and (namespace is None or resource.namespace in (None, namespace))
    ]


def _apply_json6902(resource: Resource, operations: list[Any], frame: Frame) -> None:
    for operation in operations:
        if not isinstance(operation, dict) or operation.get("op") not in ("add", "replace"):
            continue
        path = [p.replace("~1", "/").replace("~0", "~") for p in str(operation["path"]).split("/")]
        segments = path[1:]
        pod_path = list(POD_SPEC_PATHS.get(resource.kind, ()))
        if segments == ["spec", "replicas"] and resource.kind in REPLICATED_KINDS:
            resource.replicas = frame.tracked(operation, "value", "spec.replicas")
        elif resource.kind in AUTOSCALER_FIELDS and len(segments) == 2 and segments[0] == "spec":
            for field_name, key in AUTOSCALER_FIELDS[resource.kind].items():
                if segments[1] == key:
                    resource.hpa_fields[field_name] = frame.tracked(operation, "value", key)
        elif pod_path and segments[: len(pod_path) + 1] == [*pod_path, "containers"]:
            _json6902_container(resource, segments[len(pod_path) + 1 :], operation, frame)
        elif segments[:2] == ["metadata", "annotations"] and len(segments) == 3:
            resource.annotations[segments[2]] = str(operation.get("value"))
            tracked = frame.tracked(operation, "value", "metadata")
            _annotated_at(resource, segments[2], tracked, frame)


def _json6902_container(
    resource: Resource, segments: list[str], operation: dict[str, Any], frame: Frame
) -> None:
    """`/spec/template/spec/containers/<i>/resources[/<bound>[/<kind>]]`, wrapped for `merge`."""
    names = list(resource.containers)
    if len(segments) < 2 or not segments[0].isdigit() or int(segments[0]) >= len(names):
        return
    if segments[1] != "resources":
        return
    name = names[int(segments[0])]
    if len(segments) == 4:
        pod = ".".join(POD_SPEC_PATHS[resource.kind])
        path = f"{pod}.containers[{name}].resources.{segments[2]}.{segments[3]}"
        spec = resource.containers[name]
        spec.resources[f"{segments[2]}.{segments[3]}"] = frame.tracked(operation, "value", path)
        return
    wrapped: Any = operation.get("value")
    for key in reversed(segments[2:]):
        wrapped = {key: wrapped}
    _merge_container(resource, name, {"resources": wrapped}, frame)
