"""Per-kind create and update rules: defaulting, the status/spec split, and validation dispatch.

These mirror the registry strategies of kube-apiserver (`PrepareForCreate`, `PrepareForUpdate`, the status
strategies) and the default admission plugins that change objects (ServiceAccount, DefaultTolerationSeconds,
NamespaceLifecycle's default label).
"""

from __future__ import annotations

import base64
import binascii
import copy
import random
from typing import Any

from .errors import FieldError, bad_request
from .podvalidation import validate_pod_spec, validate_pod_status_update, validate_pod_update
from .resources import ResourceType
from .validation import (
    validate_config_keys,
    validate_event,
    validate_immutable_data,
    validate_lease,
    validate_metadata,
    validate_metadata_update,
)

KINDS_WITH_STATUS = ("Pod", "Node", "Namespace")
SERVICE_ACCOUNT_MOUNT_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"
_NAME_SUFFIX_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def random_suffix(length: int = 5) -> str:
    """Return a name suffix drawn from the alphabet kube-apiserver uses for generateName."""
    return "".join(random.choice(_NAME_SUFFIX_ALPHABET) for _ in range(length))


# ---- defaulting -------------------------------------------------------------------------------------


def _image_pull_policy(image: str) -> str:
    last = image.rsplit("/", 1)[-1]
    if "@" in last:
        return "IfNotPresent"
    tag = last.split(":", 1)[1] if ":" in last else ""
    return "Always" if tag in ("", "latest") else "IfNotPresent"


def _default_container(container: dict[str, Any]) -> None:
    container.setdefault("terminationMessagePath", "/dev/termination-log")
    container.setdefault("terminationMessagePolicy", "File")
    if isinstance(container.get("image"), str) and container["image"]:
        container.setdefault("imagePullPolicy", _image_pull_policy(container["image"]))
    container.setdefault("resources", {})
    for port in container.get("ports") or []:
        port.setdefault("protocol", "TCP")


def _default_volume(volume: dict[str, Any]) -> None:
    for source in ("configMap", "secret", "projected", "downwardAPI"):
        if isinstance(volume.get(source), dict):
            volume[source].setdefault("defaultMode", 420)


def _qos_class(spec: dict[str, Any]) -> str:
    containers = (spec.get("containers") or []) + (spec.get("initContainers") or [])
    resources = [c.get("resources") or {} for c in containers]
    if all(not (r.get("requests") or r.get("limits")) for r in resources):
        return "BestEffort"
    for r in resources:
        limits, requests = r.get("limits") or {}, r.get("requests") or {}
        if not all(name in limits for name in ("cpu", "memory")):
            return "Burstable"
        if any(requests.get(name, limits[name]) != limits[name] for name in ("cpu", "memory")):
            return "Burstable"
    return "Guaranteed"


