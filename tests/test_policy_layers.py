"""Policy layers, selectors, precedence, conflicts, annotations and the rules they switch on."""

from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.decisions.values import Context, decide
from bot.manifests.model import HpaSpec, Workload
from bot.policy import Guardrails, load_policy
from recommenders.errors import InputError
from recommenders.model import FieldRecommendation, WorkloadKey, WorkloadRecommendation
from tests.conftest import git

NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)


def _workload(
    annotations=None, hpa_annotations=None, labels=None, namespace="shop", env="prod", name="api"
):
    hpa = None
    if hpa_annotations is not None:
        hpa = HpaSpec("api", "autoscaling/v2", annotations=hpa_annotations, origin_file="hpa.yaml")
    return Workload(
        environment=env,
        overlay=f"overlays/{env}",
        kind="Deployment",
        name=name,
        namespace=namespace,
        containers=[],
        replicas=None,
        hpa=hpa,
        annotations=annotations or {},
        origin_file="base/deployment.yaml",
        labels=labels or {},
    )


def _repo(tmp_path: Path, policy: str = "", config: str = "") -> Path:
    repo = tmp_path / "repo"
    (repo / "policies").mkdir(parents=True)
    if policy:
        (repo / "policies" / "rightsizer.yaml").write_text(policy)
    if config:
        (repo / ".rightsizer.yaml").write_text(config)
    return repo


def test_each_layer_overrides_the_one_below_and_annotations_only_tighten(tmp_path):
    org = tmp_path / "org.yaml"
    org.write_text("max_step: {decrease_percent: 20}\nmin_change_percent: 8\ncooldown_days: 3\n")
    repo = _repo(
        tmp_path,
        "max_step: {decrease_percent: 15}\nmin_change_percent: 9\n",
        "policy:\n  max_step: {decrease_percent: 12}\n",
    )
    policy = load_policy(repo, str(org), "acme.io/")
    assert [layer.name for layer in policy.layers] == ["built-in", "organisation", "repository"]
    plain = policy.for_workload(_workload())
    provenance = plain.effective.provenance
    # The repo's two documents are one level: they disagree, the smaller step is kept and
    # the conflict reported, whichever file was read first.
    assert plain.guardrails.max_decrease_percent == 12
    assert provenance["max_step.decrease_percent"].where == ".rightsizer.yaml:2"
    (conflict,) = plain.effective.conflicts
    assert {s.where for s in conflict.settings} == {
        ".rightsizer.yaml:2",
        "policies/rightsizer.yaml:1",
    }
    assert provenance["min_change_percent"].where == "policies/rightsizer.yaml:2"
    assert provenance["cooldown_days"].layer == "organisation"
    assert provenance["min_history_days"].layer == "built-in"
    annotated = policy.for_workload(_workload({"acme.io/max-step": "10%"}))
    assert annotated.guardrails.max_decrease_percent == 10
    assert annotated.effective.provenance["max_step.decrease_percent"].layer == "annotations"
    looser = policy.for_workload(_workload({"acme.io/max-step": "40%"}))
    assert looser.guardrails.max_decrease_percent == 12


def test_an_organisation_policy_can_come_from_a_git_repository(tmp_path):
    org = tmp_path / "org"
    (org / "policies").mkdir(parents=True)
    (org / "policies" / "rightsizer.yaml").write_text("min_change_percent: 11\n")
    git(org, "init", "--quiet", "--initial-branch=main")
    git(org, "add", "--all")
    git(org, "commit", "--quiet", "-m", "Organisation policy")
    policy = load_policy(_repo(tmp_path), f"file://{org}")
    assert policy.for_environment("prod").min_change_percent == 11
    assert policy.layers[1].name == "organisation"
    with pytest.raises(InputError) as error:
        load_policy(_repo(tmp_path / "again"), f"file://{tmp_path}/missing")
    assert error.value.where == "--org-policy" and "cannot clone" in error.value.problem


