"""Find workloads per environment in a Kustomize repo and where each effective value is written.

This is a built-in resolver, not a renderer: it follows `resources`, `components`, strategic-merge
and JSON 6902 `patches`, `replicas` and `namespace`, tracking for every value that the bot may
change the file and line that set it last. Fields it does not track pass through untouched, which
is all an editor needs.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import LiteralScalarString

from bot.manifests.model import ContainerSpec, HpaSpec, Inventory, Origin, Tracked, Workload
from bot.manifests.yamlio import dig, load_file, parse_documents, position, read_text
from recommenders.errors import InputError

KUSTOMIZATION_NAMES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
WORKLOAD_KINDS = ("Deployment", "StatefulSet")
HPA_KIND = "HorizontalPodAutoscaler"
SKIPPED_DIRS = {".git", "node_modules", ".github"}


@dataclass(frozen=True)
class _Frame:
    """Maps positions inside a parsed text to positions in the file that holds it.

    An inline patch is YAML inside a literal block scalar: its line 1 is the line after the
    `patch: |-` indicator, shifted right by the block's indentation. Text that is not a literal
    block (a quoted inline patch) has no usable positions, so its values are not editable.
    """

    file: str
    line_offset: int = 0
    col_offset: int = 0
    editable: bool = True

    def tracked(self, parent: CommentedMap | CommentedSeq, key: str | int, path: str) -> Tracked:
        raw = parent[key]
        if not self.editable:
            return Tracked(raw, None)
        line, col = position(parent, key)
        return Tracked(raw, Origin(self.file, line + self.line_offset, col + self.col_offset, path))


@dataclass
class _Resource:
    """A workload or HPA while an overlay is being built; patches overwrite its tracked fields."""

    kind: str
    name: str
    namespace: str | None
    api_version: str
    origin_file: str
    containers: dict[str, ContainerSpec] = field(default_factory=dict)
    replicas: Tracked | None = None
    annotations: dict[str, str] = field(default_factory=dict)
    hpa_fields: dict[str, Tracked] = field(default_factory=dict)
    target: tuple[str, str] | None = None


def build_inventory(repo: Path) -> Inventory:
    """Every workload of every deployed overlay (a kustomization no other one includes)."""
    directories = _kustomization_dirs(repo)
    included: set[str] = set()
    for directory in directories:
        try:
            kustomization = _load_kustomization(repo, directory)
        except InputError:
            continue  # reported when the directory is built as a root, if it is one
        for entry in _list(kustomization, "resources") + _list(kustomization, "components"):
            if isinstance(entry, str) and (repo / directory / entry).is_dir():
                included.add(_normalise(directory, entry))
    workloads: list[Workload] = []
    file_users: dict[str, set[str]] = {}
    problems: list[str] = []
    for root in sorted(set(directories) - included):
        used: set[str] = set()
        try:
            resources = _build(repo, root, used, stack=())
        except InputError as exc:
            problems.append(f"{exc} (overlay {root} skipped)")
            continue
        found = _workloads(root, resources)
        if not found:
            continue
        workloads.extend(found)
        for file in used:
            file_users.setdefault(file, set()).add(root)
    return Inventory(workloads, file_users, problems)


def _kustomization_dirs(repo: Path) -> list[str]:
    found = []
    for current, dirnames, filenames in os.walk(repo):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIPPED_DIRS)
        if any(name in filenames for name in KUSTOMIZATION_NAMES):
            found.append(Path(current).relative_to(repo).as_posix())
    return found


def _normalise(directory: str, entry: str) -> str:
    return os.path.normpath(os.path.join(directory, entry)).replace(os.sep, "/")


def _kustomization_file(repo: Path, directory: str) -> str:
    for name in KUSTOMIZATION_NAMES:
        if (repo / directory / name).is_file():
            return _normalise(directory, name)
    raise InputError(directory, "no kustomization.yaml in this directory")


def _load_kustomization(repo: Path, directory: str) -> CommentedMap:
    file = _kustomization_file(repo, directory)
    documents = load_file(repo, file).documents
    if len(documents) != 1 or not isinstance(documents[0], CommentedMap):
        raise InputError(file, "a kustomization must be a single YAML mapping")
    return documents[0]


def _list(mapping: CommentedMap, key: str) -> list[Any]:
    value = mapping.get(key)
    return list(value) if isinstance(value, CommentedSeq) else []


def _build(repo: Path, directory: str, used: set[str], stack: tuple[str, ...]) -> list[_Resource]:
    if directory in stack:
        raise InputError(directory, "kustomization includes itself: " + " -> ".join(stack))
    kustomization_file = _kustomization_file(repo, directory)
    kustomization = _load_kustomization(repo, directory)
    used.add(kustomization_file)
    resources: list[_Resource] = []
    for entry in _list(kustomization, "resources") + _list(kustomization, "components"):
        if not isinstance(entry, str):
            continue
        if "://" in entry or entry.startswith(("github.com/", "git@")):
            raise InputError(kustomization_file, f"remote resource {entry!r} is not supported")
        relative = _normalise(directory, entry)
        if (repo / relative).is_dir():
            resources.extend(_build(repo, relative, used, (*stack, directory)))
        else:
            used.add(relative)
            for document in load_file(repo, relative).documents:
                resource = _new_resource(document, relative)
                if resource is not None:
                    resources.append(resource)
    _apply_patches(repo, directory, kustomization_file, kustomization, resources, used)
    for item in _list(kustomization, "replicas"):
        for resource in resources:
            if resource.kind in WORKLOAD_KINDS and item.get("name") == resource.name:
                resource.replicas = _Frame(kustomization_file).tracked(item, "count", "replicas")
    namespace = kustomization.get("namespace")
    if isinstance(namespace, str):
        for resource in resources:
            resource.namespace = namespace
    return resources


def _new_resource(document: Any, file: str) -> _Resource | None:
    if not isinstance(document, CommentedMap):
        return None
    kind = document.get("kind")
    if kind not in (*WORKLOAD_KINDS, HPA_KIND):
        return None
    name = dig(document, "metadata", "name")
    if not isinstance(name, str):
        raise InputError(file, f"{kind} without metadata.name")
    resource = _Resource(
        kind=kind,
        name=name,
        namespace=dig(document, "metadata", "namespace"),
        api_version=str(document.get("apiVersion", "")),
        origin_file=file,
    )
    _merge(resource, document, _Frame(file))
    return resource


def _merge(resource: _Resource, patch: CommentedMap, frame: _Frame) -> None:
    """Apply a strategic-merge document to the tracked fields (a base document is one too)."""
    annotations = dig(patch, "metadata", "annotations")
    if isinstance(annotations, CommentedMap):
        resource.annotations.update({str(k): str(v) for k, v in annotations.items()})
    spec = patch.get("spec")
    if not isinstance(spec, CommentedMap):
        return
    if resource.kind in WORKLOAD_KINDS:
        if "replicas" in spec:
            resource.replicas = frame.tracked(spec, "replicas", "spec.replicas")
        for container in dig(spec, "template", "spec", "containers") or []:
            if isinstance(container, CommentedMap) and isinstance(container.get("name"), str):
                _merge_container(resource, container["name"], container, frame)
        return
    for key in ("minReplicas", "maxReplicas"):
        if key in spec:
            resource.hpa_fields[f"hpa.{key}"] = frame.tracked(spec, key, f"spec.{key}")
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
    ref = spec.get("scaleTargetRef")
    if isinstance(ref, CommentedMap) and "name" in ref:
        resource.target = (str(ref.get("kind", "Deployment")), str(ref["name"]))


def _merge_container(resource: _Resource, name: str, container: Any, frame: _Frame) -> None:
    spec = resource.containers.setdefault(name, ContainerSpec(name))
    for bound in ("requests", "limits"):
        values = dig(container, "resources", bound)
        if not isinstance(values, CommentedMap):
            continue
        for kind in ("cpu", "memory"):
            if kind in values:
                path = f"spec.template.spec.containers[{name}].resources.{bound}.{kind}"
                spec.resources[f"{bound}.{kind}"] = frame.tracked(values, kind, path)


def _apply_patches(
    repo: Path,
    directory: str,
    kustomization_file: str,
    kustomization: CommentedMap,
    resources: list[_Resource],
    used: set[str],
) -> None:
    entries: list[Any] = _list(kustomization, "patches") + _list(kustomization, "patchesJson6902")
    entries += [
        {"path": item} if isinstance(item, str) and "\n" not in item else {"patch": item}
        for item in _list(kustomization, "patchesStrategicMerge")
    ]
    for index, entry in enumerate(entries):
        if "path" in entry:
            file = _normalise(directory, str(entry["path"]))
            used.add(file)
            text, frame = read_text(repo, file), _Frame(file)
        elif "patch" in entry:
            text, frame = str(entry["patch"]), _inline_frame(repo, kustomization_file, entry)
        else:
            raise InputError(kustomization_file, f"patch {index + 1} has neither path nor patch")
        documents = parse_documents(text, frame.file)
        target = entry.get("target") if isinstance(entry, CommentedMap) else None
        if len(documents) == 1 and isinstance(documents[0], CommentedSeq):
            for resource in _targets(resources, target, None):
                _apply_json6902(resource, documents[0], frame)
            continue
        for document in documents:
            if isinstance(document, CommentedMap):
                for resource in _targets(resources, target, document):
                    _merge(resource, document, frame)


def _inline_frame(repo: Path, kustomization_file: str, entry: CommentedMap) -> _Frame:
    if not isinstance(entry["patch"], LiteralScalarString):
        return _Frame(kustomization_file, editable=False)
    indicator_line, _ = position(entry, "patch")
    lines = read_text(repo, kustomization_file).splitlines()
    body = next((line for line in lines[indicator_line:] if line.strip()), "")
    indent = len(body) - len(body.lstrip(" "))
    return _Frame(kustomization_file, line_offset=indicator_line, col_offset=indent)


def _targets(
    resources: list[_Resource], target: Any, document: CommentedMap | None
) -> list[_Resource]:
    """Resources a patch applies to: by its `target` selector, else by the patch's kind and name."""
    if isinstance(target, CommentedMap):
        kind, name = target.get("kind"), target.get("name")
    elif document is not None:
        kind, name = document.get("kind"), dig(document, "metadata", "name")
    else:
        return []
    return [
        resource
        for resource in resources
        if (kind is None or resource.kind == kind)
        and (name is None or re.fullmatch(str(name), resource.name))
    ]


