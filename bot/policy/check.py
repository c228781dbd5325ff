"""`rightsizer policy check`: every document and annotation validated, conflicts listed, and
the effective policy of one workload explained setting by setting."""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.manifests.model import Inventory, Workload
from bot.policy.effective import Conflict
from bot.policy.load import Policy, WorkloadPolicy
from recommenders.errors import InputError


@dataclass
class PolicyReport:
    problems: list[str] = field(default_factory=list)
    """Annotation values that cannot be used, as `where: problem` lines."""
    conflicts: list[Conflict] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    """Annotations under the prefix that Rightsizer does not read."""
    explained: list[tuple[Workload, WorkloadPolicy]] = field(default_factory=list)


def check_policy(
    policy: Policy, inventory: Inventory, workload: str | None, environment: str | None
) -> PolicyReport:
    report = PolicyReport()
    seen: set[str] = set()
    for candidate in inventory.workloads:
        try:
            found = policy.for_workload(candidate)
        except InputError as exc:
            if str(exc) not in report.problems:
                report.problems.append(str(exc))
            continue
        report.unknown += [w for w in found.annotated.unknown if w not in report.unknown]
        for conflict in found.effective.conflicts:
            if conflict.describe() not in seen:
                seen.add(conflict.describe())
                report.conflicts.append(conflict)
        if workload in candidate.refs and (environment in (None, candidate.environment)):
            report.explained.append((candidate, found))
    if workload is not None and not report.explained:
        where = f" in {environment}" if environment else ""
        raise InputError("--workload", f"no workload {workload}{where} in the repository")
    return report
