"""What a forge is to the rest of the bot (`registry.py` lists them)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from bot.forges.base import Conversation, Forge
from bot.forges.options import ForgeOptions
from bot.forges.remote import RemoteBranches

if TYPE_CHECKING:
    from bot.forges.hooks import Hooks
    from bot.service.settings import ServiceSettings


class HostedForge(Forge, Protocol):
    branches: RemoteBranches
    """The clone the run reads and pushes from."""


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
