"""Minimal-diff edits: change the scalar that sets a value, or override it in the overlay.

Dumping a whole document with ruamel.yaml loses bytes (comments before `---`, `~`, trailing
spaces, CRLF, a missing final newline), so existing files are edited as text: only the span of
the one scalar is replaced, at the position ruamel.yaml reported. Files the bot creates itself
(its overlay patches) are the only ones it dumps whole.
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from bot.manifests.kustomization import AUTOSCALER_FIELDS, HELM_RELEASE, KUSTOMIZATION_NAMES
from bot.manifests.model import Inventory, ValuesPath, Workload
from bot.manifests.names import KUBERNETES_NAME
from bot.manifests.releases import setting_layer
from bot.manifests.yamlio import (
    dig,
    parse_documents,
    parse_positioned,
    position,
    read_if_present,
)
from bot.manifests.yamltext import (
    Item,
    Raw,
    Step,
    insert_lines,
    line_after,
    replace_scalar,
    set_path,
)
from recommenders.errors import InputError


@dataclass(frozen=True)
class ValueEdit:
    """Set `field` (of `container`, for resources) of one workload in one environment."""

    workload: Workload
    field: str
    container: str | None
    new: Raw


@dataclass(frozen=True)
class FileChange:
    path: str
    before: str | None
    after: str


def _patch_target(edit: ValueEdit) -> tuple[str, str, str]:
    """Kind, name and apiVersion of the object a field lives in: the workload or its HPA."""
    workload = edit.workload
    if edit.field.startswith("hpa.") and workload.hpa is not None:
        return workload.hpa.kind, workload.hpa.name, workload.hpa.api_version
    return workload.kind, workload.original_name or workload.name, workload.api_version


def overlay_patch_name(edit: ValueEdit) -> str:
    """The patch file the bot owns in an overlay, one per object, named so humans know whose."""
    kind, name, _ = _patch_target(edit)
    return patch_file(edit.workload.overlay, kind, name)


def patch_file(overlay: str, kind: str, name: str) -> str:
    """`<overlay>/rightsizer-<kind>-<name>.yaml`, for a name Kubernetes would accept: nothing
    else may become part of a file name the bot writes, since the name comes from the
    repository."""
    if not KUBERNETES_NAME.fullmatch(name) or not kind.isalnum():
        raise InputError(overlay, f"{kind} {name!r} is not a Kubernetes object name")
    return f"{overlay}/rightsizer-{kind.lower()}-{name}.yaml"


def plan_file_changes(inventory: Inventory, edits: list[ValueEdit], repo: Path) -> list[FileChange]:
    """The new text of every file of `repo` the edits touch.

    A value written in a file that only this environment builds from is changed in place. One
    inherited from a file shared with other environments is overridden by a patch in the
    overlay, so that no other environment changes.
    """
    drafts = Drafts(repo)
    current, texts = drafts.current, drafts.texts
    overrides, additions, in_place = [], [], []
    for edit in edits:
        if edit.workload.helm is not None:
            _set_value(inventory, edit, current, texts)
            continue
        tracked = edit.workload.tracked(edit.field, edit.container)
        if tracked is None:
            additions.append(edit)
            continue
        origin = tracked.origin
        if origin is None or inventory.file_users.get(origin.file) != {edit.workload.overlay}:
            overrides.append(edit)
            continue
        in_place.append((origin, edit.new))
    # Right to left, bottom to top: a value written longer or shorter than the one it
    # replaces (`1` -> `0.7`) moves what follows it on its line, as in a flow mapping
    # `limits: {cpu: "1", memory: 1Gi}`, and only the positions before it stay true.
    for origin, new in sorted(in_place, key=lambda e: (e[0].line, e[0].col), reverse=True):
        text = current(origin.file)
        if text is None:
            raise InputError(origin.file, "disappeared while planning edits")
        texts[origin.file] = replace_scalar(text, origin, new)
    # Additions and overrides insert lines; in-place edits, done first, used the original line
    # numbers, and additions find their object by kind and name, not by line.
    for edit in additions:
        if not _add_in_place(inventory, edit, current, texts):
            overrides.append(edit)
    for edit in overrides:
        _override_in_overlay(edit, current, texts)
    return drafts.changes()


@dataclass
class Drafts:
    """The files a set of edits writes, each read once from the repository and then seen as
    the edits before left it, so that two edits of one file both land."""

    repo: Path
    texts: dict[str, str] = field(default_factory=dict)
    originals: dict[str, str | None] = field(default_factory=dict)

    def current(self, path: str) -> str | None:
        if path not in self.originals:
            self.originals[path] = read_if_present(self.repo, path)
        return self.texts.get(path, self.originals[path])

    def changes(self) -> list[FileChange]:
        """Every file whose text changed, by path."""
        for path in self.texts:  # every path came from repository content: none may leave it
            if os.path.isabs(path) or os.path.normpath(path).split(os.sep)[0] == "..":
                raise InputError(path, "would be written outside the repository")
            if path not in self.originals:  # written without being read: a new file, or not
                self.originals[path] = read_if_present(self.repo, path)
        return [
            FileChange(path, self.originals[path], text)
            for path, text in sorted(self.texts.items())
            if text != self.originals[path]
        ]


def _set_value(
    inventory: Inventory,
    edit: ValueEdit,
    current: Callable[[str], str | None],
    texts: dict[str, str],
) -> None:
    """A Helm workload's field is a values key: changed where the highest layer that writes
    it is this environment's own, else written into this environment's own values (a values
    file, or a HelmRelease's or Application's inline values) in the file's style."""
    workload = edit.workload
    assert workload.helm is not None
    release, key = workload.helm.release, values_key(edit)
    own = [
        index
        for index, layer in enumerate(release.layers)
        if layer.editable and inventory.file_users.get(layer.file) == {workload.environment_id}
    ]
    found = setting_layer(release, key)
    setter = -1 if found is None else found
    target = setter if setter in own else max(own, default=-1)
    if (target < 0 or target < setter) and release.manifest is not None:
        _patch_release_values(edit, key, release.manifest, current, texts)
        return
    if setter > target and not release.layers[setter].editable:
        layer = release.layers[setter]
        raise InputError(
            layer.file,
            f"{'.'.join(map(str, key))} of {workload.ref} is set in YAML text inside "
            f"{'.'.join(map(str, layer.prefix))}, which the bot does not edit; move it to a "
            "values file or to inline values to let it",
        )
    if target < 0 or target < setter:
        where = release.layers[setter].file if setter >= 0 else release.source
        raise InputError(
            where,
            f"{'.'.join(map(str, key))} of {workload.ref} is set in values other environments "
            "share, and this environment has no values of its own above them to override it",
        )
    layer = release.layers[target]
    text = current(layer.file)
    if text is None:
        raise InputError(layer.file, "disappeared while planning edits")
    texts[layer.file] = set_path(
        text, layer.file, (*layer.prefix, *key), edit.new, object_ref=layer.object_ref
    )


