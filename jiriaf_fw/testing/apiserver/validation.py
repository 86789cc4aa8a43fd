"""Validation of object metadata and of the kinds the double serves, with apimachinery's messages.

Each function returns a list of `FieldError`; the caller turns a non-empty list into a 422 `Invalid` Status.
Only the rules that matter for the objects jiriaf-fw writes are covered; the gaps are marked below.
"""

from __future__ import annotations

import json
import re
from typing import Any

from .errors import FieldError

_LABEL_RE = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_SUBDOMAIN_RE = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_QUALIFIED_NAME_RE = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
_LABEL_VALUE_RE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")
_CONFIG_KEY_RE = re.compile(r"[-._a-zA-Z0-9]+")

DNS1123_LABEL_MESSAGE = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start "
    "and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
DNS1123_SUBDOMAIN_MESSAGE = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must "
    "start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
_QUALIFIED_NAME_MESSAGE = (
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
    "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is "
    "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
)
_LABEL_VALUE_MESSAGE = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must "
    "start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used "
    "for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
)
_CONFIG_KEY_MESSAGE = (
    "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or "
    "'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')"
)
ANNOTATIONS_MAX_BYTES = 256 * 1024


def dns1123_label_errors(value: str) -> list[str]:
    errors = []
    if len(value) > 63:
        errors.append("must be no more than 63 characters")
    if not _LABEL_RE.fullmatch(value):
        errors.append(DNS1123_LABEL_MESSAGE)
    return errors


def dns1123_subdomain_errors(value: str) -> list[str]:
    errors = []
    if len(value) > 253:
        errors.append("must be no more than 253 characters")
    if not _SUBDOMAIN_RE.fullmatch(value):
        errors.append(DNS1123_SUBDOMAIN_MESSAGE)
    return errors


def label_key_errors(key: str) -> list[str]:
    """Check a qualified name such as `kubernetes.io/role` (an optional DNS prefix, a slash, a name)."""
    prefix, slash, name = key.rpartition("/")
    if slash and not prefix:
        return ["prefix part must be non-empty"]
    errors = []
    if slash:
        errors += ["prefix part " + error for error in dns1123_subdomain_errors(prefix)]
    if not name:
        return errors + ["name part must be non-empty"]
    if len(name) > 63:
        errors.append("name part must be no more than 63 characters")
    if not _QUALIFIED_NAME_RE.fullmatch(name):
        errors.append(_QUALIFIED_NAME_MESSAGE)
    return errors


def label_value_errors(value: str) -> list[str]:
    errors = []
    if len(value) > 63:
        errors.append("must be no more than 63 characters")
    if not _LABEL_VALUE_RE.fullmatch(value):
        errors.append(_LABEL_VALUE_MESSAGE)
    return errors


def validate_labels(labels: Any, path: str) -> list[FieldError]:
    if labels is None:
        return []
    if not isinstance(labels, dict):
        return [FieldError(path, "Invalid", labels, "must be a map of strings")]
    errors = []
    for key, value in labels.items():
        errors += [FieldError(path, "Invalid", key, reason) for reason in label_key_errors(key)]
        if not isinstance(value, str):
            errors.append(FieldError(path, "Invalid", value, "must be a string"))
            continue
        errors += [FieldError(path, "Invalid", value, reason) for reason in label_value_errors(value)]
    return errors


def validate_metadata(obj: dict[str, Any], namespaced: bool, name_check: str) -> list[FieldError]:
    """Validate `metadata`: name (a `label` or `subdomain`), namespace, labels and annotations."""
    metadata = obj.get("metadata") or {}
    errors: list[FieldError] = []
    name = metadata.get("name")
    if not name:
        errors.append(FieldError("metadata.name", "Required", detail="name or generateName is required"))
    else:
        checker = dns1123_label_errors if name_check == "label" else dns1123_subdomain_errors
        errors += [FieldError("metadata.name", "Invalid", name, reason) for reason in checker(name)]
    if namespaced and not metadata.get("namespace"):
        errors.append(FieldError("metadata.namespace", "Required"))
    errors += validate_labels(metadata.get("labels"), "metadata.labels")
    annotations = metadata.get("annotations") or {}
    for key in annotations:
        errors += [
            FieldError("metadata.annotations", "Invalid", key, reason) for reason in label_key_errors(key)
        ]
    if len(json.dumps(annotations)) > ANNOTATIONS_MAX_BYTES:
        errors.append(
            FieldError("metadata.annotations", "TooLong", detail=f"must have at most {ANNOTATIONS_MAX_BYTES} bytes")
        )
    return errors