@pytest.mark.parametrize(
    ("text", "where", "problem"),
    [
        ("overrides: [{match: {namespace: shop}, 3: 4}]\n", ":1", "unknown key 'overrides.0.3'"),
        ("cooldown_days: .inf\n", ":1", "inf is greater than the maximum of 90"),
        ("min_change_percent: .nan\n", ":1", "min_change_percent: nan is not a finite number"),
        ("bounds:\n  hpa.minReplicas: {min: 1.5}\n", ":2", "1.5 is not a valid hpa.minReplicas"),
        ("models:\n  m: {strategy: magic}\n", ":2", "unknown strategy 'magic'"),
        ("models:\n  m: {strategy: default, settings: {cpu_rsk: 1}}\n", ":2", "cpu_rsk"),
        ("models:\n  m: {strategy: default, settings: {memory_margin: 7}}\n", ":2", "outside"),
        ("max_data_age_days: 0\n", ":1", "0 is less than or equal to the minimum of 0"),
        ("annotations_may_loosen: max_step\n", ":1", "'max_step' is not of type 'array'"),
    ],
)
def test_odd_values_are_named_at_their_line(tmp_path, text, where, problem):
    with pytest.raises(InputError) as error:
        load_policy(_repo(tmp_path, text))
    assert error.value.where == f"policies/rightsizer.yaml{where}"
    assert problem in error.value.problem


def test_the_most_specific_selector_wins_and_unmatched_ones_do_nothing(tmp_path):
    repo = _repo(
        tmp_path,
        """\
max_step: {decrease_percent: 30}
environments:
  prod: {max_step: {decrease_percent: 20}}
overrides:
  - match: {environment: prod, namespace: shop, labels: {tier: critical}}
    max_step: {decrease_percent: 5}
  - match: {namespace: shop}
    max_step: {decrease_percent: 25}
  - match: {labels: {tier: batch}}
    max_step: {decrease_percent: 90}
""",
    )
    policy = load_policy(repo)
    critical = policy.for_workload(_workload(labels={"tier": "critical"}))
    assert critical.guardrails.max_decrease_percent == 5
    assert critical.effective.provenance["max_step.decrease_percent"].where.endswith(":6")
    other = policy.for_workload(_workload(labels={"tier": "web"}))
    # environment=prod and namespace=shop are equally specific (one criterion each) and
    # disagree: the smaller step, the more conservative, is kept and the conflict reported.
    assert other.guardrails.max_decrease_percent == 20
    (conflict,) = other.effective.conflicts
    assert conflict.key == "max_step.decrease_percent"
    assert {s.value for s in conflict.settings} == {20.0, 25.0}
    assert "the more conservative" in conflict.describe()
    dev = policy.for_workload(_workload(env="dev", namespace="web"))
    assert dev.guardrails.max_decrease_percent == 30
    assert dev.effective.conflicts == ()


def test_annotations_set_profiles_guards_ceilings_pins_and_report_their_own_conflicts(tmp_path):
    policy = load_policy(
        _repo(tmp_path, "models:\n  traffic-forecaster-v2: {strategy: vpa}\n"), prefix="ex.com/"
    )
    found = policy.for_workload(
        _workload(
            {"ex.com/pin.requests.memory": "true", "ex.com/min-replicas": "3"},
            {
                "ex.com/finops-strategy": "cost-optimized-burst",
                "ex.com/prediction-model": "traffic-forecaster-v2",
                "ex.com/cost-threshold-usd-hr": "15.00",
                "ex.com/scaling-sensitivity": "medium",
                "ex.com/responsible-ai-check": "performance-impact-low",
                "other.io/team": "payments",
            },
        )
    )
    rules = found.guardrails
    # The profile's 50 % cut would loosen the built-in 30 %: refused; its 300 % step up is
    # more room to grow, a tightening, and applies. The sensitivity's 7-day cooldown would
    # shorten the built-in 14 days: refused too.
    assert rules.max_decrease_percent == 30 and rules.max_increase_percent == 300
    assert (rules.min_change_percent, rules.cooldown_days) == (5, 14)
    assert rules.performance_guard == "low"
    assert rules.cost_ceiling_hourly == 15.0
    assert rules.pinned == ("requests.memory",)
    assert ("hpa.minReplicas", 3.0, None) in rules.bounds
    assert found.model is not None and found.model.strategy == "vpa"
    # The profile asks for a 10 % risk, the sensitivity for 5 %: equals, so 5 % and a conflict.
    assert found.effective.strategy_settings == {"cpu_risk": 0.05}
    assert sorted(c.key for c in found.effective.conflicts) == [
        "cooldown_days",
        "max_step.decrease_percent",
        "strategy.cpu_risk",
    ]


