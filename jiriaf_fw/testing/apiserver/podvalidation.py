"""Pod validation: the create-time checks of `ValidatePodCreate` and the update rules of `ValidatePodUpdate`.

Covered: containers (names, images, duplicates, ports, env, volume mounts), volumes, restart and DNS policy,
node selector, tolerations, required node affinity, and spec immutability on update.
NOTE: security contexts, resources, probes and ephemeral containers are not validated.
"""

from __future__ import annotations

import copy
import ipaddress
from typing import Any

from .errors import FieldError
from .validation import dns1123_label_errors, label_key_errors, validate_labels

RESTART_POLICIES = ("Always", "OnFailure", "Never")
DNS_POLICIES = ("ClusterFirstWithHostNet", "ClusterFirst", "Default", "None")
TOLERATION_OPERATORS = ("Equal", "Exists")
TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")
NODE_SELECTOR_OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt")
POD_UPDATE_MESSAGE = (
    "pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,"
    "`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),"
    "`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)"
)


def _supported(field: str, value: Any, allowed: tuple[str, ...]) -> list[FieldError]:
    if value in allowed:
        return []
    return [FieldError(field, "NotSupported", value, "supported values: " + ", ".join(f'"{a}"' for a in allowed))]


def _validate_container(container: dict[str, Any], path: str, volumes: set[str]) -> list[FieldError]:
    errors: list[FieldError] = []
    name = container.get("name")
    if not name:
        errors.append(FieldError(f"{path}.name", "Required"))
    else:
        errors += [FieldError(f"{path}.name", "Invalid", name, reason) for reason in dns1123_label_errors(name)]
    if not container.get("image"):
        errors.append(FieldError(f"{path}.image", "Required"))
    for index, port in enumerate(container.get("ports") or []):
        number = port.get("containerPort")
        if number is None:
            errors.append(FieldError(f"{path}.ports[{index}].containerPort", "Required"))
        elif not isinstance(number, int) or not 1 <= number <= 65535:
            errors.append(
                FieldError(f"{path}.ports[{index}].containerPort", "Invalid", number,
                           "must be between 1 and 65535, inclusive")
            )
    for index, env in enumerate(container.get("env") or []):
        if not env.get("name"):
            errors.append(FieldError(f"{path}.env[{index}].name", "Required"))
    mount_paths: set[str] = set()
    for index, mount in enumerate(container.get("volumeMounts") or []):
        mount_path = f"{path}.volumeMounts[{index}]"
        mount_name = mount.get("name")
        if not mount_name:
            errors.append(FieldError(f"{mount_path}.name", "Required"))
        elif mount_name not in volumes:
            errors.append(FieldError(f"{mount_path}.name", "NotFound", mount_name))
        target = mount.get("mountPath")
        if not target:
            errors.append(FieldError(f"{mount_path}.mountPath", "Required"))
        elif target in mount_paths:
            errors.append(FieldError(f"{mount_path}.mountPath", "Invalid", target, "must be unique"))
        else:
            mount_paths.add(target)
    return errors


def _validate_volumes(spec: dict[str, Any]) -> tuple[list[FieldError], set[str]]:
    errors: list[FieldError] = []
    names: set[str] = set()
    for index, volume in enumerate(spec.get("volumes") or []):
        path = f"spec.volumes[{index}]"
        name = volume.get("name")
        if not name:
            errors.append(FieldError(f"{path}.name", "Required"))
        elif name in names:
            errors.append(FieldError(f"{path}.name", "Duplicate", name))
        else:
            errors += [FieldError(f"{path}.name", "Invalid", name, reason) for reason in dns1123_label_errors(name)]
            names.add(name)
        sources = [key for key in volume if key != "name"]
        if not sources:
            errors.append(FieldError(path, "Required", detail="must specify a volume type"))
        elif len(sources) > 1:
            errors.append(FieldError(path, "Forbidden", detail="may not specify more than 1 volume type"))
    return errors, names


def _validate_tolerations(tolerations: list[dict[str, Any]]) -> list[FieldError]:
    errors: list[FieldError] = []
    for index, toleration in enumerate(tolerations):
        path = f"spec.tolerations[{index}]"
        operator = toleration.get("operator") or "Equal"
        key = toleration.get("key") or ""
        if key:
            errors += [FieldError(f"{path}.key", "Invalid", key, reason) for reason in label_key_errors(key)]
        elif operator != "Exists":
            errors.append(
                FieldError(f"{path}.operator", "Invalid", operator,
                           'operator must be Exists when `key` is empty, which means "match all values and all keys"')
            )
        errors += _supported(f"{path}.operator", operator, TOLERATION_OPERATORS)
        if operator == "Exists" and toleration.get("value"):
            errors.append(FieldError(f"{path}.operator", "Invalid", toleration.get("value"),
                                     "value must be empty when `operator` is 'Exists'"))
        effect = toleration.get("effect")
        if effect:
            errors += _supported(f"{path}.effect", effect, TAINT_EFFECTS)
        if toleration.get("tolerationSeconds") is not None and effect != "NoExecute":
            errors.append(FieldError(f"{path}.effect", "Invalid", effect,
                                     "effect must be 'NoExecute' when `tolerationSeconds` is set"))
    return errors


