"""Freeze windows: times (holidays, weekends, release days) when no pull request may land.

A team freezes by the clock on its wall, so every window is read in its own IANA time zone:
a date range is midnight-to-midnight there, and a cron schedule follows that zone across
daylight-saving changes. Durations are elapsed time, as everywhere else in the bot. Every
instant is compared in UTC, because Python compares two times in the same zone by their
wall-clock reading, which is wrong for the hour a clock goes back.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from bot.cron import checked
from bot.decisions.model import RuleHit
from bot.inputs import parse_duration
from bot.manifests.yamlio import position
from bot.settings_files import check_keys, field_error, typed
from recommenders.errors import InputError

RULE = "freeze"
_KEYS = ("from", "to", "cron", "duration", "timezone", "reason")
_PAIRS = {"from": "to", "to": "from", "cron": "duration", "duration": "cron"}
_DEFAULT_REASON = "freeze window"
_SHOWN = "%Y-%m-%d %H:%M"


@dataclass(frozen=True)
class DateRange:
    """From `start` (inclusive) to `end` (exclusive), both in the window's zone."""

    start: datetime
    end: datetime

    @property
    def zone(self) -> ZoneInfo:
        return _zone_of(self.start)

    def active_until(self, now: datetime) -> datetime | None:
        inside = self.start.astimezone(UTC) <= now.astimezone(UTC) < self.end.astimezone(UTC)
        return self.end if inside else None

    def describe(self) -> str:
        return f"{self.start:{_SHOWN}} – {self.end:{_SHOWN}} {self.zone.key}"


@dataclass(frozen=True)
class Recurring:
    """Starts at every match of `cron` in `zone` and lasts `duration` of elapsed time."""

    cron: str
    duration: timedelta
    duration_text: str
    zone: ZoneInfo

    def active_until(self, now: datetime) -> datetime | None:
        start = self.latest_start(now)
        end = (start.astimezone(UTC) + self.duration).astimezone(self.zone)
        return end if now.astimezone(UTC) < end.astimezone(UTC) else None

    def latest_start(self, now: datetime) -> datetime:
        """The last cron match at or before `now`: croniter's `get_prev` is strictly before
        its start, and matches fall on whole minutes, so it starts at the next minute."""
        next_minute = now.astimezone(UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)
        start: datetime = croniter(self.cron, next_minute.astimezone(self.zone)).get_prev(datetime)
        return start

    def describe(self) -> str:
        return f"{self.cron} for {self.duration_text}, {self.zone.key}"


@dataclass(frozen=True)
class FreezeWindow:
    reason: str
    schedule: DateRange | Recurring

    @property
    def zone(self) -> ZoneInfo:
        return self.schedule.zone

    def active_until(self, now: datetime) -> datetime | None:
        """When the freeze that holds at `now` ends (in the window's zone), or None."""
        return self.schedule.active_until(_aware(now))

    def describe(self) -> str:
        return f"{self.reason} ({self.schedule.describe()})"


def parse_freeze(items: CommentedSeq | list[Any], shown_as: str) -> tuple[FreezeWindow, ...]:
    """The windows of a policy's `freeze:` list. `items` must come from the YAML loaders
    (round-trip or positioned), whose line numbers every error names."""
    return tuple(_window(items, index, shown_as) for index in range(len(items)))


def active_freeze(windows: tuple[FreezeWindow, ...], now: datetime) -> FreezeWindow | None:
    """The window freezing `now`; of several, the one that ends last (the first listed on a tie)."""
    latest: tuple[datetime, FreezeWindow] | None = None
    for window in windows:
        end = window.active_until(now)
        if end is not None and (latest is None or end.astimezone(UTC) > latest[0]):
            latest = (end.astimezone(UTC), window)
    return latest[1] if latest else None


def freeze_hit(windows: tuple[FreezeWindow, ...], now: datetime) -> RuleHit | None:
    window = active_freeze(windows, now)
    if window is None:
        return None
    end = window.active_until(now)
    assert end is not None
    return RuleHit(
        RULE,
        f"in a freeze window: no pull request is opened until {_show_end(end)}"
        f" ({window.describe()})",
    )


