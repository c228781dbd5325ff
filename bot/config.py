"""The bot's configuration in the target repo (`.rightsizer.yaml`), built once and passed along."""

from __future__ import annotations

import json
import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from bot.cron import checked
from bot.inputs import SOURCE_NAME, SOURCES_ENV
from bot.resources import data_dir
from bot.settings_files import check_keys, field_error, load_repo_mapping, typed, validate
from recommenders.errors import InputError
from recommenders.model import UnitPrices
from recommenders.strategies import STRATEGIES
from recommenders.strategies.settings import parse_settings, setting_names

CONFIG_FILE = ".rightsizer.yaml"
SCHEMA = json.loads((data_dir("policies") / "config.schema.json").read_text())
"""The file's shape, which an editor checks too: keys, types, bounds and choices. What it
cannot say (a branch name git accepts, a path inside the repository, a cron that runs, the
chosen strategy's own settings) is checked below."""
GROUPINGS = tuple(SCHEMA["properties"]["group_by"]["enum"])
_ENVIRONMENT_KEYS = ("path", "name", "cluster", "namespace")


DEFAULT_PRICES = UnitPrices(0.0316, 0.00424, "built-in price table (AWS on-demand m6i)")


@dataclass(frozen=True)
class BotIdentity:
    name: str = "rightsizer[bot]"
    email: str = "rightsizer-bot@users.noreply.github.com"


@dataclass(frozen=True)
class PullRequestSettings:
    """How the bot's PRs look and how many it keeps open. Limits follow Renovate (ten open),
    except five new PRs an hour where Renovate says two: one PR per environment is the common
    first run, and it should open whole."""

    labels: tuple[str, ...] = ("rightsizer",)
    reviewers: tuple[str, ...] = ()
    team_reviewers: tuple[str, ...] = ()
    assignees: tuple[str, ...] = ()
    draft: bool = False
    max_open: int = 10
    max_per_hour: int = 5
    reopen_after_change: float = 0.2
    """A PR closed without merging stays closed until a value it proposed moves by more than
    this share (or a new change joins the group): a reviewer's "no" is not asked again daily."""
    allow_deploy_branch: bool = False
    """Let a bot branch be one a GitOps controller deploys from (a preview environment)."""


@dataclass(frozen=True)
class SourceSettings:
    """Exports kept in the repository itself (paths relative to its root) and the name of
    one of the operator's Prometheus servers: what the service reads when a schedule or
    webhook starts a run, and what `run` reads when no `--utilisation` or `--prometheus` is
    given."""

    utilisation: tuple[str, ...] = ()
    cost: tuple[str, ...] = ()
    prometheus: str | None = None


@dataclass(frozen=True)
class ScheduleSettings:
    cron: str | None = None
    """None: the service's default (daily), with jitter so installations spread out."""
    timezone: str = "UTC"


@dataclass(frozen=True)
class DeclaredEnvironment:
    """An environment the repo's config names, for what discovery cannot know: a directory
    nothing in the repo deploys, or the cluster its usage comes from under another name.

    `cluster` is a cluster name or a regular expression (`eks-prod-.*`) that the `environment`
    column of usage must match in full."""

    path: str
    name: str | None = None
    cluster: str | None = None
    namespace: str | None = None
    line: int = 0

    @property
    def source(self) -> str:
        return f"{CONFIG_FILE}:{self.line}"

    def matches_cluster(self, environment: str) -> bool:
        return self.cluster is not None and re.fullmatch(self.cluster, environment) is not None


@dataclass(frozen=True)
class RepoConfig:
    base_branch: str = "main"
    branch_prefix: str = "rightsizer/"
    group_by: str = "environment"
    strategy: str = "default"
    strategy_settings: object | None = None
    """The strategy's settings dataclass; None for its defaults."""
    annotation_prefix: str = "rightsizer.dev/"
    prices: UnitPrices = DEFAULT_PRICES
    bot: BotIdentity = field(default_factory=BotIdentity)
    pull_requests: PullRequestSettings = field(default_factory=PullRequestSettings)
    sources: SourceSettings = field(default_factory=SourceSettings)
    schedule: ScheduleSettings = field(default_factory=ScheduleSettings)
    environments: tuple[DeclaredEnvironment, ...] = ()
    dashboard: bool = True
    """Keep the dashboard issue (open PRs, holds, standing commands, boxes to act on)."""


def valid_branch(name: str) -> bool:
    """Whether git takes `name` as a branch (`git check-ref-format --branch`): the rules
    (no `..`, no `@{`, no control characters, no `.lock` ending...) are git's to state."""
    if name.startswith("-"):
        return False  # an option to git, not a name
    checked = subprocess.run(
        ["git", "check-ref-format", "--branch", name], capture_output=True, check=False
    )
    return checked.returncode == 0


