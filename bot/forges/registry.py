"""Every forge the bot speaks to, by name: the one table the CLI (`--forge`), the run's
factory (`connect.py`) and the service's webhooks (`/webhooks/<name>`) read.

A forge is a folder (`bot/forges/<name>/`: its API client, its webhook events and what they
call for) whose `KIND` is listed here; nothing else names it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from importlib import import_module

from bot.forges.kinds import ForgeKind, Hosted

NAMES = ("local", "github", "gitlab")
"""Each forge's folder, in the order `--forge` lists them."""


class _Forges(Mapping[str, ForgeKind]):
    """The forges by name, each folder imported when its forge is first asked for: most
    commands (`plan`, `inspect`, `sources`) speak to none, and importing the API clients
    (PyGithub, python-gitlab) cost every command 0.15-0.2 s before it started."""

    def __getitem__(self, name: str) -> ForgeKind:
        if name not in NAMES:
            raise KeyError(name)
        kind: ForgeKind = import_module(f"bot.forges.{name}").KIND
        return kind

    def __contains__(self, name: object) -> bool:
        """Asked of the names: Mapping's own asks `__getitem__`, which imports the forge,
        and would take a KeyError raised while importing it for an unknown name."""
        return name in NAMES

    def __iter__(self) -> Iterator[str]:
        return iter(NAMES)

    def __len__(self) -> int:
        return len(NAMES)


FORGES: Mapping[str, ForgeKind] = _Forges()

__all__ = ["FORGES", "ForgeKind", "Hosted"]