def _patch_release_values(
    edit: ValueEdit,
    key: ValuesPath,
    manifest: tuple[str, str, str | None],
    current: Callable[[str], str | None],
    texts: dict[str, str],
) -> None:
    """A Flux HelmRelease only shared files describe: the overlay gets a patch of its values,
    which kustomize merges over every layer below (valuesFrom included, as Flux merges
    `spec.values` last); a later edit finds the patch as this environment's own layer."""
    api, name, namespace = manifest
    workload = edit.workload
    path = patch_file(workload.overlay, HELM_RELEASE, name)
    existing = current(path)
    if existing is not None:
        steps = ("spec", "values", *key)
        texts[path] = set_path(existing, path, steps, edit.new, object_ref=(HELM_RELEASE, (name,)))
        return
    metadata = CommentedMap({"name": name})
    if namespace:
        metadata["namespace"] = namespace
    values: object = edit.new
    for step in reversed(key):
        values = CommentedMap({step: values})
    document = CommentedMap(
        {"apiVersion": api, "kind": HELM_RELEASE, "metadata": metadata, "spec": {"values": values}}
    )
    document.yaml_set_start_comment(_PATCH_HEADER.format(workload.environment))
    texts[path] = _dump(document, indented_sequences=False)
    kustomization = f"{workload.overlay}/kustomization.yaml"
    text = current(kustomization)
    if text is None:
        raise InputError(kustomization, "overlay has no kustomization.yaml to list a patch in")
    texts[kustomization] = add_patch_entry(text, path.rsplit("/", 1)[1], kustomization)


