"""A jinja2 sandbox with budgets: a repository's template may format, not hang or flood.

jinja2's sandbox keeps a template from reaching the bot's objects, and caps one `range` at
100,000 items; it does not bound the work of loops in loops, of macros that call each
other, or the size of what comes out (`'x' * 10**9`). Each render here has a budget of
steps: every item a `range` hands out and every call a template makes spends one, and a
string or list may not be multiplied past the output limit. Going over a budget is an
`InputError` naming the template.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from jinja2 import Template
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment

from recommenders.errors import InputError

MAX_STEPS = 1_000_000
"""Loop items and calls in one render: a real PR template takes a few thousand."""
MAX_OUTPUT_CHARS = 4_000_000
"""What one render may produce: four times the largest PR body a forge accepts."""


class BudgetedEnvironment(SandboxedEnvironment):
    intercepted_binops = frozenset({"*", "**"})

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.steps = MAX_STEPS
        self.globals["range"] = self._range

    def render(self, name: str, context: dict[str, Any]) -> str:
        """The template rendered within the budgets, which start afresh for each render."""
        self.steps = MAX_STEPS
        template = self.get_template(name)
        try:
            return _joined(template, context, name)
        except RecursionError as exc:
            raise InputError(f"template {name}", "macros call each other too deeply") from exc

    def call(self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        self._spend(1)
        return super().call(__context, __obj, *args, **kwargs)

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**" and isinstance(right, int | float) and abs(right) > 64:
            raise SecurityError(f"an exponent of {right} is over the limit of 64")
        if operator == "*":
            sized, count = (left, right) if isinstance(left, str | list | tuple) else (right, left)
            repeated = isinstance(sized, str | list | tuple) and isinstance(count, int)
            if repeated and len(sized) * count > MAX_OUTPUT_CHARS:
                raise SecurityError(f"a repetition would make {len(sized) * count:,} items")
        return super().call_binop(context, operator, left, right)

    def _range(self, *args: int) -> range:
        found = range(*args)
        if len(found) > 100_000:
            raise SecurityError(f"range of {len(found):,} items is over the limit of 100,000")
        self._spend(len(found))
        return found

    def _spend(self, steps: int) -> None:
        self.steps -= steps
        if self.steps < 0:
            raise SecurityError(f"over the budget of {MAX_STEPS:,} loop items and calls")


def _joined(template: Template, context: dict[str, Any], name: str) -> str:
    parts: list[str] = []
    size = 0
    chunks: Iterator[str] = template.generate(context)
    for chunk in chunks:
        size += len(chunk)
        if size > MAX_OUTPUT_CHARS:
            raise InputError(f"template {name}", f"output over {MAX_OUTPUT_CHARS:,} characters")
        parts.append(chunk)
    return "".join(parts)
