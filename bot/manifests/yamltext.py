"""Setting a value at a key path of a YAML file as text: the span of a scalar that exists, or
the missing keys added where a human would write them, in the file's own style.

Containers without requests or limits are the ones that most need sizing, so the editor must
add fields as well as change them. Dumping the document would lose bytes (see `edit`), so an
addition is text too: new lines after the last entry of the deepest mapping that exists, at
its indentation; a `resources: {}` placeholder opened into a block (a comment beside it
stays on its line); a flow mapping extended inside its braces.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from typing import Any

from ruamel.yaml.error import YAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from bot.manifests.model import Origin
from bot.manifests.yamlio import c_loader
from recommenders.errors import InputError

Raw = str | int | float


@dataclass(frozen=True)
class Item:
    """A path step into a list: the item whose `name` is this (a container, say)."""

    name: str


Step = str | int | Item

_PLAIN_END = re.compile(r"\s+#|[,}\]]|\s*$")
_QUANTITY = re.compile(r"[0-9]+(\.[0-9]+)?([eE][0-9]+)?[a-zA-Z]{0,2}")


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


def set_path(
    text: str,
    where: str,
    path: tuple[Step, ...],
    value: Raw,
    *,
    at_line: int | None = None,
    object_ref: tuple[str, tuple[str, ...]] | None = None,
) -> str:
    """`text` with the scalar at `path` set to `value`, adding the keys that are missing.

    The document is the one spanning 1-based `at_line`, else the object of `object_ref` (its
    kind and the names it may go by), else the first. List items are never created: a
    missing one (a container this file does not mention) is an InputError, as is a path
    through a scalar that is not a mapping.
    """
    root = _document(_compose(text, where), where, at_line, object_ref)
    node, parent_key, flow_ancestor = root, None, False
    for index, step in enumerate(path):
        child = _child(node, step)
        if child is None:
            return _add(text, where, node, parent_key, path[index:], value, flow_ancestor)
        flow_ancestor = flow_ancestor or bool(getattr(node, "flow_style", False))
        if isinstance(node, MappingNode):
            parent_key = next(k for k, v in node.value if v is child)
        node = child
    if not isinstance(node, ScalarNode):
        raise InputError(_at(where, node), f"{_dotted(path)} is not a single value")
    origin = Origin(where, node.start_mark.line + 1, node.start_mark.column, _dotted(path))
    if _is_null(node):
        return _fill_null(text, where, node, parent_key, (), value)
    return replace_scalar(text, origin, value)


def _compose(text: str, where: str) -> list[Node]:
    try:
        return [node for node in c_loader().compose_all(text) if node is not None]
    except YAMLError as exc:
        raise InputError(where, f"invalid YAML: {str(exc).splitlines()[0]}") from exc


def _document(
    nodes: list[Node],
    where: str,
    at_line: int | None,
    object_ref: tuple[str, tuple[str, ...]] | None,
) -> Node:
    for node in nodes:
        if at_line is not None:
            if node.start_mark.line < at_line <= node.end_mark.line + 1:
                return node
        elif object_ref is not None:
            kind, name = _child(node, "kind"), _child(_child(node, "metadata"), "name")
            if _scalar(kind) == object_ref[0] and _scalar(name) in object_ref[1]:
                return node
        else:
            return node
    wanted = f"line {at_line}" if at_line is not None else None
    if object_ref is not None:
        wanted = f"{object_ref[0]}/{object_ref[1][0]}"
    raise InputError(where, f"no YAML document holds {wanted or 'anything'}")


def _child(node: Node | None, step: Step) -> Node | None:
    if isinstance(node, MappingNode) and isinstance(step, str):
        return next((v for k, v in node.value if _scalar(k) == step), None)
    if isinstance(node, SequenceNode) and isinstance(step, int):
        return node.value[step] if step < len(node.value) else None
    if isinstance(node, SequenceNode) and isinstance(step, Item):
        return next(
            (item for item in node.value if _scalar(_child(item, "name")) == step.name), None
        )
    return None


def _scalar(node: Node | None) -> Any:
    return node.value if isinstance(node, ScalarNode) else None


def _is_null(node: Node) -> bool:
    return isinstance(node, ScalarNode) and node.tag == "tag:yaml.org,2002:null"


def _add(
    text: str,
    where: str,
    node: Node,
    parent_key: Node | None,
    missing: tuple[Step, ...],
    value: Raw,
    flow_ancestor: bool,
) -> str:
    if any(not isinstance(step, str) for step in missing):
        raise InputError(_at(where, node), f"has no {_dotted(missing)}; list items are not added")
    keys = tuple(str(step) for step in missing)
    if _is_null(node):
        return _fill_null(text, where, node, parent_key, keys, value)
    if not isinstance(node, MappingNode):
        raise InputError(_at(where, node), f"is not a mapping; cannot add {_dotted(keys)}")
    if node.flow_style and (node.value or flow_ancestor):
        return _add_in_flow(text, node, keys, value)
    if node.flow_style:  # `{}`: open it into a block under its key
        return _open_empty(text, node, parent_key, keys, value)
    child_indent = node.value[0][0].start_mark.column
    lines = _block_lines(text, child_indent, keys, _formatted(value, node))
    return _insert_lines(text, _line_after(node), lines)


def _fill_null(
    text: str, where: str, node: Node, parent_key: Node | None, keys: tuple[str, ...], value: Raw
) -> str:
    """`resources:` with nothing after it, or `~`/`null`: the value goes there."""
    start, end = node.start_mark.index, node.end_mark.index
    if not keys:
        return text[:start] + _formatted(value, None) + text[end:]
    if parent_key is None:
        raise InputError(_at(where, node), "the document is empty; nothing to add to")
    without = text[:start] + text[end:]
    indent = parent_key.start_mark.column + _indent_step(text)
    lines = _block_lines(without, indent, keys, _formatted(value, None))
    return _insert_lines(without, node.start_mark.line + 1, lines)


def _open_empty(
    text: str, node: MappingNode, parent_key: Node | None, keys: tuple[str, ...], value: Raw
) -> str:
    start, end = node.start_mark.index, node.end_mark.index
    without = text[:start].rstrip(" ") + text[end:]
    key_column = parent_key.start_mark.column if parent_key is not None else -_indent_step(text)
    lines = _block_lines(without, key_column + _indent_step(text), keys, _formatted(value, None))
    return _insert_lines(without, node.start_mark.line + 1, lines)


def _add_in_flow(text: str, node: MappingNode, keys: tuple[str, ...], value: Raw) -> str:
    """`{cpu: 100m}` becomes `{cpu: 100m, memory: 128Mi}`, on the line it was on."""
    nested = _formatted(value, node)
    for key in reversed(keys[1:]):
        nested = f"{{{key}: {nested}}}"
    closing = node.end_mark.index - 1  # the `}`
    separator = ", " if node.value else ""
    before = text[:closing].rstrip(" ")
    return f"{before}{separator}{keys[0]}: {nested}{text[closing:]}"


def _block_lines(text: str, indent: int, keys: tuple[str, ...], value: str) -> list[str]:
    step = _indent_step(text)
    lines = [f"{' ' * (indent + step * depth)}{key}:" for depth, key in enumerate(keys[:-1])]
    lines.append(f"{' ' * (indent + step * (len(keys) - 1))}{keys[-1]}: {value}")
    return lines


def _insert_lines(text: str, line_index: int, lines: list[str]) -> str:
    """Insert whole lines before 0-based `line_index` (at the end when it is past the last)."""
    newline = "\r\n" if "\r\n" in text else "\n"
    existing = text.splitlines(keepends=True)
    if line_index >= len(existing) and existing and not existing[-1].endswith(("\n", "\r")):
        existing[-1] += newline
        added = [f"{line}{newline}" for line in lines]
        added[-1] = added[-1].removesuffix(newline)  # the file had no final newline: keep so
    else:
        added = [f"{line}{newline}" for line in lines]
    existing[line_index:line_index] = added
    return "".join(existing)


def _line_after(node: Node) -> int:
    """The 0-based line after the last character of `node`'s content, its last value's."""
    while isinstance(node, MappingNode | SequenceNode) and not node.flow_style and node.value:
        last = node.value[-1]
        node = last[1] if isinstance(node, MappingNode) else last
    end = node.end_mark
    return end.line if end.column == 0 and end.line > node.start_mark.line else end.line + 1


@functools.lru_cache(maxsize=64)
def _indent_step(text: str) -> int:
    """How far this file indents a mapping under its key (2 unless the file says otherwise)."""
    match = re.search(
        r"^( *)[^\s#-][^:\n]*:[ \t]*(#.*)?\r?\n(?:[ \t]*(#.*)?\r?\n)*( *)[^\s#-]", text, re.M
    )
    if match and len(match.group(4)) > len(match.group(1)):
        return len(match.group(4)) - len(match.group(1))
    return 2


def _formatted(value: Raw, siblings: MappingNode | None) -> str:
    """A number or quantity plain, as manifests write them, unless this mapping quotes its
    values; anything else as a JSON string, which YAML reads as the same string."""
    quote = next(
        (
            v.style
            for _, v in (siblings.value if siblings is not None else [])
            if isinstance(v, ScalarNode) and v.style in ("'", '"')
        ),
        None,
    )
    text = str(value)
    if isinstance(value, str) and not _QUANTITY.fullmatch(text):
        return json.dumps(text)
    if quote and isinstance(value, str):
        return f"{quote}{text}{quote}"
    return text


def _at(where: str, node: Node) -> str:
    return f"{where}:{node.start_mark.line + 1}"


def _dotted(path: tuple[Step, ...]) -> str:
    return ".".join(step.name if isinstance(step, Item) else str(step) for step in path)


def line_after(text: str, where: str, path: tuple[str, ...]) -> int:
    """The 0-based line after the value at `path` of the first document: where an item
    goes to be a block list's last."""
    node: Node | None = _document(_compose(text, where), where, None, None)
    for key in path:
        node = _child(node, key)
    if node is None:
        raise InputError(where, f"has no {'.'.join(path)}")
    return _line_after(node)


