"""The `rightsizer` command line: plan (read-only) and run (plan, then branches and PRs)."""

from __future__ import annotations

import importlib.metadata
import io
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer
from git import InvalidGitRepositoryError, Repo
from rich.console import Console
from rich.markdown import Markdown
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from bot.compose import compose, money
from bot.config import RepoConfig, load_config
from bot.forges import ForgeError
from bot.forges.connect import ForgeOptions
from bot.forges.registry import FORGES
from bot.garbage import collect_less, long_lived
from bot.groups import group_changes
from bot.inputs import (
    SourceRequest,
    parse_duration,
    prometheus_source,
    read_inputs,
    read_meanwhile,
)
from bot.pipeline import planning_inputs, run_moment, run_once
from bot.plan_cache import Answer, PlanAnswers, plan_key
from bot.planner import Plan, kept_renders, loop_notes, make_plan, unmatched_notes
from bot.policy import Policy, load_policy
from bot.policy.check import check_policy
from bot.proof import ProofFailed, checked, inspect, inventoried
from bot.report import (
    inventory_as_json,
    inventory_markdown,
    plan_as_json,
    plan_csv,
    plan_html,
    plan_yaml,
    print_backtest,
    print_findings,
    print_inventory,
    print_plan,
    print_policy_report,
    print_sources,
    print_strategies,
)
from bot.setter import apply, edits_for, find_workload, parse_assignments
from bot.stages import collecting, stage
from bot.stages import shown as stages_shown
from bot.views import FILE_WIDTH, Format, Only, View
from bot.workspace import Workspace
from recommenders.backtest import BacktestPlan, read_series, run_backtest, score
from recommenders.errors import InputError
from recommenders.forecasters import ForecastCache
from recommenders.progress import reporting
from recommenders.sources.registry import COST_FORMATS, UTILISATION_FORMATS
from recommenders.sources.summary import summarise_cost, summarise_usage
from recommenders.strategies import STRATEGIES
from recommenders.strategies.base import METRICS

