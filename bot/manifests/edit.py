"""Minimal-diff edits: change the scalar that sets a value, or override it in the overlay.

Dumping a whole document with ruamel.yaml loses bytes (comments before `---`, `~`, trailing
spaces, CRLF, a missing final newline), so existing files are edited as text: only the span of
the one scalar is replaced, at the position ruamel.yaml reported. Files the bot creates itself
(its overlay patches) are the only ones it dumps whole.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from dataclasses import dataclass

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from bot.manifests.kustomization import AUTOSCALER_FIELDS
from bot.manifests.model import Inventory, Origin, Workload
from bot.manifests.yamlio import dig, parse_documents, position
from recommenders.errors import InputError

Raw = str | int | float


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
    return workload.kind, workload.original_name or workload.name, "apps/v1"


def overlay_patch_name(edit: ValueEdit) -> str:
    """The patch file the bot owns in an overlay, one per object, named so humans know whose."""
    kind, name, _ = _patch_target(edit)
    return f"{edit.workload.overlay}/rightsizer-{kind.lower()}-{name}.yaml"


def plan_file_changes(
    inventory: Inventory, edits: list[ValueEdit], read: Callable[[str], str | None]
) -> list[FileChange]:
    """The new text of every file the edits touch; `read` gives a file's current text or None.

    A value written in a file that only this environment builds from is changed in place. One
    inherited from a file shared with other environments is overridden by a patch in the
    overlay, so that no other environment changes.
    """
    texts: dict[str, str] = {}
    originals: dict[str, str | None] = {}

    def current(path: str) -> str | None:
        if path not in originals:
            originals[path] = read(path)
        return texts.get(path, originals[path])

    overrides = []
    for edit in edits:
        tracked = edit.workload.tracked(edit.field, edit.container)
        origin = tracked.origin if tracked is not None else None
        if origin is None or inventory.file_users.get(origin.file) != {edit.workload.overlay}:
            overrides.append(edit)
            continue
        text = current(origin.file)
        if text is None:
            raise InputError(origin.file, "disappeared while planning edits")
        texts[origin.file] = replace_scalar(text, origin, edit.new)
    # Overrides may insert a line into a kustomization; in-place edits, done first, used its
    # original line numbers.
    for edit in overrides:
        _override_in_overlay(edit, current, texts)
    return [
        FileChange(path, originals[path], text)
        for path, text in sorted(texts.items())
        if text != originals[path]
    ]


_PLAIN_END = re.compile(r"\s+#|[,}\]]|\s*$")


def replace_scalar(text: str, origin: Origin, new: Raw) -> str:
    """Replace the scalar starting at `origin` by `new`, keeping its quote style."""
    lines = text.splitlines(keepends=True)
    line = lines[origin.line - 1]
    start = origin.col
    quote = line[start] if line[start] in "'\"" else ""
    if quote:
        end = line.index(quote, start + 1) + 1
        replacement = f"{quote}{new}{quote}"
    else:
        match = _PLAIN_END.search(line, start)
        end = match.start() if match else len(line.rstrip("\r\n"))
        replacement = str(new)
    lines[origin.line - 1] = line[:start] + replacement + line[end:]
    return "".join(lines)


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
    document = parse_documents(existing, path)[0] if existing else _patch_skeleton(edit)
    _set_in_patch(document, edit)
    texts[path] = _dump(
        document, indented_sequences=_indents_sequences(current(edit.workload.origin_file))
    )
    if existing is None:
        kustomization = f"{workload.overlay}/kustomization.yaml"
        text = current(kustomization)
        if text is None:
            raise InputError(kustomization, "overlay has no kustomization.yaml to list a patch in")
        texts[kustomization] = add_patch_entry(text, path.rsplit("/", 1)[1], kustomization)


def _patch_skeleton(edit: ValueEdit) -> CommentedMap:
    workload = edit.workload
    kind, name, api = _patch_target(edit)
    metadata = CommentedMap({"name": name})
    if workload.patch_namespace:
        # kustomize matches a patch without a namespace only to objects without one.
        metadata["namespace"] = workload.patch_namespace
    document = CommentedMap({"apiVersion": api, "kind": kind, "metadata": metadata})
    document.yaml_set_start_comment(
        f"Written by Rightsizer: {workload.environment} overrides of values shared with other\n"
        "environments. Edit or delete it like any patch; the bot updates it in place."
    )
    return document


def _set_in_patch(document: CommentedMap, edit: ValueEdit) -> None:
    spec = document.setdefault("spec", CommentedMap())
    if edit.field.startswith("hpa.") and edit.workload.hpa is not None:
        spec[AUTOSCALER_FIELDS[edit.workload.hpa.kind][edit.field]] = edit.new
        return
    if edit.field == "replicas":
        spec["replicas"] = edit.new
        return
    pod = spec.setdefault("template", CommentedMap()).setdefault("spec", CommentedMap())
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


def _dump(document: CommentedMap, indented_sequences: bool) -> str:
    yaml = YAML(typ="rt")
    if indented_sequences:
        yaml.indent(mapping=2, sequence=4, offset=2)
    else:
        yaml.indent(mapping=2, sequence=2, offset=0)
    buffer = io.StringIO()
    yaml.dump(document, buffer)
    return buffer.getvalue()


def add_patch_entry(text: str, patch_file: str, where: str) -> str:
    """List `patch_file` under `patches:` of a kustomization, as text, in the file's list style.

    The entry goes first in an existing list: the values it overrides come from the base (no
    overlay patch set them), so putting it first cannot override a human's patch.
    """
    document = parse_documents(text, where)[0]
    newline = "\r\n" if "\r\n" in text else "\n"
    lines = text.splitlines(keepends=True)
    patches = dig(document, "patches")
    if isinstance(patches, CommentedSeq) and len(patches) > 0:
        if patches.fa.flow_style():
            raise InputError(where, "a flow-style `patches: [...]` list cannot be extended yet")
        line, _ = position(patches, 0)
        dash_line = lines[line - 1]
        indent = dash_line[: len(dash_line) - len(dash_line.lstrip(" "))]
        key_line, _ = document.lc.key("patches")
        while line - 2 > key_line and lines[line - 2].strip().startswith("#"):
            line -= 1  # a comment above the first item belongs to it: go above the comment
        lines.insert(line - 1, f"{indent}- path: {patch_file}{newline}")
        return "".join(lines)
    if patches is not None:
        raise InputError(where, "`patches` is present but not a non-empty list")
    indent = _sequence_indent(document, lines)
    ending = "" if not text or text.endswith(("\n", "\r")) else newline
    return f"{text}{ending}patches:{newline}{indent}- path: {patch_file}{newline}"


def _sequence_indent(document: CommentedMap, lines: list[str]) -> str:
    """The indentation of block lists at the top level of this file (`resources:` usually)."""
    for value in document.values():
        if isinstance(value, CommentedSeq) and len(value) and not value.fa.flow_style():
            line, _ = position(value, 0)
            text = lines[line - 1]
            return text[: len(text) - len(text.lstrip(" "))]
    return ""
