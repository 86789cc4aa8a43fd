"""Deletion (with pod graceful deletion and finalizers) and the pod `binding` subresource.

Graceful deletion follows `rest.BeforeDelete` and the pod strategy's `CheckGracefulDelete`. A pod that is
bound to a node and not terminal stays, with `deletionTimestamp` and `deletionGracePeriodSeconds` set, until
a DELETE with a grace period of 0 arrives. The kubelet sends that DELETE once the containers are gone.
Deleting a namespace deletes its objects at once; there is no namespace controller and no Terminating phase.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass
from typing import Any

from .errors import FieldError, StatusError, bad_request, conflict, invalid, success_status
from .registry import Registry, format_time, parse_time
from .resources import NAMESPACES, PODS, RESOURCE_TYPES, ResourceType

logger = logging.getLogger(__name__)

PROTECTED_NAMESPACES = ("default", "kube-system", "kube-public")
PROPAGATION_POLICIES = ("Orphan", "Background", "Foreground")


@dataclass(frozen=True)
class DeleteOptions:
    """The parts of `DeleteOptions` the double acts on."""

    grace_period_s: int | None = None
    propagation_policy: str | None = None
    precondition_uid: str | None = None
    precondition_rv: str | None = None
    dry_run: bool = False

    @classmethod
    def parse(cls, body: Any, query_grace: str | None, query_policy: str | None, dry_run: bool) -> DeleteOptions:
        body = body if isinstance(body, dict) else {}
        grace = body.get("gracePeriodSeconds")
        if query_grace is not None:
            try:
                grace = int(query_grace)
            except ValueError as error:
                raise bad_request(f"invalid gracePeriodSeconds {query_grace!r}: must be an integer") from error
        policy = body.get("propagationPolicy") or query_policy
        if policy is not None and policy not in PROPAGATION_POLICIES:
            raise StatusError(
                422, "Invalid",
                f'DeleteOptions.meta.k8s.io "" is invalid: propagationPolicy: Unsupported value: "{policy}": '
                'supported values: "Foreground", "Background", "Orphan", "nil"',
            )
        preconditions = body.get("preconditions") or {}
        return cls(grace, policy, preconditions.get("uid"), preconditions.get("resourceVersion"),
                   dry_run or "All" in (body.get("dryRun") or []))


class Deleter:
    """DELETE, DELETE on a collection, and binding, for every kind."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.store = registry.store

    def delete(self, rt: ResourceType, namespace: str, name: str, options: DeleteOptions) -> dict[str, Any]:
        """Delete one object; return the response body (the object, or a success Status)."""
        existing = self.registry.get(rt, namespace, name)
        self._check_preconditions(rt, existing, options)
        if rt is NAMESPACES and name in PROTECTED_NAMESPACES:
            raise StatusError(403, "Forbidden", f'namespaces "{name}" is forbidden: this namespace may not be deleted',
                              {"name": name, "kind": "namespaces"})
        metadata = existing["metadata"]
        period = self._grace_period(existing, options) if rt is PODS else 0
        if metadata.get("deletionTimestamp"):
            return self._delete_again(rt, existing, period, options)
        if period > 0 or metadata.get("finalizers"):
            updated = copy.deepcopy(existing)
            updated["metadata"]["deletionTimestamp"] = format_time(self.registry.clock() + period)
            updated["metadata"]["deletionGracePeriodSeconds"] = period
            if "generation" in metadata:
                updated["metadata"]["generation"] = metadata["generation"] + 1
            if options.dry_run:
                return updated
            return self.store.update(rt, updated)
        return self._remove(rt, existing, options.dry_run)

    def _delete_again(self, rt: ResourceType, existing: dict[str, Any], period: int, options: DeleteOptions) -> dict[str, Any]:
        """Handle DELETE of an object already being deleted: only a shorter grace period changes anything."""
        metadata = existing["metadata"]
        current = metadata.get("deletionGracePeriodSeconds")
        if rt is not PODS or (current is not None and period >= current):
            return existing
        if current is None or current == 0 or period == 0:
            if metadata.get("finalizers"):
                return existing
            return self._remove(rt, existing, options.dry_run)
        updated = copy.deepcopy(existing)
        # As in rest.BeforeDelete: the new deadline is the old one moved earlier by the difference.
        shortened = parse_time(metadata["deletionTimestamp"]) - current + period
        updated["metadata"]["deletionTimestamp"] = format_time(shortened)
        updated["metadata"]["deletionGracePeriodSeconds"] = period
        return updated if options.dry_run else self.store.update(rt, updated)

    def _remove(self, rt: ResourceType, existing: dict[str, Any], dry_run: bool) -> dict[str, Any]:
        metadata = existing["metadata"]
        namespace, name = metadata.get("namespace") or "", metadata["name"]
        if dry_run:
            final = existing
        else:
            if rt is NAMESPACES:
                self._delete_namespace_contents(name)
            final = self.store.delete(rt, namespace, name)
        if rt.returns_deleted_object:
            return final
        return success_status(rt, name, metadata.get("uid"))

    def _delete_namespace_contents(self, namespace: str) -> None:
        for rt in RESOURCE_TYPES:
            if not rt.namespaced:
                continue
            for obj in self.store.list(rt, namespace):
                self.store.delete(rt, namespace, obj["metadata"]["name"])
        logger.info("deleted the objects of namespace %s with it", namespace)

    @staticmethod
    def _grace_period(pod: dict[str, Any], options: DeleteOptions) -> int:
        spec = pod.get("spec") or {}
        if options.grace_period_s is not None:
            period = options.grace_period_s
        else:
            period = spec.get("terminationGracePeriodSeconds") or 0
        if not spec.get("nodeName"):
            period = 0
        if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            period = 0
        return max(period, 1) if period < 0 else period

    @staticmethod
    def _check_preconditions(rt: ResourceType, existing: dict[str, Any], options: DeleteOptions) -> None:
        metadata = existing["metadata"]
        name = metadata["name"]
        if options.precondition_uid and options.precondition_uid != metadata.get("uid"):
            raise conflict(rt, name, f"Precondition failed: UID in precondition: {options.precondition_uid}, "
                                     f"UID in object meta: {metadata.get('uid')}")
        if options.precondition_rv and options.precondition_rv != metadata.get("resourceVersion"):
            raise conflict(rt, name, f"Precondition failed: ResourceVersion in precondition: "
                                     f"{options.precondition_rv}, ResourceVersion in object meta: "
                                     f"{metadata.get('resourceVersion')}")

    # ---- binding ----------------------------------------------------------------------------------

    def bind(self, namespace: str, name: str, binding: Any, dry_run: bool = False) -> dict[str, Any]:
        """Assign a pod to a node as the `pods/binding` subresource does; return the 201 success Status."""
        if not isinstance(binding, dict):
            raise bad_request("the body of a binding must be a JSON object")
        binding_name = (binding.get("metadata") or {}).get("name")
        if binding_name and binding_name != name:
            raise bad_request("name in URL does not match name in Binding object")
        target = binding.get("target") or {}
        errors = []
        if not target.get("name"):
            errors.append(FieldError("target.name", "Required"))
        if target.get("kind") not in (None, "", "Node"):
            errors.append(FieldError("target.kind", "NotSupported", target.get("kind"), 'supported values: "Node"'))
        if errors:
            raise invalid(_BINDING, name, errors)
        pod = self.registry.get(PODS, namespace, name)
        if pod["metadata"].get("deletionTimestamp"):
            raise conflict(_BINDING, name, f"pod {name} is being deleted, cannot be assigned to a host")
        if (pod.get("spec") or {}).get("nodeName"):
            raise conflict(_BINDING, name, f'pod {name} is already assigned to node "{pod["spec"]["nodeName"]}"')
        updated = copy.deepcopy(pod)
        updated["spec"]["nodeName"] = target["name"]
        annotations = (binding.get("metadata") or {}).get("annotations") or {}
        if annotations:
            updated["metadata"].setdefault("annotations", {}).update(annotations)
        set_pod_condition(updated, {"type": "PodScheduled", "status": "True"}, self.registry.now())
        if not dry_run:
            self.store.update(PODS, updated)
        return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}


_BINDING = ResourceType("", "v1", "Binding", "pods/binding", "binding", True)


def set_pod_condition(pod: dict[str, Any], condition: dict[str, Any], now: str) -> bool:
    """Set a pod condition as `UpdatePodCondition` does; return whether anything changed.

    lastTransitionTime changes only when the status changes; lastProbeTime is null.
    """
    conditions = pod.setdefault("status", {}).setdefault("conditions", [])
    for index, existing in enumerate(conditions):
        if existing.get("type") != condition["type"]:
            continue
        merged = {**existing, **condition, "lastProbeTime": None}
        if existing.get("status") != condition["status"] or not existing.get("lastTransitionTime"):
            merged["lastTransitionTime"] = now
        if merged == existing:
            return False
        conditions[index] = merged
        return True
    conditions.append({**condition, "lastProbeTime": None, "lastTransitionTime": now})
    return True
