"""Which controller a pod belongs to, since metrics name pods and manifests name controllers.

kube-state-metrics says it outright (`kube_pod_owner`, and `kube_replicaset_owner` for the
Deployment behind a ReplicaSet); without it, the names Kubernetes generates give it away:

    <deployment>-<pod-template-hash>-<5 chars>   checkout-7d9f8b6c5d-x2x4z
    <statefulset>-<ordinal>                      postgres-0
    <daemonset>-<5 chars>                        fluent-bit-k8z2m

Names are a guess (a Job's pods look like a DaemonSet's), so owner metrics win when present.
A pod that neither maps is returned as unmapped for the caller to list, never dropped.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

_SAFE = "[bcdfghjklmnpqrstvwxz2456789]"
"""The alphabet of Kubernetes' generated names (no vowels, no 0/1/3): a hash or suffix uses
only these, so `web-server-abcde` is not mistaken for a generated name (it has vowels)."""

_DEPLOYMENT_POD = re.compile(rf"(?P<name>.+)-{_SAFE}{{6,10}}-{_SAFE}{{5}}")
_STATEFULSET_POD = re.compile(r"(?P<name>.+)-(?:0|[1-9]\d{0,3})")
"""Ordinals up to 9999: a five-digit suffix is far likelier a DaemonSet's random one."""
_DAEMONSET_POD = re.compile(rf"(?P<name>.+)-{_SAFE}{{5}}")
_REPLICASET = re.compile(rf"(?P<name>.+)-{_SAFE}{{6,10}}")
NONE = "<none>"
"""What kube-state-metrics writes as owner of a pod or ReplicaSet that has none."""


@dataclass(frozen=True, order=True)
class Pod:
    environment: str
    namespace: str
    name: str

    def __str__(self) -> str:
        where = f"{self.namespace}/{self.name}"
        return f"{self.environment}: {where}" if self.environment else where


@dataclass(frozen=True)
class Controller:
    kind: str
    """As Kubernetes spells it: Deployment, StatefulSet, DaemonSet, ..."""
    name: str


@dataclass(frozen=True)
class PodOwner:
    """One `kube_pod_owner` series."""

    pod: Pod
    kind: str
    name: str
    is_controller: bool = True


@dataclass(frozen=True)
class ReplicaSetOwner:
    """One `kube_replicaset_owner` series."""

    environment: str
    namespace: str
    replicaset: str
    kind: str
    name: str


@dataclass(frozen=True)
class PodMapping:
    controllers: dict[Pod, Controller]
    by_name: tuple[Pod, ...]
    """Pods mapped by their name alone, so a caller can say how much was guessed."""
    unmapped: tuple[Pod, ...]


def map_pods(
    pods: Iterable[Pod],
    pod_owners: Iterable[PodOwner] = (),
    replicaset_owners: Iterable[ReplicaSetOwner] = (),
) -> PodMapping:
    """Each pod's controller: from owner metrics when they name the pod, else from its name."""
    owners = _controlling_owners(pod_owners)
    deployments = {
        (owner.environment, owner.namespace, owner.replicaset): owner for owner in replicaset_owners
    }
    controllers: dict[Pod, Controller] = {}
    by_name: list[Pod] = []
    unmapped: list[Pod] = []
    for pod in sorted(set(pods)):
        owner = owners.get(pod)
        if owner is None:
            controller = controller_from_name(pod.name)
            if controller is not None:
                by_name.append(pod)
        else:
            controller = _from_owner(owner, deployments)
        if controller is None:
            unmapped.append(pod)
        else:
            controllers[pod] = controller
    return PodMapping(controllers, tuple(by_name), tuple(unmapped))


def controller_from_name(pod: str) -> Controller | None:
    """The controller Kubernetes' pod naming implies, or None for a name it never generates."""
    for kind, pattern in (
        ("Deployment", _DEPLOYMENT_POD),
        ("StatefulSet", _STATEFULSET_POD),
        ("DaemonSet", _DAEMONSET_POD),
    ):
        match = pattern.fullmatch(pod)
        if match:
            return Controller(kind, match["name"])
    return None


def _controlling_owners(pod_owners: Iterable[PodOwner]) -> dict[Pod, PodOwner]:
    """One owner per pod, the controlling one when a pod lists several references."""
    owners: dict[Pod, PodOwner] = {}
    for owner in pod_owners:
        if owner.pod not in owners or owner.is_controller:
            owners[owner.pod] = owner
    return owners


def _from_owner(
    owner: PodOwner, replicasets: dict[tuple[str, str, str], ReplicaSetOwner]
) -> Controller | None:
    """A bare pod (owner `<none>`) has no controller to size; a ReplicaSet's is looked up."""
    if owner.kind == NONE:
        return None
    if owner.kind != "ReplicaSet":
        return Controller(owner.kind, owner.name)
    pod = owner.pod
    parent = replicasets.get((pod.environment, pod.namespace, owner.name))
    if parent is not None:
        if parent.kind == NONE:
            return Controller("ReplicaSet", owner.name)
        return Controller(parent.kind, parent.name)
    match = _REPLICASET.fullmatch(owner.name)
    return (
        Controller("Deployment", match["name"]) if match else Controller("ReplicaSet", owner.name)
    )
