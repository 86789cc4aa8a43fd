"""Pure builders of the Kubernetes objects and patches the JRM agent sends: Node, Lease and pod status.

Every function takes the agent's state and the current time as arguments and returns plain JSON-ready
dicts. Nothing here reads the clock, the environment or the network, so each builder is tested without
a server. Times are RFC 3339 strings in UTC, as the API server stores them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from jiriaf_fw.core.errors import JiriafError

# Taint of every JRM node, kept from the original agent so that existing tolerations still match.
PROVIDER_TAINT = {"key": "virtual-kubelet.io/provider", "value": "mock", "effect": "NoSchedule"}
LEASE_NAMESPACE = "kube-node-lease"
CONTAINER_ID_SCHEME = "jiriaf://"

_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_CONDITION_TYPES = ("Ready", "MemoryPressure", "DiskPressure", "PIDPressure", "NetworkUnavailable")
_QUIET_CONDITIONS = {
    "MemoryPressure": ("KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
    "DiskPressure": ("KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
    "PIDPressure": ("KubeletHasSufficientPID", "kubelet has sufficient PID available"),
    "NetworkUnavailable": ("RouteCreated", "the agent shares the host network"),
}
# Pod status fields the agent owns; anything else in status (qosClass, foreign conditions) is kept.
POD_STATUS_FIELDS = (
    "phase", "reason", "message", "startTime", "podIP", "podIPs", "hostIP", "hostIPs",
    "conditions", "containerStatuses",
)
_POD_CONDITION_TYPES = ("PodScheduled", "Initialized", "ContainersReady", "Ready")


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
    """Return `value` unchanged if it is a valid label value; raise `LabelValueError` naming `where` if not."""
    if len(value) > 63 or not _LABEL_VALUE.match(value):
        raise LabelValueError(
            f"invalid label value {value!r} from {where}: use at most 63 letters, digits, '-', '_' or '.', "
            "starting and ending with a letter or digit"
        )
    return value


# --- Node ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NodeFacts:
    """What the agent reports about its node; measured once at start-up."""

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
        conditions.append({
            "type": kind,
            "status": status,
            "reason": reason,
            "message": message,
            "lastHeartbeatTime": stamp,
            "lastTransitionTime": old["lastTransitionTime"] if same else stamp,
        })
    conditions.extend(dict(c) for c in previous if c.get("type") not in _CONDITION_TYPES)
    return conditions


def node_status(facts: NodeFacts, conditions: list[dict]) -> dict:
    """Build the full Node `status`: conditions, addresses, kubelet endpoint, capacity and nodeInfo."""
    resources = {"cpu": str(facts.cpu_count), "memory": f"{facts.memory_ki}Ki", "pods": str(facts.max_pods)}
    return {
        "conditions": conditions,
        "addresses": [
            {"type": "InternalIP", "address": facts.pod_ip},
            {"type": "Hostname", "address": facts.name},
        ],
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


def build_node(facts: NodeFacts, health: NodeHealth, walltime_s: int | None, alivetime_s: int | None,
               now: datetime) -> dict:
    """Build the Node manifest to create: labels, the provider taint and a first status."""
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": facts.name, "labels": node_labels(facts, walltime_s, alivetime_s)},
        "spec": {"taints": [dict(PROVIDER_TAINT)]},
        "status": node_status(facts, node_conditions(health, [], now)),
    }


def node_status_patch(facts: NodeFacts, health: NodeHealth, current_node: Mapping[str, Any],
                      now: datetime) -> dict:
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


# --- Pod status ---------------------------------------------------------------------------------------


class ContainerView(Protocol):
    """The runtime's view of one container, as `services.agent.runtime.ContainerState` provides it."""

    name: str
    state: str  # "waiting", "running" or "terminated"
    started_at: datetime | None
    finished_at: datetime | None
    exit_code: int | None
    reason: str | None
    message: str | None
    pgid: int | None
    script_path: str | None


@dataclass(frozen=True)
class PodFailure:
    """A pod-level failure the agent reports as phase Failed (start error, walltime drain)."""

    reason: str
    message: str


def pod_phase(pod: Mapping[str, Any], containers: Sequence[ContainerView]) -> str:
    """Compute the pod phase from its containers' states.

    Pending until a container runs; Running while any runs or some are still to finish; once all have
    terminated, Succeeded if every exit code is 0, otherwise Failed.
    NOTE: containers are never restarted, so with restartPolicy Always or OnFailure a finished pod is
    reported Succeeded or Failed as it is, and its controller replaces it.
    """
    spec_names = [c["name"] for c in pod.get("spec", {}).get("containers", [])]
    by_name = {c.name: c for c in containers}
    states = [by_name[name] for name in spec_names if name in by_name]
    if len(states) < len(spec_names) or not states:
        return "Running" if any(s.state != "waiting" for s in states) else "Pending"
    if all(s.state == "terminated" for s in states):
        return "Succeeded" if all(s.exit_code == 0 for s in states) else "Failed"
    if all(s.state == "waiting" for s in states):
        return "Pending"
    return "Running"


