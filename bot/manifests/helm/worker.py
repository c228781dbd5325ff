"""The child process that renders charts: run as `python -m bot.manifests.helm.worker`.

Chart templates are repository content, so they are evaluated away from the bot: in a
process that starts with an empty environment (no token to read), with limits on memory and
CPU time that the parent sets before exec, answering one JSON request per line on stdin.
Helm's engine is a Go library loaded with ctypes; a template that loops forever or a values
file that balloons ends this process, not the bot.
"""

from __future__ import annotations

import json
import sys
from typing import Any


def _answer(request: dict[str, Any]) -> dict[str, Any]:
    from helm_python.chart import Chart
    from helm_python.errors import HelmError

    try:
        chart = Chart.load(request["chart"])
    except HelmError as exc:
        return {"error": f"chart does not load: {_one_line(exc)}"}
    with chart:
        if request["op"] == "merge":
            try:
                return {"values": chart.merge_values(request["values"])}
            except HelmError as exc:
                return {"error": _one_line(exc)}
        results: list[dict[str, Any]] = []
        for values in request["value_sets"]:
            try:
                manifests = chart.render(
                    values, name=request["name"], namespace=request["namespace"]
                )
                results.append({"manifests": manifests})
            except HelmError as exc:
                results.append({"error": _one_line(exc)})
        return {"results": results}


def _one_line(exc: Exception) -> str:
    """The whole message on one line: Helm's first line names the template and its line,
    a later one what went wrong there."""
    text = " ".join(line.strip() for line in str(exc).splitlines() if line.strip())
    return text[:500] or type(exc).__name__


def main() -> None:
    from helm_python import disable_logging

    disable_logging()
    for line in sys.stdin:
        answer = _answer(json.loads(line))
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
