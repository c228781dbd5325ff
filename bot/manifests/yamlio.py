"""Reading YAML from a repo safely, keeping each node's position for minimal-diff edits."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError

from recommenders.errors import InputError

MAX_FILE_BYTES = 1024 * 1024
"""Manifests are small: a bigger file is a generated artefact or an attack, not a thing to edit."""

MAX_ALIASES = 100
"""Alias bombs ("billion laughs") grow a few hundred bytes into gigabytes; manifests use few."""


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
    """All documents of `text`, refusing duplicate keys and alias bombs with the file's name."""
    if text.count("*") > MAX_ALIASES and _alias_count(text) > MAX_ALIASES:
        raise InputError(
            where, f"more than {MAX_ALIASES} YAML aliases; refusing a possible alias bomb"
        )
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    try:
        return [doc for doc in yaml.load_all(text) if doc is not None]
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        position = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise InputError(f"{where}{position}", f"invalid YAML: {problem}") from exc


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
    text = read_text(root, relative)
    if looks_like_template(text):
        raise InputError(relative, "a Helm/Go template, not plain YAML; not parsed")
    return YamlFile(relative, text, parse_documents(text, relative))


def position(node: CommentedMap | CommentedSeq, key: str | int) -> tuple[int, int]:
    """1-based line and 0-based column of the value under `key` in `node`."""
    line, col = node.lc.value(key) if isinstance(node, CommentedMap) else node.lc.item(key)
    return line + 1, col


def dig(node: Any, *keys: str | int) -> Any:
    """The node at `keys` below `node`, or None where a step is missing or of the wrong type."""
    for key in keys:
        if isinstance(key, int):
            if not isinstance(node, CommentedSeq) or key >= len(node):
                return None
        elif not isinstance(node, CommentedMap) or key not in node:
            return None
        node = node[key]
    return node
