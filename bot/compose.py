"""PR title, body, Check Run summary and commit message from the jinja2 templates.

Templates only format: every number and sentence they show comes from the plan's typed
records, so a repo can restyle its PRs without touching a decision. A repo overrides a
template by putting its own under `.rightsizer/templates/` (same name); the rest come from
templates/. Templates run sandboxed: a repo's template formats, it cannot reach the bot. Markdown
templates (`*.md.j2`) autoescape: every value they show is made inert (`bot.markdown`), as
a code span with the `code` filter, so a name or a reason from the repository or the data
cannot add links, HTML, table cells or mentions. Filters that write markup return `Markup`.

A body reads as Renovate's do: one summary table, a row per field (workload, field,
current → proposed, $/month, action), then each workload's details collapsed: why each
value, one chart (`bot.charts`) and its own rendered diff. A forge limits a body's size, so
a body that is too long loses, in this order, the charts, the diffs, the details, then the
rows of the workloads after the first N (named by count). The metadata block the bot reads
back on its next run is the last line, and always kept.
"""

from __future__ import annotations

import difflib
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
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

from bot.charts import PrChart
from bot.forges.base import Annotation
from bot.groups import Group
from bot.manifests.edit import FileChange
from bot.markdown import code, html_text, inert
from bot.planner import Plan
from bot.pr_metadata import PullRequestMetadata, metadata_for
from bot.pr_sections import attach_diffs, fenced, field_label, workload_sections
from bot.proof import ObjectDiff
from bot.resources import data_dir
from bot.template_budget import BudgetedEnvironment
from recommenders.errors import InputError
from recommenders.model import FieldRecommendation

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
    """The summary line and the summary table, for a Check Run's output."""
    monthly_cost_delta: float = 0.0
    """The estimate the body leads with, which the title and the commit do not carry."""


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
    env.filters["mermaid_labels"] = mermaid_labels
    env.filters["mermaid_text"] = mermaid_text
    env.filters["code"] = lambda value: code(str(value))
    env.filters["html"] = lambda value: html_text(str(value))
    env.filters["mermaid_init"] = mermaid_init
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
    """What Mermaid reads as a number, as a person would read it off a chart: whole from
    10 up, else one decimal at most; no trailing zeros."""
    value = value or 0.0
    text = f"{value:.0f}" if abs(value) >= 10 else f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def mermaid_values(values: Sequence[float | None]) -> Markup:
    """A bar series; a point without a value is a bar of height 0 (Mermaid has no gaps)."""
    return Markup("[" + ",".join(chart_number(v) for v in values) + "]")


def mermaid_init(chart: PrChart) -> Markup:
    """The directive that colours `chart`'s series as its caption names them."""
    theme = {"themeVariables": {"xyChart": {"plotColorPalette": chart.palette}}}
    return Markup(f"%%{{init:{json.dumps(theme, separators=(',', ':'))}}}%%")


def mermaid_labels(labels: Sequence[str]) -> Markup:
    return Markup("[" + ",".join(mermaid_text(label) for label in labels) + "]")


def mermaid_text(text: str) -> Markup:
    """A quoted Mermaid string of letters, digits, spaces and `.:()%/-`: inside the code
    fence nothing is escaped for Markdown, and Mermaid reads HTML in its labels."""
    return Markup('"' + re.sub(r"[^\w .:()%/-]", "", str(text)) + '"')


def compose(
    group: Group,
    plan: Plan,
    base_branch: str,
    *,
    diff: Sequence[ObjectDiff] = (),
    waiting: Sequence[str] = (),
    limit: int = BODY_LIMIT,
    repo: Path | None = None,
) -> PullRequestText:
    """The PR for `group`.

    `diff`: the rendered difference the proof returned, object by object; `waiting`: one
    line per other group held back by the PR limits; `limit`: the forge's limit on a body,
    in characters; `repo`: the target repository, whose `.rightsizer/templates/` override
    the built-in ones.
    """
    env = environment(repo)
    workloads, held_back = workload_sections(group, plan)
    others = attach_diffs(workloads, diff)
    environments = sorted({c.workload.environment for c in group.changes})
    metadata = metadata_for(group)
    context = {
        "group": group,
        "base_branch": base_branch,
        "workloads": workloads,
        "more": 0,
        "charts": True,
        "diffs": True,
        "details": True,
        "held_back": held_back,
        "waiting": list(waiting),
        "other_diff": fenced(others),
        "usage": _shared({section.usage for section in workloads}),
        "confidence": _shared({section.recommendation.confidence for section in workloads}),
        "prices": {name: plan.prices[name] for name in environments if name in plan.prices},
    }
    tail = f"\n\n{metadata.render()}\n"
    body = _fitted(env, "pr_body.md.j2", context, limit - len(tail), shrink=True)
    return PullRequestText(
        title=render(env, "pr_title.txt.j2", context).strip(),
        body=body.rstrip("\n") + tail,
        commit_message=render(env, "commit_message.txt.j2", context),
        metadata=metadata,
        summary=_fitted(env, "pr_summary.md.j2", context, SUMMARY_LIMIT, shrink=False),
        monthly_cost_delta=group.monthly_cost_delta,
    )