app = typer.Typer(
    help="Rightsizer: right-size Kubernetes workloads from usage data, through pull requests.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console(width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True)


def _version(asked: bool) -> None:
    if asked:
        print(f"rightsizer {importlib.metadata.version('rightsizer')}")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """Rightsizer: right-size Kubernetes workloads from usage data, through pull requests."""


def _json_text(data: object, highlight: bool = True) -> str:
    """Highlighted for a terminal; for a pipe or a file plain JSON, encoded once (rich parses
    and highlights it again, which took 5 s for a 300-workload plan)."""
    if not (highlight and sys.stdout.isatty()):
        return json.dumps(data, indent=2) + "\n"
    with out.capture() as captured:
        out.print_json(json.dumps(data))
    return captured.get()


def _print_json(data: object) -> None:
    sys.stdout.write(_json_text(data))


CacheOption = Annotated[
    Path | None,
    typer.Option(
        "--forecast-cache",
        help="File (SQLite) that keeps forecasts between runs: unchanged series are not "
        "refitted, changed ones start from their last parameters. One file per repository; "
        "kustomize's renders (FILE.renders) and plan's answers (FILE.plans) sit beside it.",
    ),
]


OrgPolicyOption = Annotated[
    str | None,
    typer.Option(
        "--org-policy",
        envvar="RIGHTSIZER_ORG_POLICY",
        help="The organisation's policy, under the repo's own: a file, a directory holding "
        "rightsizer.yaml, or a git URL.",
    ),
]


def _top_level(path: Path | None) -> Path | None:
    """`--repo` may name any directory inside the repository, as git commands allow: the
    work tree's top is where `.rightsizer.yaml` and the policies are. A path in no
    repository is kept, for the command to refuse by name."""
    if path is None or not path.is_dir():
        return path
    try:
        top = Repo(path, search_parent_directories=True).working_tree_dir
    except InvalidGitRepositoryError:
        return path
    return Path(top) if top is not None else path


RepoOption = Annotated[
    Path, typer.Option("--repo", help="The infrastructure repository (a git checkout).")
]
CheckoutOption = Annotated[
    Path,
    typer.Option(
        "--repo",
        help="The infrastructure repository (a git checkout), or any directory in it.",
        callback=_top_level,
    ),
]
"""For the commands that read a git checkout; `inventory` and `set` also read a plain
directory, which may lie inside some other repository and must stay what it is."""
UtilisationOption = Annotated[
    list[Path] | None,
    typer.Option(
        "--utilisation",
        help="Utilisation export, repeatable: long or wide CSV/Parquet, OpenCost CSV or "
        "allocation JSON (see README).",
    ),
]
UtilisationFormatOption = Annotated[
    str | None,
    typer.Option(
        "--utilisation-format",
        help="Skip detection: " + ", ".join(UTILISATION_FORMATS),
    ),
]
CostOption = Annotated[
    list[Path] | None,
    typer.Option(
        "--cost",
        help="Cost export, repeatable (FOCUS, OpenCost, cloud bills); without one the "
        "config's price table is used.",
    ),
]
CostFormatOption = Annotated[
    str | None,
    typer.Option("--cost-format", help="Skip detection: " + ", ".join(COST_FORMATS)),
]


PrometheusOption = Annotated[
    str | None,
    typer.Option(
        "--prometheus",
        help="Prometheus-compatible URL (Thanos, VictoriaMetrics, Mimir too); credentials from "
        "RIGHTSIZER_PROMETHEUS_TOKEN[_FILE] or RIGHTSIZER_PROMETHEUS_USER/_PASSWORD.",
    ),
]
WindowOption = Annotated[
    str, typer.Option("--prometheus-window", help="How much history to read, e.g. 30d.")
]
StepOption = Annotated[str, typer.Option("--prometheus-step", help="Sample step, e.g. 1h.")]
QueryOption = Annotated[
    list[str] | None,
    typer.Option(
        "--prometheus-query",
        help="METRIC=PROMQL, repeatable: replace a default query (e.g. cpu_cores=...).",
    ),
]
EndOption = Annotated[
    str | None,
    typer.Option("--prometheus-end", help="End of the window (ISO 8601); default now."),
]

AsOfOption = Annotated[
    str | None,
    typer.Option(
        "--as-of",
        envvar="RIGHTSIZER_AS_OF",
        help="Plan as of this moment (ISO 8601; UTC without a zone), e.g. to replay an "
        "export that ended then; default now. Data older than max_data_age_days changes "
        "nothing.",
    ),
]


def _request(
    utilisation: list[Path] | None,
    cost: list[Path] | None,
    utilisation_format: str | None,
    cost_format: str | None,
    prometheus: str | None = None,
    window: str = "30d",
    step: str = "1h",
    end: str | None = None,
    queries: list[str] | None = None,
    *,
    usage_needed: bool = True,
) -> SourceRequest:
    if usage_needed and not utilisation and not prometheus:
        raise InputError("--utilisation", "give a utilisation export or --prometheus URL")
    server = prometheus_source(prometheus, window, step, end, queries or ()) if prometheus else None
    return SourceRequest(
        tuple(utilisation or ()), tuple(cost or ()), utilisation_format, cost_format, server
    )


def _plan(
    repo: Path,
    config: RepoConfig,
    request: SourceRequest,
    forecast_cache: Path | None,
    policy: Policy,
    now: datetime,
    say: Callable[[str], None],
    files: str | None,
) -> Plan:
    """Everything a run reads, validated before anything is written. `files`: the digest of
    the repository's files, when the plan's key has already read them."""
    with read_meanwhile(request) as inputs:
        with stage("forecast cache"):
            cache = ForecastCache.open(forecast_cache)
        with stage("render cache"):
            renders = kept_renders(forecast_cache, repo, files)
        listed = inventoried(repo, renders)
    table, prices = planning_inputs(inputs(), say)
    inventory = checked(repo, listed, renders)
    if cache.problem:
        _say(f"warning: {cache.problem}")
    with long_lived():
        with _progress():
            plan = make_plan(repo, config, policy, table, prices, cache, now, inventory=inventory)
        with stage("forecast cache"):
            cache.save()
        with stage("render cache"):
            if renders is not None:
                renders.save()
    return plan


@contextmanager
def _progress() -> Iterator[None]:
    """Bars with counts on a terminal ("Forecasting series 1,234/5,000"), gone when done;
    nothing where standard error is a file or a pipe."""
    if not err.is_terminal:
        yield
        return
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, TimeElapsedColumn(), console=err, transient=True) as bars:
        tasks: dict[str, TaskID] = {}

        def show(what: str, done: int, total: int) -> None:
            if what not in tasks:
                tasks[what] = bars.add_task(what, total=total)
            bars.update(tasks[what], completed=done, total=total)

        with reporting(show):
            yield


