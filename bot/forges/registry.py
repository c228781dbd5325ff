"""Every forge the bot speaks to, by name: the one table the CLI (`--forge`), the run's
factory (`connect.py`) and the service's webhooks (`/webhooks/<name>`) read.

A forge is a folder (`bot/forges/<name>/`: its API client, its webhook events and what they
call for) whose `KIND` is listed here; nothing else names it.
"""

from __future__ import annotations

from bot.forges import github, gitlab, local
from bot.forges.kinds import ForgeKind, Hosted

FORGES: dict[str, ForgeKind] = {kind.name: kind for kind in (local.KIND, github.KIND, gitlab.KIND)}

__all__ = ["FORGES", "ForgeKind", "Hosted"]
