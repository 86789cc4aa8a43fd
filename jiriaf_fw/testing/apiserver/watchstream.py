"""Serve a watch: newline-delimited JSON events on a chunked 200 response.

The stream starts with the initial state (resourceVersion unset or "0") or with the history after the given
resourceVersion; a resourceVersion older than the history gives one ERROR event with a 410 Expired Status,
as kube-apiserver's watch cache does. With `allowWatchBookmarks=true` a BOOKMARK is sent every
`bookmark_interval_s` seconds and before the watch times out, and `sendInitialEvents=true` ends the initial
events with a BOOKMARK annotated `k8s.io/initial-events-end`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from aiohttp import web

from .errors import expired
from .http_util import JSON, table_content_type
from .listing import parse_resource_version, validate_list_options
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


async def serve_watch(
    request: web.Request,
    store: Store,
    selection: ObjectFilter,
    settings: WatchSettings,
    representation: str,
    clock: Callable[[], float],
) -> web.StreamResponse:
    query = request.query
    rv_param = query.get("resourceVersion") or ""
    validate_list_options(rv_param, query.get("resourceVersionMatch"), True, None)
    bookmarks = query.get("allowWatchBookmarks") in ("true", "1", "True")
    send_initial = query.get("sendInitialEvents") in ("true", "1", "True")
    timeout_s = float(query.get("timeoutSeconds") or settings.default_timeout_s)
    since = parse_resource_version(rv_param) if rv_param not in ("", "0") else None

    watcher = Watcher(store, selection, settings.max_queue)
    settings.hub.add(watcher)
    preload: list[WatchItem] | None
    if since is None or send_initial:
        preload = initial_items(store, selection)
    else:
        preload = replay_items(store, selection, since)
    start_rv = store.resource_version
    content_type = table_content_type() if representation == "table" else JSON
    response = web.StreamResponse(headers={"Content-Type": content_type, "Cache-Control": "no-cache, private"})
    response.enable_chunked_encoding()
    encoder = _Encoder(selection, representation, clock)
    try:
        await response.prepare(request)
        if preload is None:
            error = expired(f"too old resource version: {since} ({store.compacted_resource_version})")
            await response.write(json.dumps({"type": "ERROR", "object": error.status}).encode() + b"\n")
            return response
        watcher.preload(preload)
        initial_end = send_initial and bookmarks
        # Only a watch from a resourceVersion the store has not reached yet must skip events up to it.
        skip_until = since if since is not None and since > start_rv and not send_initial else None
        await _stream(response, watcher, encoder, store, skip_until, timeout_s, settings, bookmarks, initial_end,
                      start_rv)
    except (ConnectionResetError, asyncio.CancelledError):
        logger.debug("watch of %s closed by the client", selection.rt.plural)
        raise
    finally:
        watcher.close()
        settings.hub.discard(watcher)
    return response


async def _stream(
    response: web.StreamResponse,
    watcher: Watcher,
    encoder: _Encoder,
    store: Store,
    skip_until: int | None,
    timeout_s: float,
    settings: WatchSettings,
    bookmarks: bool,
    initial_end: bool,
    start_rv: int,
) -> None:
    deadline = time.monotonic() + timeout_s
    next_bookmark = time.monotonic() + settings.bookmark_interval_s
    pending_initial_end = initial_end
    while True:
        now = time.monotonic()
        if now >= deadline:
            break
        wait_s = min(deadline, next_bookmark) - now if bookmarks else deadline - now
        batch = await watcher.next_batch(wait_s if not pending_initial_end else 0)
        chunks = []
        for event_type, obj in batch:
            if skip_until is not None and int(obj["metadata"].get("resourceVersion") or 0) <= skip_until:
                continue
            chunks.append(encoder.encode(event_type, obj))
        if pending_initial_end:
            chunks.append(json.dumps(_bookmark(encoder.selection, start_rv, True)).encode() + b"\n")
            pending_initial_end = False
        if bookmarks and time.monotonic() >= next_bookmark:
            chunks.append(json.dumps(_bookmark(encoder.selection, store.resource_version)).encode() + b"\n")
            next_bookmark = time.monotonic() + settings.bookmark_interval_s
        if chunks:
            await response.write(b"".join(chunks))
        if watcher.overflowed:
            return
    if bookmarks:
        await response.write(json.dumps(_bookmark(encoder.selection, store.resource_version)).encode() + b"\n")
