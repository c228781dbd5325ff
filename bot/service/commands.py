"""The `/rightsizer ...` commands reviewers write in PR comments: parsed, never acted on here.

Parsing is pure (no forge, no store), so the webhook can pick the command line out of a comment
without delay and the worker, once the forge confirms the author may write to the repository,
turns the line into one of the dataclasses below, or answers with the `CommandError`'s message,
which always ends with the usage.

A workload is `KIND/NAME` or `NAMESPACE/KIND/NAME`, optionally prefixed with an environment,
`ENV:`: `Deployment/web`, `shop/Deployment/web`, `prod:shop/Deployment/web`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.manifests.model import HPA_FIELDS, RESOURCE_FIELDS
from bot.manifests.quantities import parse_cpu, parse_memory
from recommenders.errors import InputError

PREFIX = "/rightsizer"
FIELDS = (*RESOURCE_FIELDS, "replicas", *HPA_FIELDS)
MAX_SNOOZE_DAYS = 365

WRITE_PERMISSIONS = frozenset({"admin", "maintain", "write"})
"""GitHub's `GET /repos/{owner}/{repo}/collaborators/{user}/permission` answers `permission`
as admin, maintain, write, triage, read or none; only the first three may command the bot."""
GITLAB_DEVELOPER = 30
"""GitLab access levels: 10 guest, 15 planner, 20 reporter, 30 developer, 40 maintainer,
50 owner. Developers can push to unprotected branches, as GitHub's `write` can."""

USAGE = (
    "usage: /rightsizer rerun | ignore <workload> | snooze <workload> <days> | "
    "pin <workload> <field>=<value> | explain <workload>, "
    "where <workload> is [ENV:][NAMESPACE/]KIND/NAME, e.g. prod:shop/Deployment/web"
)

_ENV = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,126}$")
_KIND = re.compile(r"^[A-Za-z][A-Za-z0-9]{0,62}$")
_NAME = re.compile(r"^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$")
_NAMESPACE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")


class CommandError(ValueError):
    """A command the bot cannot follow; `str()` is one line for the reply, usage included."""

    def __init__(self, problem: str) -> None:
        super().__init__(f"{problem}; {USAGE}")
        self.problem = problem


@dataclass(frozen=True)
class WorkloadRef:
    kind: str
    name: str
    namespace: str | None = None
    env: str | None = None

    def __str__(self) -> str:
        path = "/".join(filter(None, (self.namespace, self.kind, self.name)))
        return f"{self.env}:{path}" if self.env else path


@dataclass(frozen=True)
class Rerun:
    pass


@dataclass(frozen=True)
class Ignore:
    workload: WorkloadRef


@dataclass(frozen=True)
class Snooze:
    workload: WorkloadRef
    days: int


@dataclass(frozen=True)
class Pin:
    workload: WorkloadRef
    field: str
    """One of FIELDS: `requests.cpu`, `hpa.minReplicas`, ..."""
    value: str
    """As the reviewer wrote it (`500m`, `1Gi`, `3`), checked to be a valid quantity."""


@dataclass(frozen=True)
class Explain:
    workload: WorkloadRef


Command = Rerun | Ignore | Snooze | Pin | Explain


def command_line(text: str) -> str | None:
    """The first line of a comment that starts with `/rightsizer` (leading blanks allowed),
    stripped; None when there is none. Quoted replies (`> /rightsizer ...`) do not count."""
    for line in text.splitlines():
        stripped = line.strip()
        if stripped == PREFIX or (stripped.startswith(PREFIX) and stripped[len(PREFIX)].isspace()):
            return stripped
    return None


def parse_command(line: str) -> Command:
    """`/rightsizer snooze prod:Deployment/web 14` -> Snooze(WorkloadRef(...), 14)."""
    words = line.split()
    if not words or words[0] != PREFIX:
        raise CommandError(f"a command starts with {PREFIX}")
    if len(words) == 1:
        raise CommandError("no command given")
    verb, args = words[1].lower(), words[2:]
    if verb == "rerun":
        _arity(verb, args, 0, "")
        return Rerun()
    if verb == "ignore":
        _arity(verb, args, 1, " <workload>")
        return Ignore(parse_workload(args[0]))
    if verb == "explain":
        _arity(verb, args, 1, " <workload>")
        return Explain(parse_workload(args[0]))
    if verb == "snooze":
        _arity(verb, args, 2, " <workload> <days>")
        return Snooze(parse_workload(args[0]), _days(args[1]))
    if verb == "pin":
        _arity(verb, args, 2, " <workload> <field>=<value>")
        field, value = _assignment(args[1])
        return Pin(parse_workload(args[0]), field, value)
    raise CommandError(f"unknown command {_shown(words[1])}")


def parse_workload(text: str) -> WorkloadRef:
    """`[ENV:][NAMESPACE/]KIND/NAME`."""
    env: str | None = None
    path = text
    if ":" in text:
        env, _, path = text.partition(":")
        if not _ENV.match(env):
            raise CommandError(f"{_shown(env)} is not an environment name")
    parts = path.split("/")
    if len(parts) == 2:
        namespace, (kind, name) = None, parts
    elif len(parts) == 3:
        namespace, kind, name = parts
        if not _NAMESPACE.match(namespace):
            raise CommandError(f"{_shown(namespace)} is not a namespace")
    else:
        raise CommandError(f"{_shown(text)} is not a workload")
    if not _KIND.match(kind):
        raise CommandError(f"{_shown(kind)} is not a kind, such as Deployment")
    if not _NAME.match(name):
        raise CommandError(f"{_shown(name)} is not a Kubernetes object name")
    return WorkloadRef(kind=kind, name=name, namespace=namespace, env=env)


def may_command(github_permission: str) -> bool:
    """Whether a GitHub collaborator permission (`admin`, `write`, `read`...) may command."""
    return github_permission.strip().lower() in WRITE_PERMISSIONS


def _arity(verb: str, args: list[str], count: int, shape: str) -> None:
    if len(args) != count:
        raise CommandError(f"{verb} takes{shape or ' nothing'}, got {len(args)} argument(s)")


def _days(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= MAX_SNOOZE_DAYS:
        raise CommandError(f"days must be a whole number from 1 to {MAX_SNOOZE_DAYS}")
    return int(text)


def _assignment(text: str) -> tuple[str, str]:
    field, sep, value = text.partition("=")
    if not sep or field not in FIELDS:
        raise CommandError(f"expected <field>=<value> with <field> one of {', '.join(FIELDS)}")
    try:
        if field.endswith(".cpu"):
            parse_cpu(value, where=text)
        elif field.endswith(".memory"):
            parse_memory(value, where=text)
        elif not value.isdigit() or len(value) > 9:
            raise CommandError(f"{field} takes a whole number")
        elif field.startswith("hpa.") and int(value) < 1:
            raise CommandError(f"{field} must be at least 1")
    except InputError as exc:
        raise CommandError(exc.problem) from exc
    if field == "hpa.cpuUtilization" and int(value) > 100:
        raise CommandError("hpa.cpuUtilization is a percentage, 1 to 100")
    return field, value


def _shown(text: str) -> str:
    """User text quoted in a reply: bounded, and without backticks that would break Markdown."""
    clean = text.replace("`", "'")
    return f"`{clean[:60]}…`" if len(clean) > 60 else f"`{clean}`"
