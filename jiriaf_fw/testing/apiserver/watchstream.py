"""Serve a watch: newline-delimited JSON events on a chunked 200 response.

The stream starts with the initial state (resourceVersion unset or "0") or with the history after the given
resourceVersion. A resourceVersion older than the history gives one ERROR event with a 410 Expired Status, as
kube-apiserver's watch cache does. With `allowWatchBookmarks=true` a BOOKMARK is sent every
`bookmark_interval_s` seconds and before the watch times out, and `sendInitialEvents=true` ends the initial
events with a BOOKMARK annotated `k8s.io/initial-events-end`.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from .errors import bad_request, expired
from .http_util import JSON, table_content_type
from .listing import parse_bool_param, parse_resource_version, validate_watch_options
from .selectors import ObjectFilter
from .store import Store
from .tables import metadata_only, to_table
from .watch import Watcher, WatchHub, WatchItem, initial_items, replay_items

logger = logging.getLogger(__name__)


@dataclass
class WatchSettings:
    """Tuning of watches; the default timeout is kube-apiserver's `--min-request-timeout` (1800 s)."""

    default_timeout_s: float = 1800.0
    bookmark_interval_s: float = 60.0
    max_queue: int = 1000
    # How often an idle watch checks whether its client has gone away.
    disconnect_check_s: float = 5.0
    hub: WatchHub = field(default_factory=WatchHub)


def _bookmark(selection: ObjectFilter, rv: int, initial_end: bool = False) -> dict[str, Any]:
    metadata: dict[str, Any] = {"resourceVersion": str(rv), "creationTimestamp": None}
    if initial_end:
        metadata["annotations"] = {"k8s.io/initial-events-end": "true"}
    return {"type": "BOOKMARK", "object": {"kind": selection.rt.kind, "apiVersion": selection.rt.api_version,
                                           "metadata": metadata}}


class _Encoder:
    def __init__(self, selection: ObjectFilter, representation: str, clock: Callable[[], float]) -> None:
        self.selection = selection
        self.representation = representation
        self.clock = clock

    def encode(self, event_type: str, obj: dict[str, Any]) -> bytes:
        rt = self.selection.rt
        if event_type == "BOOKMARK" or event_type == "ERROR":
            payload = obj
        elif self.representation == "table":
            payload = to_table(rt, [obj], self.clock(), "Metadata")
            payload["metadata"] = {"resourceVersion": obj["metadata"].get("resourceVersion", "")}
        elif self.representation == "metadata":
            payload = metadata_only(rt, obj)
        else:
            payload = {"kind": rt.kind, "apiVersion": rt.api_version, **obj}
        return json.dumps({"type": event_type, "object": payload}, separators=(",", ":")).encode() + b"\n"


@dataclass
class _WatchPlan:
    """The plan of one watch request: its preloaded events and its timing options."""

    preload: list[WatchItem] | None  # None: the resourceVersion is older than the history
    since: int | None
    skip_until: int | None  # a watch from a resourceVersion the store has not reached skips events up to it
    start_rv: int
    timeout_s: float
    bookmarks: bool
    initial_end_bookmark: bool


def _plan(request: web.Request, store: Store, selection: ObjectFilter, settings: WatchSettings) -> _WatchPlan:
    query = request.query
    rv_param = query.get("resourceVersion") or ""
    send_initial_events = parse_bool_param(query.get("sendInitialEvents"))
    validate_watch_options(query.get("resourceVersionMatch"), send_initial_events)
    bookmarks = bool(parse_bool_param(query.get("allowWatchBookmarks")))
    since = parse_resource_version(rv_param) if rv_param not in ("", "0") else None
    preload: list[WatchItem] | None
    if send_initial_events or (since is None and send_initial_events is None):
        preload = initial_items(store, selection)
    elif since is None:
        preload = []
    else:
        preload = replay_items(store, selection, since)
    start_rv = store.resource_version
    skip_until = since if since is not None and since > start_rv and not send_initial_events else None
    return _WatchPlan(preload, since, skip_until, start_rv, _timeout(query.get("timeoutSeconds"),
                      settings.default_timeout_s), bookmarks, bool(send_initial_events) and bookmarks)


