"""Typed records of the inventory: workloads per environment, each value with its provenance."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Origin:
    """Where a value is written: the file (relative to the repo root) and its 1-based position.

    `line`/`col` point at the first character of the scalar, so an edit can replace exactly
    that span and keep every other byte of the file.
    """

    file: str
    line: int
    col: int
    yaml_path: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True)
class Tracked:
    """A value as the manifest writes it (`"500m"`, `0.5`, `3`) and where it was written."""

    raw: str | int | float
    origin: Origin | None


RESOURCE_FIELDS = ("requests.cpu", "requests.memory", "limits.cpu", "limits.memory")
POD_SPEC_PATHS: dict[str, tuple[str, ...]] = {
    "Deployment": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
    "Rollout": ("spec", "template", "spec"),
}
"""Where each workload kind keeps its pod spec; an Argo Rollout's is a Deployment's."""
REPLICATED_KINDS = ("Deployment", "StatefulSet", "Rollout")
"""Kinds with `spec.replicas`: a DaemonSet runs one pod a node, a Job as many as it needs."""
HPA_FIELDS = ("hpa.minReplicas", "hpa.maxReplicas", "hpa.cpuUtilization")


@dataclass
class ContainerSpec:
    name: str
    resources: dict[str, Tracked] = field(default_factory=dict)
    """Keyed by `requests.cpu`, `limits.memory` and so on; absent when the manifest sets none."""
    env: dict[str, str] = field(default_factory=dict)
    """Plain `env` values by name (not `valueFrom`): where runtimes take memory settings."""
    command: tuple[str, ...] = ()
    args: tuple[str, ...] = ()


@dataclass
class HpaSpec:
    """The autoscaler of a workload: a HorizontalPodAutoscaler (v1 or v2) or a KEDA ScaledObject."""

    name: str
    api_version: str
    fields: dict[str, Tracked] = field(default_factory=dict)
    """Keyed by `hpa.minReplicas`, `hpa.maxReplicas`, `hpa.cpuUtilization`."""
    kind: str = "HorizontalPodAutoscaler"
    annotations: dict[str, str] = field(default_factory=dict)
    annotation_sources: dict[str, str] = field(default_factory=dict)
    """Where each annotation was last set, `file:line` (a patch's, not the base's)."""
    origin_file: str = ""
    original_name: str = ""
    """The name its own file gives it, before `namePrefix`/`nameSuffix`."""


@dataclass(frozen=True)
class Deployment:
    """Who deploys a directory, to which cluster and namespace (Argo CD, Flux, or a guess)."""

    path: str
    cluster: str | None = None
    namespace: str | None = None
    source: str | None = None
    """The file of the Argo CD Application or Flux Kustomization that deploys it, if any."""
    name: str | None = None
    """The environment's name when `.rightsizer.yaml` declares one; else derived from `path`."""
    clusters: tuple[str, ...] = ()
    """Every cluster the path is deployed to (a generator or two Applications may send one
    path to several); `cluster` is the first. A declared cluster may be a regular expression."""


ValuesPath = tuple[str | int, ...]
"""Keys from the top of a release's values down to one value: `("resources", "limits", "cpu")`."""


@dataclass(frozen=True)
class ValuesLayer:
    """One place a release's values come from, lowest precedence first: a values file (at the
    top of its only document), or a mapping inside a manifest at `prefix` (a HelmRelease's
    `spec.values`, an Argo CD source's `helm.valuesObject`), in the object `object_ref` names."""

    file: str
    prefix: tuple[str | int, ...] = ()
    object_ref: tuple[str, tuple[str, ...]] | None = None
    editable: bool = True
    """False for values the bot cannot edit as text (an Argo CD `helm.values` string)."""
    read_through: tuple[str, str] | None = None
    """The ConfigMap or Secret (kind, name) a HelmRelease's `valuesFrom` reads it through:
    it renders too, and changes with the values."""


@dataclass
class Release:
    """A Helm release an environment declares: its chart and where its values come from.

    `environment` is the directory that holds the chart, the HelmRelease or the Application;
    several releases may share one (a chart with `values-dev.yaml` and `values-prod.yaml`),
    and `values_file` then names the one that belongs to this environment."""

    environment: str
    name: str
    namespace: str | None
    chart: str | None
    """The chart's directory in the repo or the chart cache, once found; None when it is not."""
    chart_ref: str
    """How the repo names the chart, for messages: a path, or `repo name@version`."""
    layers: list[ValuesLayer]
    source: str
    """The file that declares the release: Chart.yaml, the Application, the HelmRelease."""
    values_file: str | None = None
    cluster: str | None = None
    values: dict[str, Any] = field(default_factory=dict)
    """Every layer's values merged as Helm merges them, before the chart's own defaults."""
    layer_values: list[Any] = field(default_factory=list)
    """Each layer's parsed mapping (with positions), in `layers` order."""
    manifest: tuple[str, str, str | None] | None = None
    """For a Flux HelmRelease: its apiVersion, name and the namespace a patch must name, so
    an overlay that patches none of its values yet can get a patch of its own."""

    @property
    def id(self) -> str:
        return environment_id(self.environment, self.values_file)


