"""Custom policy conditions: a team's own rule, written as a CEL expression, that holds a change
back when it is true.

Numbers in `max_step` or `bounds` cannot say "prod cuts over 20 % need a human" or "leave the
payments team's workloads alone"; an expression over the workload and the change can. CEL is
the language Kubernetes uses for ValidatingAdmissionPolicy, so platform teams already know it,
and it cannot loop, call out or touch the file system. A policy file holds them as

    conditions:
      - name: no-big-prod-cuts
        expression: workload.environment == "prod" && change.percent < -20.0
        action: skip      # the only action, and the default: hold the change back
        message: "prod cuts over 20 % need a human"

and a true expression adds the rule hit `condition.<name>` with the message (or, without one,
the expression) to the change's decision.

What an expression can read (a contract with the policy's authors: rename nothing):

    workload.kind                 string   "Deployment", "StatefulSet"
    workload.name                 string
    workload.namespace            string
    workload.environment          string   the environment (overlay) the change is for
    workload.labels               map      string to string; empty when there are none
    workload.annotations          map      string to string; empty when there are none
    change.field                  string   "requests.cpu", "limits.memory", "hpa.minReplicas"...
    change.container              string   the container's name; "" for workload-level fields
    change.current                double   today's value in base units (cores, bytes, replicas)
    change.proposed               double   the value proposed for it, in the same units
    change.percent                double   signed change: -25.0 is a 25 % cut; 0.0 from zero
    change.monthly_cost_delta     double   USD per month; negative is a saving
    recommendation.confidence     string   "low", "medium" or "high"
    recommendation.history_days   double   days of usage history behind the recommendation
    recommendation.model          string   which model (strategy) proposed it

Every number is a double; `change.percent < -20` compares it with an int as well.
A map key that may be absent is tested with `has(workload.labels.team)` or
`"team" in workload.labels` before it is read.

Mistakes are refused at load with the file and line of the condition: invalid CEL, a variable
or field that is not in the table above (`workload.enviroment`), an unknown key, a duplicate
name. An expression that still fails when evaluated (reading a label a workload does not have,
comparing a string to a number) or that yields no bool stops the run with an `InputError`
naming the condition and the workload: letting the change through would silently defeat the
rule, and skipping it would silently hide a broken policy on every workload it touches.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import celpy
import lark

from bot.decisions.model import RuleHit
from bot.manifests.yamlio import position
from bot.settings_files import check_keys, field_error, typed
from recommenders.errors import InputError

_KEYS = ("name", "expression", "action", "message")
_ACTIONS = ("skip",)
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")

_FIELDS: dict[str, tuple[str, ...]] = {
    "workload": ("kind", "name", "namespace", "environment", "labels", "annotations"),
    "change": (
        "field",
        "container",
        "current",
        "proposed",
        "percent",
        "monthly_cost_delta",
    ),
    "recommendation": ("confidence", "history_days", "model"),
}
_TYPE_NAMES = frozenset(
    [
        "bool",
        "bytes",
        "double",
        "duration",
        "int",
        "list",
        "map",
        "null_type",
        "string",
        "timestamp",
        "type",
        "uint",
    ]
)
_CHANGE_NUMBERS = ("current", "proposed", "percent", "monthly_cost_delta")
_MACROS = frozenset(("all", "exists", "exists_one", "map", "filter"))
MAX_EXPRESSION_CHARS = 2000
COST_BUDGET = 200_000
"""Evaluation steps (syntax-tree nodes visited) an expression may cost for one change: about
a second of celpy at worst. CEL has no loops, but comprehensions over lists nest, and each
level multiplies the one inside; the estimate is made as Kubernetes makes it for its own
CEL, from the expression and a size for each list or map it ranges over."""
ASSUMED_ENTRIES = 20
"""The size a comprehension over `workload.labels` or `.annotations` is estimated with at
load (a typical workload's count); one with more is estimated again with its own count
before evaluation, and refused if that goes over the budget."""


@dataclass(frozen=True)
class Condition:
    name: str
    expression: str
    program: Any = field(compare=False, repr=False)
    """celpy's runner for `expression`, compiled once at load."""
    tree: Any = field(compare=False, repr=False)
    """The parsed expression, for its cost on workloads with many labels."""
    message: str
    where: str
    """`file:line` of the condition's item in the policy file."""

    @property
    def rule(self) -> str:
        return f"condition.{self.name}"


@dataclass(frozen=True)
class Activation:
    """The CEL variables for one change, and how an error names that change."""

    variables: Mapping[str, Any]
    subject: str


def activation(
    workload: Mapping[str, Any], change: Mapping[str, Any], recommendation: Mapping[str, Any]
) -> Activation:
    """The variables of the table above from plain values (the policy engine's, taken from a
    `Workload` and a `FieldRecommendation`). A missing key is the caller's bug, a ValueError:
    surfacing it as the user's condition failing would blame the wrong file."""
    variables: dict[str, dict[str, Any]] = {
        "workload": {
            **{
                key: _text(workload, key, "workload")
                for key in ("kind", "name", "namespace", "environment")
            },
            "labels": _strings(workload.get("labels")),
            "annotations": _strings(workload.get("annotations")),
        },
        "change": {
            "field": _text(change, "field", "change"),
            "container": str(change.get("container") or ""),
            **{key: _number(change, key, "change") for key in _CHANGE_NUMBERS},
        },
        "recommendation": {
            "confidence": _text(recommendation, "confidence", "recommendation"),
            "history_days": _number(recommendation, "history_days", "recommendation"),
            "model": _text(recommendation, "model", "recommendation"),
        },
    }
    named = variables["workload"]
    subject = f"{named['environment']}/{named['namespace']}/{named['kind']}/{named['name']}"
    container = variables["change"]["container"]
    of = f" of container {container}" if container else ""
    return Activation(
        {name: celpy.json_to_cel(values) for name, values in variables.items()},
        f"{subject} {variables['change']['field']}{of}",
    )


def _text(values: Mapping[str, Any], key: str, scope: str) -> str:
    if values.get(key) is None:
        raise ValueError(f"the conditions' {scope} needs {key!r}; got keys {sorted(values)}")
    return str(values[key])


def _number(values: Mapping[str, Any], key: str, scope: str) -> float:
    if key == "percent" and "percent" not in values:
        current, proposed = _number(values, "current", scope), _number(values, "proposed", scope)
        return (proposed - current) / current * 100 if current else 0.0
    if not isinstance(values.get(key), int | float):
        raise ValueError(f"the conditions' {scope}.{key} must be a number, got {values.get(key)!r}")
    return float(values[key])


def _strings(values: Mapping[Any, Any] | None) -> dict[str, str]:
    return {str(key): str(value) for key, value in (values or {}).items()}


def parse_conditions(items: list[Any], shown_as: str) -> tuple[Condition, ...]:
    """The `conditions:` list of a policy file, each expression compiled and checked."""
    if not isinstance(items, list):
        raise InputError(shown_as, f"conditions: expected a list, got {items!r}")
    conditions: list[Condition] = []
    for index, item in enumerate(items):
        line, _ = position(items, index)
        if not isinstance(item, dict):
            raise InputError(f"{shown_as}:{line}", f"a condition must be a mapping, got {item!r}")
        condition = _parse_condition(item, f"{shown_as}:{line}", shown_as)
        _refuse_duplicate(condition, conditions, item, shown_as)
        conditions.append(condition)
    return tuple(conditions)


def _parse_condition(item: Any, where: str, shown_as: str) -> Condition:
    check_keys(item, _KEYS, shown_as, "a condition")
    for key in ("name", "expression"):
        if key not in item:
            raise InputError(where, f"a condition needs {key!r}")
    name = typed(item, "name", str, shown_as)
    if not _NAME.fullmatch(name):
        problem = "letters, digits, '-', '_' and '.', starting with a letter or digit"
        raise field_error(item, "name", shown_as, f"{name!r} is not a valid name; use {problem}")
    expression = typed(item, "expression", str, shown_as)
    action = typed(item, "action", str, shown_as) if "action" in item else "skip"
    if action not in _ACTIONS:
        raise field_error(item, "action", shown_as, f"only 'skip' is supported, got {action!r}")
    message = typed(item, "message", str, shown_as) if "message" in item else expression
    program, tree = _compile(item, expression, shown_as)
    return Condition(name, expression, program, tree, message.strip(), where)


def _refuse_duplicate(
    condition: Condition, earlier: list[Condition], item: Any, shown: str
) -> None:
    for other in earlier:
        if other.name == condition.name:
            problem = f"{condition.name!r} is already the name of the condition at {other.where}"
            raise field_error(item, "name", shown, problem)


def _compile(item: Any, expression: str, shown_as: str) -> tuple[Any, Any]:
    if not expression.strip():
        raise field_error(item, "expression", shown_as, "is empty")
    if len(expression) > MAX_EXPRESSION_CHARS:
        problem = f"is {len(expression)} characters; at most {MAX_EXPRESSION_CHARS}"
        raise field_error(item, "expression", shown_as, problem)
    try:
        tree = _environment().compile(expression)
    except celpy.CELParseError as exc:
        raise field_error(item, "expression", shown_as, _syntax_error(exc, expression)) from exc
    unknown = _unknown_name(tree)
    if unknown:
        raise field_error(item, "expression", shown_as, unknown)
    cost = cost_estimate(tree, ASSUMED_ENTRIES)
    if cost > COST_BUDGET:
        raise field_error(item, "expression", shown_as, _over_budget(cost, "nested comprehensions"))
    return _environment().program(tree), tree


def cost_estimate(node: Any, entries: int) -> int:
    """Nodes an evaluation may visit: each node once, a comprehension's body once per
    element of what it ranges over (a literal list's length, a comprehension's result as
    long as its input, anything else `entries` long)."""
    if not isinstance(node, lark.Tree):
        return 1
    if _is_macro(node):
        target, arguments = node.children[0], node.children[2]
        body = arguments.children[-1]
        return cost_estimate(target, entries) + _length(target, entries) * (
            cost_estimate(body, entries) + 1
        )
    return 1 + sum(cost_estimate(child, entries) for child in node.children)


def _is_macro(node: Any) -> bool:
    return (
        node.data == "member_dot_arg"
        and len(node.children) >= 3
        and str(node.children[1]) in _MACROS
    )


def _length(node: Any, entries: int) -> int:
    """How many elements `node` can hold: a list literal's count, a comprehension's input's."""
    while isinstance(node, lark.Tree) and node.data != "list_lit" and len(node.children) == 1:
        node = node.children[0]
    if isinstance(node, lark.Tree) and node.data == "list_lit":
        return len(node.children[0].children) if node.children else 0
    if isinstance(node, lark.Tree) and _is_macro(node):
        return _length(node.children[0], entries)
    return entries


def _over_budget(cost: int, cause: str) -> str:
    return (
        f"may cost about {cost:,} evaluation steps, over the budget of {COST_BUDGET:,} "
        f"({cause} multiply)"
    )


@functools.cache
def _environment() -> Any:
    """Built on first use: the first one builds celpy's parser, a sixth of a second."""
    return celpy.Environment()


def _syntax_error(exc: Any, expression: str) -> str:
    """celpy's message is the source line with a caret under the fault, on two lines; this is
    the same on one, with what the parser (lark, kept as the context) did not expect."""
    line, column = getattr(exc, "line", None) or 1, getattr(exc, "column", None) or 1
    lines = expression.splitlines() or [""]
    source = lines[min(line, len(lines)) - 1].strip()
    cause = exc.__context__
    token = getattr(cause, "token", None)
    if token is not None and getattr(token, "type", "") == "$END":
        return f"invalid CEL: unexpected end of expression in {source!r}"
    found = token if token is not None else getattr(cause, "char", None)
    unexpected = f": unexpected {str(found)!r}" if found else ""
    where = f"line {line} column {column}" if len(lines) > 1 else f"column {column}"
    return f"invalid CEL at {where}{unexpected} in {source!r}"


def _unknown_name(tree: Any) -> str | None:
    """A variable or a field the activation does not have, found before any workload is
    evaluated: a typo in a branch that rarely runs would otherwise hide until it does."""
    bound = _macro_variables(tree)
    for node in tree.iter_subtrees():
        if node.data in ("ident", "dot_ident"):
            name = str(node.children[0])
            if name not in _FIELDS and name not in _TYPE_NAMES and name not in bound:
                return f"unknown variable {name!r}; known: {', '.join(_FIELDS)}"
        elif node.data == "member_dot":
            root = _root_variable(node.children[0])
            member = str(node.children[1])
            if root in _FIELDS and root not in bound and member not in _FIELDS[root]:
                return f"{root} has no field {member!r}; it has {', '.join(_FIELDS[root])}"
    return None


def _macro_variables(tree: Any) -> set[str]:
    """The names `x` that `list.exists(x, ...)` and the other comprehensions bind."""
    names: set[str] = set()
    for node in tree.find_data("member_dot_arg"):
        if len(node.children) < 3 or str(node.children[1]) not in _MACROS:
            continue
        first = node.children[2].children[0]
        names.update(str(ident.children[0]) for ident in first.find_data("ident"))
    return names


def _root_variable(member: Any) -> str | None:
    """`workload` for the `workload` in `workload.labels`, None for anything longer."""
    node = member
    for data in ("member", "primary"):
        if getattr(node, "data", None) != data or len(node.children) != 1:
            return None
        node = node.children[0]
    if getattr(node, "data", None) in ("ident", "dot_ident"):
        return str(node.children[0])
    return None


def condition_hits(conditions: Iterable[Condition], facts: Activation) -> tuple[RuleHit, ...]:
    """A hit for every condition that holds for this change, in the policy's order."""
    return tuple(
        RuleHit(condition.rule, condition.message)
        for condition in conditions
        if _holds(condition, facts)
    )


def _holds(condition: Condition, facts: Activation) -> bool:
    workload = facts.variables.get("workload") or {}
    entries = max((len(workload.get(key) or {}) for key in ("labels", "annotations")), default=0)
    if entries > ASSUMED_ENTRIES:
        cost = cost_estimate(condition.tree, entries)
        if cost > COST_BUDGET:
            cause = f"comprehensions over its {entries} labels or annotations"
            raise _evaluation_error(condition, facts, _over_budget(cost, cause), "")
    try:
        result = condition.program.evaluate(dict(facts.variables))
    except celpy.CELEvalError as exc:
        raise _evaluation_error(condition, facts, _describe(exc), _hint(exc)) from exc
    if isinstance(result, celpy.CELEvalError):
        raise _evaluation_error(condition, facts, _describe(result), _hint(result))
    if not isinstance(result, bool | celpy.celtypes.BoolType):
        shown = "null" if result is None else f"{result} ({_cel_type(type(result).__name__)})"
        raise _evaluation_error(condition, facts, f"gave {shown}, not a bool", "")
    return bool(result)


def _evaluation_error(
    condition: Condition, facts: Activation, problem: str, hint: str
) -> InputError:
    return InputError(
        condition.where,
        f"condition {condition.name!r} cannot be evaluated for {facts.subject}: {problem}{hint}",
    )


_OPERATORS = {
    "relation_lt": "<",
    "relation_le": "<=",
    "relation_gt": ">",
    "relation_ge": ">=",
    "relation_eq": "==",
    "relation_ne": "!=",
    "relation_in": "in",
    "addition_add": "+",
    "addition_sub": "-",
    "multiplication_mul": "*",
    "multiplication_div": "/",
    "multiplication_mod": "%",
}


def _describe(exc: Any) -> str:
    """celpy's message on one line, without its Python class names and lark tokens."""
    args = exc.args
    message = str(args[0]) if args else str(exc)
    message = message.split(" (in activation", 1)[0].splitlines()[0]
    if message == "no such key" and len(args) > 2 and args[2]:
        message = f"no such key {str(args[2][0])!r}"
    message = re.sub(r"Token\('RULE', '(\w+)'\)", lambda m: _OPERATORS.get(m[1], m[1]), message)
    message = re.sub(r"<class 'celpy\.\w+\.(\w+)'>", lambda m: _cel_type(m[1]), message)
    return message[:300]


def _cel_type(python_name: str) -> str:
    if python_name == "CELEvalError":
        return "error"
    return python_name.removesuffix("Type").lower()


def _hint(exc: Any) -> str:
    missing = len(exc.args) > 1 and exc.args[1] is KeyError
    return "; test for an optional key first, e.g. has(workload.labels.team)" if missing else ""
