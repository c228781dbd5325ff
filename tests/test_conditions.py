"""Custom conditions: CEL over the workload and the change, refused by line when malformed."""

import pytest

from bot.manifests.yamlio import parse_documents
from bot.rules.conditions import Condition, activation, condition_hits, parse_conditions
from recommenders.errors import InputError

SHOWN = "policies/rightsizer.yaml"
EXAMPLE = """\
min_history_days: 7
conditions:
  - name: no-big-prod-cuts
    expression: workload.environment == "prod" && change.percent < -20.0
    action: skip
    message: "prod cuts over 20 % need a human"
  - name: payments-team
    expression: has(workload.labels.team) && workload.labels.team == "payments"
"""


def _parse(text: str) -> tuple[Condition, ...]:
    (document,) = parse_documents(text, SHOWN)
    return parse_conditions(document["conditions"], SHOWN)


def _one(expression: str) -> Condition:
    (condition,) = _parse(f"conditions:\n  - name: c\n    expression: '{expression}'\n")
    return condition


def _facts(
    environment="prod",
    labels=None,
    annotations=None,
    field="requests.cpu",
    container="api",
    current=1.0,
    proposed=0.75,
    confidence="high",
    history_days=30.0,
    **change,
):
    workload = {
        "kind": "Deployment",
        "name": "api",
        "namespace": "shop",
        "environment": environment,
        "labels": labels or {},
        "annotations": annotations or {},
    }
    change = {
        "field": field,
        "container": container,
        "current": current,
        "proposed": proposed,
        "monthly_cost_delta": (proposed - current) * 20.0,
        **change,
    }
    recommendation = {"confidence": confidence, "history_days": history_days, "model": "default"}
    return activation(workload, change, recommendation)


def _rules(conditions, facts) -> list[str]:
    return [hit.rule for hit in condition_hits(conditions, facts)]


def _holds(expression: str, **facts) -> bool:
    return bool(_rules([_one(expression)], _facts(**facts)))


def test_conditions_are_compiled_at_load_and_remember_their_line():
    cuts, team = _parse(EXAMPLE)
    assert (cuts.name, cuts.rule, cuts.where) == (
        "no-big-prod-cuts",
        "condition.no-big-prod-cuts",
        f"{SHOWN}:3",
    )
    assert cuts.message == "prod cuts over 20 % need a human"
    assert team.where == f"{SHOWN}:7"
    assert team.message == team.expression, "without a message the expression is shown"


def test_a_true_condition_is_a_hit_with_its_message():
    cuts, team = _parse(EXAMPLE)
    hits = condition_hits((cuts, team), _facts(proposed=0.5))
    assert [(hit.rule, hit.text) for hit in hits] == [
        ("condition.no-big-prod-cuts", "prod cuts over 20 % need a human")
    ]


def test_every_true_condition_is_a_hit_in_the_policys_order():
    conditions = _parse(EXAMPLE)
    facts = _facts(proposed=0.5, labels={"team": "payments"})
    assert _rules(conditions, facts) == ["condition.no-big-prod-cuts", "condition.payments-team"]


@pytest.mark.parametrize(
    ("environment", "proposed", "held"),
    [("prod", 0.5, True), ("prod", 0.9, False), ("staging", 0.5, False), ("prod", 1.5, False)],
)
def test_environment_and_percent(environment, proposed, held):
    conditions = _parse(EXAMPLE)[:1]
    assert bool(_rules(conditions, _facts(environment, proposed=proposed))) is held


def test_percent_is_signed_and_a_double():
    assert _holds("change.percent == -25.0")
    assert _holds("change.percent == 50.0", proposed=1.5)
    assert _holds("change.percent < -20"), "an int literal compares with a double"
    assert _holds("type(change.percent) == double && type(change.current) == double")


def test_percent_is_worked_out_when_not_given():
    assert _holds("change.percent == -25.0")
    assert _holds("change.percent == -50.0", proposed=0.5, percent=-50.0)
    assert _holds("change.percent == 0.0", current=0.0, proposed=0.5), "no percent from zero"


def test_monthly_cost_delta_and_workload_identity():
    assert _holds("change.monthly_cost_delta == -5.0")
    assert _holds('workload.kind == "Deployment" && workload.namespace == "shop"')
    assert _holds('workload.name.startsWith("ap") && change.field == "requests.cpu"')