def load_config(repo: Path) -> RepoConfig:
    """The repo's `.rightsizer.yaml` over the defaults; a repo without one gets the defaults.
    Its `policy:` is a policy document, read with the others by `bot.policy.load_policy`."""
    path = repo / CONFIG_FILE
    if not path.is_file():
        return RepoConfig()
    shown = CONFIG_FILE
    data = load_repo_mapping(repo, shown)
    validate(data, SCHEMA, shown, "config")
    values: dict[str, object] = {}
    for key in ("base_branch", "branch_prefix", "strategy", "annotation_prefix", "group_by"):
        if key in data:
            values[key] = typed(data, key, str, shown)
    for key in ("base_branch", "branch_prefix"):
        if key in data and not valid_branch(f"{values[key]}x"):
            problem = f"{values[key]!r} does not make a branch name git accepts"
            raise field_error(data, key, shown, problem)
    if "strategy_settings" in data:
        values["strategy_settings"] = _strategy_settings(
            data, str(values.get("strategy", "default"))
        )
    if "prices" in data:
        prices = typed(data, "prices", dict, shown)
        values["prices"] = UnitPrices(
            float(typed(prices, "cpu_core_hour", (int, float), shown)),
            float(typed(prices, "memory_gib_hour", (int, float), shown)),
            f"price table in {CONFIG_FILE}",
        )
    if "bot" in data:
        bot = typed(data, "bot", dict, shown)
        values["bot"] = BotIdentity(
            str(typed(bot, "name", str, shown)), str(typed(bot, "email", str, shown))
        )
    if "pull_requests" in data:
        values["pull_requests"] = _pull_requests(typed(data, "pull_requests", dict, shown))
    if "sources" in data:
        values["sources"] = _sources(typed(data, "sources", dict, shown))
    if "schedule" in data:
        values["schedule"] = _schedule(typed(data, "schedule", dict, shown))
    if "environments" in data:
        values["environments"] = _environments(typed(data, "environments", list, shown), repo)
    if "dashboard" in data:
        values["dashboard"] = typed(data, "dashboard", bool, shown)
    return RepoConfig(**values)  # type: ignore[arg-type]


def _sources(data: CommentedMap) -> SourceSettings:
    values: dict[str, object] = {}
    for key in ("utilisation", "cost"):
        if key in data:
            values[key] = tuple(typed(data, key, list, CONFIG_FILE))
    if "prometheus" in data:
        name = typed(data, "prometheus", str, CONFIG_FILE)
        if not SOURCE_NAME.fullmatch(name):
            problem = (
                "names one of the operator's Prometheus sources (`default`, or one "
                f"{SOURCES_ENV} names), never a URL: the bot sends its credentials there"
            )
            raise field_error(data, "prometheus", CONFIG_FILE, problem)
        values["prometheus"] = name
    return SourceSettings(**values)  # type: ignore[arg-type]


def _environments(data: CommentedSeq, repo: Path) -> tuple[DeclaredEnvironment, ...]:
    """`environments:`, each entry a mapping whose `path` is a directory inside the repo."""
    declared: dict[str, DeclaredEnvironment] = {}
    for index, entry in enumerate(data):
        line = data.lc.item(index)[0] + 1
        values = {key: str(entry[key]) for key in _ENVIRONMENT_KEYS if key in entry}
        path = _directory_in(repo, values["path"], entry)
        if path in declared:
            raise field_error(
                entry,
                "path",
                CONFIG_FILE,
                f"{path} is declared twice (first at line {declared[path].line})",
            )
        if "cluster" in values:
            try:
                re.compile(values["cluster"])
            except re.error as exc:
                raise field_error(
                    entry,
                    "cluster",
                    CONFIG_FILE,
                    f"not a cluster name or regular expression ({exc})",
                ) from exc
        declared[path] = DeclaredEnvironment(
            path, values.get("name"), values.get("cluster"), values.get("namespace"), line
        )
    return tuple(declared.values())


def _directory_in(repo: Path, text: str, entry: CommentedMap) -> str:
    """A declared path as the inventory names directories: relative, `/`-separated."""
    relative = os.path.normpath(text.strip().removeprefix("./")).replace(os.sep, "/")
    inside = not os.path.isabs(relative) and relative != ".." and not relative.startswith("../")
    if not inside or not (repo / relative).resolve().is_relative_to(repo.resolve()):
        raise field_error(entry, "path", CONFIG_FILE, f"{text} leaves the repository")
    if not (repo / relative).is_dir():
        raise field_error(
            entry, "path", CONFIG_FILE, f"{text} is not a directory in the repository"
        )
    return relative


def _schedule(data: CommentedMap) -> ScheduleSettings:
    cron = typed(data, "cron", str, CONFIG_FILE) if "cron" in data else None
    zone = typed(data, "timezone", str, CONFIG_FILE) if "timezone" in data else "UTC"
    try:
        where = ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise field_error(data, "timezone", CONFIG_FILE, f"unknown time zone {zone!r}") from exc
    if cron is not None:
        try:
            cron = checked(cron, where)  # as the service's scheduler will read it
        except ValueError as exc:
            raise field_error(data, "cron", CONFIG_FILE, str(exc)) from exc
    return ScheduleSettings(cron, zone)


def _pull_requests(data: CommentedMap) -> PullRequestSettings:
    values: dict[str, object] = {}
    for key in ("labels", "reviewers", "team_reviewers", "assignees"):
        if key in data:
            values[key] = tuple(data[key])
    for key in ("draft", "allow_deploy_branch", "max_open", "max_per_hour"):
        if key in data:
            values[key] = data[key]
    if "reopen_after_change" in data:
        values["reopen_after_change"] = float(data["reopen_after_change"])
    return PullRequestSettings(**values)  # type: ignore[arg-type]


def _strategy_settings(data: CommentedMap, strategy: str) -> object:
    """`strategy_settings:` for the configured strategy, every bad value named at its line."""
    shown = CONFIG_FILE
    mapping = typed(data, "strategy_settings", dict, shown)
    settings_type = STRATEGIES[strategy].settings_type
    check_keys(mapping, setting_names(settings_type), shown, "strategy_settings")
    numbers = {key: typed(mapping, key, (int, float), shown) for key in mapping}
    try:
        return parse_settings(settings_type, numbers, f"strategy.{strategy}")
    except InputError as exc:
        raise field_error(mapping, exc.where.rsplit(".", 1)[-1], shown, exc.problem) from exc