def insert_lines(text: str, line_index: int, lines: list[str]) -> str:
    """Whole lines inserted before 0-based `line_index`, in the file's line endings."""
    return _insert_lines(text, line_index, lines)


def replace_items(
    text: str,
    where: str,
    object_ref: tuple[str, tuple[str, ...]],
    path: tuple[str, ...],
    prefix: str,
    items: list[dict[str, Any]],
) -> str:
    """`text` with the block sequence at `path` of the object `object_ref` holding `items`
    in place of the items it has whose `name` starts with `prefix` (the bot's own, from an
    earlier run), after the others, which stay as they are, comments and all. Each item is
    a mapping of scalars and mappings of scalars, written as block YAML, strings quoted
    where YAML would read them as anything else."""
    root = _document(_compose(text, where), where, None, object_ref)
    sequence: Node | None = root
    for key in path:
        sequence = _child(sequence, key)
    if not isinstance(sequence, SequenceNode) or sequence.flow_style or not sequence.value:
        raise InputError(_at(where, root), f"{'.'.join(path)} is not a block list of items")
    ours = [i for i in sequence.value if str(_scalar(_child(i, "name")) or "").startswith(prefix)]
    theirs = [item for item in sequence.value if item not in ours]
    if not theirs:
        raise InputError(_at(where, sequence), f"{'.'.join(path)} has no item but the bot's")
    first = sequence.value[0]
    dash = sequence.start_mark.column  # a block sequence starts at its first `-`
    column = max(first.start_mark.column, dash + 2)  # `-` alone on its line, keys below
    step = _indent_step(text)
    lines: list[str] = []
    for item in items:
        lines += _item_lines(item, dash, column, step)
    insert_at = _line_after(theirs[-1])
    for item in sorted(ours, key=lambda i: i.start_mark.line, reverse=True):
        start, end = item.start_mark.line, _line_after(item)
        if start < insert_at:
            insert_at -= end - start
        kept = text.splitlines(keepends=True)
        text = "".join(kept[:start] + kept[end:])
    return _insert_lines(text, insert_at, lines) if lines else text


def _item_lines(item: dict[str, Any], dash: int, column: int, step: int) -> list[str]:
    lines = []
    for key, value in item.items():
        indent = " " * column
        if isinstance(value, dict):
            lines.append(f"{indent}{key}:")
            lines += [f"{indent}{' ' * step}{k}: {_string(v)}" for k, v in value.items()]
        else:
            lines.append(f"{indent}{key}: {_string(value)}")
    lines[0] = f"{' ' * dash}-{' ' * (column - dash - 1)}{lines[0].lstrip()}"
    return lines


def _string(value: object) -> str:
    """A string as YAML reads it back as that string: plain when it is a word YAML takes
    for nothing else (`cron`, `Europe/Berlin`), else quoted (`"8"`, `"45 8 * * 1-5"`)."""
    text = str(value)
    if _WORD.fullmatch(text) and text.lower() not in _YAML_WORDS:
        return text
    return json.dumps(text)


_WORD = re.compile(r"[A-Za-z][A-Za-z0-9_./-]*")
_YAML_WORDS = {"true", "false", "yes", "no", "on", "off", "null", "y", "n", "~"}
