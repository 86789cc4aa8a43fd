"""Normalisation of timestamp fields, as the Go types `metav1.Time` and `metav1.MicroTime` encode them.

kube-apiserver parses every timestamp a client sends (RFC 3339 with a time zone) and encodes it in UTC:
`Time` with whole seconds (`2025-01-01T00:00:00Z`, fractions are dropped) and `MicroTime` with microseconds
(`2025-01-01T00:00:00.000000Z`). A timestamp it cannot parse makes the request fail with 400.
"""

from __future__ import annotations

import datetime
from typing import Any

from .errors import bad_request

_STATE = ("running.startedAt", "terminated.startedAt", "terminated.finishedAt")
_CONTAINER_TIMES = [f"{state}.{path}" for state in ("state", "lastState") for path in _STATE]
# Dotted paths of the timestamp fields per kind, where `[]` iterates over a list. The flag is True for
# MicroTime fields.
TIME_FIELDS: dict[str, list[tuple[str, bool]]] = {
    "Pod": [("status.startTime", False), ("status.conditions[].lastProbeTime", False),
            ("status.conditions[].lastTransitionTime", False)]
           + [(f"status.{statuses}[].{path}", False) for statuses in ("containerStatuses", "initContainerStatuses")
              for path in _CONTAINER_TIMES],
    "Node": [("status.conditions[].lastHeartbeatTime", False), ("status.conditions[].lastTransitionTime", False)],
    "Namespace": [("status.conditions[].lastTransitionTime", False)],
    "Event": [("firstTimestamp", False), ("lastTimestamp", False), ("eventTime", True),
              ("series.lastObservedTime", True)],
    "Lease": [("spec.acquireTime", True), ("spec.renewTime", True)],
}
_METADATA_TIMES = [("metadata.creationTimestamp", False), ("metadata.deletionTimestamp", False)]


class InvalidTimestampError(ValueError):
    """A timestamp field contains something that is not an RFC 3339 time with a time zone."""


def format_timestamp(moment: datetime.datetime, micro: bool) -> str:
    moment = moment.astimezone(datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ" if micro else "%Y-%m-%dT%H:%M:%SZ")


def normalize_timestamp(value: Any, micro: bool) -> Any:
    """Return `value` re-encoded as kube-apiserver stores it; raise InvalidTimestampError when it is not
    RFC 3339."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidTimestampError(f"parsing time {value!r}: a timestamp must be a string")
    try:
        moment = datetime.datetime.fromisoformat(value)
    except ValueError as error:
        raise InvalidTimestampError(f'parsing time "{value}" as "2006-01-02T15:04:05Z07:00": {error}') from error
    if moment.tzinfo is None:
        raise InvalidTimestampError(f'parsing time "{value}" as "2006-01-02T15:04:05Z07:00": missing time zone')
    return format_timestamp(moment, micro)


def normalize_times(kind: str, obj: dict[str, Any]) -> None:
    """Re-encode the timestamp fields of `obj` in place; raise 400 for one that does not parse."""
    for path, micro in _METADATA_TIMES + TIME_FIELDS.get(kind, []):
        try:
            _apply(obj, path.split("."), micro)
        except InvalidTimestampError as error:
            raise bad_request(f'{kind} in version "v1" cannot be handled as a {kind}: {error}') from error


def _apply(value: Any, segments: list[str], micro: bool) -> None:
    head, rest = segments[0], segments[1:]
    is_list = head.endswith("[]")
    key = head[:-2] if is_list else head
    if not isinstance(value, dict) or key not in value:
        return
    if is_list:
        for item in value[key] or []:
            _apply(item, rest, micro)
    elif rest:
        _apply(value[key], rest, micro)
    else:
        value[key] = normalize_timestamp(value[key], micro)
