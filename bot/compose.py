"""PR title, body, Check Run summary and commit message from the jinja2 templates.

Templates only format: every number and sentence they show comes from the plan's typed
records, so a repo can restyle its PRs without touching a decision. A repo overrides a
template by putting its own under `.rightsizer/templates/` (same name); the rest come from
templates/. Templates run sandboxed: a repo's template formats, it cannot reach the bot. Markdown
templates (`*.md.j2`) autoescape: every value they show is made inert (`bot.markdown`), as
a code span with the `code` filter, so a name or a reason from the repository or the data
cannot add links, HTML, table cells or mentions. Filters that write markup return `Markup`.

A forge limits a PR body's size, so a body that is too long loses, in this order, the
rendered diff's content, the charts, then the workloads after the first N (named by count).
The metadata block the bot reads back on its next run is the last line, and always kept.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import groupby
from pathlib import Path
from typing import Any

from jinja2 import (
    BaseLoader,
    ChoiceLoader,
    Environment,
    FileSystemLoader,
    StrictUndefined,
    TemplateError,
    TemplateNotFound,
    pass_eval_context,
    select_autoescape,
)
from jinja2.nodes import EvalContext
from markupsafe import Markup

from bot.groups import Group
from bot.markdown import code, inert
from bot.planner import Plan, PlannedChange, workload_key
from bot.pr_metadata import PullRequestMetadata, metadata_for
from bot.resources import data_dir
from bot.template_budget import BudgetedEnvironment
from recommenders.errors import InputError
from recommenders.model import FieldRecommendation, UsageChart

TEMPLATES = data_dir("templates")
REPO_TEMPLATES = Path(".rightsizer") / "templates"
BODY_LIMIT = 65_536
"""GitHub's limit on a PR body, in characters (GitLab's is 1,000,000)."""
SUMMARY_LIMIT = 65_535
"""GitHub's limit on a Check Run output's summary."""
MAX_TEMPLATE_BYTES = 1 << 20
CUT = "\n\n…(cut to fit the size limit; see the commit)\n"


@dataclass(frozen=True)
class PullRequestText:
    title: str
    body: str
    commit_message: str
    metadata: PullRequestMetadata
    summary: str
    """The summary line and the per-workload tables, for a Check Run's output."""


class _RepoLoader(FileSystemLoader):
    """A repo's own templates: regular files inside the repo only, like every file the bot
    reads from it (a symlink could carry a file from the bot's machine into a PR)."""

    def __init__(self, repo: Path) -> None:
        self.repo = repo.resolve()
        super().__init__(self.repo / REPO_TEMPLATES)

    def get_source(self, environment: Environment, template: str) -> Any:
        where = REPO_TEMPLATES / template
        path = self.repo
        for part in where.parts:
            path = path / part
            if path.is_symlink():
                raise InputError(str(where), "is or lies under a symlink; refused")
        if not path.is_file():
            raise TemplateNotFound(template)
        if path.stat().st_size > MAX_TEMPLATE_BYTES:
            raise InputError(str(where), "is over 1 MiB; refused")
        return super().get_source(environment, template)


def environment(repo: Path | None = None) -> BudgetedEnvironment:
    """The templates of `repo` (`.rightsizer/templates/<name>.j2`) first, the built-in second."""
    loaders: list[BaseLoader] = [FileSystemLoader(TEMPLATES)]
    if repo is not None:
        loaders.insert(0, _RepoLoader(repo))
    env = BudgetedEnvironment(
        loader=ChoiceLoader(loaders),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=select_autoescape(enabled_extensions=("md.j2",), default=False),
        finalize=_inert_in_markdown,
    )
    env.filters["money"] = money
    env.filters["field_label"] = field_label
    env.filters["risk_target"] = risk_target
    env.filters["chart_number"] = chart_number
    env.filters["mermaid_values"] = mermaid_values
    env.filters["mermaid_flat"] = mermaid_flat
    env.filters["mermaid_labels"] = mermaid_labels
    env.filters["mermaid_text"] = mermaid_text
    env.filters["code"] = lambda value: code(str(value))
    return env