def _say(message: str) -> None:
    err.print(message, markup=False, highlight=False)


@app.command()
def plan(
    repo: CheckoutOption,
    utilisation: UtilisationOption = None,
    cost: CostOption = None,
    utilisation_format: UtilisationFormatOption = None,
    cost_format: CostFormatOption = None,
    prometheus: PrometheusOption = None,
    prometheus_window: WindowOption = "30d",
    prometheus_step: StepOption = "1h",
    prometheus_end: EndOption = None,
    prometheus_query: QueryOption = None,
    forecast_cache: CacheOption = None,
    org_policy: OrgPolicyOption = None,
    output: Annotated[
        Format,
        typer.Option(
            "--format",
            help="table; json, csv or yaml (every row, the JSON contract); markdown (the PRs' "
            "text); html (one page).",
        ),
    ] = Format.table,
    output_file: Annotated[
        Path | None, typer.Option("--output", help="Write to FILE instead of standard output.")
    ] = None,
    namespaces: Annotated[
        list[str] | None, typer.Option("--namespace", help="Only this namespace (repeatable).")
    ] = None,
    workloads: Annotated[
        list[str] | None,
        typer.Option("--workload", help="Only this workload, NAME or KIND/NAME (repeatable)."),
    ] = None,
    environments: Annotated[
        list[str] | None, typer.Option("--environment", help="Only this environment (repeatable).")
    ] = None,
    show_skipped: Annotated[
        bool,
        typer.Option(
            "--show-skipped", help="table and html: also the rows the plan leaves as they are."
        ),
    ] = False,
    as_of: AsOfOption = None,
    timings: Annotated[
        bool, typer.Option("--timings", help="Print each stage's wall time on stderr.")
    ] = False,
) -> None:
    """Show what Rightsizer would change, and why, without writing anything.

    Usage that matches no workload is listed with the nearest workload names; when no
    workload matches any usage the command says why and exits 2. With --forecast-cache, the
    answer is kept beside it (FILE.plans) and given again while the repository, inputs,
    policy and code are unchanged and no rule that reads the clock could decide otherwise.

    Example: rightsizer plan --repo ./infra --utilisation usage.csv --cost cost.csv --format json
    """
    now = run_moment(as_of, "--as-of")  # checked before anything is read
    request = _request(
        utilisation, cost, utilisation_format, cost_format,
        prometheus, prometheus_window, prometheus_step, prometheus_end, prometheus_query,
    )  # fmt: skip
    Workspace(repo)
    config = load_config(repo)
    policy = load_policy(repo, org_policy, config.annotation_prefix)
    view = View(
        output,
        output_file,
        show_skipped,
        Only(namespaces or [], workloads or [], environments or []),
    )
    with collecting() as found:
        _answer_plan(repo, config, policy, request, forecast_cache, view, now)
    if timings:
        sys.stderr.write(stages_shown(found) + "\n")  # one line, unwrapped, for scripts


def _answer_plan(
    repo: Path,
    config: RepoConfig,
    policy: Policy,
    request: SourceRequest,
    forecast_cache: Path | None,
    view: View,
    now: datetime,
) -> None:
    """The plan's text from the last answer where it still holds, else made and kept."""
    answers = PlanAnswers.beside(forecast_cache)
    key = None
    if answers.path is not None:
        with stage("answer key"):
            loaded, shown = (config, policy), view.key(out)
            key = plan_key(repo, config.base_branch, request, loaded, shown, answers.digests())
            if key is not None:
                answers.remember(key)
    if key is not None and (answer := answers.find(key, now)) is not None:
        for note in answer.notes:
            _say(note)
        view.write(answer.output)
        return
    notes: list[str] = []

    def say(message: str) -> None:
        notes.append(message)
        _say(message)

    files = key.files if key is not None else None
    result = _plan(repo, config, request, forecast_cache, policy, now, say, files)
    if view.format is not Format.table:  # the table says it below itself; JSON keeps its contract
        for note in unmatched_notes(result):
            say(note)
    for note in loop_notes(result, repo, view.only.keeps_workload if view.only else lambda _: True):
        say(note)
    if view.only:
        result = replace(result, changes=[c for c in result.changes if view.only.keeps(c)])
    with stage("output"):
        text = _plan_text(result, view, config, repo)
        view.write(text)
    if key is not None:
        answers.keep(key, Answer(text, tuple(notes)), now, result.until)


