"""Kubernetes `Status` failures, built the way kube-apiserver builds them.

Every failure of a request is a `StatusError` carrying the `Status` object the handler sends back; the
message formats follow `k8s.io/apimachinery/pkg/api/errors` (for example `pods "x" not found`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from jiriaf_fw.core.errors import JiriafError

from .resources import ResourceType


class ApiServerDoubleError(JiriafError):
    """The API-server double could not start or serve, for example because its port is taken."""


class StatusError(ApiServerDoubleError):
    """A request failed; `status` is the `Status` object sent to the client with HTTP code `code`."""

    def __init__(self, code: int, reason: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details

    @property
    def status(self) -> dict[str, Any]:
        return failure_status(self.code, self.reason, self.message, self.details)


def failure_status(code: int, reason: str, message: str, details: dict[str, Any] | None) -> dict[str, Any]:
    """Build a `Status` object with `status: Failure`; empty fields are left out as the server does."""
    status: dict[str, Any] = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure"}
    if message:
        status["message"] = message
    if reason:
        status["reason"] = reason
    if details:
        status["details"] = details
    status["code"] = code
    return status


def success_status(rt: ResourceType, name: str, uid: str | None = None) -> dict[str, Any]:
    """Build the `Status` returned by a delete of a kind whose registry does not return the object."""
    details: dict[str, Any] = {"name": name, "kind": rt.plural}
    if rt.group:
        details["group"] = rt.group
    if uid:
        details["uid"] = uid
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details}


def _resource_details(rt: ResourceType, name: str) -> dict[str, Any]:
    details: dict[str, Any] = {"name": name}
    if rt.group:
        details["group"] = rt.group
    details["kind"] = rt.plural
    return details


def not_found(rt: ResourceType, name: str) -> StatusError:
    return StatusError(404, "NotFound", f'{rt.group_resource} "{name}" not found', _resource_details(rt, name))


def already_exists(rt: ResourceType, name: str) -> StatusError:
    return StatusError(
        409, "AlreadyExists", f'{rt.group_resource} "{name}" already exists', _resource_details(rt, name)
    )


def conflict(rt: ResourceType, name: str, cause: str) -> StatusError:
    message = f'Operation cannot be fulfilled on {rt.group_resource} "{name}": {cause}'
    return StatusError(409, "Conflict", message, _resource_details(rt, name))


def stale_conflict(rt: ResourceType, name: str) -> StatusError:
    return conflict(
        rt, name, "the object has been modified; please apply your changes to the latest version and try again"
    )


def bad_request(message: str) -> StatusError:
    return StatusError(400, "BadRequest", message)


def resource_not_found() -> StatusError:
    """Build the error for a path under /api or /apis that names no known resource."""
    return StatusError(404, "NotFound", "the server could not find the requested resource", {})


def method_not_allowed() -> StatusError:
    return StatusError(
        405, "MethodNotAllowed", "the server does not allow this method on the requested resource", {}
    )


def unsupported_media_type(content_type: str, accepted: list[str]) -> StatusError:
    message = (
        f"the body of the request was in an unknown format - accepted media types include: {', '.join(accepted)}"
    )
    return StatusError(415, "UnsupportedMediaType", message, {"causes": [{"reason": "", "message": content_type}]})


def not_acceptable(accept: str) -> StatusError:
    message = f"only the following media types are accepted: application/json, application/yaml ({accept})"
    return StatusError(406, "NotAcceptable", message)


def expired(message: str) -> StatusError:
    return StatusError(410, "Expired", message)


def gateway_timeout(message: str, retry_after_s: int = 1) -> StatusError:
    return StatusError(504, "Timeout", message, {"retryAfterSeconds": retry_after_s})


_FIELD_ERROR_REASONS: dict[str, tuple[str, str]] = {
    "Required": ("FieldValueRequired", "Required value"),
    "Invalid": ("FieldValueInvalid", "Invalid value"),
    "Duplicate": ("FieldValueDuplicate", "Duplicate value"),
    "Forbidden": ("FieldValueForbidden", "Forbidden"),
    "NotSupported": ("FieldValueNotSupported", "Unsupported value"),
    "NotFound": ("FieldValueNotFound", "Not found"),
    "TooLong": ("FieldValueTooLong", "Too long"),
}


@dataclass(frozen=True)
class FieldError:
    """One entry of a validation failure, like `field.Error` in apimachinery."""

    field: str
    kind: str  # Required, Invalid, Duplicate, Forbidden, NotSupported, NotFound, TooLong
    value: Any = None
    detail: str = ""

    @property
    def body(self) -> str:
        """The message without the field path, e.g. `Invalid value: "Foo": must be lower case`."""
        text = _FIELD_ERROR_REASONS[self.kind][1]
        if self.kind in ("Invalid", "Duplicate", "NotSupported", "NotFound"):
            text += f": {_format_value(self.value)}"
        if self.detail:
            text += f": {self.detail}"
        return text

    def __str__(self) -> str:
        return f"{self.field}: {self.body}" if self.field else self.body

    def cause(self) -> dict[str, str]:
        return {"reason": _FIELD_ERROR_REASONS[self.kind][0], "message": self.body, "field": self.field}


def _format_value(value: Any) -> str:
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return f"{value}"


def invalid(rt: ResourceType, name: str, errors: list[FieldError]) -> StatusError:
    """Build the 422 `Invalid` error for `errors`, one cause per field error."""
    if len(errors) == 1:
        summary = str(errors[0])
    else:
        summary = "[" + ", ".join(str(error) for error in errors) + "]"
    details: dict[str, Any] = {"name": name}
    if rt.group:
        details["group"] = rt.group
    details["kind"] = rt.kind
    details["causes"] = [error.cause() for error in errors]
    return StatusError(422, "Invalid", f'{rt.group_kind} "{name}" is invalid: {summary}', details)