@pass_eval_context
def _inert_in_markdown(context: EvalContext, value: Any) -> Any:
    """What a Markdown template shows of a value: numbers and `Markup` as they are, any
    other value's text made inert. Plain-text templates (title, commit) show values as
    they are."""
    if not context.autoescape or isinstance(value, Markup | int | float):
        return value
    return inert(str(value))


def money(value: float) -> str:
    """Signed dollars per month: `-$12.30`, `+$4.00`, `$0.00`."""
    sign = "-" if value < -0.005 else "+" if value > 0.005 else ""
    return f"{sign}${abs(value):,.2f}"


def field_label(change: PlannedChange) -> str:
    return f"{change.container} {change.field}" if change.container else change.field


def risk_target(field: FieldRecommendation) -> str:
    """The level the strategy's risk target needs, rounded up to whole millicores or MiB;
    `–` where the strategy has none (limits, replicas, a strategy without a forecast)."""
    if field.guard is None:
        return "–"
    if field.field.endswith(".cpu"):
        return f"{math.ceil(field.guard * 1000 - 1e-9)}m"
    if field.field.endswith(".memory"):
        return f"{math.ceil(field.guard / 2**20 - 1e-9)}Mi"
    return f"{field.guard:g}"


def chart_number(value: float | None) -> str:
    """One decimal at most, no trailing zeros: what Mermaid reads as a number."""
    text = f"{value or 0.0:.1f}"
    return text[:-2] if text.endswith(".0") else text


def mermaid_values(values: Sequence[float | None]) -> Markup:
    """A bar series; a point without a value is a bar of height 0 (Mermaid has no gaps)."""
    return Markup("[" + ", ".join(chart_number(v) for v in values) + "]")


def mermaid_flat(value: float, count: int) -> Markup:
    return mermaid_values([value] * count)


def mermaid_labels(labels: Sequence[str]) -> Markup:
    return Markup("[" + ", ".join(mermaid_text(label) for label in labels) + "]")


def mermaid_text(text: str) -> Markup:
    """A quoted Mermaid string of letters, digits, spaces and `.:()%/-`: inside the code
    fence nothing is escaped for Markdown, and Mermaid reads HTML in its labels."""
    return Markup('"' + re.sub(r"[^\w .:()%/-]", "", str(text)) + '"')


def compose(
    group: Group,
    plan: Plan,
    base_branch: str,
    files: list[str],
    *,
    diff: str = "",
    waiting: Sequence[str] = (),
    limit: int = BODY_LIMIT,
    repo: Path | None = None,
) -> PullRequestText:
    """The PR for `group`; `files` are the paths its commit changes, listed for reviewers.

    `diff`: the rendered-manifest diff the proof returned; `waiting`: one line per other
    group held back by the PR limits; `limit`: the forge's limit on a body, in characters;
    `repo`: the target repository, whose `.rightsizer/templates/` override the built-in ones.
    """
    env = environment(repo)
    workloads, held_back = _workloads(group, plan)
    environments = sorted({c.workload.environment for c in group.changes})
    metadata = metadata_for(group)
    context = {
        "group": group,
        "base_branch": base_branch,
        "workloads": workloads,
        "more": 0,
        "charts": True,
        "held_back": held_back,
        "waiting": list(waiting),
        "diff": Markup(diff),  # in a fence longer than any backtick run in it
        "diff_fence": Markup(_fence(diff)),
        "diff_dropped": False,
        "files": files,
        "prices": {name: plan.prices[name] for name in environments if name in plan.prices},
    }
    tail = f"\n\n{metadata.render()}\n"
    body = _fitted(env, "pr_body.md.j2", context, limit - len(tail), shrink=True)
    return PullRequestText(
        title=_render(env, "pr_title.txt.j2", context).strip(),
        body=body.rstrip("\n") + tail,
        commit_message=_render(env, "commit_message.txt.j2", context),
        metadata=metadata,
        summary=_fitted(env, "pr_summary.md.j2", context, SUMMARY_LIMIT, shrink=False),
    )


