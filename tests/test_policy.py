"""Guardrails decide apply, clip or skip, and name the rule that did it."""

from pathlib import Path

import pytest

from bot.decisions.model import RuleHit
from bot.decisions.values import decide
from bot.policy import Guardrails, load_policy
from recommenders.errors import InputError
from recommenders.model import FieldRecommendation, WorkloadKey, WorkloadRecommendation
from tests.conftest import MONOREPO

RULES = Guardrails(
    min_history_days=7,
    min_change_percent=5,
    min_monthly_saving=2.0,
    max_decrease_percent=30,
    max_increase_percent=100,
    bounds=(("requests.cpu", 0.025, 4.0), ("hpa.minReplicas", 2, None)),
)
KEY = WorkloadKey("prod", "shop", "Deployment", "api")


def _field(name, current, proposed, per_unit=100.0, container="api"):
    return FieldRecommendation(name, container, current, proposed, per_unit, "test")


def _decide(*fields, days=30, rules=RULES, held_back=None):
    recommendation = WorkloadRecommendation(KEY, fields, days * 24, ("", ""), "m", "high")
    return decide(recommendation, rules, held_back)


def test_small_decrease_is_applied_as_proposed():
    (decision,) = _decide(_field("requests.cpu", 1.0, 0.8))
    assert (decision.action, decision.value, decision.rules) == ("apply", 0.8, ())
    assert decision.monthly_cost_delta == pytest.approx(-20.0)


def test_large_decrease_is_clipped_to_the_maximum_step():
    (decision,) = _decide(_field("requests.cpu", 1.0, 0.1))
    assert decision.action == "clip"
    assert decision.value == pytest.approx(0.7)
    assert [hit.rule for hit in decision.rules] == ["max-step.decrease"]


def test_bounds_apply_before_the_step():
    (decision,) = _decide(_field("requests.cpu", 0.03, 0.001, per_unit=1000))
    assert decision.value == pytest.approx(0.025)
    assert [hit.rule for hit in decision.rules] == ["bounds.requests.cpu.min"]


def test_change_below_the_minimum_share_is_skipped():
    (decision,) = _decide(_field("requests.cpu", 1.0, 0.98))
    assert (decision.action, decision.value) == ("skip", 1.0)
    assert decision.rules[-1].rule == "min-change"
    assert decision.monthly_cost_delta == 0


def test_decrease_saving_too_little_is_skipped_but_an_increase_never_is():
    (small_saving,) = _decide(_field("requests.cpu", 1.0, 0.9, per_unit=10))
    assert small_saving.action == "skip"
    assert small_saving.rules == (
        RuleHit("min-saving", "saves $1.00/month, below the $2.00 minimum"),
    )
    (increase,) = _decide(_field("requests.cpu", 1.0, 1.1, per_unit=10))
    assert increase.action == "apply"


def test_limit_follows_its_request():
    request, limit = _decide(
        _field("requests.cpu", 1.0, 0.1), _field("limits.cpu", 2.0, 0.2, per_unit=0)
    )
    assert request.action == limit.action == "clip"
    assert limit.value == pytest.approx(1.4)  # keeps the 2x ratio to the clipped request
    request, limit = _decide(
        _field("requests.cpu", 1.0, 0.99), _field("limits.cpu", 2.0, 1.0, per_unit=0)
    )
    assert limit.action == "skip"
    assert limit.rules[0].rule == "follows-request"


def test_replica_steps_round_towards_the_current_value():
    (decision,) = _decide(_field("hpa.minReplicas", 4, 1, container=None))
    # 30 % below 4 is 2.8; rounding down would overshoot the step, so 3.
    assert decision.value == 3


def test_short_history_and_opt_out_skip_the_whole_workload():
    decisions = _decide(
        _field("requests.cpu", 1.0, 0.5), _field("requests.memory", 2.0, 1.0), days=3
    )
    assert {d.action for d in decisions} == {"skip"}
    assert decisions[0].rules[0].rule == "min-history"
    opt_out = RuleHit("annotation.ignore", "annotated")
    (decision,) = _decide(_field("requests.cpu", 1.0, 0.5), held_back=opt_out)
    assert decision.rules == (opt_out,)


def test_repo_policy_overrides_defaults_and_environments_narrow_it():
    policy = load_policy(MONOREPO)
    assert policy.for_environment("").min_monthly_saving == 2.0  # repo
    assert policy.for_environment("").min_change_percent == 5  # built-in default
    assert policy.for_environment("").max_decrease_percent == 40
    prod = policy.for_environment("prod")
    assert prod.max_decrease_percent == 25
    assert ("hpa.minReplicas", 3, None) in prod.bounds
    assert policy.for_environment("dev") == policy.for_environment("")


def _repo_policy(tmp_path: Path, text: str) -> Path:
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "rightsizer.yaml").write_text(text)
    return tmp_path


@pytest.mark.parametrize(
    ("text", "where", "problem"),
    [
        ("max_stepp:\n  decrease_percent: 10\n", ":1", "unknown key 'max_stepp'"),
        ("bounds:\n  requests.cpu: {min: lots}\n", ":2", "not a valid requests.cpu bound"),
        (
            "environments:\n  prod:\n    min_savings: 3\n",
            ":3",
            "unknown key 'environments.prod.min_savings'",
        ),
    ],
)
def test_malformed_policy_names_file_and_line(tmp_path, text, where, problem):
    with pytest.raises(InputError) as error:
        load_policy(_repo_policy(tmp_path, text))
    assert error.value.where == f"policies/rightsizer.yaml{where}"
    assert problem in error.value.problem


def test_a_change_smaller_than_one_step_is_no_change():
    """455m -> 460m is within the 10m step: a diff nobody would write by hand."""
    (decision,) = _decide(_field("requests.cpu", 0.455, 0.457))
    assert decision.action == "skip" and decision.value == 0.455
    assert [hit.rule for hit in decision.rules] == ["min-step"]


def test_the_limit_keeps_the_ratio_it_claims_to_the_rounded_request():
    """The request rounds up to its step first, then the limit is exactly twice it."""
    request = _field("requests.cpu", 0.25, 0.4551)
    limit = _field("limits.cpu", 0.5, 0.9102, per_unit=0.0)
    decisions = {d.recommendation.field: d.value for d in _decide(request, limit)}
    assert decisions == {"requests.cpu": 0.46, "limits.cpu": 0.92}


def test_memory_rounds_to_the_files_unit_style():
    from datetime import UTC, datetime

    from bot.decisions.values import Context

    field = FieldRecommendation("requests.memory", "api", 2 * 2**30, 1.57 * 2**30, 1e-7, "t")
    recommendation = WorkloadRecommendation(KEY, (field,), 720, ("", ""), "m", "high")
    written = {("api", "requests.memory"): "2Gi"}
    context = Context(datetime(2026, 12, 1, tzinfo=UTC), written=written)
    (decision,) = decide(recommendation, RULES, None, context)
    assert decision.value == 1.75 * 2**30  # a quarter Gi, not 1.57Gi
