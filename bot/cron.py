"""Crontab expressions read the way cron reads them, into APScheduler triggers.

APScheduler 3 counts weekdays from Monday = 0, so its `from_crontab("0 6 * * 1")` fires on
Tuesdays, and it refuses `7` and the `@daily` shorthands cron accepts. Numeric weekdays are
turned into names here (0 and 7 are Sunday), and the shorthands into their five fields, so
a repository's schedule runs when its author meant; checking and running share this parser.
"""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger

DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun")
SHORTHANDS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}


def crontab_trigger(expression: str, timezone: str = "UTC") -> CronTrigger:
    """A trigger for a five-field crontab expression; ValueError names what is wrong."""
    fields = SHORTHANDS.get(expression.strip(), expression).split()
    if len(fields) != 5:
        raise ValueError(f"{expression!r} needs five fields: minute hour day month weekday")
    minute, hour, day, month, weekday = fields
    try:
        return CronTrigger(
            minute=minute,
            hour=hour,
            day=day,
            month=month,
            day_of_week=re.sub(r"\d+", lambda m: _day(m.group()), weekday),
            timezone=ZoneInfo(timezone),
        )
    except (ValueError, KeyError) as exc:
        raise ValueError(f"{expression!r}: {exc}") from exc


def _day(number: str) -> str:
    if int(number) > 7:
        raise ValueError(f"weekday {number} is not 0-7")
    return DAYS[int(number)]