def _plan_text(result: Plan, view: View, config: RepoConfig, repo: Path) -> str:
    match view.format:
        case Format.json:
            return _json_text(plan_as_json(result), highlight=view.file is None)
        case Format.csv:
            return plan_csv(result)
        case Format.yaml:
            return plan_yaml(result)
        case Format.html:
            return plan_html(result, view.show_skipped)
        case Format.markdown:
            texts = []
            for group in group_changes(result, config, repo):
                text = compose(group, result, config.base_branch)
                texts.append(f"# {text.title}\n\n{text.body}\n")
            return "".join(texts)
    console = out if view.file is None else Console(file=io.StringIO(), width=FILE_WIDTH)
    with console.capture() as captured:
        print_plan(console, result, view.show_skipped)
    return captured.get()


@app.command()
def run(
    repo: Annotated[
        Path | None,
        typer.Option("--repo", help="local forge: the repository's checkout.", callback=_top_level),
    ] = None,
    utilisation: UtilisationOption = None,
    cost: CostOption = None,
    utilisation_format: UtilisationFormatOption = None,
    cost_format: CostFormatOption = None,
    prometheus: PrometheusOption = None,
    prometheus_window: WindowOption = "30d",
    prometheus_step: StepOption = "1h",
    prometheus_end: EndOption = None,
    prometheus_query: QueryOption = None,
    forecast_cache: CacheOption = None,
    org_policy: OrgPolicyOption = None,
    forge: Annotated[str, typer.Option("--forge", help="Where PRs go: " + ", ".join(FORGES))] = (
        "local"
    ),
    pr_dir: Annotated[
        Path, typer.Option("--pr-dir", help="local forge: where PR texts are written.")
    ] = Path("pull-requests"),
    repository: Annotated[
        str | None,
        typer.Option("--repository", help="github/gitlab: OWNER/NAME or GROUP/PROJECT."),
    ] = None,
    github_url: Annotated[
        str,
        typer.Option(
            "--github-url",
            envvar="RIGHTSIZER_GITHUB_URL",
            help="GitHub's API URL; for GitHub Enterprise Server https://HOST/api/v3.",
        ),
    ] = "https://api.github.com",
    app_id: Annotated[
        str | None, typer.Option("--app-id", envvar="RIGHTSIZER_GITHUB_APP_ID")
    ] = None,
    private_key: Annotated[
        Path | None,
        typer.Option(
            "--private-key", envvar="RIGHTSIZER_GITHUB_PRIVATE_KEY", help="The App's PEM file."
        ),
    ] = None,
    installation_id: Annotated[
        int | None,
        typer.Option(
            "--installation-id",
            envvar="RIGHTSIZER_GITHUB_INSTALLATION_ID",
            help="Found from the repository when left out.",
        ),
    ] = None,
    token: Annotated[
        str | None,
        typer.Option(
            "--token",
            help="Instead of an App: a token (better from RIGHTSIZER_GITHUB_TOKEN or "
            "RIGHTSIZER_GITLAB_TOKEN, or a file named by ..._TOKEN_FILE).",
        ),
    ] = None,
    gitlab_url: Annotated[
        str, typer.Option("--gitlab-url", envvar="RIGHTSIZER_GITLAB_URL")
    ] = "https://gitlab.com",
    write_interval: Annotated[
        float,
        typer.Option(
            "--write-interval",
            envvar="RIGHTSIZER_GITHUB_WRITE_INTERVAL",
            help="github: seconds between writes, against secondary rate limits.",
        ),
    ] = 1.0,
    as_of: AsOfOption = None,
    verbose: Annotated[
        bool,
        typer.Option(
            "--verbose", "-v", help="Print the whole plan and, with --forge local, each PR's text."
        ),
    ] = False,
) -> None:
    """Plan, then push one branch and open one PR per group; a rerun updates them in place.
    Quiet by default: a line per PR, or one line when nothing changed.

    Without --utilisation or --prometheus, the exports `.rightsizer.yaml` names under
    `sources:` are read from the repository itself (as the service does).

    Example: rightsizer run --repo ./infra --utilisation usage.csv --cost cost.csv --forge local

    Example: rightsizer run --forge github --repository acme/infra --app-id 123
    --private-key app.pem --utilisation usage.csv
    """
    now = run_moment(as_of, "--as-of")  # checked before anything is read
    request = _request(
        utilisation, cost, utilisation_format, cost_format,
        prometheus, prometheus_window, prometheus_step, prometheus_end, prometheus_query,
        usage_needed=False,
    )  # fmt: skip
    options = ForgeOptions(
        forge, repo, pr_dir, repository, github_url, gitlab_url,
        app_id, private_key, installation_id, token, write_interval,
    )  # fmt: skip
    given = request if request.utilisation or request.prometheus else None
    with err.status(f"Reading {repository or repo} and planning"):
        report = run_once(
            options,
            given,
            now,
            org_policy=org_policy,
            forecast_cache=forecast_cache,
            say=_say,
        )
    results = report.results
    if verbose:
        print_plan(out, report.plan)
    else:
        print_findings(out, report.plan)
    quiet = all((r.branch_outcome, r.pull_request) == ("unchanged", "unchanged") for r in results)
    if results and quiet and not verbose:
        branches = ", ".join(item.branch for item in results)
        out.print(
            f"Nothing changed: every branch and PR is up to date ({branches}).", soft_wrap=True
        )
    for item in results if verbose or not quiet else ():
        said = f"{item.branch}: branch {item.branch_outcome}, PR {item.pull_request}"
        if not verbose:
            text = item.text
            title = f" ({text.title}, {money(text.monthly_cost_delta)}/month)" if text else ""
            out.print(escape(f"{said}{title}: {item.location}"), highlight=False, soft_wrap=True)
            for note in item.notes:
                out.print(f"  {escape(note)}", highlight=False, soft_wrap=True)
            continue
        out.rule(escape(said))
        if item.text is not None and forge == "local":
            out.print(Markdown(f"# {item.text.title}\n\n{item.text.body}"))
        for note in item.notes:
            out.print(note, highlight=False)
        out.print(f"[bold]{escape(item.location)}[/bold]", highlight=False)
    if not results:
        out.print("Nothing to change: every workload is within its guardrails.")
    if report.dashboard not in (None, "unchanged"):
        out.print(f"Dashboard issue {report.dashboard}.")
    if any(item.branch_outcome == "failed" for item in results):
        raise typer.Exit(1)


