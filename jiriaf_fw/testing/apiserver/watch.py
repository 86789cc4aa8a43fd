"""Watchers: per-request queues fed by the store, with kube-apiserver's selector semantics.

A watcher receives every store event synchronously (no polling) and keeps the ones its filter selects.
An object that starts matching arrives as ADDED. One that stops matching arrives as DELETED, carrying its
previous content and the event's resourceVersion, as the watch cache's `cacheWatcher` sends it. A watcher
whose queue overflows is closed, so its client re-lists or resumes from the last resourceVersion it received,
as with a slow watcher of a real server.
"""

from __future__ import annotations

import asyncio
import collections
import copy
import logging
from typing import Any

from .selectors import ObjectFilter
from .store import Store, StoreEvent

logger = logging.getLogger(__name__)

WatchItem = tuple[str, dict[str, Any]]  # (event type, object)


def convert_event(selection: ObjectFilter, event: StoreEvent) -> WatchItem | None:
    """Return what a watcher selecting `selection` receives for `event`, or None when it receives nothing."""
    if event.rt is not selection.rt:
        return None
    current_passes = event.type != "DELETED" and selection.matches(event.obj)
    previous_passes = event.prev is not None and selection.matches(event.prev)
    if current_passes and not previous_passes:
        return "ADDED", event.obj
    if current_passes and previous_passes:
        return "MODIFIED", event.obj
    if previous_passes:
        assert event.prev is not None
        last = copy.deepcopy(event.prev)
        last["metadata"]["resourceVersion"] = str(event.resource_version)
        return "DELETED", last
    return None


class Watcher:
    """The queue of one watch request. Items are shared with the store's history and must not be mutated."""

    def __init__(self, store: Store, selection: ObjectFilter, max_queue: int = 1000) -> None:
        self._selection = selection
        self._items: collections.deque[WatchItem] = collections.deque()
        self._max_queue = max_queue
        self._wakeup = asyncio.Event()
        self.overflowed = False
        self._store = store
        self._unsubscribe = store.subscribe(self._on_event)

    def preload(self, items: list[WatchItem]) -> None:
        """Queue the events that precede live ones (initial ADDED events or history being replayed)."""
        self._items.extend(items)
        if items:
            self._wakeup.set()

    def _on_event(self, event: StoreEvent) -> None:
        item = convert_event(self._selection, event)
        if item is None or self.overflowed:
            return
        if len(self._items) >= self._max_queue:
            logger.warning("closing a watch of %s: %d events queued and not read", event.rt.plural, len(self._items))
            self.overflowed = True
            self._items.clear()
        else:
            self._items.append(item)
        self._wakeup.set()

    async def next_batch(self, timeout_s: float | None) -> list[WatchItem]:
        """Wait up to `timeout_s` seconds for events and return all queued ones (empty on timeout)."""
        if not self._items and not self.overflowed:
            try:
                await asyncio.wait_for(self._wakeup.wait(), timeout_s)
            except TimeoutError:
                return []
        self._wakeup.clear()
        batch = list(self._items)
        self._items.clear()
        return batch

    def terminate(self) -> None:
        """End the watch at the next wake-up, as when the server shuts down."""
        self.overflowed = True
        self._wakeup.set()

    def close(self) -> None:
        self._unsubscribe()


class WatchHub:
    """The open watches, so that a stopping server can end them instead of waiting for their timeouts."""

    def __init__(self) -> None:
        self._watchers: set[Watcher] = set()

    def add(self, watcher: Watcher) -> None:
        self._watchers.add(watcher)

    def discard(self, watcher: Watcher) -> None:
        self._watchers.discard(watcher)

    def __len__(self) -> int:
        return len(self._watchers)

    def terminate_all(self) -> None:
        for watcher in list(self._watchers):
            watcher.terminate()


def replay_items(store: Store, selection: ObjectFilter, since_rv: int) -> list[WatchItem] | None:
    """Return the history after `since_rv` as seen through `selection`, or None when it has been compacted."""
    events = store.events_since(since_rv)
    if events is None:
        return None
    items = []
    for event in events:
        item = convert_event(selection, event)
        if item is not None:
            items.append(item)
    return items


def initial_items(store: Store, selection: ObjectFilter) -> list[WatchItem]:
    """Return synthetic ADDED events for the current objects that `selection` selects."""
    namespace = selection.namespace
    return [("ADDED", obj) for obj in store.list(selection.rt, namespace) if selection.matches(obj)]
