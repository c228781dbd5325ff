"""Freeze windows hold pull requests back by the wall clock of their own time zone.

Every instant below is worked out by hand in a comment. New York is UTC-5 (EST) in winter and
UTC-4 (EDT) from 2026-03-08 02:00 to 2026-11-01 02:00; Berlin is UTC+1 in winter; Tokyo is
UTC+9 all year.
"""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from bot.manifests.yamlio import parse_documents, parse_positioned
from bot.rules.freeze import FreezeWindow, active_freeze, freeze_hit, parse_freeze
from recommenders.errors import InputError

SHOWN = "policies/rightsizer.yaml"
HEADER = "min_change_percent: 5\nfreeze:\n"
"""Two lines before the list, so the first item is on line 3."""

HOLIDAYS = """\
  - from: "2026-12-20T00:00"
    to: "2027-01-04T00:00"
    timezone: Europe/Berlin
    reason: holiday freeze
"""
WEEKEND = """\
  - cron: "0 16 * * FRI"
    duration: 64h
    timezone: America/New_York
    reason: weekend
"""


def _windows(items: str) -> tuple[FreezeWindow, ...]:
    (document,) = parse_documents(HEADER + items, SHOWN)
    return parse_freeze(document["freeze"], SHOWN)


def _utc(year: int, month: int, day: int, hour: int, minute: int, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def _active(items: str, now: datetime) -> bool:
    return active_freeze(_windows(items), now) is not None


def test_windows_describe_themselves_for_pull_requests():
    holidays, weekend = _windows(HOLIDAYS + WEEKEND)
    assert (
        holidays.describe() == "holiday freeze (2026-12-20 00:00 – 2027-01-04 00:00 Europe/Berlin)"
    )
    assert weekend.describe() == "weekend (0 16 * * FRI for 64h, America/New_York)"


def test_a_date_range_starts_inclusive_and_ends_exclusive():
    # Berlin midnight 2026-12-20 is 2026-12-19 23:00 UTC; midnight 2027-01-04 is 01-03 23:00 UTC.
    assert not _active(HOLIDAYS, _utc(2026, 12, 19, 22, 59, 59))
    assert _active(HOLIDAYS, _utc(2026, 12, 19, 23, 0))
    assert _active(HOLIDAYS, _utc(2027, 1, 3, 22, 59, 59))
    assert not _active(HOLIDAYS, _utc(2027, 1, 3, 23, 0))


def test_a_date_without_a_time_is_midnight_in_its_zone():
    dates = "  - from: 2026-12-20\n    to: 2027-01-04\n    timezone: Europe/Berlin\n"
    assert _windows(dates)[0].schedule == _windows(HOLIDAYS)[0].schedule


def test_a_window_without_a_zone_is_in_utc():
    items = "  - from: 2026-12-20\n    to: 2026-12-21\n"
    assert not _active(items, _utc(2026, 12, 19, 23, 59, 59))
    assert _active(items, _utc(2026, 12, 20, 0, 0))
    hit = freeze_hit(_windows(items), _utc(2026, 12, 20, 12, 0))
    assert hit is not None
    assert "until 2026-12-21 00:00 UTC (freeze window (2026-12-20 00:00" in hit.text


def test_weekend_window_in_winter():
    # Friday 2026-01-09 16:00 EST is 21:00 UTC; 64 h later is Monday 01-12 13:00 UTC (08:00 EST).
    assert not _active(WEEKEND, _utc(2026, 1, 9, 20, 0))  # Friday 15:00 in New York
    assert _active(WEEKEND, _utc(2026, 1, 9, 21, 0))  # the match itself counts
    assert _active(WEEKEND, _utc(2026, 1, 10, 3, 0))  # Friday 22:00 in New York
    assert _active(WEEKEND, _utc(2026, 1, 12, 12, 59, 59))
    assert not _active(WEEKEND, _utc(2026, 1, 12, 13, 0))


def test_freeze_hit_names_the_end_in_the_windows_zone_and_in_utc():
    hit = freeze_hit(_windows(WEEKEND), _utc(2026, 1, 10, 3, 0))
    assert hit is not None
    assert hit.rule == "freeze"
    assert hit.text == (
        "in a freeze window: no pull request is opened until 2026-01-12 08:00 America/New_York"
        " (2026-01-12 13:00 UTC) (weekend (0 16 * * FRI for 64h, America/New_York))"
    )
    assert freeze_hit(_windows(WEEKEND), _utc(2026, 1, 9, 20, 0)) is None


def test_weekend_window_follows_new_york_clocks_into_summer_time():
    # 2026-03-08 02:00 EST became 03:00 EDT. Friday 03-06 16:00 EST is 21:00 UTC, but Friday
    # 03-13 16:00 EDT is 20:00 UTC: the same UTC instant of the week is outside in winter
    # and inside after the change.
    assert not _active(WEEKEND, _utc(2026, 3, 6, 20, 30))  # 15:30 EST
    assert _active(WEEKEND, _utc(2026, 3, 13, 20, 30))  # 16:30 EDT
    # The window across the change lasts 64 elapsed hours, from 03-06 21:00 UTC to 03-09 13:00
    # UTC: 09:00 EDT on Monday, since the clocks skipped an hour.
    assert _active(WEEKEND, _utc(2026, 3, 9, 12, 59))
    assert not _active(WEEKEND, _utc(2026, 3, 9, 13, 0))
    hit = freeze_hit(_windows(WEEKEND), _utc(2026, 3, 8, 12, 0))
    assert hit is not None
    assert "until 2026-03-09 09:00 America/New_York (2026-03-09 13:00 UTC)" in hit.text


def test_weekend_window_follows_new_york_clocks_back_to_winter_time():
    # 2026-11-01 02:00 EDT became 01:00 EST. Friday 10-30 16:00 EDT is 20:00 UTC; 64 h later is
    # Monday 11-02 12:00 UTC, 07:00 EST. Friday 11-06 16:00 EST is 21:00 UTC.
    assert _active(WEEKEND, _utc(2026, 10, 30, 20, 0))
    assert _active(WEEKEND, _utc(2026, 11, 2, 11, 59))
    assert not _active(WEEKEND, _utc(2026, 11, 2, 12, 0))
    assert not _active(WEEKEND, _utc(2026, 11, 6, 20, 30))  # 15:30 EST
    assert _active(WEEKEND, _utc(2026, 11, 6, 21, 0))
    hit = freeze_hit(_windows(WEEKEND), _utc(2026, 11, 1, 6, 30))  # 01:30 EST, the second one
    assert hit is not None
    assert "until 2026-11-02 07:00 America/New_York (2026-11-02 12:00 UTC)" in hit.text


def test_freeze_window_in_another_time_zone():
    # Nights in Tokyo, 18:00-09:00 JST, are 09:00-00:00 UTC: at 2026-06-01 20:00 UTC it is
    # already Tuesday 05:00 in Tokyo, inside the window that began Monday 18:00 JST.
    nights = "  - cron: 0 18 * * *\n    duration: 15h\n    timezone: Asia/Tokyo\n"
    assert not _active(nights, _utc(2026, 6, 1, 8, 59))
    assert _active(nights, _utc(2026, 6, 1, 9, 0))
    assert _active(nights, _utc(2026, 6, 1, 20, 0))
    assert _active(nights, _utc(2026, 6, 1, 23, 59, 59))
    assert not _active(nights, _utc(2026, 6, 2, 0, 0))
    # Golden Week from 2026-04-29 in Tokyo begins at 2026-04-28 15:00 UTC, a day early in UTC.
    golden = "  - from: 2026-04-29\n    to: 2026-05-07\n    timezone: Asia/Tokyo\n"
    assert not _active(golden, _utc(2026, 4, 28, 14, 59))
    assert _active(golden, _utc(2026, 4, 28, 15, 0))
    hit = freeze_hit(_windows(golden), _utc(2026, 5, 1, 0, 0))
    assert hit is not None
    assert "until 2026-05-07 00:00 Asia/Tokyo (2026-05-06 15:00 UTC)" in hit.text


def test_now_in_any_zone_is_the_same_instant():
    # Saturday 2026-01-10 03:00 UTC is 12:00 in Tokyo and Friday 22:00 in New York.
    saturday = _utc(2026, 1, 10, 3, 0)
    for zone in ("Asia/Tokyo", "America/New_York", "Europe/Berlin"):
        assert _active(WEEKEND, saturday.astimezone(ZoneInfo(zone)))


def test_of_overlapping_windows_the_one_ending_last_is_named():
    # The holidays end 2027-01-03 23:00 UTC; the weekend from Friday 01-01 16:00 EST (21:00 UTC)
    # ends Monday 01-04 13:00 UTC, later, so it is the one that holds pull requests longest.
    window = active_freeze(_windows(HOLIDAYS + WEEKEND), _utc(2027, 1, 2, 12, 0))
    assert window is not None
    assert window.reason == "weekend"


def test_a_naive_now_is_refused():
    with pytest.raises(ValueError, match="no time zone"):
        active_freeze(_windows(HOLIDAYS), datetime(2026, 12, 24, 12, 0))


def test_the_positioned_loader_gives_the_same_windows():
    (document,) = parse_positioned(HEADER + HOLIDAYS + WEEKEND, SHOWN)
    assert parse_freeze(document["freeze"], SHOWN) == _windows(HOLIDAYS + WEEKEND)


@pytest.mark.parametrize(
    ("items", "line", "problem"),
    [
        (WEEKEND + "    reson: typo\n", 7, "unknown key 'reson' in freeze; known keys: from,"),
        ("  - weekend\n", 3, "freeze item 1: expected a mapping, got 'weekend'"),
        ("  - reason: nothing to freeze\n", 3, "freeze item 1: give either from/to or cron"),
        (
            HOLIDAYS + "  - timezone: UTC\n    reason: nothing\n",
            7,
            "freeze item 2: give either from/to or cron/duration",
        ),
        (
            HOLIDAYS + "    cron: 0 16 * * FRI\n    duration: 64h\n",
            7,
            "cron: a window is a date range (from/to) or a cron, not both",
        ),
        ("  - from: 2026-12-20\n", 3, "from: needs `to` too"),
        ("  - reason: r\n    duration: 1h\n", 4, "duration: needs `cron` too"),
        (
            '  - from: "20.12.2026"\n    to: 2027-01-04\n',
            3,
            "from: '20.12.2026' is not a date like 2026-12-20 or 2026-12-20T08:00",
        ),
        ('  - from: 2026-12-20\n    to: "2027-13-01"\n', 4, "to: '2027-13-01' is not a date"),
        ("  - from: 2026-12-20\n    to: 7\n", 4, "to: expected a date, got 7"),
        (
            "  - from: 2026-12-20T00:00:00+01:00\n    to: 2027-01-04\n",
            3,
            "from: 2026-12-20T00:00:00+01:00 has a UTC offset; give the zone in `timezone:`",
        ),
        (
            "  - from: 2026-12-20\n    to: 2026-12-20T00:00\n",
            4,
            "to: 2026-12-20 00:00 is not after from (2026-12-20 00:00)",
        ),
        ("  - from: 2027-01-04\n    to: 2026-12-20\n", 4, "to: 2026-12-20 00:00 is not after"),
        (
            HOLIDAYS.replace("Europe/Berlin", "Europe/Berln"),
            5,
            "timezone: unknown time zone 'Europe/Berln'; expected an IANA name",
        ),
        (HOLIDAYS.replace("Europe/Berlin", "Europe"), 5, "timezone: unknown time zone 'Europe';"),
        (
            HOLIDAYS.replace("Europe/Berlin", "../etc/passwd"),
            5,
            "timezone: unknown time zone '../etc/passwd';",
        ),
        (HOLIDAYS.replace("Europe/Berlin", "+01:00"), 5, "timezone: unknown time zone '+01:00';"),
        (
            WEEKEND.replace("0 16 * * FRI", "0 16 * * FRY"),
            3,
            "cron: '0 16 * * FRY' is not a valid cron expression",
        ),
        (
            WEEKEND.replace("0 16 * * FRI", "61 16 * * FRI"),
            3,
            "cron: '61 16 * * FRI' is not a valid cron",
        ),
        (
            WEEKEND.replace("0 16 * * FRI", "0 0 16 * * FRI"),
            3,
            "cron: '0 0 16 * * FRI' needs five fields: minute hour day-of-month month",
        ),
        (WEEKEND.replace("0 16 * * FRI", "0 0 30 2 *"), 3, "cron: '0 0 30 2 *' never matches"),
        (WEEKEND.replace("64h", "64x"), 4, "duration: '64x' is not a duration like 30d, 12h"),
        (WEEKEND.replace("64h", "0h"), 4, "duration: '0h' must be longer than zero"),
        (WEEKEND.replace("64h", "64"), 4, "duration: expected str, got 64"),
        (WEEKEND.replace("reason: weekend", "reason: [a]"), 6, "reason: expected str"),
    ],
)
def test_a_malformed_window_names_its_line(items, line, problem):
    with pytest.raises(InputError) as error:
        _windows(items)
    assert error.value.where == f"{SHOWN}:{line}"
    assert error.value.problem.startswith(problem)
