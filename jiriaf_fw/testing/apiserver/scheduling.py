"""The node filters of kube-scheduler that the binder applies, as pure functions.

Filters run in kube-scheduler's default order (NodeUnschedulable, TaintToleration, NodeAffinity,
NodeResourcesFit) and each returns the reasons a node does not fit, worded as kube-scheduler words them.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {"n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "": Decimal(1), "k": Decimal(10**3),
            "M": Decimal(10**6), "G": Decimal(10**9), "T": Decimal(10**12), "P": Decimal(10**15),
            "E": Decimal(10**18)}
_QUANTITY_RE = re.compile(r"([+-]?[0-9.]+)([eE][+-]?[0-9]+|Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE])?")
UNSCHEDULABLE_TAINT = {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}


def parse_quantity(text: Any) -> Decimal:
    """Parse a Kubernetes quantity (`100m`, `1.5`, `512Mi`, `1e3`); raise ValueError when malformed."""
    if isinstance(text, (int, float)):
        return Decimal(str(text))
    match = _QUANTITY_RE.fullmatch(str(text).strip())
    if match is None:
        raise ValueError(f"quantity {text!r} is not a Kubernetes quantity")
    try:
        number = Decimal(match.group(1))
    except InvalidOperation as error:
        raise ValueError(f"quantity {text!r} is not a Kubernetes quantity") from error
    suffix = match.group(2) or ""
    if suffix in _BINARY:
        return number * _BINARY[suffix]
    if suffix[:1] in ("e", "E"):
        return number * (Decimal(10) ** int(suffix[1:]))
    return number * _DECIMAL[suffix]


def tolerates(toleration: dict[str, Any], taint: dict[str, Any]) -> bool:
    """Return whether `toleration` tolerates `taint`, as `Toleration.ToleratesTaint` decides."""
    effect = toleration.get("effect") or ""
    if effect and effect != taint.get("effect"):
        return False
    key = toleration.get("key") or ""
    if key and key != taint.get("key"):
        return False
    operator = toleration.get("operator") or "Equal"
    if operator == "Exists":
        return True
    if operator == "Equal":
        return (toleration.get("value") or "") == (taint.get("value") or "")
    return False


def _match_expression(expression: dict[str, Any], labels: dict[str, str]) -> bool:
    key = expression.get("key") or ""
    operator = expression.get("operator")
    values = expression.get("values") or []
    present = key in labels
    if operator == "In":
        return present and labels[key] in values
    if operator == "NotIn":
        return not present or labels[key] not in values
    if operator == "Exists":
        return present
    if operator == "DoesNotExist":
        return not present
    if operator in ("Gt", "Lt") and present and len(values) == 1:
        try:
            label_value, bound = int(labels[key]), int(values[0])
        except ValueError:
            return False
        return label_value > bound if operator == "Gt" else label_value < bound
    return False


def _match_field(expression: dict[str, Any], node_name: str) -> bool:
    if expression.get("key") != "metadata.name":
        return False
    values = expression.get("values") or []
    if expression.get("operator") == "In":
        return node_name in values
    if expression.get("operator") == "NotIn":
        return node_name not in values
    return False


def _term_matches(term: dict[str, Any], labels: dict[str, str], node_name: str) -> bool:
    expressions = term.get("matchExpressions") or []
    fields = term.get("matchFields") or []
    if not expressions and not fields:
        return False  # an empty term selects no node
    return all(_match_expression(e, labels) for e in expressions) and all(_match_field(f, node_name) for f in fields)


def matches_node_affinity(pod: dict[str, Any], node: dict[str, Any]) -> bool:
    """Apply the pod's nodeSelector and its required node affinity (terms ORed, expressions ANDed)."""
    spec = pod.get("spec") or {}
    labels = (node.get("metadata") or {}).get("labels") or {}
    for key, value in (spec.get("nodeSelector") or {}).items():
        if labels.get(key) != value:
            return False
    required = ((spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution"
    )
    if required is None:
        return True
    node_name = node["metadata"]["name"]
    return any(_term_matches(term, labels, node_name) for term in required.get("nodeSelectorTerms") or [])


def untolerated_taint(pod: dict[str, Any], node: dict[str, Any]) -> dict[str, Any] | None:
    tolerations = (pod.get("spec") or {}).get("tolerations") or []
    for taint in (node.get("spec") or {}).get("taints") or []:
        if taint.get("effect") not in ("NoSchedule", "NoExecute"):
            continue
        if not any(tolerates(toleration, taint) for toleration in tolerations):
            return taint
    return None


def pod_requests(pod: dict[str, Any]) -> dict[str, Decimal]:
    """Return the pod's effective cpu and memory requests (sum of containers, at least each init container)."""
    spec = pod.get("spec") or {}
    totals = {"cpu": Decimal(0), "memory": Decimal(0)}
    for container in spec.get("containers") or []:
        for name, value in ((container.get("resources") or {}).get("requests") or {}).items():
            if name in totals:
                totals[name] += parse_quantity(value)
    for container in spec.get("initContainers") or []:
        for name, value in ((container.get("resources") or {}).get("requests") or {}).items():
            if name in totals:
                totals[name] = max(totals[name], parse_quantity(value))
    return totals


def _allocatable(node: dict[str, Any], name: str) -> Decimal:
    value = ((node.get("status") or {}).get("allocatable") or {}).get(name)
    try:
        return parse_quantity(value) if value is not None else Decimal(0)
    except ValueError:
        return Decimal(0)


def resource_reasons(pod: dict[str, Any], node: dict[str, Any], assigned: list[dict[str, Any]]) -> list[str]:
    """Return NodeResourcesFit's reasons (`Too many pods`, `Insufficient cpu`, ...) for `pod` on `node`."""
    reasons = []
    if len(assigned) + 1 > _allocatable(node, "pods"):
        reasons.append("Too many pods")
    requested = pod_requests(pod)
    for name in ("cpu", "memory"):
        if requested[name] == 0:
            continue
        used = sum((pod_requests(other)[name] for other in assigned), Decimal(0))
        if used + requested[name] > _allocatable(node, name):
            reasons.append(f"Insufficient {name}")
    return reasons


def filter_node(pod: dict[str, Any], node: dict[str, Any], assigned: list[dict[str, Any]]) -> list[str]:
    """Return why `pod` does not fit `node` (empty when it fits); the first failing filter wins."""
    tolerations = (pod.get("spec") or {}).get("tolerations") or []
    cordoned = bool((node.get("spec") or {}).get("unschedulable"))
    if cordoned and not any(tolerates(toleration, UNSCHEDULABLE_TAINT) for toleration in tolerations):
        return ["node(s) were unschedulable"]
    taint = untolerated_taint(pod, node)
    if taint is not None:
        return [f"node(s) had untolerated taint {{{taint.get('key')}: {taint.get('value') or ''}}}"]
    if not matches_node_affinity(pod, node):
        return ["node(s) didn't match Pod's node affinity/selector"]
    return resource_reasons(pod, node, assigned)


def unschedulable_message(node_count: int, reasons_by_node: dict[str, list[str]]) -> str:
    """Format kube-scheduler's FitError message, with the preemption summary it appends."""
    if node_count == 0:
        return "no nodes available to schedule pods"
    histogram: dict[str, int] = {}
    for reasons in reasons_by_node.values():
        for reason in reasons:
            histogram[reason] = histogram.get(reason, 0) + 1
    parts = sorted(f"{count} {reason}" for reason, count in histogram.items())
    message = f"0/{node_count} nodes are available: {', '.join(parts)}."
    resource_only = sum(1 for reasons in reasons_by_node.values()
                        if reasons and all(r.startswith(("Insufficient", "Too many pods")) for r in reasons))
    not_helpful = node_count - resource_only
    preemption = []
    if resource_only:
        preemption.append(f"{resource_only} No preemption victims found for incoming pod")
    if not_helpful:
        preemption.append(f"{not_helpful} Preemption is not helpful for scheduling")
    return f"{message} preemption: 0/{node_count} nodes are available: {', '.join(sorted(preemption))}."