def values_key(edit: ValueEdit) -> ValuesPath:
    """The values key behind a Helm workload's field; a request or limit the chart renders
    from a `resources` mapping may be added under it."""
    binding = edit.workload.helm
    assert binding is not None
    key = binding.paths.get((edit.container, edit.field))
    if key is None and edit.container in binding.resources_paths and "." in edit.field:
        key = (*binding.resources_paths[edit.container], *edit.field.split("."))
    if key is None:
        raise InputError(
            f"{edit.workload.environment_id} {edit.workload.ref}",
            f"no values key of {binding.release.chart_ref} sets {edit.field}: the chart "
            "hard-codes it, so the bot cannot change it",
        )
    return key


def _add_in_place(
    inventory: Inventory,
    edit: ValueEdit,
    current: Callable[[str], str | None],
    texts: dict[str, str],
) -> bool:
    """Write a field the object does not have yet where this environment alone describes the
    object: beside its other values of the same container or autoscaler (a patch of this
    overlay, say), else in its own manifest. False when only shared files describe it: then
    the overlay gets a patch, like any shared value."""
    steps = _field_steps(edit)
    for file, object_ref in _places_for(inventory, edit, current):
        text = current(file)
        if text is None:
            continue
        try:
            texts[file] = set_path(text, file, steps, edit.new, object_ref=object_ref)
        except InputError:
            continue  # this file cannot hold it (a JSON 6902 patch, say): try the next
        return True
    return False


def _places_for(
    inventory: Inventory, edit: ValueEdit, current: Callable[[str], str | None]
) -> list[tuple[str, tuple[str, tuple[str, ...]]]]:
    workload = edit.workload
    if edit.field.startswith("hpa."):
        assert workload.hpa is not None
        kind, names = workload.hpa.kind, (workload.hpa.original_name, workload.hpa.name)
        siblings = list(workload.hpa.fields.values())
        own = workload.hpa.origin_file
    else:
        kind, names = workload.kind, (workload.original_name or workload.name, workload.name)
        container = workload.container(edit.container) if edit.container else None
        siblings = list(container.resources.values()) if container else []
        siblings += [workload.replicas] if workload.replicas and edit.field == "replicas" else []
        own = workload.origin_file
    places: list[tuple[str, tuple[str, tuple[str, ...]]]] = []
    for sibling in siblings:
        origin = sibling.origin
        if origin is None or origin.file.rsplit("/", 1)[-1] in KUSTOMIZATION_NAMES:
            continue  # an inline patch inside a kustomization: not a place to add lines
        text = current(origin.file)
        name = _object_name_at(text, origin.line, origin.file) if text else None
        if name is not None:
            places.append((origin.file, (kind, (name,))))
    places.append((own, (kind, names)))
    return [
        (file, ref)
        for file, ref in dict.fromkeys(places)
        if inventory.file_users.get(file) == {workload.overlay}
    ]


def _object_name_at(text: str, line: int, where: str) -> str | None:
    """`metadata.name` of the document that spans `line`, if it is an object."""
    found = None
    for document in parse_positioned(text, where):
        if isinstance(document, dict) and document:
            first, _ = position(document, next(iter(document)))
            if first > line:
                break
            name = dig(document, "metadata", "name")
            found = name if isinstance(name, str) else None
    return found


def _field_steps(edit: ValueEdit) -> tuple[Step, ...]:
    """The key path of a field inside its object's document."""
    if edit.field.startswith("hpa."):
        assert edit.workload.hpa is not None
        keys = AUTOSCALER_FIELDS[edit.workload.hpa.kind]
        if edit.field not in keys:
            raise InputError(
                edit.workload.hpa.origin_file,
                f"{edit.field} is not set; adding an autoscaler metric is not supported",
            )
        return ("spec", keys[edit.field])
    if edit.field == "replicas":
        return ("spec", "replicas")
    bound, kind = edit.field.split(".")
    assert edit.container is not None
    pod = edit.workload.pod_spec_path
    return (*pod, "containers", Item(edit.container), "resources", bound, kind)