@app.command()
def inventory(
    repo: RepoOption,
    output: Annotated[Format, typer.Option("--format", help="table or json.")] = Format.table,
) -> None:
    """List every workload per environment, and the file and line that set each value.

    Environments are the directories the repo's Argo CD or Flux objects deploy (else its
    top-level kustomizations), directories of plain manifests nothing deploys, and those
    `.rightsizer.yaml` declares under `environments:`; each is rendered to check the answer.

    Example: rightsizer inventory --repo ./infra --format json
    """
    if not repo.is_dir():
        raise InputError(str(repo), "no such directory")
    with err.status("Reading manifests and rendering every environment with kustomize"):
        result = inspect(repo)
    if output is Format.json:
        _print_json(inventory_as_json(result))
    elif output is Format.markdown:
        sys.stdout.write(inventory_markdown(result))
    else:
        print_inventory(out, result)


@app.command(name="set")
def set_values(
    repo: RepoOption,
    overlay: Annotated[str, typer.Option("--overlay", help="The environment's directory.")],
    workload: Annotated[str, typer.Option("--workload", help="KIND/NAME, e.g. Deployment/web.")],
    assignments: Annotated[list[str], typer.Argument(help="FIELD=VALUE, e.g. requests.cpu=250m")],
    container: Annotated[
        str | None, typer.Option("--container", help="Needed when the pod has several.")
    ] = None,
    values_file: Annotated[
        str | None,
        typer.Option(
            "--values-file", help="For a chart's directory with several values files: which."
        ),
    ] = None,
) -> None:
    """Change values in the work tree through the bot's editor, then prove the change.

    Fields: requests.cpu, requests.memory, limits.cpu, limits.memory, replicas,
    hpa.minReplicas, hpa.maxReplicas, hpa.cpuUtilization. A value inherited from a base that
    other environments share gets a patch in this overlay instead. If rendering shows any
    other difference, nothing is written.

    Example: rightsizer set --repo ./infra --overlay apps/web/overlays/prod
    --workload Deployment/web requests.cpu=250m
    """
    if not repo.is_dir():
        raise InputError(str(repo), "no such directory")
    parsed = parse_assignments(assignments)
    with err.status("Reading manifests and rendering every environment with kustomize"):
        found = inspect(repo)
    target = find_workload(found, overlay, workload, values_file)
    edits = edits_for(target, container, parsed)
    try:
        changes = apply(repo, found, edits)
    except ProofFailed as exc:
        err.print(f"not written: {exc}", markup=False, highlight=False)
        raise typer.Exit(1) from exc
    for edit in edits:
        tracked = target.tracked(edit.field, edit.container)
        label = " ".join(filter(None, (edit.container, edit.field)))
        out.print(f"{label}: {tracked.raw if tracked else '?'} -> {edit.new}", highlight=False)
    for change in changes:
        out.print(f"{'created' if change.before is None else 'edited'} {change.path}")


