"""Reading YAML from a repo safely, keeping each node's position for minimal-diff edits."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError
from ruamel.yaml.events import (
    MappingEndEvent,
    MappingStartEvent,
    SequenceEndEvent,
    SequenceStartEvent,
)
from ruamel.yaml.nodes import MappingNode, Node, SequenceNode
from ruamel.yaml.resolver import VersionedResolver

from recommenders.errors import InputError

MAX_FILE_BYTES = 1024 * 1024
"""Manifests are small: a bigger file is a generated artefact or an attack, not a thing to edit."""

MAX_ALIASES = 100
"""Alias bombs ("billion laughs") grow a few hundred bytes into gigabytes; manifests use few."""

MAX_DEPTH = 100
"""Mappings and sequences inside each other: a CRD's schema reaches about 40. Composing
recurses once per level, in C: 50,000 levels in 100 KB (`[[[[...`) overflow its stack and
kill the process, a few hundred overflow Python's."""


@dataclass(frozen=True)
class YamlFile:
    """A file's text (kept for span edits) and its parsed documents (kept for positions)."""

    path: str
    text: str
    documents: list[Any]


def resolve_inside(root: Path, relative: str | Path) -> Path:
    """The real path of `relative` under `root`, refusing anything (a symlink) that leaves it."""
    candidate = (root / relative).resolve()
    if not candidate.is_relative_to(root.resolve()):
        raise InputError(str(relative), "points outside the repository; refusing to read it")
    return candidate


def read_text(root: Path, relative: str) -> str:
    path = resolve_inside(root, relative)
    if not path.is_file():
        raise InputError(relative, "no such file")
    if path.stat().st_size > MAX_FILE_BYTES:
        raise InputError(
            relative, f"larger than {MAX_FILE_BYTES // 1024} KiB; refusing to parse it"
        )
    try:
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(relative, f"not UTF-8 (byte {exc.start})") from exc


def read_if_present(root: Path, relative: str) -> str | None:
    """A file's text, or None when it does not exist (yet): the editor may create it."""
    return read_text(root, relative) if (root / relative).is_file() else None


def parse_documents(text: str, where: str) -> list[Any]:
    """All documents of `text` as round-trip trees (comments kept), for files the bot rewrites
    or settings it reports on; duplicate keys and alias bombs are refused by name."""
    _screen(text, where)
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    try:
        return [doc for doc in yaml.load_all(text) if doc is not None]
    except YAMLError as exc:
        raise _yaml_error(exc, where) from exc


def _screen(text: str, where: str) -> None:
    """What must be refused before a YAML text is composed into a tree."""
    _refuse_alias_bombs(text, where)
    _refuse_deep_nesting(text, where)


def _refuse_deep_nesting(text: str, where: str) -> None:
    """The nesting measured on libyaml's event stream, which is a state machine: it reads
    any depth in constant stack, where composing the tree would not."""
    depth = 0
    try:
        for event in c_loader().parse(text):
            if isinstance(event, MappingStartEvent | SequenceStartEvent):
                depth += 1
                if depth > MAX_DEPTH:
                    line = event.start_mark.line + 1
                    raise InputError(
                        f"{where}:{line}", f"nested over {MAX_DEPTH} levels deep; refused"
                    )
            elif isinstance(event, MappingEndEvent | SequenceEndEvent):
                depth -= 1
    except YAMLError:
        return  # composing reports the syntax error, with its line


def _refuse_alias_bombs(text: str, where: str) -> None:
    if text.count("*") > MAX_ALIASES and _alias_count(text) > MAX_ALIASES:
        raise InputError(
            where, f"more than {MAX_ALIASES} YAML aliases; refusing a possible alias bomb"
        )


def _yaml_error(exc: YAMLError, where: str) -> InputError:
    mark = getattr(exc, "problem_mark", None)
    line = f":{mark.line + 1}" if mark is not None else ""
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    return InputError(f"{where}{line}", f"invalid YAML: {problem}")


def _alias_count(text: str) -> int:
    from ruamel.yaml.tokens import AliasToken

    yaml = YAML(typ="rt")
    try:
        return sum(isinstance(token, AliasToken) for token in yaml.scan(text))
    except YAMLError:
        return 0


_TEMPLATE = re.compile(r"\{\{-?\s*(\.|\$|include\b|if\b|range\b|toYaml\b|template\b)")


def looks_like_template(text: str) -> bool:
    """Helm and other Go templates are screened out by a cheap look, never parsed as YAML."""
    return _TEMPLATE.search(text) is not None