async def serve_watch(
    request: web.Request,
    store: Store,
    selection: ObjectFilter,
    settings: WatchSettings,
    representation: str,
    clock: Callable[[], float],
) -> web.StreamResponse:
    """Stream the watch that `request` names until its timeout, a client disconnect or the server's stop."""
    plan = _plan(request, store, selection, settings)
    watcher = Watcher(store, selection, settings.max_queue)
    settings.hub.add(watcher)
    content_type = table_content_type() if representation == "table" else JSON
    response = web.StreamResponse(headers={"Content-Type": content_type, "Cache-Control": "no-cache, private"})
    response.enable_chunked_encoding()
    try:
        await response.prepare(request)
        if plan.preload is None:
            error = expired(f"too old resource version: {plan.since} ({store.compacted_resource_version})")
            await response.write(json.dumps({"type": "ERROR", "object": error.status}).encode() + b"\n")
            return response
        watcher.preload(plan.preload)
        encoder = _Encoder(selection, representation, clock)
        stream = _WatchStream(request, response, watcher, encoder, store, settings.disconnect_check_s)
        await stream.run(plan, settings.bookmark_interval_s)
    except ConnectionResetError:
        logger.debug("watch of %s closed by the client", selection.rt.plural)
    finally:
        watcher.close()
        settings.hub.discard(watcher)
    return response


class _WatchStream:
    def __init__(self, request: web.Request, response: web.StreamResponse, watcher: Watcher, encoder: _Encoder,
                 store: Store, disconnect_check_s: float) -> None:
        self.disconnect_check_s = disconnect_check_s
        self.request = request
        self.response = response
        self.watcher = watcher
        self.encoder = encoder
        self.store = store

    def _client_gone(self) -> bool:
        transport = self.request.transport
        return transport is None or transport.is_closing()

    async def run(self, plan: _WatchPlan, bookmark_interval_s: float) -> None:
        deadline = time.monotonic() + plan.timeout_s
        next_bookmark = time.monotonic() + bookmark_interval_s
        pending_initial_end = plan.initial_end_bookmark
        while time.monotonic() < deadline and not self._client_gone():
            wake_at = min(deadline, next_bookmark) if plan.bookmarks else deadline
            wait_s = 0.0 if pending_initial_end else min(wake_at - time.monotonic(), self.disconnect_check_s)
            chunks = []
            for event_type, obj in await self.watcher.next_batch(max(wait_s, 0.0)):
                rv = int(obj["metadata"].get("resourceVersion") or 0)
                if plan.skip_until is None or rv > plan.skip_until:
                    chunks.append(self.encoder.encode(event_type, obj))
            if pending_initial_end:
                chunks.append(self._bookmark(plan.start_rv, initial_end=True))
                pending_initial_end = False
            if plan.bookmarks and time.monotonic() >= next_bookmark:
                chunks.append(self._bookmark(self.store.resource_version))
                next_bookmark = time.monotonic() + bookmark_interval_s
            if chunks:
                await self.response.write(b"".join(chunks))
            if self.watcher.overflowed:
                return
        if plan.bookmarks and not self._client_gone():
            await self.response.write(self._bookmark(self.store.resource_version))

    def _bookmark(self, rv: int, initial_end: bool = False) -> bytes:
        return json.dumps(_bookmark(self.encoder.selection, rv, initial_end)).encode() + b"\n"


def _timeout(value: str | None, default_s: float) -> float:
    if not value:
        return default_s
    try:
        seconds = float(value)
    except ValueError as error:
        raise bad_request(f"invalid timeoutSeconds {value!r}: must be a number of seconds") from error
    return seconds if seconds > 0 else default_s
