"""Predictive pre-scaling: scheduled minimums ahead of a workload's recurring peaks.

Why: an autoscaler reacts to load it already sees, after its sync period and the pods'
start-up; users ask to "scale up before the Monday peak". A workload whose demand follows
the week (office hours, a nightly batch) can have its replicas ready before each peak and a
low minimum the rest of the week, where a flat minimum that serves the peak as reliably
holds those replicas all week.

Demand is counted in replicas: the CPU the pods used together, hour by hour, over what one
pod serves at the autoscaler's target. Each slot of the week, a weekday and an hour in the
workload's own time zone (so a 09:00 peak stays at 09:00 across a daylight-saving change),
gets the (1 - risk) quantile of the same slot in the past weeks; a daily pattern, each hour
of the day with every weekday alike, is tried too, and the one that saves more is kept. A
pattern counts only when its own backtest confirms it: a schedule built from the other
weeks must cover each of the last weeks as often as the risk allows, and hold less capacity
than the flat minimum that would have been short of that week's demand as rarely. The
schedule becomes KEDA cron triggers: one per run of hours above the week's minimum, each
starting `lead` ahead, runs with the same times merged across weekdays.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

import numpy as np
import pandas as pd

from recommenders.model import WorkloadSpec
from recommenders.sources.usage import WorkloadUsage

WEEK_HOURS = 168
DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
Period = Literal["week", "day"]
PERIODS: dict[Period, int] = {"week": WEEK_HOURS, "day": 24}
"""The patterns tried: each hour of the week, or each hour of the day with every weekday
alike (seven times the samples per slot: steadier on a few weeks of bursty data)."""
MAX_TRIGGERS = 6
"""More distinct peaks than this is no pattern a reviewer could check at a glance."""
MIN_SAVING = 0.15
"""A schedule that holds less than 15 % fewer replica-hours than the flat minimum is not
worth the triggers it adds."""
TOLERANCE = 1.5
"""How much more often than the risk a held-out week may go short before the pattern
counts as unconfirmed: a few weeks of hourly data are noisy."""


@dataclass(frozen=True)
class CronTrigger:
    """A KEDA `cron` trigger: `desired` replicas from `start` to `end`, local time."""

    start_days: tuple[int, ...]
    """Weekdays the start fires on, Monday 0 (Python's numbering)."""
    start_minute: int
    """Minutes after local midnight."""
    end_days: tuple[int, ...]
    end_minute: int
    desired: int

    @property
    def start(self) -> str:
        return _cron(self.start_minute, self.start_days)

    @property
    def shown(self) -> str:
        """`Mon–Fri 08:45–12:00`, local time, as a reviewer reads it."""
        days = self.start_days
        if len(days) == 7:
            named = "every day"
        elif len(days) > 2 and days == tuple(range(days[0], days[-1] + 1)):
            named = f"{DAYS[days[0]]}–{DAYS[days[-1]]}"
        else:
            named = ", ".join(DAYS[day] for day in days)
        start, end = self.start_minute, self.end_minute
        return f"{named} {start // 60:02d}:{start % 60:02d}–{end // 60:02d}:{end % 60:02d}"

    @property
    def end(self) -> str:
        return _cron(self.end_minute, self.end_days)


@dataclass(frozen=True)
class Backtest:
    """How the schedule did against the flat minimum on weeks it was not built from."""

    period: Period
    weeks: int
    violation: float
    """Share of held-out hours whose demand was above the schedule's minimum."""
    flat_violation: float
    """The same for the flat minimum compared: at most `violation`."""
    saving: float
    """Replica-hours the schedule holds fewer than that flat minimum, as a share of it."""


@dataclass(frozen=True)
class Prescale:
    timezone: str
    minimum: int
    """The minimum outside the triggers: the week's lowest slot (or the policy's floor)."""
    flat: int
    """The flat minimum that covers demand as often as the schedule's slots do."""
    triggers: tuple[CronTrigger, ...]
    levels: tuple[tuple[int, ...], ...]
    """The scheduled minimum per weekday (Monday first) and local hour."""
    backtest: Backtest

    @property
    def saved_replica_hours(self) -> int:
        """Replica-hours a week the schedule holds fewer than the flat minimum."""
        return self.flat * WEEK_HOURS - sum(map(sum, self.levels))


def needed_replicas(demand: pd.Series, capacity: float) -> pd.Series:
    """Replicas each hour's demand (cores, all pods together) needs at `capacity` cores a pod."""
    return np.ceil(demand.dropna() / capacity - 1e-9).clip(lower=1)


def workload_needs(spec: WorkloadSpec, usage: WorkloadUsage) -> pd.Series | None:
    """The replicas a workload needed each hour: its pods' CPU together over what a pod
    serves at the autoscaler's CPU target; for an autoscaler on another signal (a KEDA
    queue, a request rate), the replicas it ran. None without an autoscaler or replicas."""
    if spec.hpa is None or usage.replicas is None:
        return None
    pod = sum(container.requests.get("cpu", 0.0) for container in spec.containers)
    target = spec.hpa.cpu_utilization
    if target and pod > 0 and usage.cpu:
        demand = sum(usage.cpu.values()) * usage.replicas
        return needed_replicas(demand, pod * target / 100)
    return np.ceil(usage.replicas.dropna() - 1e-9).clip(lower=1)


def prescale(
    needed: pd.Series,
    timezone: str,
    *,
    risk: float = 0.05,
    lead: timedelta = timedelta(minutes=15),
    floor: int = 1,
    min_weeks: int = 3,
) -> Prescale | None:
    """The schedule for `needed` (replicas by hour, a UTC index), or None when the data is
    shorter than `min_weeks`, or the backtest does not confirm a weekly pattern."""
    hours = _weeks(needed, timezone)
    _, slots, values = hours
    tests = [_backtest(hours, period, risk, floor, min_weeks) for period in PERIODS]
    passed = [
        t
        for t in tests
        if t is not None and t.saving >= MIN_SAVING and t.violation <= TOLERANCE * risk
    ]
    if not passed:
        return None
    test = max(passed, key=lambda t: t.saving)
    levels = _levels(values, slots, risk, floor, test.period)
    minimum = int(levels.min())
    triggers = _triggers(levels, minimum, lead)
    if not triggers or len(triggers) > MAX_TRIGGERS:
        return None
    flat = _flat(values, float(np.mean(values > levels.ravel()[slots])), floor)
    return Prescale(
        timezone,
        minimum,
        flat,
        triggers,
        tuple(tuple(int(v) for v in day) for day in levels),
        test,
    )


def backtest(
    needed: pd.Series,
    timezone: str,
    period: Period,
    *,
    risk: float = 0.05,
    floor: int = 1,
    min_weeks: int = 3,
) -> Backtest | None:
    """Leave one week out, for each of the last three whole weeks: the schedule of `period`
    built from the others against the flat minimum short of the held-out week as rarely.
    None with fewer than `min_weeks` whole weeks. Why three: a month of hourly usage, what
    a plan reads, holds four."""
    return _backtest(_weeks(needed, timezone), period, risk, floor, min_weeks)


def _backtest(
    hours: tuple[np.ndarray, np.ndarray, np.ndarray],
    period: Period,
    risk: float,
    floor: int,
    min_weeks: int,
) -> Backtest | None:
    week, slots, values = hours
    counts = np.bincount(week) if len(week) else np.array([], dtype=int)
    complete = [w for w, count in enumerate(counts) if count >= WEEK_HOURS - 1]
    if len(complete) < min_weeks:
        return None
    results = []
    for held in complete[-3:]:
        train, test = week != held, week == held
        levels = _levels(values[train], slots[train], risk, floor, period)
        violation = float((values[test] > levels.ravel()[slots[test]]).mean())
        flat = _flat(values[test], violation, floor)
        results.append(
            (violation, float((values[test] > flat).mean()), 1 - levels.sum() / (flat * WEEK_HOURS))
        )
    violation, flat_violation, saving = (float(np.mean(r)) for r in zip(*results, strict=True))
    return Backtest(period, len(results), violation, flat_violation, saving)


def _weeks(needed: pd.Series, timezone: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each hour's week (counted in UTC days from the first: a local midnight may not exist
    on the day clocks go forward), its slot of the local week (Monday 00:00 first) and its
    value."""
    local = needed.tz_convert(timezone)
    if not len(local):
        return np.array([], dtype=int), np.array([], dtype=int), np.array([])
    start = needed.index[0].floor("D")
    week = ((needed.index - start) // pd.Timedelta(days=7)).to_numpy()
    slots = (local.index.day_of_week * 24 + local.index.hour).to_numpy()
    return week, slots, local.to_numpy(float)


def _levels(
    values: np.ndarray, slots: np.ndarray, risk: float, floor: int, period: Period
) -> np.ndarray:
    """The (1 - risk) quantile of each slot, in whole replicas, as 7 x 24: of each hour of
    the week, or (a daily pattern) of each hour of the day, every weekday alike. A slot with
    no data takes the highest."""
    width = PERIODS[period]
    keys = slots % width
    levels = np.full(width, np.nan)
    for slot in range(width):
        seen = values[keys == slot]
        if len(seen):
            levels[slot] = np.quantile(seen, 1 - risk)
    levels[np.isnan(levels)] = np.nanmax(levels)
    whole = np.maximum(floor, np.ceil(levels - 1e-9)).astype(int)
    return np.tile(whole, WEEK_HOURS // width).reshape(7, 24)


def _flat(values: np.ndarray, violation: float, floor: int) -> int:
    """The flat minimum short of demand no more often than `violation`."""
    return max(floor, math.ceil(float(np.quantile(values, 1 - violation, method="higher")) - 1e-9))


def _triggers(levels: np.ndarray, minimum: int, lead: timedelta) -> tuple[CronTrigger, ...]:
    """One trigger per run of hours above `minimum` in a day, at the run's highest level,
    starting `lead` early; runs with the same times and level merged across weekdays."""
    grouped: dict[tuple[int, int, int], tuple[set[int], set[int]]] = {}
    ahead = int(lead.total_seconds() // 60)
    for day in range(7):
        hour = 0
        while hour < 24:
            if levels[day, hour] <= minimum:
                hour += 1
                continue
            end = hour
            while end < 24 and levels[day, end] > minimum:
                end += 1
            desired = int(levels[day, hour:end].max())
            start = day * 1440 + hour * 60 - ahead
            start_day, start_minute = (start // 1440) % 7, start % 1440
            stop = day * 1440 + end * 60
            end_day, end_minute = (stop // 1440) % 7, stop % 1440
            days = grouped.setdefault((start_minute, end_minute, desired), (set(), set()))
            days[0].add(start_day)
            days[1].add(end_day)
            hour = end
    return tuple(
        CronTrigger(tuple(sorted(starts)), start, tuple(sorted(ends)), end, desired)
        for (start, end, desired), (starts, ends) in sorted(
            grouped.items(), key=lambda item: (min(item[1][0]), item[0])
        )
    )


def _cron(minute_of_day: int, days: tuple[int, ...]) -> str:
    """`45 8 * * 1-5`: cron numbers Sunday 0, Python Monday 0."""
    cron_days = sorted((day + 1) % 7 for day in days)
    return f"{minute_of_day % 60} {minute_of_day // 60} * * {_ranges(cron_days)}"


def _ranges(days: list[int]) -> str:
    if len(days) == 7:
        return "*"
    parts: list[str] = []
    run = [days[0]]
    for day in days[1:]:
        if day == run[-1] + 1:
            run.append(day)
            continue
        parts.append(_run(run))
        run = [day]
    parts.append(_run(run))
    return ",".join(parts)


def _run(days: list[int]) -> str:
    return f"{days[0]}-{days[-1]}" if len(days) > 2 else ",".join(map(str, days))
