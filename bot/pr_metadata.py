"""The hidden block at the end of a PR body that the bot reads back on its next run.

One line, an HTML comment that forges do not show: `<!-- rightsizer:metadata v3:<data> -->`.
It holds the group and every value the PR proposes, identified as the commit trailers
identify them (`<env>/<namespace>/<Kind>/<name> <container or -> <field>`, base units; see
templates/commit_message.txt.j2), and a fingerprint of those values, so that a rerun can
tell whether its recommendation moved without parsing Markdown tables. Anyone can edit a PR
body: a block that does not parse, or whose values no longer match its fingerprint, reads
as no block at all; one that would inflate past `MAX_JSON_BYTES` is not inflated further.

Version 2 writes the values grouped by workload, `[<container or -> <field>, current,
proposed]` under each workload's key, and whole numbers without a fraction: a third of
version 1's size, which spelt out every key and field name. Both are read: a PR opened
before the change is still recognised.

Version 3 writes version 2's group and workloads as JSON, deflated and in base64 (the way
Renovate hides its own debug block): half the bytes, the tenth of a five-workload body that
it was. Its version is in its form (`v3:`), and its fingerprint is not written: the
deflate stream's own checksum refuses an edit, and the values give the fingerprint. Base64
cannot close the comment, so no escaping is needed. Every version is read.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
import re
import zlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.groups import Group
    from bot.planner import PlannedChange

VERSION = 3
PLAIN = (1, 2)
"""The versions written as plain JSON, with their version and fingerprint inside."""
MARKER = "rightsizer:metadata"
_BLOCK = re.compile(r"<!-- rightsizer:metadata (\{.*?\}|v3:[A-Za-z0-9+/=]*) -->")
"""Matched only where the last marker starts: searched from every marker, a body of
unclosed markers (GitLab allows a million characters) took minutes."""
_ESCAPED_DASHES = "-\\u002d"
"""`--` as JSON reads it inside a string, written so that it cannot end the comment."""
MAX_JSON_BYTES = 1 << 20
"""What a version 3 block may inflate to. A block fits in a 65,536-character body and real
JSON deflates two to five times, so no body the bot wrote comes near it."""


@dataclass(frozen=True)
class ProposedValue:
    change: str
    """`<env>/<namespace>/<Kind>/<name> <container or -> <field>`, as the trailers write it."""
    current: float
    proposed: float
    """Base units: cores, bytes, replicas, percent."""


@dataclass(frozen=True)
class PullRequestMetadata:
    group: str
    values: tuple[ProposedValue, ...]
    version: int = VERSION

    @property
    def fingerprint(self) -> str:
        """16 hex digits of sha256 over the values, sorted: the same proposal, the same
        fingerprint, whatever order the changes were listed in."""
        rows = sorted(
            (v.change, repr(float(v.current)), repr(float(v.proposed))) for v in self.values
        )
        payload = json.dumps(rows, separators=(",", ":"))
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:16]

    def render(self) -> str:
        workloads: dict[str, list[list[Any]]] = {}
        for v in self.values:
            key, _, rest = v.change.partition(" ")
            workloads.setdefault(key, []).append([rest, _compact(v.current), _compact(v.proposed)])
        if self.version == 3:
            text = json.dumps({"group": self.group, "workloads": workloads}, separators=(",", ":"))
            packed = base64.b64encode(zlib.compress(text.encode("utf-8"), 9)).decode("ascii")
            return f"<!-- {MARKER} v3:{packed} -->"
        data = {
            "version": self.version,
            "group": self.group,
            "fingerprint": self.fingerprint,
            "workloads": workloads,
        }
        text = json.dumps(data, separators=(",", ":"), ensure_ascii=True)  # in values order
        # `--` may appear only inside JSON strings, where an escape reads the same; outside a
        # comment's end it must not appear at all.
        return f"<!-- {MARKER} {text.replace('--', _ESCAPED_DASHES)} -->"


def change_identity(change: PlannedChange) -> str:
    """`<env>/<namespace>/<Kind>/<name> <container or -> <field>`: the commit trailers' key."""
    workload = change.workload
    key = f"{workload.environment}/{workload.namespace}/{workload.kind}/{workload.name}"
    return f"{key} {change.container or '-'} {change.field}"


