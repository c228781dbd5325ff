"""Crontab expressions read the way cron reads them: one engine, croniter, for the service's
schedules and the policy's freeze windows.

APScheduler 3's own CronTrigger is not cron. Its weekdays count from Monday = 0, so `1-5`
would be Tuesday to Saturday; it refuses `*/2` and `7` in the weekday field; and where both
the day of the month and the weekday are restricted it fires when both match, where cron
fires when either does (`0 6 1 * 1`: the 1st of the month, and every Monday). `CronSchedule`
is an APScheduler trigger that asks croniter when to fire next, in the schedule's own zone,
daylight-saving changes included.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from apscheduler.triggers.base import BaseTrigger
from croniter import CroniterBadDateError, CroniterError, croniter

FIELDS = "minute hour day-of-month month day-of-week"
_NEVER = datetime(2000, 1, 1)


def checked(expression: str, zone: ZoneInfo) -> str:
    """`expression` with its spaces normalised, if cron can run it: five fields or an
    @-name (croniter would read a sixth field as seconds, as Quartz does), matching at least
    once. ValueError says what is wrong."""
    text = " ".join(expression.split())
    fields = len(text.split())
    if not (fields == 5 or (fields == 1 and text.startswith("@"))):
        raise ValueError(f"{text!r} needs five fields: {FIELDS}")
    try:
        croniter(text, _NEVER.replace(tzinfo=zone)).get_next(datetime)
    except CroniterBadDateError as exc:
        raise ValueError(f"{text!r} never matches") from exc
    except (CroniterError, ValueError, KeyError) as exc:
        raise ValueError(f"{text!r} is not a valid cron expression ({exc})") from exc
    return text


class CronSchedule(BaseTrigger):
    """An APScheduler trigger firing at each match of a crontab expression in `timezone`,
    up to `jitter` seconds late."""

    __slots__ = ("expression", "jitter", "timezone")

    def __init__(self, expression: str, timezone: str = "UTC", jitter: int | None = None):
        self.timezone = ZoneInfo(timezone)
        self.expression = checked(expression, self.timezone)
        self.jitter = jitter

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        start = (previous_fire_time or now).astimezone(self.timezone)
        following: datetime = croniter(self.expression, start).get_next(datetime)
        return self._apply_jitter(following, self.jitter, now)

    def __str__(self) -> str:
        return f"cron[{self.expression!r}, {self.timezone.key}]"
