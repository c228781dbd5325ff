"""The PR's charts as a forge shows them: every chart of the demo's PRs rendered by the real
Mermaid library (the release `make mermaid` fetches) in headless chromium. A chart Mermaid
cannot parse or draw fails here, not in a reviewer's browser; the SVG it draws is checked
for the series, colours and labels the caption promises.

Without chromium or the Mermaid bundle these tests skip naming the make target; under CI
they fail instead.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
from datetime import timedelta
from pathlib import Path
from unittest import mock

import pytest

from bot import charts as pr_charts
from bot.charts import COLOURS, PR_POINTS
from bot.compose import compose
from bot.config import load_config
from bot.groups import group_changes
from tests.test_dashboard import chromium

pytestmark = pytest.mark.server

ROOT = Path(__file__).resolve().parent.parent
FENCED = re.compile(r"```mermaid\n(.*?)```", re.S)

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><script src="mermaid.min.js"></script></head>
<body><pre id="result">not rendered</pre>
<script>
const charts = %s;
mermaid.initialize({startOnLoad: false, securityLevel: "strict"});
(async () => {
  const results = [];
  for (const [i, text] of charts.entries()) {
    try {
      const {svg} = await mermaid.render("chart" + i, text);
      const doc = new DOMParser().parseFromString(svg, "image/svg+xml");
      const plots = [...doc.querySelectorAll("g[class*='-plot-']")].map((g) => {
        const marks = [...g.querySelectorAll("rect, path")];
        return {
          kind: g.getAttribute("class").replace(/-plot-\\d+$/, ""),
          marks: marks.length,
          colour: marks.length ? marks[0].getAttribute("fill") !== "none"
            ? marks[0].getAttribute("fill") : marks[0].getAttribute("stroke") : null,
        };
      });
      const texts = (selector) => [...doc.querySelectorAll(selector + " text")]
        .map((t) => t.textContent);
      results.push({ok: true, plots, yTitle: texts(".left-axis .title"),
                    xLabels: texts(".bottom-axis .label")});
    } catch (error) {
      results.push({ok: false, error: String((error && error.message) || error)});
    }
  }
  document.getElementById("result").textContent = JSON.stringify(results);
})();
</script></body></html>
"""


def mermaid_bundle() -> Path:
    found = sorted(ROOT.glob(".cache/mermaid-*/mermaid.min.js"))
    if found:
        return found[-1]
    reason = "the Mermaid bundle is not fetched: `make mermaid` fetches it (needs npm)"
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


def rendered(charts: list[str], tmp_path: Path) -> list[dict]:
    """What Mermaid made of each chart, in order: its plots, y-axis title and x labels, or
    its error."""
    bundle = mermaid_bundle()
    page = tmp_path / "charts.html"
    shutil.copy(bundle, tmp_path / "mermaid.min.js")
    page.write_text(PAGE % json.dumps(charts).replace("</", "<\\/"))
    dumped = chromium(
        "--allow-file-access-from-files",
        "--virtual-time-budget=60000",
        "--dump-dom",
        page.as_uri(),
        profile=tmp_path / "profile",
    ).stdout
    found = re.search(r'<pre id="result">(.*?)</pre>', dumped, re.S)
    assert found is not None and found.group(1) != "not rendered", dumped[-2000:]
    return json.loads(html.unescape(found.group(1)))


@pytest.fixture(scope="module")
def demo_bodies(planned) -> list[str]:
    """The PR bodies of the demo's run, one per environment; then the same with the charts of
    flat usage drawn too (`FLAT` 0), so that every changed workload's chart is rendered."""
    repo, plan = planned
    config = load_config(repo)
    groups = group_changes(plan, config, repo)
    bodies = [compose(group, plan, config.base_branch).body for group in groups]
    with mock.patch.object(pr_charts, "FLAT", 0.0):
        bodies += [compose(group, plan, config.base_branch).body for group in groups]
    return bodies


def test_every_chart_of_the_demo_renders_with_its_series_in_the_named_colours(
    demo_bodies, tmp_path
):
    charts = [chart for body in demo_bodies for chart in FENCED.findall(body)]
    assert len(charts) >= 12  # a chart in each changed workload's details, in three PRs
    results = rendered(charts, tmp_path)
    assert len(results) == len(charts)
    for chart, result in zip(charts, results, strict=True):
        assert result["ok"], f"{result['error']}\n{chart}"
        palette = re.search(r'"plotColorPalette":"([^"]+)"', chart).group(1).split(",")
        kinds = re.findall(r"^ {4}(bar|line) \[", chart, re.M)
        assert [plot["kind"] for plot in result["plots"]] == kinds
        assert [plot["colour"].upper() for plot in result["plots"]] == palette
        assert set(palette) <= {hex_colour for hex_colour, _ in COLOURS.values()}
        labels = re.search(r"x-axis \[(.*)\]", chart).group(1).count('"') // 2
        assert labels <= PR_POINTS and len(result["xLabels"]) == labels  # each one drawn
        for plot in result["plots"]:
            assert plot["marks"] == (labels if plot["kind"] == "bar" else 1)
        title = re.search(r'y-axis "([^"]+)"', chart).group(1)  # container, metric, unit
        assert title in result["yTitle"]


def test_a_chart_mermaid_cannot_read_fails_by_its_error(tmp_path):
    """The check itself: a broken chart comes back as an error, not as a pass."""
    broken = 'xychart-beta\n    x-axis ["a", "b"]\n    bar [1, 2\n'
    (result,) = rendered([broken], tmp_path)
    assert not result["ok"] and "Parse error" in result["error"]


def test_the_charts_of_a_revert_and_a_pre_scaling_pr_render(tmp_path):
    """The bot's own PRs draw their evidence too: the regressed signal around a merge, and
    the busiest day's schedule against the flat minimum."""
    from tests import test_close_the_loop as loop
    from tests import test_prescaling_run as prescaling

    repo = prescaling._repo(tmp_path / "prescale")
    prescaling._run(repo, prescaling._usage(tmp_path / "demand.csv"), tmp_path / "prs")
    bodies = [(tmp_path / "prs" / "prescale-deploy.md").read_text()]
    reverted = tmp_path / "revert"
    reverted.mkdir()
    repo, pr_dir, sha = loop.merged_first_pr(reverted)
    usage = loop._usage(reverted / "after.csv", 18.5, oom_after_merge=True)
    loop._run(repo, usage, pr_dir, loop.MERGED + timedelta(days=3, hours=20))
    bodies.append((pr_dir / f"revert-{sha[:7]}.md").read_text())
    charts = [chart for body in bodies for chart in FENCED.findall(body)]
    assert len(charts) == 3  # the busiest day, the week, the OOM kills around the merge
    for chart, result in zip(charts, rendered(charts, tmp_path), strict=True):
        assert result["ok"], f"{result['error']}\n{chart}"
        labels = re.search(r"x-axis \[(.*)\]", chart).group(1).count('"') // 2
        assert labels <= 14 and len(result["xLabels"]) == labels
        assert result["plots"][0]["kind"] == "bar" and result["plots"][0]["marks"] == labels
