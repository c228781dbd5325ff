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


@dataclass
class HpaSpec:
    """The autoscaler of a workload: a HorizontalPodAutoscaler (v1 or v2) or a KEDA ScaledObject."""

    name: str
    api_version: str
    fields: dict[str, Tracked] = field(default_factory=dict)
    """Keyed by `hpa.minReplicas`, `hpa.maxReplicas`, `hpa.cpuUtilization`."""
    kind: str = "HorizontalPodAutoscaler"
    annotations: dict[str, str] = field(default_factory=dict)
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
    """Each environment as kustomize rendered it, once `bot.proof.inspect` has run."""


@dataclass(frozen=True)
class Rendered:
    """One environment as kustomize renders it (objects by kind, namespace, name), or why not."""

    objects: dict[tuple[str, str, str], Any]
    error: str | None = None