sources_app = typer.Typer(help="Check the exports a run would read.", no_args_is_help=True)
app.add_typer(sources_app, name="sources")


@sources_app.command("check")
def sources_check(
    utilisation: UtilisationOption = None,
    cost: CostOption = None,
    utilisation_format: UtilisationFormatOption = None,
    cost_format: CostFormatOption = None,
    prometheus: PrometheusOption = None,
    prometheus_window: WindowOption = "30d",
    prometheus_step: StepOption = "1h",
    prometheus_end: EndOption = None,
    prometheus_query: QueryOption = None,
    output: Annotated[Format, typer.Option("--format", help="table or json.")] = Format.table,
) -> None:
    """Validate exports and summarise each: rows, workloads, time range, gaps, total cost.

    Formats are detected from each file's header. JSON output is a list with, per source:
    source, kind, format, rows, workloads, start, end, gaps, total_cost, currency, warnings.

    Example: rightsizer sources check --utilisation usage.csv --cost focus.csv --format json
    """
    request = _request(
        utilisation, cost, utilisation_format, cost_format,
        prometheus, prometheus_window, prometheus_step, prometheus_end, prometheus_query,
        usage_needed=False,
    )  # fmt: skip
    if not (request.utilisation or request.cost or request.prometheus):
        raise InputError("sources check", "name a --utilisation or --cost export, or --prometheus")
    inputs = read_inputs(request)
    summaries = [summarise_usage(u) for u in inputs.usages] + [
        summarise_cost(c) for c in inputs.costs
    ]
    if output is Format.json:
        _print_json([summary.as_json() for summary in summaries])
    else:
        print_sources(out, summaries, inputs.prices, inputs.price_notes)


@app.command()
def backtest(
    input: Annotated[
        Path, typer.Option("--input", help="CSV with series_id,timestamp,value rows.")
    ],
    output: Annotated[
        Path, typer.Option("--output", help="Where to write series_id,origin,strategy,capacity.")
    ],
    train: Annotated[str, typer.Option(help="History before the first origin.")] = "7d",
    horizon: Annotated[str, typer.Option(help="What each capacity must cover.")] = "1d",
    step: Annotated[str, typer.Option(help="Distance between origins.")] = "1d",
    metric: Annotated[str, typer.Option(help="cpu or memory: how strategies size.")] = "cpu",
    strategies: Annotated[str, typer.Option(help="Comma-separated strategy names.")] = ",".join(
        STRATEGIES
    ),
) -> None:
    """Replay strategies on past usage: the capacity each would have set at every origin,
    from the data before it, scored against what came next.

    Example: rightsizer backtest --input series.csv --train 7d --horizon 7d --step 1d
    --output results.csv
    """
    if metric not in METRICS:
        raise InputError("--metric", f"{metric!r} is not one of {', '.join(METRICS)}")
    names = tuple(name.strip() for name in strategies.split(",") if name.strip())
    for name in names:
        if name not in STRATEGIES:
            raise InputError(
                "--strategies", f"unknown strategy {name!r}; known: {', '.join(STRATEGIES)}"
            )
    plan = BacktestPlan(
        pd.Timedelta(parse_duration(train, "--train")),
        pd.Timedelta(parse_duration(horizon, "--horizon")),
        pd.Timedelta(parse_duration(step, "--step")),
        metric,
        names,
    )
    series = read_series(input)
    with err.status("Forecasting"):
        results = run_backtest(series, plan)
    if results.empty:
        raise InputError(
            str(input), f"no series has {train} of history followed by a full {horizon}"
        )
    output.parent.mkdir(parents=True, exist_ok=True)
    # Nine significant digits, as a person writes them: a float's last bits of noise
    # (0.022199999999999998) say nothing about a capacity.
    results.assign(
        origin=results["origin"].dt.strftime("%Y-%m-%dT%H:%M:%SZ"),
        capacity=[float(f"{c:.9g}") for c in results["capacity"]],
    ).to_csv(output, index=False)
    print_backtest(out, score(results, series, plan.horizon), len(series))