def _validate_node_selector_terms(affinity: dict[str, Any]) -> list[FieldError]:
    required = ((affinity.get("nodeAffinity") or {}).get("requiredDuringSchedulingIgnoredDuringExecution"))
    if required is None:
        return []
    base = "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms"
    terms = required.get("nodeSelectorTerms") or []
    if not terms:
        return [FieldError(base, "Required", detail="must have at least one node selector term")]
    errors: list[FieldError] = []
    for term_index, term in enumerate(terms):
        for expr_index, expression in enumerate(term.get("matchExpressions") or []):
            errors += _validate_node_selector_requirement(expression, f"{base}[{term_index}].matchExpressions[{expr_index}]")
    return errors


def _validate_node_selector_requirement(expression: dict[str, Any], path: str) -> list[FieldError]:
    errors: list[FieldError] = []
    operator = expression.get("operator")
    values = expression.get("values") or []
    key = expression.get("key") or ""
    errors += [FieldError(f"{path}.key", "Invalid", key, reason) for reason in label_key_errors(key)]
    if operator in ("In", "NotIn") and not values:
        errors.append(FieldError(f"{path}.values", "Required",
                                 detail="must be specified when `operator` is 'In' or 'NotIn'"))
    elif operator in ("Exists", "DoesNotExist") and values:
        errors.append(FieldError(f"{path}.values", "Forbidden",
                                 detail="may not be specified when `operator` is 'Exists' or 'DoesNotExist'"))
    elif operator in ("Gt", "Lt"):
        if len(values) != 1:
            errors.append(FieldError(f"{path}.values", "Required",
                                     detail="must be specified single value when `operator` is 'Lt' or 'Gt'"))
        else:
            try:
                int(values[0])
            except ValueError:
                errors.append(FieldError(f"{path}.values[0]", "Invalid", values[0], "must be an integer"))
    elif operator not in NODE_SELECTOR_OPERATORS:
        errors += _supported(f"{path}.operator", operator, NODE_SELECTOR_OPERATORS)
    return errors


def validate_pod_spec(pod: dict[str, Any]) -> list[FieldError]:
    """Validate a pod's spec as `ValidatePodCreate` does for the fields listed in the module docstring."""
    spec = pod.get("spec")
    if not isinstance(spec, dict):
        return [FieldError("spec.containers", "Required")]
    errors, volumes = _validate_volumes(spec)
    containers = spec.get("containers") or []
    if not containers:
        errors.append(FieldError("spec.containers", "Required"))
    seen: set[str] = set()
    for field_name in ("initContainers", "containers"):
        for index, container in enumerate(spec.get(field_name) or []):
            path = f"spec.{field_name}[{index}]"
            errors += _validate_container(container, path, volumes)
            name = container.get("name")
            if name and name in seen:
                errors.append(FieldError(f"{path}.name", "Duplicate", name))
            elif name:
                seen.add(name)
    errors += _supported("spec.restartPolicy", spec.get("restartPolicy"), RESTART_POLICIES)
    errors += _supported("spec.dnsPolicy", spec.get("dnsPolicy"), DNS_POLICIES)
    deadline = spec.get("activeDeadlineSeconds")
    if deadline is not None and (not isinstance(deadline, int) or not 1 <= deadline <= 2147483647):
        errors.append(FieldError("spec.activeDeadlineSeconds", "Invalid", deadline,
                                 "must be between 1 and 2147483647, inclusive"))
    errors += validate_labels(spec.get("nodeSelector"), "spec.nodeSelector")
    errors += _validate_tolerations(spec.get("tolerations") or [])
    errors += _validate_node_selector_terms(spec.get("affinity") or {})
    return errors


_MUTABLE_SPEC_FIELDS = ("activeDeadlineSeconds", "tolerations", "terminationGracePeriodSeconds")


def _validate_deadline_update(new_spec: dict[str, Any], old_spec: dict[str, Any]) -> list[FieldError]:
    old_deadline, new_deadline = old_spec.get("activeDeadlineSeconds"), new_spec.get("activeDeadlineSeconds")
    if old_deadline is None:
        return []
    if new_deadline is None:
        return [FieldError("spec.activeDeadlineSeconds", "Invalid", None,
                           "must not update from a positive integer to nil value")]
    if new_deadline > old_deadline:
        return [FieldError("spec.activeDeadlineSeconds", "Invalid", new_deadline,
                           "must be less than or equal to previous value")]
    return []