def validate_metadata_update(new: dict[str, Any], old: dict[str, Any]) -> list[FieldError]:
    errors = []
    new_meta, old_meta = new["metadata"], old["metadata"]
    for key in ("name", "namespace", "uid", "creationTimestamp"):
        if key in new_meta and new_meta.get(key) != old_meta.get(key):
            errors.append(
                FieldError(f"metadata.{key}", "Invalid", new_meta.get(key), "field is immutable")
            )
    return errors


def validate_config_keys(obj: dict[str, Any], data_field: str = "data") -> list[FieldError]:
    """Validate the keys of `data` and `binaryData` of a ConfigMap or Secret."""
    errors: list[FieldError] = []
    data = obj.get(data_field) or {}
    binary = obj.get("binaryData") or {}
    for field_name, mapping in ((data_field, data), ("binaryData", binary)):
        if not isinstance(mapping, dict):
            errors.append(FieldError(field_name, "Invalid", mapping, "must be a map"))
            continue
        for key in mapping:
            if len(key) > 253:
                errors.append(FieldError(f"{field_name}[{key}]", "Invalid", key, "must be no more than 253 characters"))
            if not _CONFIG_KEY_RE.fullmatch(key) or key in (".", ".."):
                errors.append(FieldError(f"{field_name}[{key}]", "Invalid", key, _CONFIG_KEY_MESSAGE))
    if isinstance(data, dict) and isinstance(binary, dict):
        for key in set(data) & set(binary):
            errors.append(
                FieldError(f"{data_field}[{key}]", "Invalid", key, "duplicate of key present in binaryData")
            )
    size = sum(len(str(value)) for value in data.values()) if isinstance(data, dict) else 0
    if size > 1024 * 1024:
        errors.append(FieldError("", "TooLong", detail="must have at most 1048576 bytes"))
    return errors


def validate_immutable_data(new: dict[str, Any], old: dict[str, Any], data_field: str) -> list[FieldError]:
    """Reject data changes to a ConfigMap or Secret whose stored `immutable` is true."""
    if not old.get("immutable"):
        return []
    errors = []
    if not new.get("immutable"):
        errors.append(FieldError("immutable", "Forbidden", detail="field is immutable when `immutable` is set"))
    for field_name in (data_field, "binaryData"):
        if (new.get(field_name) or {}) != (old.get(field_name) or {}):
            errors.append(FieldError(field_name, "Forbidden", detail="field is immutable when `immutable` is set"))
    return errors


def validate_lease(obj: dict[str, Any]) -> list[FieldError]:
    spec = obj.get("spec") or {}
    errors = []
    duration = spec.get("leaseDurationSeconds")
    if duration is not None and (not isinstance(duration, int) or duration <= 0):
        errors.append(FieldError("spec.leaseDurationSeconds", "Invalid", duration, "must be greater than 0"))
    transitions = spec.get("leaseTransitions")
    if transitions is not None and (not isinstance(transitions, int) or transitions < 0):
        errors.append(
            FieldError("spec.leaseTransitions", "Invalid", transitions, "must be greater than or equal to 0")
        )
    return errors


def validate_event(obj: dict[str, Any]) -> list[FieldError]:
    namespace = (obj.get("metadata") or {}).get("namespace") or ""
    involved = obj.get("involvedObject") or {}
    involved_namespace = involved.get("namespace") or ""
    if involved_namespace and involved_namespace != namespace:
        return [FieldError("involvedObject.namespace", "Invalid", involved_namespace, "does not match event.namespace")]
    return []
