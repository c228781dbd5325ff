"""Child processes that read repository content: kustomize and the Helm renderer.

Why: a repository is written by anyone with push access, and both tools will follow what it
says: kustomize fetches remote bases, components, transformers and charts by URL, Helm's
loader follows links. So the children get none of the bot's environment (tokens, the App
key's path), a ceiling on memory and CPU, and no network: a network namespace of their own
where the kernel allows one (`unshare`), else a proxy that is not there for every HTTP
fetch and git restricted to local files. Going over a limit costs that render, which is
reported as the environment's problem, never the bot.
"""

from __future__ import annotations

import functools
import os
import resource
import shutil
import subprocess
from collections.abc import Callable

KEPT = ("PATH", "LANG", "LC_ALL", "OPENBLAS_CORETYPE")
"""What a child may see of the bot's environment: enough to start, no credentials."""
NOWHERE = "http://127.0.0.1:9"
"""The discard port: a proxy that refuses every connection."""
OFFLINE = {
    **{name: NOWHERE for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")},
    **{name: NOWHERE for name in ("http_proxy", "https_proxy", "all_proxy")},
    "NO_PROXY": "",
    "no_proxy": "",
    "GIT_ALLOW_PROTOCOL": "file",
    "GIT_TERMINAL_PROMPT": "0",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": "/dev/null",
    "HOME": "/nonexistent",
}


def environment() -> dict[str, str]:
    return {key: os.environ[key] for key in KEPT if key in os.environ} | OFFLINE


def offline(command: list[str]) -> list[str]:
    """`command` in a network namespace of its own (only a loopback that is down), where
    this kernel lets this user make one; as it is otherwise, with `environment()`'s proxy
    the only way out. Go's HTTP client skips a proxy for 127.0.0.1, which only the
    namespace closes."""
    return [*_unshare(), *command]


def limits(memory_bytes: int, cpu_seconds: int) -> Callable[[], None]:
    """A `preexec_fn` that caps the child's address space and CPU time."""

    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
        resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds))

    return apply


@functools.cache
def _unshare() -> tuple[str, ...]:
    tool = shutil.which("unshare")
    if tool is None:
        return ()
    prefix = (tool, "--net", "--map-root-user")
    try:
        probe = subprocess.run([*prefix, "true"], capture_output=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return ()
    return prefix if probe.returncode == 0 else ()