def test_labels_read_by_name_or_by_index():
    assert _holds('workload.labels.team == "payments"', labels={"team": "payments"})
    assert not _holds('workload.labels["team"] == "payments"', labels={"team": "search"})
    assert _holds(
        'workload.labels["app.kubernetes.io/name"] == "api"',
        labels={"app.kubernetes.io/name": "api"},
    )


@pytest.mark.parametrize(
    ("labels", "held"), [({"team": "payments"}, True), ({"app": "api"}, False), ({}, False)]
)
def test_presence_checks(labels, held):
    assert _holds("has(workload.labels.team)", labels=labels) is held
    assert _holds('"team" in workload.labels', labels=labels) is held
    guarded = 'has(workload.labels.team) && workload.labels.team == "payments"'
    assert _holds(guarded, labels=labels) is held


def test_annotations_and_comprehensions():
    annotations = {"rightsizer.io/owner": "sre"}
    assert _holds('"rightsizer.io/owner" in workload.annotations', annotations=annotations)
    assert _holds("size(workload.annotations) == 0")
    labels = {"team-a": "x"}
    assert _holds('workload.labels.exists(k, k.startsWith("team"))', labels=labels)
    assert not _holds('workload.labels.all(key, key == "app")', labels=labels)


@pytest.mark.parametrize(("confidence", "held"), [("low", True), ("medium", True), ("high", False)])
def test_recommendation_confidence(confidence, held):
    expression = 'recommendation.confidence in ["low", "medium"] && workload.environment == "prod"'
    assert _holds(expression, confidence=confidence) is held


def test_recommendation_history_and_model():
    assert _holds("recommendation.history_days < 14.0", history_days=10.0)
    assert not _holds("recommendation.history_days < 14.0", history_days=20)
    assert _holds('recommendation.model == "default"')


def test_workload_level_fields_have_an_empty_container():
    assert _holds('change.container == ""', field="hpa.minReplicas", container=None)
    assert _holds('change.container == "api"')


@pytest.mark.parametrize(
    ("item", "line", "problem"),
    [
        (
            '  - name: a\n    expression: workload.environment = "prod"\n',
            3,
            "expression: invalid CEL at column 22: unexpected '='"
            " in 'workload.environment = \"prod\"'",
        ),
        (
            "  - name: a\n    expression: change.percent <\n",
            3,
            "expression: invalid CEL: unexpected end of expression in 'change.percent <'",
        ),
        ("  - name: a\n    expresion: 'true'\n", 3, "unknown key 'expresion' in a condition"),
        ("  - expression: 'true'\n", 2, "a condition needs 'name'"),
        ("  - name: a\n    message: m\n", 2, "a condition needs 'expression'"),
        ("  - name: a\n    expression: 'true'\n    action: clip\n", 4, "action: only 'skip'"),
        ("  - name: a\n    expression: 'true'\n    action: apply\n", 4, "action: only 'skip'"),
        ("  - name: a\n    expression: ''\n", 3, "expression: is empty"),
        ("  - name: a\n    expression: 3\n", 3, "expression: expected str, got 3"),
        ("  - name: a b\n    expression: 'true'\n", 2, "name: 'a b' is not a valid name"),
        ("  - just a string\n", 2, "a condition must be a mapping"),
        (
            "  - name: a\n    expression: workloads.environment == 'prod'\n",
            3,
            "expression: unknown variable 'workloads'; known: workload, change, recommendation",
        ),
        (
            "  - name: a\n    expression: workload.enviroment == 'prod'\n",
            3,
            "expression: workload has no field 'enviroment'; it has kind, name,",
        ),
        (
            "  - name: a\n    expression: has(change.pct)\n",
            3,
            "expression: change has no field 'pct'",
        ),
    ],
)
def test_malformed_conditions_name_their_line(item, line, problem):
    with pytest.raises(InputError) as error:
        _parse(f"conditions:\n{item}")
    assert error.value.where == f"{SHOWN}:{line}"
    assert error.value.problem.startswith(problem)
    assert "\n" not in str(error.value)


def test_a_duplicate_name_names_both_lines():
    text = (
        "conditions:\n  - name: a\n    expression: 'true'\n  - name: a\n    expression: 'false'\n"
    )
    with pytest.raises(InputError) as error:
        _parse(text)
    assert error.value.where == f"{SHOWN}:4"
    assert error.value.problem == (f"name: 'a' is already the name of the condition at {SHOWN}:2")


