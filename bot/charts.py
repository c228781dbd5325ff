"""What a usage chart shows, before anything draws it: the PR's Mermaid chart and the
dashboard's SVG share the axis scale, and the PR decides its series, colours and cut here.

A Mermaid `xychart-beta` has no legend in the versions forges run, labels every point of its
x-axis, and scales its y-axis to the largest value. So the PR's chart is built to be read
without them: at most `PR_POINTS` points, only series that hold something, each in a colour
the caption names (Okabe–Ito's, which colour-blind readers tell apart, on light and dark
themes), and an axis that a lone spike does not flatten: a point far above everything else
is drawn cut at the top and named, with its value, below the chart. A steady history is not
drawn: its range is said in a line (`PrChart.flat`).
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, replace
from typing import Literal

from recommenders.model import UsageChart

PR_POINTS = 8
"""Points, and so x-axis labels, a PR's chart draws at most: each label stays readable, and
each of the few dozen characters a point costs in the body pays its way (a month of history
is eight points of four days)."""
FLAT = 0.1
"""Usage whose range is under this share of the level it is read against (the proposed
request, or its own highest day when higher) is steady: its bars would draw one band under
the proposed line, and a chart costs about 400 bytes of a PR body (a twentieth of what a
five-workload PR should take) to say what "141–154 millicores" says. Not measured against
the axis: today's request, five times higher before a cut, would squash a five-fold swing
into a band."""
SPIKE = 3.0
"""A point is a spike when it is over this multiple of the median observed point and over
`ABOVE_LEVELS` times the highest request drawn: it does not set the axis."""
ABOVE_LEVELS = 1.5
COLOURS = {
    "observed": ("#56B4E9", "sky-blue"),
    "proposed": ("#009E73", "green"),
    "current": ("#CC79A7", "pink"),
}
"""Each series' colour, and the name the caption gives it. The level the risk target needs
is not drawn: it sits on the bars it is forecast from, and the details say it in words."""

Role = Literal["observed", "proposed", "current"]


@dataclass(frozen=True)
class Series:
    role: Role
    kind: Literal["bar", "line"]
    values: tuple[float, ...]

    @property
    def colour(self) -> str:
        return COLOURS[self.role][1]


@dataclass(frozen=True)
class Cut:
    """A point drawn at the top of the axis because it is far above it."""

    label: str
    value: float


@dataclass(frozen=True)
class PrChart:
    chart: UsageChart
    """The chart in at most `PR_POINTS` points."""
    series: tuple[Series, ...]
    top: float
    """The y-axis maximum: a round number above every level and every point but spikes."""
    cuts: tuple[Cut, ...]
    proposed: float
    """The request the PR writes (after every guardrail), in the chart's unit."""
    title: str
    """The series it draws: `cpu`, or `<container> cpu` in a workload of several."""
    flat: tuple[str, float, float] | None = None
    """When the history is steady (`FLAT`): its statistic before the chart was made coarse
    (`p95 per day`), and its lowest and highest value."""

    @property
    def palette(self) -> str:
        """Mermaid's `plotColorPalette`: the series' colours in the order they are drawn."""
        return ",".join(COLOURS[series.role][0] for series in self.series)

    def drawn(self, role: Role) -> bool:
        return any(series.role == role for series in self.series)


def pr_chart(chart: UsageChart, proposed: float, title: str) -> PrChart | None:
    """What the PR draws of `chart`, titled `title`, with `proposed` as the request it
    writes; None when nothing would show (no usage and no request).

    The history only, as bars: Mermaid draws a bar of 0 as a strip below the axis, so a
    series that is empty over half the chart (the history over the horizon) is not drawn."""
    history = max((i + 1 for i, v in enumerate(chart.observed) if v is not None), default=0)
    finest = [value for value in chart.observed[:history] if value is not None]
    statistic = chart.statistic
    chart = replace(
        chart,
        labels=chart.labels[:history],
        observed=chart.observed[:history],
        forecast=(None,) * history,
    ).coarse(PR_POINTS)
    observed = [value or 0.0 for value in chart.observed]
    levels = [level for level in (chart.current, proposed) if level > 0]
    seen = [value for value in observed if value > 0]
    if (not seen and not levels) or not chart.labels:
        return None
    median = statistics.median(seen) if seen else 0.0
    ceiling = max(levels, default=0.0)
    spikes = {
        i for i, v in enumerate(observed) if v > SPIKE * median and v > ABOVE_LEVELS * ceiling
    }
    _, top = scale(max([*levels, *(v for i, v in enumerate(observed) if i not in spikes)]))
    count = len(chart.labels)
    series = []
    if seen:
        series.append(Series("observed", "bar", tuple(min(v, top) for v in observed)))
    if proposed > 0:
        series.append(Series("proposed", "line", (proposed,) * count))
    if chart.current > 0 and chart.current != proposed:
        series.append(Series("current", "line", (chart.current,) * count))
    cuts = tuple(Cut(chart.labels[i], observed[i]) for i in sorted(spikes))
    low, high = min(finest, default=0.0), max(finest, default=0.0)
    steady = high > 0 and high - low < FLAT * max(high, proposed)
    flat = (statistic, low, high) if steady else None
    return PrChart(chart, tuple(series), top, cuts, proposed, title, flat)


def scale(top: float) -> tuple[float, float]:
    """A round tick step and the axis maximum (a multiple of it) a little above `top`."""
    if top <= 0 or not math.isfinite(top):
        return 1.0, 4.0
    raw = top * 1.08 / 4
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    return step, step * math.ceil(top * 1.08 / step)
