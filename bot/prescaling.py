"""Pre-scaling PRs: one per environment, writing the KEDA cron triggers of the schedules the
plan found (`recommenders.prescale`) into the workloads' ScaledObjects.

A PR of its own, beside the environment's rightsizing PR: a schedule is a new behaviour to
review on its own evidence (the pattern, its backtest), and merging or closing one never
holds the other back. A freeze window holds it as it holds that PR; the PR limits do not,
as it saves nothing to count against them. The triggers are written by
`bot.manifests.schedules` and proven like every edit; a reviewer who closes the PR is not
asked again, and a person who pushes to its branch owns it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from bot.compose import own_pull_text
from bot.decisions.model import RuleHit
from bot.forges.base import PullRequest
from bot.manifests.model import Workload
from bot.manifests.schedules import (
    PREFIX,
    ScheduleEdit,
    keda_triggers,
    schedule_file_changes,
    schedule_problem,
    takes_over,
)
from bot.manifests.yamlio import read_if_present
from bot.planner import workload_key
from bot.pr_metadata import PullRequestMetadata
from bot.pr_sections import fenced
from bot.proof import ProofFailed, prove
from bot.rules.freeze import freeze_hit
from bot.run import GroupResult, Publishing, converge_pull, standing_hold
from recommenders.errors import InputError
from recommenders.prescale import DAYS, Prescale


@dataclass(frozen=True)
class Scheduled:
    """One workload's schedule, as the PR shows it; None: the schedule the bot wrote before
    is removed, since the policy turned pre-scaling off for it."""

    workload: Workload
    schedule: Prescale | None
    hours: tuple[str, ...]
    """The chart's x labels: every other hour of the local day."""
    peak: tuple[int, ...]
    """The scheduled minimum of the busiest weekday, two hours a point."""
    week: tuple[tuple[str, ...], tuple[int, ...]] = ((), ())
    """A weekly pattern's profile: the scheduled minimum of each half day, and its labels."""
    takeover: bool = False
    """A ScaledObject is created to take the workload's HPA over."""
    problem: str | None = None
    """Why the schedule is not written (the PR says so, and writes the others)."""


def publish_schedules(job: Publishing, pulls: Sequence[PullRequest]) -> list[GroupResult]:
    """A pre-scaling PR per environment with a schedule for a KEDA-scaled workload (or an
    HPA one the policy lets KEDA take over), or with the bot's triggers to remove where the
    policy turned pre-scaling off. A schedule the backtest no longer confirms this week
    stays: taking it away and putting it back as the weeks come would be a PR each time."""
    by_environment: dict[str, list[Scheduled]] = {}
    for workload in job.plan.inventory.workloads:
        if workload.hpa is None:
            continue
        key = workload_key(workload)
        schedule = job.plan.schedules.get(key)  # the planner keeps only writable ones
        rules = job.plan.rules.get(key)
        takeover = takes_over(workload)
        if schedule is not None:
            problem = schedule_problem(job.plan.inventory, workload, job.files, takeover)
            found = replace(_scheduled(workload, schedule, takeover), problem=problem)
        elif takeover:
            continue
        elif rules is not None and not rules.prescale.enabled and _has_ours(job, workload):
            problem = schedule_problem(job.plan.inventory, workload, job.files, False)
            found = Scheduled(workload, None, (), (), problem=problem)
        else:
            continue
        by_environment.setdefault(workload.environment, []).append(found)
    return [
        _publish(job, environment_name, found, pulls)
        for environment_name, found in sorted(by_environment.items())
    ]


def _publish(
    job: Publishing, name: str, found: list[Scheduled], pulls: Sequence[PullRequest]
) -> GroupResult:
    group = f"prescale-{name}"
    branch = f"{job.config.branch_prefix}{group}"
    held = standing_hold(job, group, branch, pulls)
    if held is not None:
        return held
    for item in found:
        rules = job.plan.rules.get(workload_key(item.workload))
        frozen = freeze_hit(rules.freeze, job.now) if rules is not None else None
        if frozen is not None:
            return GroupResult(group, branch, "held", "not opened", frozen.text, hold=frozen)
    edits = [
        ScheduleEdit(s.workload, keda_triggers(s.schedule) if s.schedule else (), s.takeover)
        for s in found
        if s.problem is None
    ]
    if not edits:  # not a failure: a decision, which the dashboard lists as a hold
        why = "; ".join(f"{s.workload.ref} {s.problem}" for s in found if s.problem)
        hit = RuleHit("prescale-not-written", why)
        return GroupResult(group, branch, "held", "not opened", why, hold=hit)
    try:
        changes = schedule_file_changes(job.plan.inventory, edits, job.files)
        if not changes:
            return GroupResult(group, branch, "unchanged", "not opened", "already scheduled")
        diff = prove(job.files, job.plan.inventory, changes, [], edits)
    except (ProofFailed, InputError) as exc:
        return GroupResult(group, branch, "failed", "not opened", str(exc))
    context = {
        "environment": name,
        "scheduled": found,
        "diff": fenced([d.labelled(f"{d.kind}/{d.name}") for d in diff]),
    }
    metadata = PullRequestMetadata(group, ())
    text = own_pull_text(job.files, "prescale", context, metadata, job.forge.body_limit)
    return converge_pull(job, group, branch, changes, text)


def _has_ours(job: Publishing, workload: Workload) -> bool:
    assert workload.hpa is not None
    text = read_if_present(job.files, workload.hpa.origin_file)
    return text is not None and PREFIX in text


def _scheduled(workload: Workload, schedule: Prescale, takeover: bool) -> Scheduled:
    """The charts' points: twelve for the busiest day, fourteen for a week's half days, so
    that every x label stays readable."""
    busiest = max(schedule.levels, key=sum)
    pairs = range(0, 24, 2)
    week: tuple[tuple[str, ...], tuple[int, ...]] = ((), ())
    if schedule.backtest.period == "week":
        halves = [(day, half) for day in range(7) for half in (0, 12)]
        week = (
            tuple(f"{DAYS[day]} {half:02d}h" for day, half in halves),
            tuple(max(schedule.levels[day][half : half + 12]) for day, half in halves),
        )
    return Scheduled(
        workload,
        schedule,
        tuple(f"{hour:02d}h" for hour in pairs),
        tuple(max(busiest[hour : hour + 2]) for hour in pairs),
        week,
        takeover,
    )