def test_a_syntax_error_in_a_multi_line_expression_names_its_line_within():
    text = (
        "conditions:\n  - name: a\n    expression: |-\n"
        '      workload.environment == "prod" &&\n      change.percent << 3\n'
    )
    with pytest.raises(InputError) as error:
        _parse(text)
    assert error.value.where == f"{SHOWN}:3"
    assert error.value.problem == (
        "expression: invalid CEL at line 2 column 17: unexpected '<' in 'change.percent << 3'"
    )


def test_a_missing_key_at_evaluation_names_the_condition_and_the_workload():
    (condition,) = _parse(
        'conditions:\n  - name: team-check\n    expression: workload.labels["team"] == "x"\n'
    )
    with pytest.raises(InputError) as error:
        condition_hits((condition,), _facts(labels={"app": "api"}))
    assert error.value.where == f"{SHOWN}:2"
    assert error.value.problem == (
        "condition 'team-check' cannot be evaluated for prod/shop/Deployment/api requests.cpu"
        " of container api: no such key 'team'; test for an optional key first,"
        " e.g. has(workload.labels.team)"
    )


def test_evaluation_errors_are_one_clean_line():
    with pytest.raises(InputError) as error:
        condition_hits((_one("workload.name < 3"),), _facts(field="hpa.minReplicas", container=""))
    problem = error.value.problem
    assert problem.startswith("condition 'c' cannot be evaluated for prod/shop/Deployment/api ")
    assert "hpa.minReplicas: found no matching overload for < applied to '(string, int)'" in problem
    assert "celpy" not in problem and "\n" not in problem


def test_a_short_circuit_spares_an_error():
    assert not _holds('workload.environment == "staging" && workload.labels.team == "x"')
    assert _holds('true || workload.labels.team == "x"')


@pytest.mark.parametrize(
    ("expression", "shown"), [("change.percent", "-25.0 (double)"), ("null", "null")]
)
def test_a_condition_must_give_a_bool(expression, shown):
    with pytest.raises(InputError) as error:
        condition_hits((_one(expression),), _facts())
    assert error.value.problem.endswith(f": gave {shown}, not a bool")


def test_the_caller_must_give_every_variable():
    with pytest.raises(ValueError, match="the conditions' workload needs 'environment'"):
        activation({"kind": "Deployment", "name": "a", "namespace": "n"}, {}, {})
    workload = {"kind": "Deployment", "name": "a", "namespace": "n", "environment": "prod"}
    with pytest.raises(ValueError, match=r"change\.current must be a number"):
        activation(workload, {"field": "requests.cpu", "current": "1"}, {})


def _literal(count: int) -> str:
    return "[" + ", ".join(["1"] * count) + "]"


def test_nested_comprehensions_over_the_budget_are_refused_at_their_line():
    expression = f"{_literal(100)}.all(x, {_literal(100)}.all(y, {_literal(100)}.all(z, z == 1)))"
    with pytest.raises(InputError) as error:
        _one(expression)
    assert error.value.where == f"{SHOWN}:3"
    assert error.value.problem.startswith("expression: may cost about 32,")
    assert "over the budget of 200,000 (nested comprehensions multiply)" in error.value.problem
    assert _holds(f"{_literal(30)}.all(x, {_literal(30)}.all(y, y == x))")  # 30 x 30 is fine


def test_an_expression_is_refused_over_its_length():
    with pytest.raises(InputError, match="expression: is 2006 characters; at most 2000"):
        _one("1 == 1" + " && 1 == 1" * 200)


def test_a_workload_with_many_labels_is_costed_with_its_own_count():
    condition = _one("workload.labels.exists(k, workload.annotations.exists(a, a == k))")
    few = {f"k{i}": "v" for i in range(10)}
    other = {f"a{i}": "v" for i in range(10)}
    assert condition_hits((condition,), _facts(labels=few, annotations=other)) == ()
    many = {f"k{i}": "v" for i in range(600)}
    with pytest.raises(InputError) as error:
        condition_hits((condition,), _facts(labels=many, annotations=many))
    assert "cannot be evaluated for prod/shop/Deployment/api" in error.value.problem
    assert "(comprehensions over its 600 labels or annotations multiply)" in error.value.problem
