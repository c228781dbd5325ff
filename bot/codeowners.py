"""CODEOWNERS, read as GitHub and GitLab read it, to group a team's workloads into one PR.

The last matching line wins; patterns follow gitignore: anchored when they hold a slash
before their end, a trailing slash means a directory and all below it, `*` stays within one
path segment and `**` crosses them. GitLab's `[Section]` headers are skipped, so their lines
count as one list, which is how an unsectioned file already reads.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

LOCATIONS = (".github/CODEOWNERS", "CODEOWNERS", "docs/CODEOWNERS", ".gitlab/CODEOWNERS")


@dataclass(frozen=True)
class OwnerRule:
    pattern: re.Pattern[str]
    owners: tuple[str, ...]


def read_codeowners(repo: Path) -> list[OwnerRule]:
    """The rules of the first CODEOWNERS file found where the forges look; none: no rules."""
    for location in LOCATIONS:
        path = repo / location
        if path.is_file() and not path.is_symlink():
            return parse_codeowners(path.read_text(encoding="utf-8", errors="replace"))
    return []


def parse_codeowners(text: str) -> list[OwnerRule]:
    rules = []
    for raw in text.splitlines():
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith(("#", "[", "^[")):
            continue
        pattern, *owners = line.split()
        rules.append(OwnerRule(_compile(pattern), tuple(owners)))
    return rules


def owners_of(rules: list[OwnerRule], path: str) -> tuple[str, ...]:
    """Owners of a repo-relative path; the last matching rule decides, even with no owners."""
    for rule in reversed(rules):
        if rule.pattern.search(path):
            return rule.owners
    return ()


def team_name(owner: str) -> str:
    """`@acme/payments` -> `payments`, `@alice` -> `alice`, `a@b.example` -> `a`."""
    return owner.lstrip("@").split("@", 1)[0].rsplit("/", 1)[-1]


def _compile(pattern: str) -> re.Pattern[str]:
    directory = pattern.endswith("/")
    body = pattern.strip("/")
    anchored = pattern.startswith("/") or "/" in body
    parts = []
    for piece in re.split(r"(\*\*/|/\*\*|\*\*|\*|\?)", body):
        if piece in ("**/", "/**", "**"):
            parts.append("(?:.*/)?" if piece == "**/" else ".*")
        elif piece == "*":
            parts.append("[^/]*")
        elif piece == "?":
            parts.append("[^/]")
        else:
            parts.append(re.escape(piece))
    start = "^" if anchored else "(?:^|/)"
    # `docs/*` owns the files in docs/, not those below it (GitHub's documented exception
    # to gitignore); a name without a wildcard owns a directory's whole tree.
    end = "/" if directory else "$" if "*" in body.rsplit("/", 1)[-1] else "(?:$|/)"
    return re.compile(start + "".join(parts) + end)