def _apply_json6902(resource: _Resource, operations: CommentedSeq, frame: _Frame) -> None:
    for operation in operations:
        if not isinstance(operation, CommentedMap) or operation.get("op") not in ("add", "replace"):
            continue
        path = [p.replace("~1", "/").replace("~0", "~") for p in str(operation["path"]).split("/")]
        segments = path[1:]
        value = operation.get("value")
        if segments == ["spec", "replicas"] and resource.kind in WORKLOAD_KINDS:
            resource.replicas = frame.tracked(operation, "value", "spec.replicas")
        elif segments[:1] == ["spec"] and len(segments) == 2 and resource.kind == HPA_KIND:
            if segments[1] in ("minReplicas", "maxReplicas"):
                field_name = f"hpa.{segments[1]}"
                resource.hpa_fields[field_name] = frame.tracked(operation, "value", field_name)
        elif segments[:4] == ["spec", "template", "spec", "containers"] and len(segments) > 5:
            _json6902_container(resource, segments[4:], operation, value, frame)
        elif segments[:2] == ["metadata", "annotations"] and len(segments) == 3:
            resource.annotations[segments[2]] = str(value)


def _json6902_container(
    resource: _Resource, segments: list[str], operation: CommentedMap, value: Any, frame: _Frame
) -> None:
    """`/spec/template/spec/containers/<i>/resources[/<bound>[/<kind>]]`, wrapped for `_merge`."""
    names = list(resource.containers)
    if not segments[0].isdigit() or int(segments[0]) >= len(names) or segments[1] != "resources":
        return
    name = names[int(segments[0])]
    if len(segments) == 4:
        path = f"spec.template.spec.containers[{name}].resources.{segments[2]}.{segments[3]}"
        spec = resource.containers[name]
        spec.resources[f"{segments[2]}.{segments[3]}"] = frame.tracked(operation, "value", path)
        return
    wrapped: Any = value
    for key in reversed(segments[2:]):
        wrapped = CommentedMap({key: wrapped})
    _merge_container(resource, name, CommentedMap({"resources": wrapped}), frame)


def _workloads(overlay: str, resources: list[_Resource]) -> list[Workload]:
    parts = overlay.split("/")
    environment = parts[parts.index("overlays") + 1] if "overlays" in parts[:-1] else parts[-1]
    hpas = {
        (r.namespace, r.target): r for r in resources if r.kind == HPA_KIND and r.target is not None
    }
    workloads = []
    for resource in resources:
        if resource.kind not in WORKLOAD_KINDS:
            continue
        hpa = hpas.get((resource.namespace, (resource.kind, resource.name)))
        workloads.append(
            Workload(
                environment=environment,
                overlay=overlay,
                kind=resource.kind,
                name=resource.name,
                namespace=resource.namespace or "default",
                containers=list(resource.containers.values()),
                replicas=resource.replicas,
                hpa=None
                if hpa is None
                else HpaSpec(
                    name=hpa.name,
                    api_version=hpa.api_version,
                    fields=hpa.hpa_fields,
                    annotations=hpa.annotations,
                    origin_file=hpa.origin_file,
                ),
                annotations=resource.annotations,
                origin_file=resource.origin_file,
            )
        )
    return workloads