policy_app = typer.Typer(help="Check and explain the policy a run would apply.")
app.add_typer(policy_app, name="policy")


@policy_app.command("check")
def policy_check(
    repo: CheckoutOption,
    org_policy: OrgPolicyOption = None,
    workload: Annotated[
        str | None,
        typer.Option("--workload", help="KIND/NAME (or NAMESPACE/KIND/NAME) to explain."),
    ] = None,
    environment: Annotated[
        str | None, typer.Option("--environment", help="With --workload: which environment's.")
    ] = None,
) -> None:
    """Validate policy documents and annotations, list conflicts, explain a workload's policy.

    Exits 2 on a malformed document, 1 when an annotation has a value Rightsizer does not
    know. Example: rightsizer policy check --repo ./infra --workload Deployment/checkout
    --environment prod
    """
    Workspace(repo)
    config = load_config(repo)
    policy = load_policy(repo, org_policy, config.annotation_prefix)
    report = check_policy(policy, inspect(repo), workload, environment)
    print_policy_report(out, policy, report)
    if report.problems:
        raise typer.Exit(1)


@app.command()
def serve(
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to listen on.")] = 8080,
    with_worker: Annotated[
        bool, typer.Option("--with-worker", help="Run the jobs in this process too.")
    ] = False,
    concurrency: Annotated[
        int | None,
        typer.Option("--concurrency", min=1, help="Jobs at once with --with-worker."),
    ] = None,
) -> None:
    """Run the service: webhooks, schedules and the dashboard; it queues the jobs.

    The jobs run in `rightsizer worker` processes on the same database, or here with
    --with-worker (one node). Without RIGHTSIZER_DATABASE_URL the service starts an
    embedded PostgreSQL in RIGHTSIZER_DATA_DIR and runs its jobs itself.

    Settings come from RIGHTSIZER_* environment variables (or a YAML file named by
    RIGHTSIZER_SETTINGS_FILE) and are checked before it starts; see the README.

    Example: RIGHTSIZER_GITHUB_APP_ID=123 RIGHTSIZER_GITHUB_PRIVATE_KEY=app.pem
    RIGHTSIZER_GITHUB_WEBHOOK_SECRET=... rightsizer serve --host 0.0.0.0 --port 8080
    """
    from bot.service.app import run_service

    run_service(host, port, with_worker, concurrency)


@app.command()
def worker(
    concurrency: Annotated[
        int | None,
        typer.Option(
            "--concurrency", min=1, help="Jobs at once (default: the container's CPU quota)."
        ),
    ] = None,
) -> None:
    """Run jobs from the service's queue until stopped (SIGTERM lets running jobs finish).

    Start as many as the load needs, beside `rightsizer serve`, with the same settings;
    RIGHTSIZER_DATABASE_URL must name the PostgreSQL they share.
    """
    from bot.service.app import run_workers

    run_workers(concurrency)


@app.command(name="strategies")
def list_strategies() -> None:
    """The sizing strategies, each with its settings, defaults and bounds."""
    print_strategies(out)


def main() -> None:
    collect_less()
    try:
        app()
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    except ForgeError as exc:
        print(f"forge error: {exc}", file=sys.stderr)
        print("nothing half-written: the next run picks up from here", file=sys.stderr)
        sys.exit(3)


if __name__ == "__main__":
    main()
