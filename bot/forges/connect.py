"""From `--forge` and its options to a forge and the checkout a run reads and commits in."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.config import RepoConfig, load_config
from bot.forges.base import Conversation, Forge
from bot.forges.local import LocalForge
from bot.forges.options import ForgeOptions
from bot.forges.registry import FORGES, Hosted
from bot.forges.remote import RemoteBranches
from bot.workspace import Workspace
from recommenders.errors import InputError

__all__ = ["Checkout", "Conversation", "ForgeOptions", "open_checkout", "open_conversation"]


@dataclass(frozen=True)
class Checkout:
    forge: Forge
    workspace: Workspace
    config: RepoConfig
    files: Path
    """The base branch's committed files, and nothing else: all a run reads."""


def open_checkout(options: ForgeOptions, scratch: Path) -> Checkout:
    """The forge, and the repo checked out on its base branch with the bot's branches as the
    forge has them. A hosted forge's repository is cloned into `scratch`, and that fresh
    clone holds only committed files; a local checkout's committed files are exported there,
    leaving out what is untracked or ignored in the user's work tree."""
    if options.forge not in FORGES:
        known = ", ".join(FORGES)
        raise InputError("--forge", f"unknown forge {options.forge!r}; known: {known}")
    if options.forge == "local":
        if options.repo is None:
            raise InputError("--repo", "the local forge needs the repository's checkout")
        workspace = Workspace(options.repo)
        local = LocalForge(workspace, options.pr_dir)
        files = workspace.export("HEAD", scratch / "files")
        return Checkout(local, workspace, load_config(files), files)
    hosted, settings = _hosted(options)
    clone = scratch / "repo"
    forge = hosted.connect(settings, clone)
    config = _on_base_branch(forge.branches)
    return Checkout(forge, forge.branches.workspace, config, clone)


def open_conversation(options: ForgeOptions) -> Conversation:
    hosted, settings = _hosted(options)
    return hosted.conversation(settings)


def _hosted(options: ForgeOptions) -> tuple[Hosted, Any]:
    """The hosted forge `options` name, and its settings from them."""
    hosted = FORGES[options.forge].hosted if options.forge in FORGES else None
    if hosted is None:
        raise InputError("--forge", f"{options.forge} is not a hosted forge")
    if not options.repository:
        raise InputError("--repository", f"name the {options.forge} repository: OWNER/NAME")
    token = options.token or _environment_token(options.forge)
    return hosted, hosted.settings(options, token)


def _environment_token(forge: str) -> str | None:
    """RIGHTSIZER_<FORGE>_TOKEN, or the file RIGHTSIZER_<FORGE>_TOKEN_FILE names (a mounted
    secret), so a token never has to be on a command line."""
    name = f"RIGHTSIZER_{forge.upper()}_TOKEN"
    if os.environ.get(name):
        return os.environ[name]
    path = os.environ.get(f"{name}_FILE")
    if not path:
        return None
    try:
        return Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise InputError(f"{name}_FILE", f"cannot read {path}: {exc.strerror}") from exc


def _on_base_branch(branches: RemoteBranches) -> RepoConfig:
    """The config is read from the default branch, which names the base branch; when that
    is another branch, the config there is the one that counts."""
    path = branches.workspace.path
    config = load_config(path)
    if branches.workspace.repo.head.ref.name != config.base_branch:
        branches.check_out(config.base_branch)
        config = load_config(path)
    branches.fetch_bot_branches(config.branch_prefix)
    return config
