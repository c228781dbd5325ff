"""Closing the loop after a merge: a revert PR for a merged change that hurt, one comment on
the merged PR for one that did not.

A revert is a bot PR like any other: the same minimal-diff editor and proof, the same commit
trailers (each restoring change is a `Rightsizer-Change:` from the cut value back, so the
cooldown keeps the next runs from cutting it again), and it never reaches the cluster but by
a person's merge. One revert PR per merged commit, restoring only the condemned fields of the
workloads that regressed; a reviewer who closes it is not asked again, and a person who
pushes to its branch owns it. Neither a freeze window nor the PR limits hold it back: it
undoes harm the bot did, and it still reaches the cluster only when a person merges it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import timedelta

from bot.compose import environment, own_pull_text, render
from bot.decisions.verification import Verdict
from bot.forges.base import PullRequest
from bot.manifests.edit import Raw, ValueEdit, plan_file_changes
from bot.manifests.model import Workload
from bot.manifests.quantities import format_field
from bot.planner import workload_key
from bot.pr_metadata import ProposedValue, PullRequestMetadata, read_metadata
from bot.pr_sections import fenced
from bot.proof import ProofFailed, prove
from bot.rules.cooldown import PastChange
from bot.run import GroupResult, Publishing, converge_pull, standing_hold
from recommenders.errors import InputError

MERGE_MATCH = timedelta(minutes=15)
"""A merged PR closed this close to when a change landed is the PR that landed it (a
squash merge leaves the PR's head commit behind, so the head cannot say)."""


@dataclass(frozen=True)
class Restore:
    """One field a revert writes back, as the PR's table shows it."""

    verdict: Verdict
    workload: Workload
    container: str | None
    field: str
    now: Raw
    restored: Raw
    old: float
    new: float
    monthly_cost_delta: float


def close_the_loop(job: Publishing, pulls: Sequence[PullRequest]) -> list[GroupResult]:
    """A revert PR per merged commit with a regressed workload, and the verified comment on
    each merged PR whose every workload is judged and none regressed."""
    by_commit: dict[str, list[Verdict]] = {}
    for verdict in job.plan.verdicts:
        by_commit.setdefault(verdict.sha, []).append(verdict)
    results = []
    for sha, verdicts in by_commit.items():
        regressed = [v for v in verdicts if v.state == "regressed"]
        if regressed:
            results.append(_revert(job, sha, regressed, pulls))
        elif all(v.state == "healthy" for v in verdicts):
            _verified_comment(job, sha, verdicts, pulls)
    return results


def merged_pull(pulls: Sequence[PullRequest], verdict: Verdict) -> PullRequest | None:
    """The bot PR that landed the verdict's commit: the one whose head is that commit, else
    (a squash merge) the merged one closed nearest the landing, within `MERGE_MATCH`, whose
    metadata proposed a value of the verdict's workload: reviewers merge several bot PRs
    in one sitting."""
    for pull in pulls:
        if pull.head == verdict.sha:
            return pull
    landed = [
        pull
        for pull in pulls
        if pull.state == "merged"
        and pull.closed_at is not None
        and abs(pull.closed_at - verdict.merged) <= MERGE_MATCH
        and _proposed(pull, verdict.key)
    ]
    return min(
        landed, key=lambda p: abs((p.closed_at or verdict.merged) - verdict.merged), default=None
    )


def _proposed(pull: PullRequest, key: str) -> bool:
    metadata = read_metadata(pull.body)
    return metadata is not None and any(
        value.change.startswith(f"{key} ") for value in metadata.values
    )


def _verified_comment(
    job: Publishing, sha: str, verdicts: list[Verdict], pulls: Sequence[PullRequest]
) -> None:
    """Written once: a comment already there is the record, so a rerun (or data that later
    drops the days before the merge) never edits what reviewers read."""
    pull = merged_pull(pulls, verdicts[0])
    key = f"verified-{sha[:7]}"
    if pull is None or job.forge.has_comment(pull, key):
        return
    context = {"sha": sha, "verdicts": sorted(verdicts, key=lambda v: v.key)}
    text = render(environment(job.files), "verified_comment.md.j2", context)
    job.forge.ensure_comment(pull, key, text.strip())


def _revert(
    job: Publishing, sha: str, verdicts: list[Verdict], pulls: Sequence[PullRequest]
) -> GroupResult:
    name = f"revert-{sha[:7]}"
    branch = f"{job.config.branch_prefix}{name}"
    held = standing_hold(job, name, branch, pulls)
    if held is not None:
        return held
    restores = _restores(job, verdicts)
    if not restores:
        return GroupResult(name, branch, "failed", "not opened", "no field left to restore")
    edits = [ValueEdit(r.workload, r.field, r.container, r.restored) for r in restores]
    try:
        changes = plan_file_changes(job.plan.inventory, edits, job.files)
        diff = prove(job.files, job.plan.inventory, changes, edits)
    except (ProofFailed, InputError) as exc:
        return GroupResult(name, branch, "failed", "not opened", str(exc))
    rules = [job.plan.rules.get(workload_key(r.workload)) for r in restores]
    cooldown = min((r.cooldown_days for r in rules if r is not None), default=0.0)
    context = {
        "sha": sha,
        "names": ", ".join(sorted({v.key.rsplit("/", 1)[-1] for v in verdicts})),
        "verdicts": verdicts,
        "restores": restores,
        "diff": fenced([d.labelled(f"{d.kind}/{d.name}") for d in diff]),
        "cooldown_days": cooldown,
        "evidence": [(v, f) for v in verdicts for f in v.findings if f.regressed and f.chart[0]],
    }
    metadata = PullRequestMetadata(
        name,
        tuple(
            ProposedValue(f"{r.verdict.key} {r.container or '-'} {r.field}", r.new, r.old)
            for r in restores
        ),
    )
    text = own_pull_text(job.files, "revert", context, metadata, job.forge.body_limit)
    text = replace(text, monthly_cost_delta=sum(r.monthly_cost_delta for r in restores))
    return converge_pull(job, name, branch, changes, text)


def _restores(job: Publishing, verdicts: list[Verdict]) -> list[Restore]:
    workloads = {str(workload_key(w)): w for w in job.plan.inventory.workloads}
    found = []
    for verdict in verdicts:
        workload = workloads.get(verdict.key)
        if workload is None:
            continue
        for change in verdict.reverting:
            tracked = workload.tracked(change.field, change.container)
            if tracked is None:
                continue
            restored = format_field(change.field, change.old, _style(change, tracked.raw))
            recommendation = job.plan.recommendations.get(workload_key(workload))
            priced = [
                f.monthly_cost_delta(change.old)
                for f in (recommendation.fields if recommendation else ())
                if (f.container, f.field) == (change.container, change.field)
            ]
            found.append(
                Restore(
                    verdict, workload, change.container, change.field, tracked.raw, restored,
                    change.old, change.new, sum(priced),
                )
            )  # fmt: skip
    return found


def _style(change: PastChange, written: Raw) -> Raw:
    """The style a restored value is written in: the field's own, except that whole
    gibibytes go back as `Gi` (a cut from `1Gi` wrote `768Mi`; its revert writes `1Gi`)."""
    if change.field.endswith(".memory") and change.old % 2**30 == 0:
        return "1Gi"
    return written
