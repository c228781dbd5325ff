"""What a forge is to the rest of the bot (`registry.py` lists them)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from bot.forges.base import Conversation, Forge
from bot.forges.options import ForgeOptions
from bot.forges.remote import RemoteBranches

if TYPE_CHECKING:
    from bot.forges.hooks import Hooks
    from bot.service.settings import ServiceSettings


class HostedForge(Forge, Protocol):
    branches: RemoteBranches
    """The clone the run reads and pushes from."""


class ServiceOptions(Protocol):
    """A forge's own service settings (`<forge>/service.py`): a frozen dataclass whose
    fields are read from `RIGHTSIZER_<FORGE>_<FIELD>` (secrets also from `..._FILE`)."""

    SECRETS: ClassVar[frozenset[str]]
    """Fields that may come from a file and never reach a log line."""
    PATHS: ClassVar[frozenset[str]]

    def check(self, name: Callable[[str], str]) -> None:
        """Refuse, at start, settings that cannot work; `name(field)` is its variable."""
        ...

    def warnings(self, name: Callable[[str], str]) -> list[str]: ...

    def run_options(self, repository: str, installation_id: int | None) -> ForgeOptions:
        """What a run of `repository` is told about this forge."""
        ...


@dataclass(frozen=True)
class Hosted:
    """A forge reached over the network, with its own settings record."""

    settings: Callable[[ForgeOptions, str | None], Any]
    """Its settings from the run's options and the token found for it."""
    connect: Callable[[Any, Path], HostedForge]
    conversation: Callable[[Any], Conversation]


@dataclass(frozen=True)
class ForgeKind:
    name: str
    forge: type
    """Its `Forge` implementation."""
    hosted: Hosted | None = None
    """None for the local forge, which writes branches and PR files in the checkout."""
    hooks: Callable[[ServiceSettings], Hooks] | None = None
    """Its webhooks, when the service receives any."""
    service: type | None = None
    """Its service settings (a `ServiceOptions` dataclass), when the service serves it."""