def metadata_for(group: Group) -> PullRequestMetadata:
    """What the PR proposes, in base units, as the bot reads it back on its next run: the
    applied changes, each as its trailer records it (the decision's exact values)."""
    values = tuple(
        ProposedValue(
            change_identity(change),
            float(change.decision.recommendation.current),
            float(change.decision.value),
        )
        for change in group.applied
    )
    return PullRequestMetadata(group.name, values)


def read_metadata(body: str) -> PullRequestMetadata | None:
    """The block at the last metadata marker in `body`, or None when there is none, it does
    not parse, it is of another version, or its values do not match its fingerprint
    (someone edited it)."""
    if not isinstance(body, str):
        return None
    found = _BLOCK.match(body, max(0, body.rfind(f"<!-- {MARKER} ")))
    if found is None:
        return None
    block = found.group(1)
    try:
        packed = block.startswith("v3:")
        text = _inflated(base64.b64decode(block[3:], validate=True)) if packed else block
        return None if text is None else _parsed(json.loads(text), packed)
    except (ValueError, TypeError, KeyError, RecursionError, binascii.Error, zlib.error):
        return None


def _inflated(packed: bytes) -> str | None:
    """The JSON a version 3 block deflated, or None past `MAX_JSON_BYTES` (a deflate bomb
    in an edited body stops there) or when it does not end where its data does."""
    inflater = zlib.decompressobj()
    text = inflater.decompress(packed, MAX_JSON_BYTES)
    if inflater.unconsumed_tail or inflater.unused_data or not inflater.eof:
        return None
    return text.decode("utf-8")


def _parsed(data: Any, packed: bool) -> PullRequestMetadata | None:
    """`packed`: the block was base64, which only version 3 writes and it always does."""
    if not isinstance(data, dict):
        return None
    version = 3 if packed else data.get("version")
    if ("version" in data) == packed or (not packed and version not in PLAIN):
        return None
    group, fingerprint = data["group"], data.get("fingerprint")
    rows = _rows_v1(data["values"]) if version == 1 else _rows_v2(data["workloads"])
    if not isinstance(group, str) or rows is None:
        return None
    values = []
    for change, current, proposed in rows:
        current, proposed = _number(current), _number(proposed)
        if not isinstance(change, str) or current is None or proposed is None:
            return None
        values.append(ProposedValue(change, current, proposed))
    metadata = PullRequestMetadata(group, tuple(values))
    return metadata if packed or fingerprint == metadata.fingerprint else None


def _rows_v1(rows: Any) -> list[tuple[Any, Any, Any]] | None:
    if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
        return None
    return [(row.get("change"), row.get("current"), row.get("proposed")) for row in rows]


def _rows_v2(workloads: Any) -> list[tuple[Any, Any, Any]] | None:
    if not isinstance(workloads, dict):
        return None
    rows = []
    for key, fields in workloads.items():
        if not isinstance(fields, list):
            return None
        for row in fields:
            if not isinstance(row, list) or len(row) != 3 or not isinstance(row[0], str):
                return None
            rows.append((f"{key} {row[0]}", row[1], row[2]))
    return rows


def _compact(value: float) -> float | int:
    """A whole number as an int (JSON writes `2`, not `2.0`); any other as it is."""
    return int(value) if float(value).is_integer() and abs(value) < 2**53 else value


def _number(value: object) -> float | None:
    """A finite JSON number as a float; None for anything else (a string, a bool, NaN, an
    integer of 400 digits, which no float holds)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, int):
        return float(value) if abs(value) < 2**1023 else None
    return value if math.isfinite(value) else None