def _override_in_overlay(
    edit: ValueEdit, current: Callable[[str], str | None], texts: dict[str, str]
) -> None:
    workload = edit.workload
    if edit.field == "hpa.cpuUtilization":
        raise InputError(
            workload.hpa.origin_file if workload.hpa else workload.origin_file,
            "hpa.cpuUtilization is shared with other environments; overriding HPA metrics "
            "from an overlay is not supported yet",
        )
    path = overlay_patch_name(edit)
    existing = current(path)
    by_operations = not edit.field.startswith("hpa.") and workload.kind not in MERGED_BY_NAME
    document: CommentedMap | CommentedSeq
    if by_operations:
        document = parse_documents(existing, path)[0] if existing else _operations_skeleton(edit)
        document.extend(_operations(edit, document))
    else:
        document = parse_documents(existing, path)[0] if existing else _patch_skeleton(edit)
        _set_in_patch(document, edit)
    indented = not by_operations and _indents_sequences(current(edit.workload.origin_file))
    texts[path] = _dump(document, indented_sequences=indented)
    if existing is None:
        kustomization = f"{workload.overlay}/kustomization.yaml"
        text = current(kustomization)
        if text is None:
            raise InputError(kustomization, "overlay has no kustomization.yaml to list a patch in")
        target = (workload.kind, workload.original_name or workload.name) if by_operations else None
        texts[kustomization] = add_patch_entry(text, path.rsplit("/", 1)[1], kustomization, target)


MERGED_BY_NAME = ("Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob")
"""Kinds whose schema kustomize knows, so a strategic-merge patch merges their containers by
name. A custom resource's lists (an Argo Rollout's containers) are replaced whole by such a
patch, so the bot patches those with JSON 6902 operations instead."""


def _operations(edit: ValueEdit, existing: CommentedSeq) -> list[CommentedMap]:
    """JSON 6902 operations setting one field; `add` replaces a member that exists. A parent
    the object lacks (its `resources`, or a bound) is added whole, with the field inside."""
    workload = edit.workload
    if edit.field == "replicas":
        steps: list[str] = ["spec", "replicas"]
        value: object = edit.new
    else:
        assert edit.container is not None
        index = [c.name for c in workload.containers].index(edit.container)
        bound, kind = edit.field.split(".")
        have = {name.split(".")[0] for name in workload.container(edit.container).resources}
        steps = [*workload.pod_spec_path, "containers", str(index), "resources"]
        value = {bound: {kind: edit.new}}
        if bound in have:
            steps, value = [*steps, bound, kind], edit.new
        elif have:
            steps, value = [*steps, bound], {kind: edit.new}
    pointer = "/" + "/".join(steps)
    for operation in existing:
        if operation.get("path") == pointer:
            operation["value"] = value
            return []
    return [CommentedMap({"op": "add", "path": pointer, "value": value})]


def _operations_skeleton(edit: ValueEdit) -> CommentedSeq:
    operations = CommentedSeq()
    operations.yaml_set_start_comment(_PATCH_HEADER.format(edit.workload.environment))
    return operations


_PATCH_HEADER = (
    "Written by Rightsizer: {} overrides of values shared with other\n"
    "environments. Edit or delete it like any patch; the bot updates it in place."
)


def _patch_skeleton(edit: ValueEdit) -> CommentedMap:
    workload = edit.workload
    kind, name, api = _patch_target(edit)
    metadata = CommentedMap({"name": name})
    if workload.patch_namespace:
        # kustomize matches a patch without a namespace only to objects without one.
        metadata["namespace"] = workload.patch_namespace
    document = CommentedMap({"apiVersion": api, "kind": kind, "metadata": metadata})
    document.yaml_set_start_comment(_PATCH_HEADER.format(workload.environment))
    return document


def _set_in_patch(document: CommentedMap, edit: ValueEdit) -> None:
    spec = document.setdefault("spec", CommentedMap())
    if edit.field.startswith("hpa.") and edit.workload.hpa is not None:
        spec[AUTOSCALER_FIELDS[edit.workload.hpa.kind][edit.field]] = edit.new
        return
    if edit.field == "replicas":
        spec["replicas"] = edit.new
        return
    pod = document
    for key in edit.workload.pod_spec_path:
        pod = pod.setdefault(key, CommentedMap())
    containers = pod.setdefault("containers", CommentedSeq())
    container = next((c for c in containers if c.get("name") == edit.container), None)
    if container is None:
        container = CommentedMap({"name": edit.container})
        containers.append(container)
    bound, kind = edit.field.split(".")
    resources = container.setdefault("resources", CommentedMap())
    resources.setdefault(bound, CommentedMap())[kind] = edit.new


