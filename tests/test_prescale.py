"""Predictive pre-scaling (recommenders/prescale.py): KEDA cron triggers ahead of recurring
peaks, at local times, only where the workload's own backtest confirms the pattern."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from recommenders.prescale import CronTrigger, needed_replicas, prescale

BERLIN = "Europe/Berlin"
CAPACITY = 0.5
"""Cores one pod serves at the autoscaler's target."""


def _demand(peak_hours: np.ndarray | None = None, seed: int = 3) -> pd.Series:
    """Five weeks of hourly CPU demand across Berlin's change from summer time (25 October
    2026, 03:00 -> 02:00): 0.8 cores (2 pods), and 3.8 cores (8 pods) where `peak_hours`
    (by hour index) says, by default weekdays 09:00-12:00 local time."""
    hours = pd.date_range("2026-10-05T00:00", "2026-11-08T23:00", freq="h", tz=BERLIN)
    hours = hours.tz_convert("UTC")
    local = hours.tz_convert(BERLIN)
    if peak_hours is None:
        peak_hours = (local.day_of_week < 5) & (local.hour >= 9) & (local.hour < 12)
    rng = np.random.default_rng(seed)
    demand = np.where(peak_hours, 3.8, 0.8) + rng.uniform(-0.05, 0.05, len(hours))
    return pd.Series(demand, hours)


def test_a_weekday_morning_peak_gets_triggers_at_local_times_across_summer_time():
    needed = needed_replicas(_demand(), CAPACITY)
    schedule = prescale(needed, BERLIN, lead=timedelta(minutes=15))
    assert schedule is not None
    (trigger,) = schedule.triggers
    # 08:45 to 12:00 Berlin time, Monday to Friday, before and after 25 October alike
    # (07:00 UTC in summer and 08:00 UTC in winter are the same 09:00 peak).
    assert (trigger.start, trigger.end, trigger.desired) == ("45 8 * * 1-5", "0 12 * * 1-5", 8)
    assert schedule.minimum == 2 and schedule.flat == 8
    assert schedule.saved_replica_hours == 8 * 168 - (2 * 168 + 6 * 3 * 5)
    assert schedule.backtest.violation <= 0.05 and schedule.backtest.saving > 0.6


def test_a_lead_past_midnight_starts_the_trigger_the_day_before():
    local = pd.date_range("2026-10-05", "2026-11-08T23:00", freq="h", tz=BERLIN)
    monday_early = (local.day_of_week == 0) & (local.hour < 3)
    needed = needed_replicas(_demand(monday_early), CAPACITY)
    schedule = prescale(needed, BERLIN, lead=timedelta(minutes=30))
    assert schedule is not None
    assert schedule.triggers == (CronTrigger((6,), 23 * 60 + 30, (0,), 180, 8),)
    assert (schedule.triggers[0].start, schedule.triggers[0].end) == ("30 23 * * 0", "0 3 * * 1")


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_peaks_at_a_different_hour_each_day_are_no_pattern(seed):
    rng = np.random.default_rng(seed)
    local = pd.date_range("2026-10-05", "2026-11-08T23:00", freq="h", tz=BERLIN)
    daily = rng.integers(0, 24, len(local) // 24 + 1)  # each day's peak starts at random
    start = daily[np.arange(len(local)) // 24]
    peaks = (local.hour - start) % 24 < 3  # every hour of the day as likely as the next
    needed = needed_replicas(_demand(np.asarray(peaks), seed), CAPACITY)
    assert prescale(needed, BERLIN) is None


def test_flat_demand_or_too_few_weeks_give_no_schedule():
    flat = needed_replicas(_demand(np.zeros(35 * 24 + 1, dtype=bool)), CAPACITY)
    assert prescale(flat, BERLIN) is None
    two_weeks = needed_replicas(_demand().iloc[: 14 * 24], CAPACITY)
    assert prescale(two_weeks, BERLIN) is None


def test_data_starting_on_a_day_without_a_local_midnight_is_counted_in_weeks():
    """Santiago moved its clocks from 00:00 to 01:00 on 8 September 2024: that day has no
    local midnight to count weeks from."""
    hours = pd.date_range("2024-09-08T04:00Z", periods=24 * 35, freq="h")
    local = hours.tz_convert("America/Santiago")
    peaks = (local.day_of_week < 5) & (local.hour >= 9) & (local.hour < 12)
    needed = pd.Series(np.where(peaks, 8.0, 2.0), hours)
    schedule = prescale(needed, "America/Santiago", lead=timedelta(0))
    assert schedule is not None
    assert [(t.start, t.end) for t in schedule.triggers] == [("0 9 * * 1-5", "0 12 * * 1-5")]
