"""The dashboard: server-rendered pages from the jinja2 templates in `templates/dashboard/`.

`GET /` shows installations, repositories with their last run and open PRs, recent runs and
the queue depth; `GET /repositories/{id}` shows, per workload, the latest recommendation
table and a usage/forecast chart. Charts are inline SVG laid out here and drawn by the
templates: no JavaScript and nothing from a CDN, so the page works offline, and a Content
Security Policy forbids scripts outright. Every value reaches the page through jinja2's
autoescape; links to PRs are kept only when they are http(s).

Mount it with `app.include_router(dashboard_router(store))`, or under a prefix ending in a
slash: the pages link to each other with relative URLs.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from fastapi import APIRouter
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from bot.charts import scale
from bot.manifests.quantities import readable
from bot.resources import data_dir
from bot.service import queries
from bot.store import Store
from recommenders.model import UsageChart

TEMPLATES = data_dir("templates") / "dashboard"

HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def dashboard_router(store: Store) -> APIRouter:
    """The dashboard's pages over `store`. The handlers are plain functions: FastAPI runs them
    in its thread pool, so the blocking database reads never stall the event loop."""
    router = APIRouter(tags=["dashboard"])
    env = environment()

    @router.get("/", response_class=HTMLResponse, include_in_schema=False)
    def index() -> HTMLResponse:
        page = env.get_template("index.html.j2").render(overview=queries.overview(store), root="./")
        return HTMLResponse(page, headers=HEADERS)

    @router.get("/repositories/{repository_id}", response_class=HTMLResponse)
    def repository(repository_id: int) -> HTMLResponse:
        detail = queries.repository_detail(store, repository_id)
        if detail is None:
            page = env.get_template("not_found.html.j2").render(
                repository_id=repository_id, root="../"
            )
            return HTMLResponse(page, status_code=404, headers=HEADERS)
        page = env.get_template("repository.html.j2").render(detail=detail, root="../")
        return HTMLResponse(page, headers=HEADERS)

    return router


def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = when
    env.filters["duration"] = duration
    env.filters["quantity"] = quantity
    env.filters["change"] = change
    env.filters["number"] = number
    env.filters["web_url"] = web_url
    env.filters["outcome_class"] = outcome_class
    env.globals["chart_svg"] = chart_svg
    return env


# Filters ---------------------------------------------------------------------------------


def when(value: datetime | None) -> str:
    return "–" if value is None else value.strftime("%Y-%m-%d %H:%M UTC")


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "running"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {rest:02d} s"
    return f"{minutes // 60} h {minutes % 60:02d} min"


def quantity(value: float, field: str) -> str:
    """A stored value (cores, bytes, or a plain number) as a reviewer reads it: `250m`,
    `512Mi`, `3`."""
    return readable(value, field)


def change(current: float, proposed: float) -> str:
    if current == proposed:
        return "±0%"
    if current == 0:
        return "new"
    return f"{(proposed - current) / current:+.0%}"


def number(value: float | None) -> str:
    """A chart value: thousands separated, one decimal under 100, none above."""
    if value is None:
        return "–"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    text = f"{value:,.1f}"
    return text[:-2] if text.endswith(".0") else text


def web_url(url: str | None) -> str | None:
    """The URL when it is http(s) (a link the page may show); None otherwise, such as a
    `javascript:` URL that escaping alone would not disarm."""
    if not url:
        return None
    try:
        scheme = urlsplit(url.strip()).scheme.lower()
    except ValueError:
        return None
    return url.strip() if scheme in ("http", "https") else None


_OUTCOMES = {
    "ok": {"done", "success", "succeeded", "ok", "unchanged", "no-changes", "nothing", "opened"},
    "bad": {"failed", "failure", "error", "errored", "crashed"},
    "busy": {"running", "queued", "retrying"},
}


def outcome_class(outcome: str | None) -> str:
    """One of a few fixed CSS classes for an outcome, whatever text the outcome holds."""
    text = (outcome or "").lower()
    return next((name for name, known in _OUTCOMES.items() if text in known), "other")


# The chart ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str
    value: str


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    label: str
    value: str


@dataclass(frozen=True)
class Level:
    """A horizontal request line across the plot, and its label right of it."""

    name: str
    y: float
    label_y: float
    text: str


@dataclass(frozen=True)
class Tick:
    """A grid line (y) or a label position (x), with where its text goes."""

    position: float
    text_x: float
    text_y: float
    text: str


@dataclass(frozen=True)
class ChartSvg:
    """Where everything of one chart goes, in SVG user units (rounded to tenths)."""

    id: str
    width: int
    height: int
    left: float
    right: float
    top: float
    bottom: float
    title: str
    description: str
    unit: str
    statistic: str
    bars: tuple[Bar, ...]
    forecast: tuple[Point, ...]
    forecast_path: str
    horizon_x: float | None
    levels: tuple[Level, ...]
    level_label_x: float
    y_ticks: tuple[Tick, ...]
    x_ticks: tuple[Tick, ...]
    x_title: Tick
    y_title: Tick
    chart: UsageChart


WIDTH, HEIGHT = 760, 280
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 64, 150, 20, 52
MAX_X_LABELS = 8
LABEL_GAP = 13.0


def chart_svg(chart: UsageChart, key: str = "chart") -> ChartSvg:
    """The layout of `chart`: a bar per observed value, a point per forecast value joined by
    a dashed line, the current and proposed requests as horizontal lines labelled on the
    right, value ticks on the left and at most eight labels along the bottom."""
    left, top = float(MARGIN_LEFT), float(MARGIN_TOP)
    right, bottom = float(WIDTH - MARGIN_RIGHT), float(HEIGHT - MARGIN_BOTTOM)
    count = max(len(chart.labels), 1)
    slot = (right - left) / count
    values = [v for v in (*chart.observed, *chart.forecast) if v is not None]
    step, ceiling = scale(max([*values, chart.current, chart.proposed, 0.0]))

    def y_of(value: float) -> float:
        return bottom - (bottom - top) * min(max(value, 0.0), ceiling) / ceiling

    bars = tuple(
        Bar(
            x=_f(left + index * slot + slot * 0.15),
            y=_f(y_of(value)),
            width=_f(slot * 0.7),
            height=_f(bottom - y_of(value)),
            label=chart.labels[index],
            value=number(value),
        )
        for index, value in enumerate(chart.observed)
        if value is not None
    )
    forecast = tuple(
        Point(
            x=_f(left + (index + 0.5) * slot),
            y=_f(y_of(value)),
            label=chart.labels[index],
            value=number(value),
        )
        for index, value in enumerate(chart.forecast)
        if value is not None
    )
    first = next((i for i, v in enumerate(chart.forecast) if v is not None), None)
    y_ticks = []
    for i in range(round(ceiling / step) + 1):
        y = y_of(step * i)
        y_ticks.append(Tick(_f(y), _f(left - 6), _f(y + 4), number(step * i)))
    every = max(math.ceil(len(chart.labels) / MAX_X_LABELS), 1)
    x_ticks = tuple(
        Tick(_f(x), _f(x), _f(bottom + 16), _short(label))
        for index, label in enumerate(chart.labels)
        if index % every == 0
        for x in [left + (index + 0.5) * slot]
    )
    description = (
        f"{chart.container} {chart.metric} in {chart.unit}: {len(bars)} observed "
        f"{chart.statistic or 'values'}"
        + (f", a forecast over {len(forecast)} points" if forecast else ", no forecast")
        + f"; current request {number(chart.current)}, proposed {number(chart.proposed)}."
    )
    middle_x, middle_y = (left + right) / 2, (top + bottom) / 2
    return ChartSvg(
        id=key,
        width=WIDTH,
        height=HEIGHT,
        left=_f(left),
        right=_f(right),
        top=_f(top),
        bottom=_f(bottom),
        title=f"{chart.container} {chart.metric} ({chart.unit})",
        description=description,
        unit=chart.unit,
        statistic=chart.statistic,
        bars=bars,
        forecast=forecast,
        forecast_path=" ".join(f"{p.x},{p.y}" for p in forecast),
        horizon_x=_f(left + first * slot) if first else None,
        levels=_levels(chart, y_of),
        level_label_x=_f(right + 6),
        y_ticks=tuple(y_ticks),
        x_ticks=x_ticks,
        x_title=Tick(_f(middle_x), _f(middle_x), float(HEIGHT - 8), chart.statistic or "usage"),
        y_title=Tick(_f(middle_y), 16.0, _f(middle_y), chart.unit),
        chart=chart,
    )


def _levels(chart: UsageChart, y_of: Callable[[float], float]) -> tuple[Level, ...]:
    """The proposed and current lines; their labels pushed apart when the lines are close."""
    proposed_y, current_y = y_of(chart.proposed), y_of(chart.current)
    proposed_label, current_label = proposed_y + 4, current_y + 4
    if abs(proposed_y - current_y) < LABEL_GAP:
        middle = (proposed_y + current_y) / 2 + 4
        upper, lower = middle - LABEL_GAP / 2, middle + LABEL_GAP / 2
        if chart.proposed >= chart.current:
            proposed_label, current_label = upper, lower
        else:
            proposed_label, current_label = lower, upper
    same = " (same)" if chart.proposed == chart.current else ""
    return (
        Level("current", _f(current_y), _f(current_label), f"current {number(chart.current)}"),
        Level(
            "proposed",
            _f(proposed_y),
            _f(proposed_label),
            f"proposed {number(chart.proposed)}{same}",
        ),
    )


def _short(label: str, limit: int = 14) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"


def _f(value: float) -> float:
    return round(value, 1)
