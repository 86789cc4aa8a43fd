"""Pure builders of the Node and Lease objects and patches the JRM agent sends, and Kubernetes time formats.

Every function takes the agent's state and the current time as arguments and returns plain JSON-ready
dicts. Nothing here reads the clock, the environment or the network, so each builder is tested without
a server. Times are RFC 3339 strings in UTC, as the API server stores them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from jiriaf_fw.core.errors import JiriafError

# Taint of every JRM node, kept from the original agent so that existing tolerations still match.
PROVIDER_TAINT = {"key": "virtual-kubelet.io/provider", "value": "mock", "effect": "NoSchedule"}
LEASE_NAMESPACE = "kube-node-lease"

_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_CONDITION_TYPES = ("Ready", "MemoryPressure", "DiskPressure", "PIDPressure", "NetworkUnavailable")
_QUIET_CONDITIONS = {
    "MemoryPressure": ("KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
    "DiskPressure": ("KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
    "PIDPressure": ("KubeletHasSufficientPID", "kubelet has sufficient PID available"),
    "NetworkUnavailable": ("RouteCreated", "the agent shares the host network"),
}


class LabelValueError(JiriafError):
    """A value meant for a Node label is not a valid Kubernetes label value."""

    exit_code = 2


def format_time(moment: datetime) -> str:
    """Format a datetime as a Kubernetes `Time` (seconds precision, UTC, `Z` suffix); naive means UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def format_micro_time(moment: datetime) -> str:
    """Format a datetime as a Kubernetes `MicroTime`, the type of Lease acquire and renew times."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def check_label_value(value: str, where: str) -> str:
    """Return `value` if it is a valid label value; raise `LabelValueError` naming `where` if not."""
    if len(value) > 63 or not _LABEL_VALUE.match(value):
        raise LabelValueError(
            f"invalid label value {value!r} from {where}: use at most 63 letters, digits, '-', '_' or '.', "
            "starting and ending with a letter or digit"
        )
    return value


# --- Node ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NodeFacts:
    """Facts the agent reports about its node, measured once at start-up."""

    name: str
    pod_ip: str
    kubelet_port: int
    cpu_count: int
    memory_ki: int
    nodetype: str
    site: str
    architecture: str
    kernel_version: str
    kubelet_version: str
    max_pods: int = 1000


@dataclass(frozen=True)
class NodeHealth:
    """The desired Ready condition: `ready`, with the reason and message to show when it is False."""

    ready: bool
    reason: str = "KubeletReady"
    message: str = "kubelet is posting ready status"


def node_labels(facts: NodeFacts, walltime_s: int | None, alivetime_s: int | None) -> dict[str, str]:
    """Build the Node labels; the walltime labels appear only when the agent has a time limit."""
    labels = {
        "type": "virtual-kubelet",
        "kubernetes.io/role": "agent",
        "kubernetes.io/hostname": facts.name,
        "alpha.service-controller.kubernetes.io/exclude-balancer": "true",
        "node.kubernetes.io/exclude-from-external-load-balancers": "true",
        "jiriaf.nodetype": facts.nodetype,
        "jiriaf.site": facts.site,
    }
    if walltime_s is not None:
        labels["jiriaf.walltime"] = str(max(0, int(walltime_s)))
        labels["jiriaf.alivetime"] = str(max(0, int(alivetime_s if alivetime_s is not None else walltime_s)))
    return labels


def node_conditions(health: NodeHealth, previous: Sequence[Mapping[str, Any]], now: datetime) -> list[dict]:
    """Build the node conditions, keeping each `lastTransitionTime` while its status does not change.

    Conditions of other types found in `previous` (set by other controllers) are kept unchanged.
    """
    stamp = format_time(now)
    by_type = {c.get("type"): c for c in previous}
    conditions = []
    for kind in _CONDITION_TYPES:
        if kind == "Ready":
            status = "True" if health.ready else "False"
            reason, message = health.reason, health.message
        else:
            status = "False"
            reason, message = _QUIET_CONDITIONS[kind]
        old = by_type.get(kind)
        same = old is not None and old.get("status") == status and old.get("lastTransitionTime")
        conditions.append(
            {
                "type": kind,
                "status": status,
                "reason": reason,
                "message": message,
                "lastHeartbeatTime": stamp,
                "lastTransitionTime": old["lastTransitionTime"] if same else stamp,
            }
        )
    conditions.extend(dict(c) for c in previous if c.get("type") not in _CONDITION_TYPES)
    return conditions


def node_status(facts: NodeFacts, conditions: list[dict]) -> dict:
    """Build the full Node `status`: conditions, addresses, kubelet endpoint, capacity and nodeInfo."""
    resources = {"cpu": str(facts.cpu_count), "memory": f"{facts.memory_ki}Ki", "pods": str(facts.max_pods)}
    return {
        "conditions": conditions,
        # No Hostname address: kube-apiserver dials a kubelet by Hostname first when one is reported, and a
        # JRM node name does not resolve. The InternalIP is where the kubelet port is reached.
        "addresses": [{"type": "InternalIP", "address": facts.pod_ip}],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": facts.kubelet_port}},
        "capacity": dict(resources),
        "allocatable": dict(resources),
        "nodeInfo": {
            "machineID": "",
            "systemUUID": "",
            "bootID": "",
            "kernelVersion": facts.kernel_version,
            "osImage": "",
            "containerRuntimeVersion": "jiriaf://bash",
            "kubeletVersion": facts.kubelet_version,
            "kubeProxyVersion": "",
            "operatingSystem": "linux",
            "architecture": facts.architecture,
        },
    }


def build_node(
    facts: NodeFacts, health: NodeHealth, walltime_s: int | None, alivetime_s: int | None, now: datetime
) -> dict:
    """Build the Node manifest to create: labels, the provider taint and a first status."""
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": facts.name, "labels": node_labels(facts, walltime_s, alivetime_s)},
        "spec": {"taints": [dict(PROVIDER_TAINT)]},
        "status": node_status(facts, node_conditions(health, [], now)),
    }


def replacement_node(existing: Mapping[str, Any], manifest: Mapping[str, Any]) -> dict:
    """Build the Node to PUT over `existing`: the labels and provider taint of `manifest`, schedulable again.

    Fields the API server refuses to change once set (`spec.podCIDR`, `spec.podCIDRs`, `spec.providerID`)
    are kept, and so are the `node.kubernetes.io/*` taints that Kubernetes controllers manage, except the
    cordon taint. `metadata.resourceVersion` is kept, so a concurrent change makes the PUT fail.
    """
    old_meta, old_spec = existing.get("metadata") or {}, existing.get("spec") or {}
    metadata = {
        key: old_meta[key] for key in ("name", "uid", "resourceVersion", "annotations") if key in old_meta
    }
    metadata["labels"] = dict(manifest["metadata"]["labels"])
    spec = {key: value for key, value in old_spec.items() if key not in ("taints", "unschedulable")}
    kept_taints = [
        dict(taint)
        for taint in old_spec.get("taints") or []
        if taint.get("key", "").startswith("node.kubernetes.io/")
        and taint.get("key") != "node.kubernetes.io/unschedulable"
    ]
    spec["taints"] = list(manifest["spec"]["taints"]) + kept_taints
    return {"apiVersion": "v1", "kind": "Node", "metadata": metadata, "spec": spec}


def node_status_patch(
    facts: NodeFacts, health: NodeHealth, current_node: Mapping[str, Any], now: datetime
) -> dict:
    """Build a merge patch for the `status` subresource from the Node as the API server stores it now.

    Reading `current_node` fresh before every patch is what corrects a Ready=False written by someone else.
    """
    previous = (current_node.get("status") or {}).get("conditions") or []
    return {"status": node_status(facts, node_conditions(health, previous, now))}


def node_labels_patch(current_labels: Mapping[str, str], desired: Mapping[str, str]) -> dict | None:
    """Build a merge patch that sets the `desired` labels, or return None when nothing differs.

    The walltime labels are removed (set to null) when they are no longer desired; other labels stay.
    """
    changes: dict[str, str | None] = {k: v for k, v in desired.items() if current_labels.get(k) != v}
    for key in ("jiriaf.walltime", "jiriaf.alivetime"):
        if key in current_labels and key not in desired:
            changes[key] = None
    return {"metadata": {"labels": changes}} if changes else None


def cordon_patch() -> dict:
    """Build the merge patch that marks the Node unschedulable."""
    return {"spec": {"unschedulable": True}}


# --- Lease --------------------------------------------------------------------------------------------


def build_lease(node_name: str, node_uid: str | None, duration_s: int, now: datetime) -> dict:
    """Build the node's Lease in `kube-node-lease`, owned by the Node so that it goes with it."""
    metadata: dict[str, Any] = {"name": node_name, "namespace": LEASE_NAMESPACE}
    if node_uid:
        metadata["ownerReferences"] = [
            {"apiVersion": "v1", "kind": "Node", "name": node_name, "uid": node_uid}
        ]
    return {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": metadata,
        "spec": {
            "holderIdentity": node_name,
            "leaseDurationSeconds": duration_s,
            "renewTime": format_micro_time(now),
        },
    }


def renewed_lease(lease: Mapping[str, Any], node_name: str, duration_s: int, now: datetime) -> dict:
    """Return a copy of `lease` with this node as holder and `renewTime` = now, for a replace (PUT).

    The copy keeps `metadata.resourceVersion`, so a concurrent writer makes the replace fail with a
    conflict instead of being overwritten.
    """
    renewed = {**lease, "spec": dict(lease.get("spec") or {})}
    renewed["spec"].update(
        holderIdentity=node_name, leaseDurationSeconds=duration_s, renewTime=format_micro_time(now)
    )
    return renewed