def _workloads(group: Group, plan: Plan) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Per workload its changes and charts; workloads whose changes are all held back apart."""
    workloads, held_back = [], []
    for _, rows in groupby(group.changes, key=lambda c: (c.workload.overlay, c.workload.ref)):
        changes = list(rows)
        workload = changes[0].workload
        if all(change.decision.action == "skip" for change in changes):
            held_back.append({"workload": workload, "rule": changes[0].decision.rules[0]})
            continue
        recommendation = plan.recommendations[workload_key(workload)]
        workloads.append(
            {
                "workload": workload,
                "recommendation": recommendation,
                "changes": changes,
                "charts": _charts(recommendation.charts, changes),
            }
        )
    return workloads, held_back


def _charts(charts: Sequence[UsageChart], changes: list[PlannedChange]) -> list[dict[str, Any]]:
    """CPU for each container this PR changes (every container, when it changes only the
    autoscaler), memory where the PR changes it; the proposed line is the value the PR
    writes (after every guardrail, as the manifest gets it), not the strategy's wish."""
    applied = [c for c in changes if c.decision.action != "skip"]
    containers = {c.container for c in applied if c.container is not None}
    shown = []
    for chart in charts:
        if containers and chart.container not in containers:
            continue
        request = next(
            (
                c
                for c in applied
                if c.container == chart.container and c.field == f"requests.{chart.metric}"
            ),
            None,
        )
        if chart.metric != "cpu" and request is None:
            continue
        level = next((v for v in chart.forecast if v is not None), None)
        proposed = chart.current if request is None else chart.display(request.decision.value)
        shown.append(
            {
                "chart": chart,
                "current": chart.current,
                "proposed": proposed,
                "forecast": level,
                "horizon": _days(chart.horizon_hours / 24),
            }
        )
    return shown


def _fitted(
    env: BudgetedEnvironment, name: str, context: dict[str, Any], limit: int, *, shrink: bool
) -> str:
    """The template rendered within `limit` characters: as it is if it fits; else (with
    `shrink`) without the diff's content, then without charts; then with as many workloads
    as fit and a count of the rest; at worst cut, with a note that it was."""
    steps = [{}, {"diff_dropped": True}, {"diff_dropped": True, "charts": False}]
    for step in steps if shrink else steps[:1]:
        text = _render(env, name, context | step)
        if len(text) <= limit:
            return text
    smaller = context | steps[-1]
    workloads = context["workloads"]

    def with_first(count: int) -> str:
        return _render(
            env, name, smaller | {"workloads": workloads[:count], "more": len(workloads) - count}
        )

    low, high = 0, len(workloads) - 1  # the largest count that fits is in [low, high]
    best = with_first(0)
    if len(best) > limit:
        keep = max(0, limit - len(CUT))
        return best[: best.rfind("\n", 0, keep) + 1 or keep].rstrip("\n") + CUT
    while low < high:
        middle = (low + high + 1) // 2
        text = with_first(middle)
        if len(text) <= limit:
            low, best = middle, text
        else:
            high = middle - 1
    return best


def _render(env: BudgetedEnvironment, name: str, context: dict[str, Any]) -> str:
    try:
        return env.render(name, context)
    except InputError:
        raise
    except TemplateError as exc:
        # A syntax error knows its template and line (a macro's file, say); others do not.
        line = getattr(exc, "lineno", None)
        where = f"template {getattr(exc, 'name', None) or name}" + (
            f", line {line}" if line else ""
        )
        raise InputError(where, exc.message or type(exc).__name__) from exc


def _fence(text: str) -> str:
    """A code fence longer than any run of backticks inside `text`."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    return "`" * max(3, longest + 1)


def _days(days: float) -> str:
    return "day" if days == 1 else f"{days:g} days"