@pytest.mark.parametrize(
    ("annotations", "problem"),
    [
        ({"ex.com/finops-strategy": "cheap"}, "'cheap' is not a finops-strategy; known:"),
        ({"ex.com/scaling-sensitivity": "extreme"}, "'extreme' is not a scaling-sensitivity"),
        ({"ex.com/cost-threshold-usd-hr": "lots"}, "'lots' is not a number"),
        ({"ex.com/min-replicas": "2.5"}, "'2.5' is not a whole number"),
        ({"ex.com/prediction-model": "crystal-ball"}, "prediction model 'crystal-ball' is not"),
        ({"ex.com/pin.requests.cpu": "yes"}, '\'yes\' is not "true" or "false"'),
        ({"ex.com/ignore": "please"}, '\'please\' is not "true" or "false"'),
        ({"ex.com/max-step": "150%"}, "'150%' is over 100 %"),
        ({"ex.com/cost-threshold-usd-hr": "inf"}, "must be a finite number"),
        ({"ex.com/slo-query": " "}, "is empty: give the PromQL of the SLO to watch"),
    ],
)
def test_an_annotation_value_rightsizer_does_not_know_names_file_and_annotation(
    tmp_path, annotations, problem
):
    policy = load_policy(_repo(tmp_path), prefix="ex.com/")
    with pytest.raises(InputError) as error:
        policy.for_workload(_workload(annotations))
    (key,) = annotations
    assert error.value.where == f"base/deployment.yaml (Deployment/api) annotation {key}"
    assert problem in error.value.problem


@pytest.mark.parametrize(
    ("exclude", "workload", "rule"),
    [
        ("namespaces: [shop]", _workload(), "exclude.namespaces"),
        ("workloads: [shop/Deployment/api]", _workload(), "exclude.workloads"),
        ("workloads: [Deployment/api]", _workload(), "exclude.workloads"),
        ("labels: {tier: batch}", _workload(labels={"tier": "batch"}), "exclude.labels"),
        ("annotations: {owner: legacy}", _workload({"owner": "legacy"}), "exclude.annotations"),
    ],
)
def test_exclusions_hold_the_whole_workload_and_name_the_line(tmp_path, exclude, workload, rule):
    policy = load_policy(_repo(tmp_path, f"exclude:\n  {exclude}\n"))
    held = policy.for_workload(workload).held_back
    assert held is not None and held.rule == rule
    assert "policies/rightsizer.yaml:2" in held.text
    other = _workload({"owner": "team"}, namespace="web", labels={"tier": "web"}, name="db")
    assert policy.for_workload(other).held_back is None


KEY = WorkloadKey("prod", "shop", "Deployment", "api")


def _recommendation(*fields, confidence="high"):
    return WorkloadRecommendation(KEY, fields, 30 * 24, ("", ""), "m", confidence)


def _cpu(current, proposed, per_unit=100.0, guard=None, pressure=""):
    return FieldRecommendation(
        "requests.cpu", "api", current, proposed, per_unit, "t", pressure=pressure, guard=guard
    )


def test_an_increase_goes_through_at_once_when_usage_presses_on_the_limit():
    (stepped,) = decide(_recommendation(_cpu(1.0, 3.0)), Guardrails(), None)
    assert (stepped.action, stepped.value) == ("clip", 2.0)  # +100 % per PR
    throttled = _cpu(1.0, 3.0, pressure="CPU reached 97% of its limit in the busiest hours")
    (at_once,) = decide(_recommendation(throttled), Guardrails(), None)
    assert (at_once.action, at_once.value) == ("apply", 3.0)
    assert at_once.rules[0].text.startswith("not applied, upsized at once: CPU reached 97%")


