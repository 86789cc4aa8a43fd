"""Pure builder of the pod status the JRM agent writes, from the runtime's container states.

The phase, conditions and container statuses follow kubelet's rules. Each condition's
`lastTransitionTime` and the pod's `startTime` are carried over from the previous status while unchanged.
This matters because during a pod's CPU initialization period HPA ignores samples taken before its Ready
transition.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from jiriaf_fw.core.kube_objects import format_time

CONTAINER_ID_SCHEME = "jiriaf://"
# Pod status fields the agent owns; anything else in status (qosClass, foreign conditions) is kept.
POD_STATUS_FIELDS = (
    "phase",
    "reason",
    "message",
    "startTime",
    "podIP",
    "podIPs",
    "hostIP",
    "hostIPs",
    "conditions",
    "containerStatuses",
)
_POD_CONDITION_TYPES = ("PodScheduled", "Initialized", "ContainersReady", "Ready")


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

    The pod is Pending until a container runs, and Running while any runs or some are still to finish.
    Once all have terminated it is Succeeded if every exit code is 0, otherwise Failed.
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


def _container_status(spec: Mapping[str, Any], view: ContainerView | None, waiting: tuple[str, str]) -> dict:
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


def _condition(
    kind: str,
    ok: bool,
    previous: Mapping[str, Mapping[str, Any]],
    stamp: str,
    reason: str | None = None,
    message: str | None = None,
) -> dict:
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


def _pod_conditions(
    pod: Mapping[str, Any],
    statuses: list[dict],
    phase: str,
    previous: Sequence[Mapping[str, Any]],
    stamp: str,
) -> list[dict]:
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


def pod_status(
    pod: Mapping[str, Any],
    containers: Sequence[ContainerView],
    *,
    previous: Mapping[str, Any],
    pod_ip: str,
    now: datetime,
    waiting: tuple[str, str] = ("ContainerCreating", ""),
    failure: PodFailure | None = None,
) -> dict:
    """Build the pod status fields the agent owns (`POD_STATUS_FIELDS`) from its containers' states.

    `previous` is the status last written. `startTime` and each condition's `lastTransitionTime` are
    taken from it while unchanged, so the Ready transition time stays stable for HPA. `waiting` is the
    reason and message shown for containers the runtime has not started. `failure` forces phase Failed
    with that reason (a start error or the walltime drain).
    """
    stamp = format_time(now)
    by_name = {c.name: c for c in containers}
    statuses = [
        _container_status(spec, by_name.get(spec["name"]), waiting)
        for spec in pod.get("spec", {}).get("containers", [])
    ]
    phase = "Failed" if failure else pod_phase(pod, containers)
    if failure:
        for status in statuses:
            status["ready"] = status["started"] = False
            # A container that never started ends with the pod: left waiting, kubectl would keep
            # showing ContainerCreating for a pod that is already Failed.
            if "waiting" in status["state"]:
                status["state"] = {"terminated": {"exitCode": 128, "reason": failure.reason,
                                                  "message": failure.message, "finishedAt": stamp}}
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
