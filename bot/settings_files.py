"""Reading the bot's own YAML files (repo config, policies) with errors that name file and line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ruamel.yaml.comments import CommentedMap

from bot.manifests.yamlio import parse_documents, position, read_text
from recommenders.errors import InputError


def load_mapping(path: Path, shown_as: str) -> CommentedMap:
    """The single YAML mapping in the operator's file `path` (an empty file is an empty
    mapping)."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(shown_as, "not UTF-8") from exc
    return _mapping(text, shown_as)


def load_repo_mapping(repo: Path, relative: str) -> CommentedMap:
    """The same from a repository's file, read as every repository file is: through no
    symlink that leaves the repository, and within the size limit."""
    return _mapping(read_text(repo, relative), relative)


def _mapping(text: str, shown_as: str) -> CommentedMap:
    documents = parse_documents(text, shown_as)
    if not documents:
        return CommentedMap()
    if len(documents) > 1 or not isinstance(documents[0], CommentedMap):
        raise InputError(shown_as, "must be a single YAML mapping")
    return documents[0]


def check_keys(mapping: CommentedMap, known: tuple[str, ...], shown_as: str, scope: str) -> None:
    """Refuse an unknown key, naming its line: a typo must not silently fall back to a default."""
    for key in mapping:
        if key not in known:
            line, _ = _key_position(mapping, key)
            where = f" in {scope}" if scope else ""
            raise InputError(
                f"{shown_as}:{line}", f"unknown key {key!r}{where}; known keys: {', '.join(known)}"
            )


def field_error(mapping: CommentedMap, key: str, shown_as: str, problem: str) -> InputError:
    line, _ = position(mapping, key)
    return InputError(f"{shown_as}:{line}", f"{key}: {problem}")


def typed(mapping: CommentedMap, key: str, kind: type | tuple[type, ...], shown_as: str) -> Any:
    value = mapping[key]
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise field_error(mapping, key, shown_as, f"expected {names}, got {value!r}")
    return value


def _key_position(mapping: CommentedMap, key: Any) -> tuple[int, int]:
    line, col = mapping.lc.key(key)
    return line + 1, col