def test_low_confidence_holds_the_workload_when_the_policy_asks_for_more():
    (decision,) = decide(
        _recommendation(_cpu(1.0, 0.5), confidence="low"),
        Guardrails(min_confidence="medium"),
        None,
    )
    assert decision.action == "skip"
    assert decision.rules[0].rule == "min-confidence"


def test_a_pinned_field_is_left_as_it_is():
    memory = FieldRecommendation("requests.memory", "api", 2**30, 2**29, 1e-8, "t")
    cpu, mem = decide(
        _recommendation(_cpu(1.0, 0.8), memory), Guardrails(pinned=("requests.memory",)), None
    )
    assert cpu.action == "apply"
    assert (mem.action, mem.rules[0].rule) == ("skip", "annotation.pin")


def test_the_performance_guard_keeps_a_value_above_the_risk_level_whatever_the_ceiling():
    bounds = (("requests.cpu", None, 0.5),)
    rules = Guardrails(bounds=bounds, max_decrease_percent=90, performance_guard="low")
    (decision,) = decide(_recommendation(_cpu(1.0, 0.8, guard=0.7)), rules, None)
    assert decision.value == pytest.approx(0.7)
    assert [hit.rule for hit in decision.rules] == ["bounds.requests.cpu.max", "performance-guard"]
    medium = Guardrails(bounds=bounds, max_decrease_percent=90, performance_guard="medium")
    (decision,) = decide(_recommendation(_cpu(1.0, 0.8, guard=0.7)), medium, None)
    assert decision.value == pytest.approx(0.63)  # 90 % of the guard


def test_a_cost_ceiling_holds_increases_that_would_cross_it_and_flags_a_workload_over_it():
    # 1 core costs $730/month = $1/h; the workload runs 2 cores: $2/h.
    up = _cpu(2.0, 2.5, per_unit=730.0)
    (held,) = decide(_recommendation(up), Guardrails(cost_ceiling_hourly=2.2), None)
    assert (held.action, held.rules[-1].rule) == ("skip", "annotation.cost-threshold-usd-hr")
    (fine,) = decide(_recommendation(up), Guardrails(cost_ceiling_hourly=3.0), None)
    assert fine.action == "apply"
    (over,) = decide(
        _recommendation(_cpu(2.0, 1.8, per_unit=730.0)), Guardrails(cost_ceiling_hourly=1.0), None
    )
    assert over.action == "apply" and "already costs $2.00/h" in over.rules[-1].text


def test_custom_conditions_hold_changes_they_match():
    from bot.manifests.yamlio import parse_documents
    from bot.rules.conditions import parse_conditions

    (document,) = parse_documents(
        "conditions:\n  - name: no-big-cuts\n    expression: change.percent < -30.0\n"
        "    message: cuts over 30 % need a human\n",
        "policies/rightsizer.yaml",
    )
    rules = Guardrails(conditions=parse_conditions(document["conditions"], "p.yaml"))
    facts = {"kind": "Deployment", "name": "api", "namespace": "shop", "environment": "prod"}
    context = Context(NOW, facts)
    big, small = (
        decide(_recommendation(_cpu(1.0, value)), rules, None, context)[0] for value in (0.5, 0.9)
    )
    assert (big.action, big.rules[-1].rule) == ("skip", "condition.no-big-cuts")
    assert small.action == "apply"


def test_limits_and_the_hpa_target_answer_to_their_own_bounds_and_pins():
    request = FieldRecommendation("requests.memory", "api", 2**30, 0.8 * 2**30, 1e-8, "t")
    limit = FieldRecommendation("limits.memory", "api", 2 * 2**30, 1.6 * 2**30, 0.0, "t")
    floor = Guardrails(bounds=(("limits.memory", 1.9 * 2**30, None),))
    _, followed = decide(_recommendation(request, limit), floor, None)
    assert (followed.action, followed.value) == ("clip", 1.9 * 2**30)
    assert followed.rules[-1].rule == "bounds.limits.memory.min"
    _, pinned = decide(_recommendation(request, limit), Guardrails(pinned=("limits.memory",)), None)
    assert (pinned.action, pinned.rules[0].rule) == ("skip", "annotation.pin")


