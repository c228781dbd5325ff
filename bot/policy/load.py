"""Where policy comes from, and what it says about one workload.

Layers, lowest first: `policies/default.yaml` in this project; the organisation's policy,
which the operator configures (`--org-policy` or `RIGHTSIZER_ORG_POLICY`: a file, a
directory holding `rightsizer.yaml` or `policies/rightsizer.yaml`, or a git URL cloned for
the run), never the repo being sized, so a repo cannot loosen its own organisation's rules;
the repo's `policies/rightsizer.yaml`, then `policy:` in its `.rightsizer.yaml`; and last
each workload's annotations.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from ruamel.yaml.comments import CommentedMap

from bot.decisions.model import RuleHit
from bot.manifests.model import Workload
from bot.policy.annotations import Annotated, read_annotations
from bot.policy.documents import POLICIES, Layer, Model, Setting, merged, read_layer
from bot.policy.effective import Effective, effective
from bot.policy.rules import Guardrails
from bot.settings_files import field_error, load_mapping, load_repo_mapping
from recommenders.errors import InputError

DEFAULT_POLICY = POLICIES / "default.yaml"
REPO_POLICY = "policies/rightsizer.yaml"
CONFIG_FILE = ".rightsizer.yaml"


@dataclass(frozen=True)
class WorkloadPolicy:
    """Everything the policy says about one workload."""

    effective: Effective
    held_back: RuleHit | None
    """An exclusion or opt-out that leaves the whole workload alone."""
    model: Model | None
    """The prediction model its annotation names, resolved through `models:`."""
    annotated: Annotated

    @property
    def guardrails(self) -> Guardrails:
        return self.effective.guardrails


@dataclass(frozen=True)
class Policy:
    layers: tuple[Layer, ...]
    prefix: str = "rightsizer.dev/"

    @property
    def source(self) -> str:
        return " + ".join(layer.name for layer in self.layers)

    def for_environment(self, environment: str) -> Guardrails:
        return effective(list(self.layers), environment, "", {}).guardrails

    @property
    def environment_order(self) -> list[str]:
        orders = [layer.environment_order for layer in self.layers if layer.environment_order]
        return list(orders[-1].value) if orders else []

    @property
    def models(self) -> dict[str, Model]:
        return {name: m for layer in self.layers for name, m in layer.models.items()}

    def for_workload(self, workload: Workload) -> WorkloadPolicy:
        annotated = read_annotations(workload, self.prefix)
        layers = [*self.layers, annotated.layer]
        found = effective(layers, workload.environment, workload.namespace, workload.labels)
        return WorkloadPolicy(
            found, self._held_back(workload, annotated), self._model(annotated), annotated
        )

    def _model(self, annotated: Annotated) -> Model | None:
        if annotated.model is None:
            return None
        name = str(annotated.model.value)
        if name not in self.models:
            known = ", ".join(sorted(self.models)) or "none defined"
            raise InputError(
                annotated.model.where,
                f"prediction model {name!r} is not under `models:` in any policy (known: {known})",
            )
        return self.models[name]

    def _held_back(self, workload: Workload, annotated: Annotated) -> RuleHit | None:
        if annotated.ignored is not None:
            return RuleHit("annotation.ignore", f'{annotated.ignored.where} is "true"')
        for layer in self.layers:
            for kind, setting in layer.exclude:
                hit = _excluded(workload, kind, setting)
                if hit is not None:
                    return hit
        return None


def _excluded(workload: Workload, kind: str, setting: Setting) -> RuleHit | None:
    value = setting.value
    if kind == "namespaces" and workload.namespace in value:
        return RuleHit("exclude.namespaces", f"namespace {workload.namespace} ({setting.where})")
    if kind == "workloads" and workload.refs & set(value):
        return RuleHit("exclude.workloads", f"{workload.ref} ({setting.where})")
    if kind in ("labels", "annotations"):
        present = workload.labels if kind == "labels" else workload.annotations
        for key, wanted in value.items():
            if present.get(key) == str(wanted):
                return RuleHit(f"exclude.{kind}", f"{key}={wanted} ({setting.where})")
    return None


def load_policy(repo: Path, org: str | None = None, prefix: str = "rightsizer.dev/") -> Policy:
    """Every layer, validated: a malformed document stops the run before anything is written."""
    layers = [read_layer(load_mapping(DEFAULT_POLICY, "rightsizer policies/default.yaml"),
                         "rightsizer policies/default.yaml", "built-in")]  # fmt: skip
    if org:
        layers.append(_org_layer(org))
    # Both repo documents are one level: where they disagree it is a conflict, not an order.
    documents = []
    if (repo / REPO_POLICY).is_file():
        documents.append((load_repo_mapping(repo, REPO_POLICY), REPO_POLICY))
    if (repo / CONFIG_FILE).is_file():
        config = load_repo_mapping(repo, CONFIG_FILE)
        if "policy" in config:
            if not isinstance(config["policy"], CommentedMap):
                raise field_error(config, "policy", CONFIG_FILE, "must be a mapping of rules")
            documents.append((config["policy"], CONFIG_FILE))
    if documents:
        layers.append(merged([read_layer(d, shown, "repository") for d, shown in documents]))
    return Policy(tuple(layers), prefix)


def _org_layer(source: str) -> Layer:
    """The organisation's policy: a path, or a git repository cloned for this read."""
    if "://" not in source and not source.startswith("git@"):
        return _org_file(Path(source), source)
    from git import GitCommandError, Repo

    with tempfile.TemporaryDirectory(prefix="rightsizer-org-policy-") as checkout:
        try:
            Repo.clone_from(source, checkout, depth=1)
        except GitCommandError as exc:
            raise InputError(
                "--org-policy", f"cannot clone {source}: {exc.stderr.strip()}"
            ) from exc
        return _org_file(Path(checkout), source)


def _org_file(root: Path, source: str) -> Layer:
    for candidate in (root, root / "rightsizer.yaml", root / REPO_POLICY):
        if candidate.is_file():
            inside = candidate.name if candidate == root else candidate.relative_to(root)
            shown = f"{source} ({inside})"
            return read_layer(load_mapping(candidate, shown), shown, "organisation")
    raise InputError("--org-policy", f"{source}: no rightsizer.yaml or {REPO_POLICY} there")