def _indents_sequences(text: str | None) -> bool:
    """Whether a file writes `- ` items indented under their key (the repo's own style)."""
    match = re.search(r"^( *)[\w-]+:[ \t]*\r?\n( *)- ", text or "", re.M)
    return match is None or len(match.group(2)) > len(match.group(1))


def _dump(document: CommentedMap | CommentedSeq, indented_sequences: bool) -> str:
    yaml = YAML(typ="rt")
    if indented_sequences:
        yaml.indent(mapping=2, sequence=4, offset=2)
    else:
        yaml.indent(mapping=2, sequence=2, offset=0)
    buffer = io.StringIO()
    yaml.dump(document, buffer)
    return buffer.getvalue()


def add_patch_entry(
    text: str,
    patch_file: str,
    where: str,
    target: tuple[str, str] | None = None,
    last: bool = False,
) -> str:
    """List `patch_file` under `patches:` of a kustomization, as text, in the file's list style;
    with `target` (kind and name) for a JSON 6902 patch, which names no object itself.

    The entry goes first in an existing list: the values it overrides come from the base (no
    overlay patch set them), so putting it first cannot override a human's patch. `last`
    puts it after every other (a patch that deletes what earlier ones patch).
    """
    return _add_entry(
        text,
        "patches",
        where,
        lambda indent, nl: _patch_entry(indent, patch_file, target, nl),
        last,
    )


def add_resource_entry(text: str, resource: str, where: str) -> str:
    """List `resource` (a file beside the kustomization) under its `resources:`."""
    return _add_entry(text, "resources", where, lambda indent, nl: f"{indent}- {resource}{nl}")


def _add_entry(
    text: str, key: str, where: str, entry: Callable[[str, str], str], last: bool = False
) -> str:
    """`entry(indent, newline)` as the first (or `last`) item of the kustomization's list
    `key`, or as the list, in the file's style."""
    document = parse_documents(text, where)[0]
    newline = "\r\n" if "\r\n" in text else "\n"
    lines = text.splitlines(keepends=True)
    items = dig(document, key)
    if isinstance(items, CommentedSeq) and len(items) > 0:
        if items.fa.flow_style():
            raise InputError(where, f"a flow-style `{key}: [...]` list cannot be extended yet")
        line, _ = position(items, 0)
        dash_line = lines[line - 1]
        indent = dash_line[: len(dash_line) - len(dash_line.lstrip(" "))]
        if last:
            added = entry(indent, newline).splitlines()
            return insert_lines(text, line_after(text, where, (key,)), added)
        key_line, _ = document.lc.key(key)
        while line - 2 > key_line and lines[line - 2].strip().startswith("#"):
            line -= 1  # a comment above the first item belongs to it: go above the comment
        lines.insert(line - 1, entry(indent, newline))
        return "".join(lines)
    if items is not None:
        raise InputError(where, f"`{key}` is present but not a non-empty list")
    indent = _sequence_indent(document, lines)
    ending = "" if not text or text.endswith(("\n", "\r")) else newline
    return f"{text}{ending}{key}:{newline}{entry(indent, newline)}"


def _patch_entry(indent: str, patch_file: str, target: tuple[str, str] | None, newline: str) -> str:
    entry = f"{indent}- path: {patch_file}{newline}"
    if target is not None:
        kind, name = target
        entry += f"{indent}  target:{newline}{indent}    kind: {kind}{newline}"
        entry += f"{indent}    name: {name}{newline}"
    return entry


def _sequence_indent(document: CommentedMap, lines: list[str]) -> str:
    """The indentation of block lists at the top level of this file (`resources:` usually)."""
    for value in document.values():
        if isinstance(value, CommentedSeq) and len(value) and not value.fa.flow_style():
            line, _ = position(value, 0)
            text = lines[line - 1]
            return text[: len(text) - len(text.lstrip(" "))]
    return ""