def test_the_hpa_target_is_measured_against_the_whole_pod():
    # Two containers of 1 core each; only `app` changes, 1 → 0.7 (its 30 % step). The pod
    # goes from 2 to 1.7 cores, so a 70 % target becomes 70 · 2 / 1.7 ≈ 82 %.
    app = FieldRecommendation("requests.cpu", "app", 1.0, 0.5, 100.0, "t")
    target = FieldRecommendation("hpa.cpuUtilization", None, 70, 93, 0.0, "t")
    recommendation = WorkloadRecommendation(
        KEY, (app, target), 30 * 24, ("", ""), "m", "high", pod_cpu_request=2.0
    )
    cpu, scale = decide(recommendation, Guardrails(), None)
    assert cpu.value == pytest.approx(0.7)
    assert (scale.action, scale.value) == ("clip", 82.0)
    capped = Guardrails(bounds=(("hpa.cpuUtilization", None, 75),))
    _, scale = decide(recommendation, capped, None)
    assert scale.value == 75 and scale.rules[-1].rule == "bounds.hpa.cpuUtilization.max"


def test_annotations_under_the_prefix_that_rightsizer_does_not_read_are_listed(tmp_path):
    policy = load_policy(_repo(tmp_path), prefix="ex.com/")
    found = policy.for_workload(_workload({"ex.com/finops-stratgy": "balanced"}))
    assert found.annotated.unknown == (
        "base/deployment.yaml (Deployment/api) annotation ex.com/finops-stratgy",
    )


def test_an_annotation_may_tighten_the_policy_but_never_loosen_it(tmp_path):
    """The demo's prod: the platform allows a 25 % cut per PR; the app team's HPA says
    `cost-optimized-burst` (50 %). The platform's envelope holds, and the refusal is a
    conflict `policy check` lists; a stricter annotation goes through."""
    repo = _repo(tmp_path, "environments:\n  prod:\n    max_step: {decrease_percent: 25}\n")
    policy = load_policy(repo, None, "acme.io/")
    looser = policy.for_workload(
        _workload(hpa_annotations={"acme.io/finops-strategy": "cost-optimized-burst"})
    )
    assert looser.guardrails.max_decrease_percent == 25
    assert looser.effective.provenance["max_step.decrease_percent"].layer == "repository"
    [refused] = [c for c in looser.effective.conflicts if c.key == "max_step.decrease_percent"]
    assert "an annotation may only tighten the policy" in refused.describe()
    # the burst profile's larger step up is a tightening (more room to grow): it stays
    assert looser.guardrails.max_increase_percent == 300
    tighter = policy.for_workload(_workload(hpa_annotations={"acme.io/max-step": "10"}))
    assert tighter.guardrails.max_decrease_percent == 10


def test_a_policy_may_let_annotations_loosen_named_rules(tmp_path):
    repo = _repo(
        tmp_path,
        "annotations_may_loosen: [max_step.decrease_percent]\n"
        "environments:\n  prod:\n    max_step: {decrease_percent: 25}\n",
    )
    policy = load_policy(repo, None, "acme.io/")
    found = policy.for_workload(_workload(hpa_annotations={"acme.io/max-step": "50"}))
    assert found.guardrails.max_decrease_percent == 50
    assert found.effective.conflicts == ()


def test_an_annotation_set_in_an_overlay_patch_is_named_there():
    """catalog's dev overlay patches `ignore: "true"` onto the base Deployment: the hold
    names the patch and its line, not the base file."""
    from bot.proof import inspect
    from tests.conftest import MONOREPO

    inventory = inspect(MONOREPO)
    policy = load_policy(MONOREPO, None, "example.com/")
    [dev] = [w for w in inventory.workloads if (w.environment, w.name) == ("dev", "catalog")]
    held = policy.for_workload(dev).held_back
    assert held is not None and held.rule == "annotation.ignore"
    assert "applications/catalog/overlays/dev/ignore-patch.yaml:9" in held.text
