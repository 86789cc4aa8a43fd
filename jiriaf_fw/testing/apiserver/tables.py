"""`meta.k8s.io/v1` Table and PartialObjectMetadata output, with the columns of kube-apiserver's printers.

`kubectl get` requests tables (`Accept: application/json;as=Table;v=v1;g=meta.k8s.io`). The columns with
priority 1 are the ones `-o wide` adds.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .registry import parse_time
from .resources import ResourceType

Column = tuple[str, str, int, str]  # name, type, priority, description
Row = list[Any]


def human_duration(seconds: float) -> str:
    """Format an age as `duration.HumanDuration` does (`45s`, `3m20s`, `5h10m`, `12d`)."""
    whole = int(seconds)
    if whole < -1:
        return "<invalid>"
    if whole < 0:
        return "0s"
    if whole < 120:
        return f"{whole}s"
    minutes = whole // 60
    if minutes < 10:
        rest = whole % 60
        return f"{minutes}m" if rest == 0 else f"{minutes}m{rest}s"
    if minutes < 180:
        return f"{minutes}m"
    hours = whole // 3600
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h" if rest == 0 else f"{hours}h{rest}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        rest = hours % 24
        return f"{hours // 24}d" if rest == 0 else f"{hours // 24}d{rest}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        rest = (hours // 24) % 365
        return f"{hours // 24 // 365}y" if rest == 0 else f"{hours // 24 // 365}y{rest}d"
    return f"{hours // 24 // 365}y"


def _age(timestamp: str | None, now: float) -> str:
    if not timestamp:
        return "<unknown>"
    try:
        return human_duration(now - parse_time(timestamp))
    except ValueError:
        return "<invalid>"


def _pod_status_reason(pod: dict[str, Any]) -> tuple[str, int, int, float | None]:
    """Return the STATUS column, ready containers, restarts and the last restart time, as `printPod` does."""
    status = pod.get("status") or {}
    reason = status.get("reason") or status.get("phase") or ""
    ready = restarts = 0
    last_restart: float | None = None
    has_running = False
    for container in reversed(status.get("containerStatuses") or []):
        restarts += int(container.get("restartCount") or 0)
        finished = ((container.get("lastState") or {}).get("terminated") or {}).get("finishedAt")
        if finished:
            try:
                finished_at = parse_time(finished)
            except ValueError:
                finished_at = None
            if finished_at is not None:
                last_restart = finished_at if last_restart is None else max(last_restart, finished_at)
        state = container.get("state") or {}
        waiting, terminated = state.get("waiting"), state.get("terminated")
        if waiting is not None and waiting.get("reason"):
            reason = waiting["reason"]
        elif terminated is not None and terminated.get("reason"):
            reason = terminated["reason"]
        elif terminated is not None:
            signal = terminated.get("signal") or 0
            reason = f"Signal:{signal}" if signal else f"ExitCode:{terminated.get('exitCode') or 0}"
        elif container.get("ready") and state.get("running") is not None:
            has_running = True
            ready += 1
    if reason == "Completed" and has_running:
        conditions = status.get("conditions") or []
        pod_ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
        reason = "Running" if pod_ready else "NotReady"
    deleting = (pod.get("metadata") or {}).get("deletionTimestamp")
    if deleting and status.get("reason") == "NodeLost":
        reason = "Unknown"
    elif deleting and status.get("phase") not in ("Succeeded", "Failed"):
        reason = "Terminating"
    return reason, ready, restarts, last_restart


def _pod_row(pod: dict[str, Any], now: float) -> Row:
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    reason, ready, restarts, last_restart = _pod_status_reason(pod)
    restarts_text = str(restarts)
    if last_restart is not None:
        restarts_text = f"{restarts} ({human_duration(now - last_restart)} ago)"
    gates = spec.get("readinessGates") or []
    gates_text = "<none>"
    if gates:
        conditions = {c.get("type"): c.get("status") for c in status.get("conditions") or []}
        passing = sum(1 for gate in gates if conditions.get(gate.get("conditionType")) == "True")
        gates_text = f"{passing}/{len(gates)}"
    return [
        pod["metadata"]["name"], f"{ready}/{len(spec.get('containers') or [])}", reason, restarts_text,
        _age(pod["metadata"].get("creationTimestamp"), now), status.get("podIP") or "<none>",
        spec.get("nodeName") or "<none>", status.get("nominatedNodeName") or "<none>", gates_text,
    ]


def _node_row(node: dict[str, Any], now: float) -> Row:
    spec, status = node.get("spec") or {}, node.get("status") or {}
    ready = next((c for c in status.get("conditions") or [] if c.get("type") == "Ready"), None)
    if ready is None:
        states = ["Unknown"]
    elif ready.get("status") == "True":
        states = ["Ready"]
    else:
        states = ["NotReady"]
    if spec.get("unschedulable"):
        states.append("SchedulingDisabled")
    roles = set()
    for key, value in ((node.get("metadata") or {}).get("labels") or {}).items():
        if key.startswith("node-role.kubernetes.io/") and key != "node-role.kubernetes.io/":
            roles.add(key.split("/", 1)[1])
        elif key == "node-role.kubernetes.io" and value or key == "kubernetes.io/role" and value:
            roles.add(value)
    addresses = status.get("addresses") or []
    internal = next((a.get("address") for a in addresses if a.get("type") == "InternalIP"), None)
    external = next((a.get("address") for a in addresses if a.get("type") == "ExternalIP"), None)
    info = status.get("nodeInfo") or {}
    return [
        node["metadata"]["name"], ",".join(states), ",".join(sorted(roles)) or "<none>",
        _age(node["metadata"].get("creationTimestamp"), now), info.get("kubeletVersion") or "",
        internal or "<none>", external or "<none>", info.get("osImage") or "<unknown>",
        info.get("kernelVersion") or "<unknown>", info.get("containerRuntimeVersion") or "<unknown>",
    ]


def _event_row(event: dict[str, Any], now: float) -> Row:
    involved = event.get("involvedObject") or {}
    last = event.get("lastTimestamp") or event.get("eventTime") or event["metadata"].get("creationTimestamp")
    first = event.get("firstTimestamp") or event.get("eventTime") or event["metadata"].get("creationTimestamp")
    source = (event.get("source") or {}).get("component") or event.get("reportingComponent") or ""
    return [
        _age(last, now), event.get("type") or "", event.get("reason") or "",
        f"{(involved.get('kind') or '').lower()}/{involved.get('name') or ''}", involved.get("fieldPath") or "",
        source, event.get("message") or "", _age(first, now), event.get("count") or 1, event["metadata"]["name"],
    ]


_NAME: Column = ("Name", "string", 0, "Name must be unique within a namespace.")
_AGE: Column = ("Age", "string", 0, "CreationTimestamp is a timestamp representing the server time when this object was created.")
_PRINTERS: dict[str, tuple[list[Column], Callable[[dict[str, Any], float], Row]]] = {
    "Pod": ([_NAME, ("Ready", "string", 0, "The aggregate readiness state of this pod for accepting traffic."),
             ("Status", "string", 0, "The aggregate status of the containers in this pod."),
             ("Restarts", "string", 0, "The number of times the containers in this pod have been restarted."),
             _AGE, ("IP", "string", 1, "podIP address allocated to the pod."),
             ("Node", "string", 1, "NodeName is the name of the node the pod is scheduled onto."),
             ("Nominated Node", "string", 1, "nominatedNodeName of the pod."),
             ("Readiness Gates", "string", 1, "readiness gates of the pod.")], _pod_row),
    "Node": ([_NAME, ("Status", "string", 0, "The status of the node"), ("Roles", "string", 0, "The roles of the node"),
              _AGE, ("Version", "string", 0, "Kubelet Version reported by the node."),
              ("Internal-IP", "string", 1, "List of internal IPs."), ("External-IP", "string", 1, "List of external IPs."),
              ("OS-Image", "string", 1, "OS Image reported by the node."),
              ("Kernel-Version", "string", 1, "Kernel Version reported by the node."),
              ("Container-Runtime", "string", 1, "Container Runtime Version reported by the node.")], _node_row),
    "Namespace": ([_NAME, ("Status", "string", 0, "The status of the namespace"), _AGE],
                  lambda o, now: [o["metadata"]["name"], (o.get("status") or {}).get("phase") or "",
                                  _age(o["metadata"].get("creationTimestamp"), now)]),
    "ConfigMap": ([_NAME, ("Data", "string", 0, "Number of data entries."), _AGE],
                  lambda o, now: [o["metadata"]["name"], len(o.get("data") or {}) + len(o.get("binaryData") or {}),
                                  _age(o["metadata"].get("creationTimestamp"), now)]),
    "Secret": ([_NAME, ("Type", "string", 0, "The type of the secret"), ("Data", "string", 0, "Number of data entries."),
                _AGE],
               lambda o, now: [o["metadata"]["name"], o.get("type") or "", len(o.get("data") or {}),
                               _age(o["metadata"].get("creationTimestamp"), now)]),
    "Lease": ([_NAME, ("Holder", "string", 0, "The holder of the lease"), _AGE],
              lambda o, now: [o["metadata"]["name"], (o.get("spec") or {}).get("holderIdentity") or "",
                              _age(o["metadata"].get("creationTimestamp"), now)]),
    "Event": ([("Last Seen", "string", 0, "Time since the event was last seen"), ("Type", "string", 0, "Event type"),
               ("Reason", "string", 0, "Event reason"), ("Object", "string", 0, "Object the event is about"),
               ("Subobject", "string", 1, "Field path of the object"), ("Source", "string", 1, "Component that reported it"),
               ("Message", "string", 0, "Event message"), ("First Seen", "string", 1, "Time since first seen"),
               ("Count", "integer", 1, "Number of occurrences"), ("Name", "string", 1, "Event name")], _event_row),
}


def metadata_only(rt: ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj.get("metadata") or {}}


def to_table(rt: ResourceType, objects: list[dict[str, Any]], now: float, include_object: str) -> dict[str, Any]:
    """Build a Table of `objects`; `include_object` is None, Metadata (the default) or Object."""
    columns, row_of = _PRINTERS.get(rt.kind, ([_NAME, _AGE], None))
    definitions = [
        {"name": name, "type": kind, "format": "name" if name == "Name" else "", "description": description,
         "priority": priority}
        for name, kind, priority, description in columns
    ]
    rows = []
    for obj in objects:
        if row_of is None:
            cells: Row = [obj["metadata"]["name"], _age(obj["metadata"].get("creationTimestamp"), now)]
        else:
            cells = row_of(obj, now)
        row: dict[str, Any] = {"cells": cells}
        if include_object == "Object":
            row["object"] = {"kind": rt.kind, "apiVersion": rt.api_version, **obj}
        elif include_object != "None":
            row["object"] = metadata_only(rt, obj)
        rows.append(row)
    return {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {}, "columnDefinitions": definitions,
            "rows": rows}
