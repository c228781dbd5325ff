"""Reading the bot's own YAML files (repo config, policies) with errors that name file and line.

Each file's shape is a JSON Schema (policies/schema.json, policies/config.schema.json): what
checks it here is what an editor with the YAML language server checks as it is typed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
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


def validate(document: CommentedMap, schema: dict[str, Any], shown: str, root: str) -> None:
    """The schema's first complaint, at the line of the value it is about; `root` names the
    document in a complaint about the whole of it."""
    validator = jsonschema.Draft202012Validator(schema)
    errors = list(validator.iter_errors(_plain(document)))
    if not errors:
        return
    # The deepest complaint is the precise one: a bad key inside `max_step` also makes the
    # item around it fail, but the user must be sent to the key.
    error = max(errors, key=lambda e: len(e.absolute_path))
    path = [str(p) for p in error.absolute_path]
    node: Any = document
    line = 1
    for step in error.absolute_path:
        line, _ = position(node, step)
        if isinstance(node, CommentedMap) and node[step] is None:  # empty: its key's line
            line = node.lc.key(step)[0] + 1
        node = node[step]
    extra = _unknown_key(node, error.message)
    if error.validator in ("additionalProperties", "unevaluatedProperties") and extra is not None:
        line = node.lc.key(extra)[0] + 1
        raise InputError(f"{shown}:{line}", f"unknown key {'.'.join([*path, str(extra)])!r}")
    raise InputError(f"{shown}:{line}", f"{'.'.join(path) or root}: {error.message}")


def _unknown_key(node: Any, message: str) -> Any:
    """The key (as YAML wrote it: a number or a date is not a string) the message is about."""
    if isinstance(node, CommentedMap):
        for key in node:
            if repr(str(key)) in message:
                return key
    return None


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value