def _show_end(end: datetime) -> str:
    local = f"{end:{_SHOWN}} {_zone_of(end).key}"
    if _zone_of(end).key == "UTC":
        return local
    return f"{local} ({end.astimezone(UTC):{_SHOWN}} UTC)"


def _window(items: Any, index: int, shown_as: str) -> FreezeWindow:
    item: CommentedMap = items[index]
    if not isinstance(item, dict):
        raise _item_error(items, index, shown_as, f"expected a mapping, got {item!r}")
    check_keys(item, _KEYS, shown_as, "freeze")
    for key, partner in _PAIRS.items():
        if key in item and partner not in item:
            raise field_error(item, key, shown_as, f"needs `{partner}` too")
    if "from" in item and "cron" in item:
        raise field_error(
            item, "cron", shown_as, "a window is a date range (from/to) or a cron, not both"
        )
    if "from" not in item and "cron" not in item:
        raise _item_error(items, index, shown_as, "give either from/to or cron/duration")
    zone = _zone(item, shown_as)
    reason = str(typed(item, "reason", str, shown_as)) if "reason" in item else _DEFAULT_REASON
    schedule = (
        _date_range(item, zone, shown_as) if "from" in item else _recurring(item, zone, shown_as)
    )
    return FreezeWindow(reason, schedule)


def _item_error(items: Any, index: int, shown_as: str, problem: str) -> InputError:
    line, _ = position(items, index)
    return InputError(f"{shown_as}:{line}", f"freeze item {index + 1}: {problem}")


def _zone(item: CommentedMap, shown_as: str) -> ZoneInfo:
    if "timezone" not in item:
        return ZoneInfo("UTC")
    name = typed(item, "timezone", str, shown_as)
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
        problem = f"unknown time zone {name!r}; expected an IANA name like Europe/Berlin or UTC"
        raise field_error(item, "timezone", shown_as, problem) from exc


def _date_range(item: CommentedMap, zone: ZoneInfo, shown_as: str) -> DateRange:
    start = _instant(item, "from", zone, shown_as)
    end = _instant(item, "to", zone, shown_as)
    if end.astimezone(UTC) <= start.astimezone(UTC):
        problem = f"{end:{_SHOWN}} is not after from ({start:{_SHOWN}})"
        raise field_error(item, "to", shown_as, problem)
    return DateRange(start, end)


def _instant(item: CommentedMap, key: str, zone: ZoneInfo, shown_as: str) -> datetime:
    """A wall-clock time in `zone`: YAML may have read it as a date, a datetime or a string."""
    value = item[key]
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError as exc:
            problem = f"{value!r} is not a date like 2026-12-20 or 2026-12-20T08:00"
            raise field_error(item, key, shown_as, problem) from exc
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            problem = f"{value} has a UTC offset; give the zone in `timezone:` instead"
            raise field_error(item, key, shown_as, problem)
        return datetime.combine(value.date(), value.time(), zone)
    if isinstance(value, date):
        return datetime.combine(value, time(), zone)
    raise field_error(item, key, shown_as, f"expected a date, got {value!r}")


def _recurring(item: CommentedMap, zone: ZoneInfo, shown_as: str) -> Recurring:
    cron = _cron(item, zone, shown_as)
    text = typed(item, "duration", str, shown_as)
    try:
        duration = parse_duration(text, "duration")
    except InputError as exc:
        raise field_error(item, "duration", shown_as, exc.problem) from exc
    return Recurring(cron, duration, text, zone)


def _cron(item: CommentedMap, zone: ZoneInfo, shown_as: str) -> str:
    """Checked as the service's schedules are (`bot.cron`): a window that never opens is
    refused now, not at the next run."""
    try:
        return checked(typed(item, "cron", str, shown_as), zone)
    except ValueError as exc:
        raise field_error(item, "cron", shown_as, str(exc)) from exc


def _aware(now: datetime) -> datetime:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(f"{now} has no time zone; freeze windows need an aware `now`")
    return now


def _zone_of(moment: datetime) -> ZoneInfo:
    zone = moment.tzinfo
    assert isinstance(zone, ZoneInfo)
    return zone