def _container_status(spec: Mapping[str, Any], view: ContainerView | None,
                      waiting: tuple[str, str]) -> dict:
    status: dict[str, Any] = {
        "name": spec["name"],
        "image": spec.get("image", ""),
        "imageID": (view.script_path if view else None) or "",
        "restartCount": 0,
        "ready": bool(view and view.state == "running"),
        "started": bool(view and view.state == "running"),
        "lastState": {},
    }
    if view and view.pgid:
        status["containerID"] = f"{CONTAINER_ID_SCHEME}{view.pgid}"
    if view is None or view.state == "waiting":
        reason, message = waiting
        if view is not None and view.reason:
            reason, message = view.reason, view.message or ""
        status["state"] = {"waiting": {"reason": reason, "message": message}}
    elif view.state == "running":
        status["state"] = {"running": {"startedAt": _time_or_none(view.started_at)}}
    else:
        status["state"] = {"terminated": _terminated(view, status.get("containerID"))}
    return status


def _terminated(view: ContainerView, container_id: str | None) -> dict:
    exit_code = view.exit_code if view.exit_code is not None else -1
    terminated: dict[str, Any] = {
        "exitCode": exit_code,
        "reason": view.reason or ("Completed" if exit_code == 0 else "Error"),
        "startedAt": _time_or_none(view.started_at),
        "finishedAt": _time_or_none(view.finished_at),
    }
    if view.message:
        terminated["message"] = view.message
    if container_id:
        terminated["containerID"] = container_id
    return terminated


def _time_or_none(moment: datetime | None) -> str | None:
    return format_time(moment) if moment is not None else None


def _condition(kind: str, ok: bool, previous: Mapping[str, Mapping[str, Any]], stamp: str,
               reason: str | None = None, message: str | None = None) -> dict:
    status = "True" if ok else "False"
    old = previous.get(kind)
    keep = old is not None and old.get("status") == status and old.get("lastTransitionTime")
    condition: dict[str, Any] = {
        "type": kind,
        "status": status,
        "lastTransitionTime": old["lastTransitionTime"] if keep else stamp,
    }
    if reason:
        condition["reason"] = reason
    if message:
        condition["message"] = message
    return condition


def _pod_conditions(pod: Mapping[str, Any], statuses: list[dict], phase: str,
                    previous: Sequence[Mapping[str, Any]], stamp: str) -> list[dict]:
    by_type = {c.get("type"): c for c in previous}
    unready = [s["name"] for s in statuses if not s["ready"]]
    terminal = phase in ("Succeeded", "Failed")
    if terminal:
        reason, message = "PodCompleted", None
    elif unready:
        reason, message = "ContainersNotReady", f"containers with unready status: [{' '.join(unready)}]"
    else:
        reason = message = None
    containers_ready = not unready and not terminal
    gates = [g.get("conditionType") for g in pod.get("spec", {}).get("readinessGates") or []]
    gates_ok = all((by_type.get(g) or {}).get("status") == "True" for g in gates)
    ready_reason = reason if reason or gates_ok else "ReadinessGatesNotReady"
    conditions = [
        _condition("PodScheduled", True, by_type, stamp),
        # NOTE: init containers are not run, so Initialized is True from the start.
        _condition("Initialized", True, by_type, stamp),
        _condition("ContainersReady", containers_ready, by_type, stamp, reason, message),
        _condition("Ready", containers_ready and gates_ok, by_type, stamp, ready_reason, message),
    ]
    conditions.extend(dict(c) for c in previous if c.get("type") not in _POD_CONDITION_TYPES)
    return conditions


def pod_status(pod: Mapping[str, Any], containers: Sequence[ContainerView], *, previous: Mapping[str, Any],
               pod_ip: str, now: datetime, waiting: tuple[str, str] = ("ContainerCreating", ""),
               failure: PodFailure | None = None) -> dict:
    """Build the pod status fields the agent owns (`POD_STATUS_FIELDS`) from its containers' states.

    `previous` is the status last written; `startTime` and each condition's `lastTransitionTime` are
    taken from it while unchanged, so HPA sees a stable Ready transition. `waiting` is the reason and
    message shown for containers the runtime has not started. `failure` forces phase Failed with that
    reason (a start error or the walltime drain).
    """
    stamp = format_time(now)
    by_name = {c.name: c for c in containers}
    statuses = [_container_status(spec, by_name.get(spec["name"]), waiting)
                for spec in pod.get("spec", {}).get("containers", [])]
    phase = "Failed" if failure else pod_phase(pod, containers)
    if failure:
        for status in statuses:
            status["ready"] = status["started"] = False
    status: dict[str, Any] = {
        "phase": phase,
        "startTime": previous.get("startTime") or stamp,
        "podIP": pod_ip,
        "podIPs": [{"ip": pod_ip}],
        "hostIP": pod_ip,
        "hostIPs": [{"ip": pod_ip}],
        "conditions": _pod_conditions(pod, statuses, phase, previous.get("conditions") or [], stamp),
        "containerStatuses": statuses,
    }
    if failure:
        status["reason"], status["message"] = failure.reason, failure.message
    return status


def owned_pod_status(status: Mapping[str, Any]) -> dict:
    """Return the subset of a pod status made of the fields the agent owns, for change detection."""
    return {key: status[key] for key in POD_STATUS_FIELDS if status.get(key) is not None}


def pod_status_patch(status: Mapping[str, Any]) -> dict:
    """Build a merge patch for the pod `status` subresource that sets the owned fields and clears the rest.

    Setting `reason` and `message` to null removes a failure text left by an earlier write.
    """
    patch = {key: status.get(key) for key in POD_STATUS_FIELDS}
    return {"status": patch}


def is_terminal(pod: Mapping[str, Any]) -> bool:
    """Tell whether the pod has reached phase Succeeded or Failed in the API."""
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")