def _admit_service_account(pod: dict[str, Any]) -> None:
    """Do what the ServiceAccount admission plugin does: name the account and mount its token volume."""
    spec = pod["spec"]
    spec.setdefault("serviceAccountName", spec.get("serviceAccount") or "default")
    spec["serviceAccount"] = spec["serviceAccountName"]
    if spec.get("automountServiceAccountToken") is False:
        return
    containers = (spec.get("containers") or []) + (spec.get("initContainers") or [])
    if any(m.get("mountPath") == SERVICE_ACCOUNT_MOUNT_PATH for c in containers for m in c.get("volumeMounts") or []):
        return
    volume_name = f"kube-api-access-{random_suffix()}"
    spec.setdefault("volumes", []).append({
        "name": volume_name,
        "projected": {
            "defaultMode": 420,
            "sources": [
                {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {
                    "apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}},
            ],
        },
    })
    for container in containers:
        container.setdefault("volumeMounts", []).append(
            {"name": volume_name, "readOnly": True, "mountPath": SERVICE_ACCOUNT_MOUNT_PATH}
        )


def _add_default_tolerations(spec: dict[str, Any]) -> None:
    """Do what DefaultTolerationSeconds does: tolerate not-ready and unreachable nodes for 300 s."""
    tolerations = spec.setdefault("tolerations", [])
    for key in ("node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"):
        if any(t.get("key") in (key, None, "") and t.get("effect") in ("NoExecute", None, "") for t in tolerations):
            continue
        tolerations.append({"key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300})


def default_pod(pod: dict[str, Any], admission: bool) -> None:
    """Fill in the defaults of `SetDefaults_Pod` and friends and run DefaultTolerationSeconds; on create
    (`admission`) also run the ServiceAccount admission plugin."""
    spec = pod.setdefault("spec", {})
    if not isinstance(spec, dict):
        return
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("securityContext", {})
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("enableServiceLinks", True)
    spec.setdefault("priority", 0)
    spec.setdefault("preemptionPolicy", "PreemptLowerPriority")
    for container in (spec.get("containers") or []) + (spec.get("initContainers") or []):
        if isinstance(container, dict):
            _default_container(container)
    for volume in spec.get("volumes") or []:
        if isinstance(volume, dict):
            _default_volume(volume)
    # DefaultTolerationSeconds admits creates and updates; ServiceAccount admits creates only.
    _add_default_tolerations(spec)
    if admission and spec.get("containers") and all(isinstance(c, dict) for c in spec["containers"]):
        _admit_service_account(pod)


def normalize_pod_status(status: dict[str, Any]) -> None:
    """Keep `podIP`/`podIPs` and `hostIP`/`hostIPs` in step as the v1 conversion does (the singular wins)."""
    for single, plural in (("podIP", "podIPs"), ("hostIP", "hostIPs")):
        if status.get(single):
            entries = status.get(plural) or []
            if not entries or entries[0].get("ip") != status[single]:
                status[plural] = [{"ip": status[single]}]
        elif status.get(plural):
            status[single] = status[plural][0].get("ip")


def _decode_secret_data(obj: dict[str, Any], field_name: str) -> None:
    for key, value in (obj.get(field_name) or {}).items():
        try:
            base64.b64decode(value, validate=True)
        except (binascii.Error, TypeError, ValueError) as error:
            raise bad_request(
                f'{obj.get("kind") or "Secret"} in version "v1" cannot be handled as a {obj.get("kind") or "Secret"}:'
                f" illegal base64 data in {field_name}[{key}]: {error}"
            ) from error


def default_secret(secret: dict[str, Any]) -> None:
    """Merge `stringData` into `data` (base64-encoded) and drop it, as the v1 conversion does."""
    _decode_secret_data(secret, "data")
    string_data = secret.pop("stringData", None) or {}
    if string_data:
        data = secret.setdefault("data", {})
        for key, value in string_data.items():
            data[key] = base64.b64encode(str(value).encode()).decode()
    secret.setdefault("type", "Opaque")


# ---- prepare and validate ---------------------------------------------------------------------------


def prepare_for_create(rt: ResourceType, obj: dict[str, Any]) -> None:
    """Apply defaults and reset what a create may not set (pod and namespace status)."""
    metadata = obj["metadata"]
    if rt.kind == "Pod":
        default_pod(obj, admission=True)
        spec = obj.get("spec") if isinstance(obj.get("spec"), dict) else {}
        obj["status"] = {"phase": "Pending", "qosClass": _qos_class(spec)}
        metadata["generation"] = 1
    elif rt.kind == "Namespace":
        obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
        obj["status"] = {"phase": "Active"}
        metadata.setdefault("labels", {})["kubernetes.io/metadata.name"] = metadata.get("name", "")
    elif rt.kind == "Secret":
        default_secret(obj)
    elif rt.kind == "ConfigMap":
        _decode_secret_data(obj, "binaryData")


def prepare_for_update(rt: ResourceType, new: dict[str, Any], old: dict[str, Any]) -> None:
    """Keep the stored status on a write to the main resource, and bump the generation on a spec change."""
    if rt.kind in KINDS_WITH_STATUS:
        if "status" in old:
            new["status"] = copy.deepcopy(old["status"])
        else:
            new.pop("status", None)
    if rt.kind == "Pod":
        default_pod(new, admission=False)
    if rt.kind == "Secret":
        default_secret(new)
    elif rt.kind == "ConfigMap":
        _decode_secret_data(new, "binaryData")
    generation = old["metadata"].get("generation")
    if generation is not None:
        changed = new.get("spec") != old.get("spec")
        new["metadata"]["generation"] = generation + 1 if changed else generation
    if rt.kind == "Namespace":
        new["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = old["metadata"]["name"]


def prepare_for_status_update(rt: ResourceType, new: dict[str, Any], old: dict[str, Any]) -> None:
    """Keep the stored spec on a status write; metadata labels and annotations may change, as in kube."""
    if "spec" in old:
        new["spec"] = copy.deepcopy(old["spec"])
    else:
        new.pop("spec", None)
    new["metadata"]["generation"] = old["metadata"].get("generation")
    if new["metadata"]["generation"] is None:
        del new["metadata"]["generation"]
    if rt.kind == "Pod":
        new["metadata"]["ownerReferences"] = copy.deepcopy(old["metadata"].get("ownerReferences"))
        if new["metadata"]["ownerReferences"] is None:
            del new["metadata"]["ownerReferences"]
        normalize_pod_status(new.setdefault("status", {}))


def validate(rt: ResourceType, obj: dict[str, Any]) -> list[FieldError]:
    """Run the kind's create validation."""
    name_check = "label" if rt.kind == "Namespace" else "subdomain"
    errors = validate_metadata(obj, rt.namespaced, name_check)
    if rt.kind == "Pod":
        errors += validate_pod_spec(obj)
    elif rt.kind in ("ConfigMap", "Secret"):
        errors += validate_config_keys(obj)
    elif rt.kind == "Lease":
        errors += validate_lease(obj)
    elif rt.kind == "Event":
        errors += validate_event(obj)
    return errors


def validate_update(rt: ResourceType, new: dict[str, Any], old: dict[str, Any], status: bool) -> list[FieldError]:
    """Run the kind's update validation (on top of `validate`)."""
    errors = validate_metadata_update(new, old)
    if rt.kind == "Pod":
        errors += validate_pod_status_update(new, old) if status else validate_pod_update(new, old)
    elif rt.kind in ("ConfigMap", "Secret"):
        errors += validate_immutable_data(new, old, "data")
        if rt.kind == "Secret" and new.get("type") != old.get("type"):
            errors.append(FieldError("type", "Invalid", new.get("type"), "field is immutable"))
    return errors

