"""List requests: resourceVersion and resourceVersionMatch semantics, pagination with limit and continue.

- resourceVersion unset, "" or "0": the current state.
- resourceVersion N with match NotOlderThan (the default): the current state, after waiting up to 3 s for the
  store to reach N (504 Timeout after that, as kube-apiserver's watch cache does).
- resourceVersion N with match Exact, and every continue token: the state at N, rebuilt from the event
  history; 410 Expired once the history no longer reaches back to N.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
from typing import Any

from .errors import FieldError, StatusError, bad_request, expired, gateway_timeout
from .resources import ResourceType
from .selectors import ObjectFilter
from .store import Store

FRESHNESS_WAIT_S = 3.0
CONTINUE_EXPIRED_MESSAGE = (
    "The provided continue parameter is too old to display a consistent list result. You can start a new list "
    "without the continue parameter, or use the continue token in this response to retrieve the remainder of "
    "the results. Continuing with the provided token results in an inconsistent list - objects that were "
    "created, modified, or deleted between the time the first chunk was returned and now may show up in the "
    "list."
)


def _list_options_invalid(errors: list[FieldError]) -> StatusError:
    summary = str(errors[0]) if len(errors) == 1 else "[" + ", ".join(str(e) for e in errors) + "]"
    return StatusError(
        422, "Invalid", f'ListOptions.meta.k8s.io "" is invalid: {summary}',
        {"group": "meta.k8s.io", "kind": "ListOptions", "causes": [e.cause() for e in errors]},
    )


def parse_resource_version(value: str) -> int:
    try:
        number = int(value)
    except ValueError as error:
        raise bad_request(
            f'invalid resource version: resourceVersion: Invalid value: "{value}": '
            f'strconv.ParseUint: parsing "{value}": invalid syntax'
        ) from error
    if number < 0:
        raise bad_request(f'invalid resource version: resourceVersion: Invalid value: "{value}"')
    return number


def validate_list_options(rv: str | None, rv_match: str | None, continue_token: str | None,
                          send_initial_events: bool | None) -> None:
    """Reject the list option combinations `ValidateListOptions` rejects."""
    errors: list[FieldError] = []
    if rv_match:
        if not rv:
            errors.append(FieldError("resourceVersionMatch", "Forbidden",
                                     detail="resourceVersionMatch is forbidden unless resourceVersion is provided"))
        if continue_token:
            errors.append(FieldError("resourceVersionMatch", "Forbidden",
                                     detail="resourceVersionMatch is forbidden when continue is provided"))
        if rv_match not in ("Exact", "NotOlderThan"):
            errors.append(FieldError("resourceVersionMatch", "NotSupported", rv_match,
                                     'supported values: "Exact", "NotOlderThan", ""'))
        if rv_match == "Exact" and rv == "0":
            errors.append(FieldError("resourceVersionMatch", "Forbidden",
                                     detail='resourceVersionMatch "exact" is forbidden for resourceVersion "0"'))
    if send_initial_events is not None:
        errors.append(FieldError("sendInitialEvents", "Forbidden", detail="sendInitialEvents is forbidden for list"))
    if errors:
        raise _list_options_invalid(errors)
    if continue_token and rv and rv != "0":
        raise bad_request("specifying resource version is not allowed when using continue")


def validate_watch_options(rv_match: str | None, send_initial_events: bool | None) -> None:
    """Reject the watch option combinations `ValidateListOptions` rejects."""
    errors: list[FieldError] = []
    if send_initial_events is not None and rv_match != "NotOlderThan":
        errors.append(FieldError("resourceVersionMatch", "Forbidden",
                                 detail="sendInitialEvents requires setting resourceVersionMatch to NotOlderThan"))
    if rv_match:
        if send_initial_events is None:
            errors.append(FieldError("resourceVersionMatch", "Forbidden",
                                     detail="resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided"))
        if rv_match != "NotOlderThan":
            errors.append(FieldError("resourceVersionMatch", "NotSupported", rv_match, 'supported values: "NotOlderThan"'))
    if errors:
        raise _list_options_invalid(errors)


def parse_bool_param(value: str | None) -> bool | None:
    """Parse an optional boolean query parameter as the apiserver's query decoder does."""
    if value is None:
        return None
    return value in ("true", "True", "1", "t", "T", "TRUE")


def encode_continue(rv: int, start_after: tuple[str, str]) -> str:
    payload = {"v": "meta.k8s.io/v1", "rv": rv, "start": "/".join(start_after) + "\x00"}
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


def decode_continue(token: str) -> tuple[int, tuple[str, str]]:
    try:
        payload = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        namespace, _, name = payload["start"].rstrip("\x00").partition("/")
        return int(payload["rv"]), (namespace, name)
    except (binascii.Error, ValueError, KeyError, TypeError, AttributeError) as error:
        raise bad_request(f"continue key is not valid: {error}") from error


async def wait_for_resource_version(store: Store, requested: int, timeout_s: float = FRESHNESS_WAIT_S) -> None:
    """Wait until the store has reached `requested`; raise the watch cache's 504 after `timeout_s`."""
    if store.resource_version >= requested:
        return
    reached = asyncio.Event()
    unsubscribe = store.subscribe(lambda event: reached.set() if store.resource_version >= requested else None)
    try:
        await asyncio.wait_for(reached.wait(), timeout_s)
    except TimeoutError:
        raise gateway_timeout(
            f"Timeout: Too large resource version: {requested}, current: {store.resource_version}"
        ) from None
    finally:
        unsubscribe()


async def list_objects(
    store: Store,
    selection: ObjectFilter,
    rv: str | None,
    rv_match: str | None,
    limit: int | None,
    continue_token: str | None,
    send_initial_events: bool | None = None,
) -> dict[str, Any]:
    """Return the list object (`<Kind>List`) that a GET on a collection returns."""
    rt = selection.rt
    validate_list_options(rv, rv_match, continue_token, send_initial_events)
    start_after: tuple[str, str] | None = None
    if continue_token:
        list_rv, start_after = decode_continue(continue_token)
        items = store.snapshot_at(rt, list_rv)
        if items is None:
            raise expired(CONTINUE_EXPIRED_MESSAGE)
    elif rv and rv != "0":
        requested = parse_resource_version(rv)
        await wait_for_resource_version(store, requested)
        if rv_match == "Exact":
            items = store.snapshot_at(rt, requested)
            if items is None:
                raise expired("The resourceVersion for the provided list is too old.")
            list_rv = requested
        else:
            items, list_rv = store.list(rt), store.resource_version
    else:
        items, list_rv = store.list(rt), store.resource_version
    selected = [obj for obj in items if selection.matches(obj)]
    if start_after is not None:
        selected = [obj for obj in selected if _key(obj) > start_after]
    return _page(rt, selected, list_rv, limit, has_selectors=bool(selection.labels or selection.fields))


def _key(obj: dict[str, Any]) -> tuple[str, str]:
    return obj["metadata"].get("namespace") or "", obj["metadata"]["name"]


def _page(rt: ResourceType, items: list[dict[str, Any]], list_rv: int, limit: int | None, has_selectors: bool) -> dict[str, Any]:
    metadata: dict[str, Any] = {"resourceVersion": str(list_rv)}
    if limit and len(items) > limit:
        remaining = len(items) - limit
        items = items[:limit]
        metadata["continue"] = encode_continue(list_rv, _key(items[-1]))
        if not has_selectors:
            metadata["remainingItemCount"] = remaining
    for item in items:
        item.pop("kind", None)
        item.pop("apiVersion", None)
    return {"kind": rt.list_kind, "apiVersion": rt.api_version, "metadata": metadata, "items": items}