def _changed_immutable_fields(new_spec: dict[str, Any], old_spec: dict[str, Any]) -> list[str]:
    """Return the spec fields that differ once the mutable ones (and container images) are set aside."""
    munged = copy.deepcopy(new_spec)
    for field_name in ("containers", "initContainers"):
        for old_container, new_container in zip(old_spec.get(field_name) or [], munged.get(field_name) or []):
            new_container["image"] = old_container.get("image")
    munged = {key: value for key, value in munged.items() if key not in _MUTABLE_SPEC_FIELDS}
    previous = {key: value for key, value in old_spec.items() if key not in _MUTABLE_SPEC_FIELDS}
    return sorted(key for key in set(munged) | set(previous) if munged.get(key) != previous.get(key))


def validate_pod_update(new: dict[str, Any], old: dict[str, Any]) -> list[FieldError]:
    """Apply `ValidatePodUpdate`'s immutability rule: only images, deadline and tolerations may change."""
    new_spec, old_spec = new.get("spec") or {}, old.get("spec") or {}
    for field_name in ("containers", "initContainers"):
        if len(new_spec.get(field_name) or []) != len(old_spec.get(field_name) or []):
            return [FieldError(f"spec.{field_name}", "Forbidden", detail="pod updates may not add or remove containers")]

    errors = _validate_deadline_update(new_spec, old_spec)
    def without_seconds(toleration: dict[str, Any]) -> dict[str, Any]:
        return {key: value for key, value in toleration.items() if key != "tolerationSeconds"}

    new_tolerations = [without_seconds(t) for t in new_spec.get("tolerations") or []]
    if any(without_seconds(t) not in new_tolerations for t in old_spec.get("tolerations") or []):
        errors.append(FieldError("spec.tolerations", "Forbidden",
                                 detail="existing toleration can not be modified except its tolerationSeconds"))

    changed = _changed_immutable_fields(new_spec, old_spec)
    if changed:
        # NOTE: kube-apiserver follows the message with a Go diff of the spec; the double names the fields.
        detail = f"{POD_UPDATE_MESSAGE}\n  changed fields: {', '.join(f'spec.{key}' for key in changed)}"
        errors.append(FieldError("spec", "Forbidden", detail=detail))
    return errors


def _validate_ips(status: dict[str, Any], old_status: dict[str, Any], field_name: str) -> list[FieldError]:
    """Check `podIPs` or `hostIPs`: valid addresses (old invalid ones may stay), one per IP family."""
    errors: list[FieldError] = []
    entries = status.get(field_name) or []
    existing = {entry.get("ip") for entry in old_status.get(field_name) or []}
    families = []
    for index, entry in enumerate(entries):
        address = entry.get("ip") or ""
        try:
            families.append(ipaddress.ip_address(address).version)
        except ValueError:
            if address not in existing:
                errors.append(FieldError(f"status.{field_name}[{index}].ip", "Invalid", address,
                                         "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"))
    if len(entries) > 2 or len(families) != len(set(families)):
        errors.append(FieldError(f"status.{field_name}", "Invalid", [e.get("ip") for e in entries],
                                 "may specify no more than one IP for each IP family"))
    return errors


def validate_pod_status_update(new: dict[str, Any], old: dict[str, Any]) -> list[FieldError]:
    """Apply `ValidatePodStatusUpdate`: valid IPs and condition types, an unchanged QoS class, and no
    terminated container of a non-restarting pod leaving the terminated state."""
    new_status, old_status = new.get("status") or {}, old.get("status") or {}
    errors = _validate_ips(new_status, old_status, "podIPs") + _validate_ips(new_status, old_status, "hostIPs")
    for index, condition in enumerate(new_status.get("conditions") or []):
        errors += [FieldError(f"status.conditions[{index}].type", "Invalid", condition.get("type"), reason)
                   for reason in label_key_errors(condition.get("type") or "")]
    if new_status.get("qosClass", "") != old_status.get("qosClass", ""):
        errors.append(FieldError("status.qosClass", "Invalid", new_status.get("qosClass", ""), "field is immutable"))
    restart_policy = (old.get("spec") or {}).get("restartPolicy")
    if restart_policy == "Always":
        return errors
    new_statuses = (new.get("status") or {}).get("containerStatuses") or []
    for index, previous in enumerate((old.get("status") or {}).get("containerStatuses") or []):
        terminated = (previous.get("state") or {}).get("terminated")
        if terminated is None:
            continue
        if terminated.get("exitCode") != 0 and restart_policy == "OnFailure":
            continue  # a failed container of an OnFailure pod may restart
        for status in new_statuses:
            if status.get("name") == previous.get("name") and "terminated" not in (status.get("state") or {}):
                errors.append(FieldError(f"status.containerStatuses[{index}].state", "Forbidden",
                                         detail="may not be transitioned to non-terminated state"))
    return errors