def _shared(texts: set[str]) -> str:
    """The one text every item has, or "" when they differ."""
    return next(iter(texts)) if len(texts) == 1 else ""


def diff_annotations(files: Sequence[FileChange], group: Group) -> list[Annotation]:
    """A notice on each line the group's commit adds that writes a value it proposes, saying
    which change it is: where a reviewer reads the diff, the change explains itself."""
    applied = [change for change in group.applied if change.proposed is not None]
    found = []
    for file in files:
        old, new = (file.before or "").splitlines(), file.after.splitlines()
        matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
        for tag, _, _, j1, j2 in matcher.get_opcodes():
            if tag == "equal":
                continue
            for number in range(j1, j2):
                value = _written_value(new[number])
                said = [
                    f"{c.workload.ref} {field_label(c)}: {c.current_text} → {c.proposed} "
                    f"({money(c.decision.monthly_cost_delta)}/month, {c.decision.action})"
                    for c in applied
                    if str(c.proposed) == value
                ]
                if said:
                    found.append(Annotation(file.path, number + 1, number + 1, "; ".join(said)))
    return found


def _written_value(line: str) -> str | None:
    """The scalar a YAML `key: value` line writes, unquoted, without a comment."""
    _, colon, rest = line.partition(":")
    if not colon:
        return None
    value = rest.split(" #", 1)[0].strip()
    return value.strip("'\"") or None


def _fitted(
    env: BudgetedEnvironment, name: str, context: dict[str, Any], limit: int, *, shrink: bool
) -> str:
    """The template rendered within `limit` characters: as it is if it fits; else (with
    `shrink`) without charts, then without the rendered diffs, then without each workload's
    details, keeping every row of the summary; then with as many workloads as fit and a
    count of the rest; at worst cut, with a note that it was."""
    steps = [
        {},
        {"charts": False},
        {"charts": False, "diffs": False},
        {"charts": False, "diffs": False, "details": False},
    ]
    for step in steps if shrink else steps[:1]:
        text = render(env, name, context | step)
        if len(text) <= limit:
            return text
    smaller = context | steps[-1]
    workloads = context["workloads"]

    def with_first(count: int) -> str:
        return render(
            env, name, smaller | {"workloads": workloads[:count], "more": len(workloads) - count}
        )

    low, high = 0, len(workloads) - 1  # the largest count that fits is in [low, high]
    best = with_first(0)
    if len(best) > limit:
        return cut_at_a_line(best, limit, CUT)
    while low < high:
        middle = (low + high + 1) // 2
        text = with_first(middle)
        if len(text) <= limit:
            low, best = middle, text
        else:
            high = middle - 1
    return best


def cut_at_a_line(text: str, limit: int, note: str) -> str:
    """`text` cut at the last line break that leaves room for `note` within `limit`
    characters, then `note`: a forge refuses a longer body, and a cut line reads as broken."""
    if len(text) <= limit:
        return text
    keep = max(0, limit - len(note))
    return text[: text.rfind("\n", 0, keep) + 1 or keep].rstrip("\n") + note


def own_pull_text(
    repo: Path, kind: str, context: dict[str, Any], metadata: PullRequestMetadata, limit: int
) -> PullRequestText:
    """The text of a PR the bot proposes on its own account (`kind`: `revert`, `prescale`)
    from `templates/<kind>_title.txt.j2`, `_body.md.j2` and `_commit_message.txt.j2`: the
    body cut at a line to the forge's `limit` before its metadata, the title as the check's
    summary."""
    env = environment(repo)
    tail = f"\n\n{metadata.render()}\n"
    body = render(env, f"{kind}_body.md.j2", context).rstrip("\n")
    title = render(env, f"{kind}_title.txt.j2", context).strip()
    return PullRequestText(
        title=title,
        body=cut_at_a_line(body, limit - len(tail), CUT) + tail,
        commit_message=render(env, f"{kind}_commit_message.txt.j2", context),
        metadata=metadata,
        summary=str(inert(title)),
    )


def render(env: BudgetedEnvironment, name: str, context: dict[str, Any]) -> str:
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