def environment_id(directory: str, values_file: str | None) -> str:
    """What tells environments apart: the directory, and the values file when a chart's
    directory holds several."""
    return directory if values_file is None else f"{directory}#{values_file}"


@dataclass(frozen=True)
class HelmBinding:
    """Which values key sets each of a Helm workload's fields, found by rendering."""

    release: Release
    paths: dict[tuple[str | None, str], ValuesPath]
    """(container or None, field) -> the values key the rendered field follows."""
    resources_paths: dict[str, ValuesPath] = field(default_factory=dict)
    """container -> the values key whose mapping renders as its `resources`, for fields
    that no key sets yet."""


@dataclass
class Workload:
    """One workload (a kind of POD_SPEC_PATHS) in one environment, after its overlay's patches."""

    environment: str
    overlay: str
    kind: str
    name: str
    namespace: str
    containers: list[ContainerSpec]
    replicas: Tracked | None
    hpa: HpaSpec | None
    annotations: dict[str, str]
    origin_file: str
    original_name: str = ""
    """The name before `namePrefix`/`nameSuffix`: what patches and usage data may call it."""
    deployment: Deployment | None = None
    labels: dict[str, str] = field(default_factory=dict)
    """`metadata.labels` as written and patched: what policy selectors match."""
    patch_namespace: str | None = None
    """The namespace a patch in this environment's overlay must name to match it."""
    unverified: str | None = None
    """Why kustomize's render disagrees with the resolver; such a workload is never edited."""
    api_version: str = "apps/v1"
    """What a patch of this workload must say: a Rollout is `argoproj.io/v1alpha1`."""
    helm: HelmBinding | None = None
    """For a workload a Helm chart renders: its release and the values keys of its fields."""
    annotation_sources: dict[str, str] = field(default_factory=dict)
    """Where each annotation was last set, `file:line` (a patch's, not the base's)."""

    @property
    def values_file(self) -> str | None:
        return self.helm.release.values_file if self.helm else None

    @property
    def environment_id(self) -> str:
        return environment_id(self.overlay, self.values_file)

    @property
    def ref(self) -> str:
        return f"{self.kind}/{self.name}"

    @property
    def refs(self) -> set[str]:
        """How a user may name it: `Kind/name`, or `namespace/Kind/name`."""
        return {self.ref, f"{self.namespace}/{self.ref}"}

    def container(self, name: str) -> ContainerSpec:
        for container in self.containers:
            if container.name == name:
                return container
        raise KeyError(name)

    @property
    def pod_spec_path(self) -> tuple[str, ...]:
        return POD_SPEC_PATHS[self.kind]

    def fields(self) -> list[tuple[str, str | None, Tracked]]:
        """Every tracked value: (field, container or None, value)."""
        found: list[tuple[str, str | None, Tracked]] = []
        if self.replicas is not None:
            found.append(("replicas", None, self.replicas))
        for container in self.containers:
            found += [(name, container.name, t) for name, t in container.resources.items()]
        if self.hpa is not None:
            found += [(name, None, t) for name, t in self.hpa.fields.items()]
        return found

    def tracked(self, field_name: str, container: str | None) -> Tracked | None:
        if field_name.startswith("hpa."):
            return self.hpa.fields.get(field_name) if self.hpa else None
        if field_name == "replicas":
            return self.replicas
        assert container is not None
        return self.container(container).resources.get(field_name)


@dataclass
class Inventory:
    """Every workload of every environment, and which environments read each file.

    `file_users` is what keeps an edit from leaking: a value written in a file that more than
    one environment builds from must be overridden in the overlay, not changed in place.
    """

    workloads: list[Workload]
    file_users: dict[str, set[str]]
    problems: list[str] = field(default_factory=list)
    renders: dict[str, Rendered] = field(default_factory=dict)
    """Each environment (by `environment_id`) as kustomize or Helm rendered it, once
    `bot.proof.inspect` has run."""
    directories: set[str] = field(default_factory=set)
    """The Kustomize and plain-directory environments that were built, by path."""
    helm_renders: dict[str, Rendered] = field(default_factory=dict)
    """What Helm rendered of each environment's releases (by environment id), kept from
    finding their provenance, so that checks and proofs never render a release twice."""


@dataclass(frozen=True)
class Rendered:
    """One environment as kustomize renders it (objects by kind, namespace, name), or why not."""

    objects: dict[tuple[str, str, str], Any]
    error: str | None = None
