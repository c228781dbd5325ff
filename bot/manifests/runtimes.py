"""The memory a container's runtime is told it may use, read from its env and command line.

A JVM started with `-Xmx2g` grows its heap to 2 GiB whatever its usage history shows so far,
and needs room beside it (metaspace, threads, code cache, direct buffers); a memory request
or limit below that is an OOM kill or an eviction waiting for the next full heap. The same
holds for Go's `GOMEMLIMIT`, Node's `--max-old-space-size` and .NET's `GCHeapHardLimit`. The
sizing never goes below what such a setting needs; a percentage setting
(`-XX:MaxRAMPercentage`) follows the limit by itself and is only named.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TypeVar

from bot.manifests.model import ContainerSpec

JAVA_BEFORE = ("JAVA_TOOL_OPTIONS", "JDK_JAVA_OPTIONS", "JAVA_OPTS")
JAVA_AFTER = ("_JAVA_OPTIONS",)
"""JVM flags in env, around the command line in the order the JVM reads them, the last one
winning: JAVA_TOOL_OPTIONS, then the launcher's JDK_JAVA_OPTIONS and the start scripts'
JAVA_OPTS, then the command line, then _JAVA_OPTIONS over all."""
NODE_BEFORE = ("NODE_OPTIONS",)
HEAP_SHARE = 0.75
"""A heap may take at most three quarters of the container's memory: the usual JVM advice
(MaxRAMPercentage=75), and room enough for Node's and .NET's runtimes beside their heaps."""
T = TypeVar("T")
GO_SHARE = 0.9
"""GOMEMLIMIT bounds all of Go's memory, not a heap alone: a tenth more covers the rest."""

_JVM_SIZE = re.compile(r"^(\d+)([kKmMgGtT]?)$")
_JVM_UNITS = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}
_GO_SIZE = re.compile(r"^(\d+)(B|KiB|MiB|GiB|TiB)?$")
_GO_UNITS = {None: 1, "B": 1, "KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "TiB": 2**40}


@dataclass(frozen=True)
class RuntimeMemory:
    """What a container's runtime settings need of memory; `floor` 0 where they only follow
    the limit (a percentage)."""

    floor: float
    reason: str


def runtime_memory(container: ContainerSpec) -> RuntimeMemory | None:
    """The runtime memory setting of a container, if it has one the bot understands."""
    jvm = _flags(container, JAVA_BEFORE, JAVA_AFTER)
    heap = _last(_jvm_heap(flag) for flag in jvm)
    if heap is not None:
        size, flag = heap
        return _needs(size, HEAP_SHARE, f"the JVM heap is capped at {_mib(size)} ({flag})")
    percentage = _last(flag for flag in jvm if flag.startswith("-XX:MaxRAMPercentage="))
    if percentage is not None:
        return RuntimeMemory(0.0, f"the JVM heap follows the limit ({percentage})")
    limit = container.env.get("GOMEMLIMIT")
    if limit is not None and (match := _GO_SIZE.match(limit.strip())):
        size = int(match[1]) * _GO_UNITS[match[2]]
        return _needs(size, GO_SHARE, f"Go's memory limit is {_mib(size)} (GOMEMLIMIT={limit})")
    old_space = _last(_node_old_space(token) for token in _flags(container, NODE_BEFORE))
    if old_space is not None:
        size, flag = old_space
        return _needs(size, HEAP_SHARE, f"Node's old space is capped at {_mib(size)} ({flag})")
    for name in ("DOTNET_GCHeapHardLimit", "COMPlus_GCHeapHardLimit"):
        value = container.env.get(name)
        if value is not None and re.fullmatch(r"(0x)?[0-9a-fA-F]+", value.strip()):
            size = int(value.strip().removeprefix("0x"), 16)
            return _needs(size, HEAP_SHARE, f".NET's GC heap is capped at {_mib(size)} ({name})")
    return None


def _needs(size: float, share: float, what: str) -> RuntimeMemory:
    floor = size / share
    return RuntimeMemory(floor, f"{what}, which needs {_mib(floor)} with the runtime beside it")


def _flags(
    container: ContainerSpec, before: tuple[str, ...], after: tuple[str, ...] = ()
) -> list[str]:
    """The words of the option variables read `before` the command line, of the command
    line (an argument like `sh -c "java -Xmx2g -jar app.jar"` is split too), and of those
    read `after` it."""
    line = [word for part in (*container.command, *container.args) for word in _split(part)]
    return [*_words(container, before), *line, *_words(container, after)]


def _words(container: ContainerSpec, variables: tuple[str, ...]) -> list[str]:
    return [word for name in variables for word in _split(container.env.get(name, ""))]


def _jvm_heap(flag: str) -> tuple[float, str] | None:
    for prefix in ("-Xmx", "-XX:MaxHeapSize="):
        if flag.startswith(prefix) and (match := _JVM_SIZE.match(flag[len(prefix) :])):
            return int(match[1]) * _JVM_UNITS[match[2].lower()], flag
    return None


def _node_old_space(flag: str) -> tuple[float, str] | None:
    match = re.fullmatch(r"--max[-_]old[-_]space[-_]size=(\d+)", flag)
    return (int(match[1]) * 2**20, flag) if match else None


def _split(text: str) -> list[str]:
    """Shell words; a string with unbalanced quotes is split on white space."""
    try:
        return shlex.split(text)
    except ValueError:
        return text.split()


def _last(found: Iterable[T | None]) -> T | None:
    """The last setting given: runtimes let a later flag override an earlier one."""
    items = [item for item in found if item is not None]
    return items[-1] if items else None


def _mib(size: float) -> str:
    if size >= 2**30:
        return f"{size / 2**30:.3g}Gi"
    return f"{size / 2**20:.0f}Mi"