def load_file(root: Path, relative: str) -> YamlFile:
    """A manifest for reading: documents with positions, parsed by the C parser."""
    text = read_text(root, relative)
    if looks_like_template(text):
        raise InputError(relative, "a Helm/Go template, not plain YAML; not parsed")
    return YamlFile(relative, text, parse_positioned(text, relative))


class Positions:
    """The part of ruamel.yaml's `.lc` the resolver uses: 0-based line and column."""

    __slots__ = ("keys", "values")

    def __init__(self) -> None:
        self.values: dict[Any, tuple[int, int]] = {}
        self.keys: dict[Any, tuple[int, int]] = {}

    def value(self, key: Any) -> tuple[int, int]:
        return self.values[key]

    def item(self, index: int) -> tuple[int, int]:
        return self.values[index]

    def key(self, key: Any) -> tuple[int, int]:
        return self.keys[key]


class PositionedMap(dict[Any, Any]):
    lc: Positions


class PositionedList(list[Any]):
    lc: Positions


class BlockString(str):
    """A scalar written as a `|` or `>` block; `style` says which, like ruamel.yaml's."""

    style: str


def parse_positioned(text: str, where: str) -> list[Any]:
    """Plain dicts, lists and scalars that know where each value starts.

    Reading thousands of manifests with the round-trip loader costs ~3 ms a file; composing
    with the C parser and keeping only positions costs a tenth of that. Edits never need
    the round-trip tree: they replace spans of the original text.
    """
    _screen(text, where)
    yaml = c_loader()
    try:
        nodes = list(yaml.compose_all(text))
        return [_positioned(node, yaml.constructor, where) for node in nodes if node is not None]
    except YAMLError as exc:
        raise _yaml_error(exc, where) from exc


class _Yaml12Resolver(VersionedResolver):
    """YAML 1.2's implicit types, chosen once. ruamel's resolver asks which version the
    document declares twice for every scalar (a fifth of composing a manifest), and the C
    parser never reports one (`%YAML 1.1` is read by 1.2's rules either way)."""

    @property
    def processing_version(self) -> tuple[int, int]:
        return (1, 2)

    @functools.cached_property
    def versioned_resolver(self) -> Any:
        return VersionedResolver.versioned_resolver.fget(self)  # type: ignore[attr-defined]


@functools.cache
def c_loader() -> YAML:
    """One loader, on libyaml's C parser, for every manifest and render: building a YAML()
    looks for plugins on disk each time."""
    yaml = YAML(typ="safe", pure=False)
    yaml.Resolver = _Yaml12Resolver
    return yaml


def _positioned(node: Node, constructor: Any, where: str) -> Any:
    if isinstance(node, MappingNode):
        mapping = PositionedMap()
        mapping.lc = Positions()
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                sources = value_node.value if isinstance(value_node, SequenceNode) else [value_node]
                for source in sources:
                    merged: PositionedMap = _positioned(source, constructor, where)
                    for key, value in merged.items():
                        if key not in mapping:
                            mapping[key] = value
                            mapping.lc.values[key] = merged.lc.values[key]
                            mapping.lc.keys[key] = merged.lc.keys[key]
                continue
            key = _positioned(key_node, constructor, where)
            if key in mapping:
                line = key_node.start_mark.line + 1
                raise InputError(f"{where}:{line}", f"invalid YAML: duplicate key {key!r}")
            mapping[key] = _positioned(value_node, constructor, where)
            mapping.lc.values[key] = (value_node.start_mark.line, value_node.start_mark.column)
            mapping.lc.keys[key] = (key_node.start_mark.line, key_node.start_mark.column)
        return mapping
    if isinstance(node, SequenceNode):
        sequence = PositionedList(_positioned(item, constructor, where) for item in node.value)
        sequence.lc = Positions()
        for index, item in enumerate(node.value):
            sequence.lc.values[index] = (item.start_mark.line, item.start_mark.column)
        return sequence
    value = constructor.construct_object(node, deep=True)
    style = getattr(node, "style", None)
    if isinstance(value, str) and style in ("|", ">"):
        block = BlockString(value)
        block.style = style
        return block
    return value


def position(node: Any, key: str | int) -> tuple[int, int]:
    """1-based line and 0-based column of the value under `key` in `node` (a round-trip or a
    positioned mapping or list)."""
    locations = node.lc
    line, col = locations.value(key) if isinstance(node, dict) else locations.item(key)
    return line + 1, col


def dig(node: Any, *keys: str | int) -> Any:
    """The node at `keys` below `node`, or None where a step is missing or of the wrong type."""
    for key in keys:
        if isinstance(key, int):
            if not isinstance(node, list) or key >= len(node):
                return None
        elif not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node
