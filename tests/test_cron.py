"""Schedules and freeze windows read crontab expressions as cron does (croniter), where
APScheduler's own trigger did not: the day-of-month/weekday OR, steps in the weekday field,
7 for Sunday, and local time across a daylight-saving change."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.cron import CronSchedule

BERLIN = ZoneInfo("Europe/Berlin")


def _fires(expression: str, start: datetime, count: int, zone: str = "UTC") -> list[datetime]:
    trigger = CronSchedule(expression, zone)
    times, previous = [], None
    for _ in range(count):
        previous = trigger.get_next_fire_time(previous, start)
        times.append(previous)
    return times


def test_day_of_month_and_weekday_fire_on_either_as_cron_does():
    # The 1st of the month, and every Monday: 2026-12-01 is a Tuesday.
    fired = _fires("0 6 1 * 1", datetime(2026, 11, 30, 12, tzinfo=ZoneInfo("UTC")), 4)
    assert [t.strftime("%a %d %H:%M") for t in fired] == [
        "Tue 01 06:00", "Mon 07 06:00", "Mon 14 06:00", "Mon 21 06:00",
    ]  # fmt: skip


def test_steps_and_sunday_as_seven_in_the_weekday_field():
    start = datetime(2026, 12, 1, tzinfo=ZoneInfo("UTC"))  # a Tuesday
    assert [t.strftime("%a") for t in _fires("0 6 * * */2", start, 4)] == [
        "Tue", "Thu", "Sat", "Sun",
    ]  # fmt: skip
    assert {t.strftime("%a") for t in _fires("0 6 * * 7", start, 3)} == {"Sun"}


def test_local_time_holds_across_a_daylight_saving_change():
    fired = _fires("0 6 * * *", datetime(2026, 3, 27, 12, tzinfo=BERLIN), 3, "Europe/Berlin")
    assert [t.astimezone(BERLIN).hour for t in fired] == [6, 6, 6]
    utc = [t.astimezone(ZoneInfo("UTC")).hour for t in fired]
    assert utc == [5, 4, 4]  # CET, then CEST from 29 March


def test_jitter_delays_a_fire_by_at_most_its_seconds():
    start = datetime(2026, 12, 1, tzinfo=ZoneInfo("UTC"))
    trigger = CronSchedule("0 6 * * *", "UTC", jitter=900)
    for _ in range(20):
        fired = trigger.get_next_fire_time(None, start)
        assert start.replace(hour=6) <= fired <= start.replace(hour=6) + timedelta(seconds=900)


@pytest.mark.parametrize(
    ("expression", "said"),
    [
        ("0 6 * *", "needs five fields"),
        ("0 0 6 * * *", "needs five fields"),  # croniter would read seconds first
        ("0 6 * * FRY", "is not a valid cron expression"),
        ("0 6 * * 8", "is not a valid cron expression"),
        ("0 0 30 2 *", "never matches"),
    ],
)
def test_an_expression_cron_cannot_run_is_refused_by_what_is_wrong(expression, said):
    with pytest.raises(ValueError, match=said):
        CronSchedule(expression)
