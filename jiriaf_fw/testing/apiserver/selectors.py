"""Label and field selectors, parsed and matched with the semantics of `k8s.io/apimachinery`.

Label selectors support `=`, `==`, `!=`, `in`, `notin`, `key` (exists), `!key`, `>` and `<`. Field selectors
support `=`, `==` and `!=` on the labels each kind's conversion function accepts (see `ResourceType`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .errors import bad_request
from .resources import ResourceType
from .validation import label_key_errors, label_value_errors

_OPERATOR_CHARS = "=!(),<> "


@dataclass(frozen=True)
class Requirement:
    key: str
    operator: str  # "in", "notin", "exists", "!", "gt", "lt"
    values: tuple[str, ...] = ()

    def matches(self, labels: dict[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key)
        if self.operator == "in":
            return present and value in self.values
        if self.operator == "notin":
            return not present or value not in self.values
        if self.operator == "exists":
            return present
        if self.operator == "!":
            return not present
        if not present or value is None:
            return False
        try:
            number = int(value)
        except ValueError:
            return False
        bound = int(self.values[0])
        return number > bound if self.operator == "gt" else number < bound


LabelSelector = list[Requirement]


def _tokenize(text: str) -> list[str]:
    tokens: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char.isspace():
            i += 1
        elif text.startswith(("==", "!="), i):
            tokens.append(text[i : i + 2])
            i += 2
        elif char in "=!(),<>":
            tokens.append(char)
            i += 1
        else:
            start = i
            while i < len(text) and text[i] not in _OPERATOR_CHARS and not text[i].isspace():
                i += 1
            tokens.append(text[start:i])
    return tokens


class _LabelParser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.pos = 0

    def fail(self, detail: str) -> Exception:
        return bad_request(f"unable to parse requirement: {detail}")

    def peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> str:
        token = self.peek()
        if token is None:
            raise self.fail(f"found '', expected: identifier after '{self.text}'")
        self.pos += 1
        return token

    def parse(self) -> LabelSelector:
        requirements: LabelSelector = []
        while self.peek() is not None:
            requirements.append(self.requirement())
            token = self.peek()
            if token is None:
                break
            if token != ",":
                raise self.fail(f"found '{token}', expected: ',' or 'end of string'")
            self.pos += 1
            if self.peek() is None:
                raise self.fail("found '', expected: identifier after ','")
        return requirements

    def requirement(self) -> Requirement:
        token = self.take()
        if token == "!":
            key = self._key(self.take())
            return Requirement(key, "!")
        key = self._key(token)
        operator = self.peek()
        if operator is None or operator == ",":
            return Requirement(key, "exists")
        self.pos += 1
        if operator in ("=", "=="):
            return Requirement(key, "in", (self._value(self._single_value()),))
        if operator == "!=":
            return Requirement(key, "notin", (self._value(self._single_value()),))
        if operator in ("in", "notin"):
            return Requirement(key, operator, self._value_set())
        if operator in (">", "<"):
            bound = self.take()
            if not re.fullmatch(r"-?\d+", bound):
                raise self.fail(f"for 'Gt', 'Lt' operators, the value must be an integer: {bound!r}")
            return Requirement(key, "gt" if operator == ">" else "lt", (bound,))
        raise self.fail(f"found '{operator}', expected: in, notin, =, ==, !=, gt, lt")

    def _single_value(self) -> str:
        token = self.peek()
        if token is None or token == ",":
            return ""
        return self.take()

    def _value_set(self) -> tuple[str, ...]:
        if self.take() != "(":
            raise self.fail("found '', expected: '('")
        values: list[str] = []
        while True:
            token = self.take()
            if token == ")":
                break
            if token == ",":
                continue
            values.append(self._value(token))
        return tuple(values)

    def _key(self, key: str) -> str:
        errors = label_key_errors(key)
        if errors:
            raise self.fail(f"key: Invalid value: {key!r}: {errors[0]}")
        return key

    def _value(self, value: str) -> str:
        errors = label_value_errors(value)
        if errors:
            raise self.fail(f"values[0]: Invalid value: {value!r}: {errors[0]}")
        return value


def parse_label_selector(text: str | None) -> LabelSelector:
    """Parse a `labelSelector` query value; raise a 400 `StatusError` when it is malformed."""
    if not text:
        return []
    return _LabelParser(text).parse()


def labels_match(selector: LabelSelector, labels: dict[str, str] | None) -> bool:
    labels = labels or {}
    return all(requirement.matches(labels) for requirement in selector)


# ---- field selectors --------------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldTerm:
    field: str
    value: str
    negated: bool


FieldSelector = list[FieldTerm]


def _split_unescaped(text: str, separator: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    i = 0
    while i < len(text):
        if text[i] == "\\" and i + 1 < len(text):
            current.append(text[i : i + 2])
            i += 2
            continue
        if text[i] == separator:
            parts.append("".join(current))
            current = []
        else:
            current.append(text[i])
        i += 1
    parts.append("".join(current))
    return parts


def _unescape(value: str) -> str:
    return re.sub(r"\\(.)", r"\1", value)


def _parse_term(term: str) -> FieldTerm:
    for operator, negated in (("!=", True), ("==", False), ("=", False)):
        index = _find_unescaped(term, operator)
        if index >= 0:
            return FieldTerm(term[:index].strip(), _unescape(term[index + len(operator) :]), negated)
    raise bad_request(f"invalid selector: '{term}'; can't understand '{term}'")


def _find_unescaped(text: str, operator: str) -> int:
    i = 0
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        if text.startswith(operator, i):
            return i
        i += 1
    return -1


def parse_field_selector(text: str | None, rt: ResourceType) -> FieldSelector:
    """Parse a `fieldSelector` for `rt`, rejecting labels the kind does not support as kube-apiserver does."""
    if not text:
        return []
    terms = [_parse_term(part) for part in _split_unescaped(text, ",") if part.strip()]
    for term in terms:
        if rt.field_labels is None:
            if term.field not in ("metadata.name", "metadata.namespace"):
                raise bad_request(
                    f'"{term.field}" is not a known field selector: only "metadata.name", "metadata.namespace"'
                )
        elif term.field not in rt.field_labels:
            raise bad_request(f"field label not supported: {term.field}")
    return terms


def fields_match(selector: FieldSelector, fields: dict[str, str]) -> bool:
    for term in selector:
        actual = fields.get(term.field, "")
        if (actual == term.value) == term.negated:
            return False
    return True


def _pod_fields(obj: dict[str, Any]) -> dict[str, str]:
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    pod_ips = status.get("podIPs") or []
    return {
        "spec.nodeName": spec.get("nodeName") or "",
        "spec.restartPolicy": spec.get("restartPolicy") or "",
        "spec.schedulerName": spec.get("schedulerName") or "",
        "spec.serviceAccountName": spec.get("serviceAccountName") or "",
        "spec.hostNetwork": "true" if spec.get("hostNetwork") else "false",
        "status.phase": status.get("phase") or "",
        "status.podIP": (pod_ips[0].get("ip") or "") if pod_ips else "",
        "status.nominatedNodeName": status.get("nominatedNodeName") or "",
    }


def _node_fields(obj: dict[str, Any]) -> dict[str, str]:
    return {"spec.unschedulable": "true" if (obj.get("spec") or {}).get("unschedulable") else "false"}


def _namespace_fields(obj: dict[str, Any]) -> dict[str, str]:
    return {"status.phase": (obj.get("status") or {}).get("phase") or ""}


def _secret_fields(obj: dict[str, Any]) -> dict[str, str]:
    return {"type": obj.get("type") or ""}


def _event_fields(obj: dict[str, Any]) -> dict[str, str]:
    involved = obj.get("involvedObject") or {}
    fields = {f"involvedObject.{key}": str(involved.get(key) or "") for key in (
        "kind", "namespace", "name", "uid", "apiVersion", "resourceVersion", "fieldPath"
    )}
    fields["reason"] = obj.get("reason") or ""
    fields["reportingComponent"] = obj.get("reportingComponent") or ""
    fields["source"] = (obj.get("source") or {}).get("component") or ""
    fields["type"] = obj.get("type") or ""
    return fields


_KIND_FIELDS: dict[str, Callable[[dict[str, Any]], dict[str, str]]] = {
    "Pod": _pod_fields,
    "Node": _node_fields,
    "Namespace": _namespace_fields,
    "Secret": _secret_fields,
    "Event": _event_fields,
}


def selectable_fields(rt: ResourceType, obj: dict[str, Any]) -> dict[str, str]:
    """Return the field set selectors match against, as the kind's `ToSelectableFields` function builds it."""
    metadata = obj.get("metadata") or {}
    fields = {"metadata.name": metadata.get("name") or ""}
    if rt.namespaced:
        fields["metadata.namespace"] = metadata.get("namespace") or ""
    extra = _KIND_FIELDS.get(rt.kind)
    if extra is not None:
        fields.update(extra(obj))
    return fields


@dataclass(frozen=True)
class ObjectFilter:
    """The selection of a list or watch request: a namespace, a label selector and a field selector."""

    rt: ResourceType
    namespace: str | None = None
    labels: tuple[Requirement, ...] = ()
    fields: tuple[FieldTerm, ...] = ()

    def matches(self, obj: dict[str, Any]) -> bool:
        metadata = obj.get("metadata") or {}
        if self.namespace is not None and metadata.get("namespace") != self.namespace:
            return False
        if self.labels and not labels_match(list(self.labels), metadata.get("labels")):
            return False
        return not self.fields or fields_match(list(self.fields), selectable_fields(self.rt, obj))
