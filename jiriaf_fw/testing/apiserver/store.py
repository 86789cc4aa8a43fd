"""The object store: JSON objects in dicts, one global resourceVersion counter, and a bounded event history.

Every write is synchronous and happens on the server's event loop, so a write, its history entry and its
delivery to the watchers' queues are atomic with respect to other requests. Objects are deep-copied when they
enter and leave the store; history entries are never mutated after they are recorded.
"""

from __future__ import annotations

import collections
import copy
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .resources import ResourceType

logger = logging.getLogger(__name__)

ObjectKey = tuple[str, str]  # (namespace, name); the namespace is "" for cluster-scoped kinds


@dataclass(frozen=True)
class StoreEvent:
    """One committed change. `obj` is the object after the change (for DELETED: its last state carrying the
    deletion's resourceVersion); `prev` is the object before it (None for ADDED)."""

    type: str
    rt: ResourceType
    obj: dict[str, Any]
    prev: dict[str, Any] | None
    resource_version: int


def object_key(obj: dict[str, Any]) -> ObjectKey:
    metadata = obj["metadata"]
    return metadata.get("namespace") or "", metadata["name"]


class Store:
    """Objects by resource type and key, with the history of changes that watches resume from."""

    def __init__(self, history_size: int = 1000, initial_resource_version: int = 1) -> None:
        if history_size < 1:
            raise ValueError(f"history_size must be at least 1, not {history_size}")
        self._objects: dict[ResourceType, dict[ObjectKey, dict[str, Any]]] = collections.defaultdict(dict)
        self._resource_version = initial_resource_version
        self._history: collections.deque[StoreEvent] = collections.deque()
        self._history_size = history_size
        # The newest resourceVersion dropped from the history; a watch must start at or after it.
        self._compacted_rv = initial_resource_version
        self._subscribers: list[Callable[[StoreEvent], None]] = []

    @property
    def resource_version(self) -> int:
        """The resourceVersion of the newest write (the value a list returns in its metadata)."""
        return self._resource_version

    @property
    def compacted_resource_version(self) -> int:
        return self._compacted_rv

    def subscribe(self, callback: Callable[[StoreEvent], None]) -> Callable[[], None]:
        """Call `callback` synchronously after each write; return a function that unsubscribes it."""
        self._subscribers.append(callback)
        return lambda: self._subscribers.remove(callback) if callback in self._subscribers else None

    def get(self, rt: ResourceType, namespace: str, name: str) -> dict[str, Any] | None:
        obj = self._objects[rt].get((namespace, name))
        return copy.deepcopy(obj) if obj is not None else None

    def exists(self, rt: ResourceType, namespace: str, name: str) -> bool:
        return (namespace, name) in self._objects[rt]

    def list(self, rt: ResourceType, namespace: str | None = None) -> list[dict[str, Any]]:
        """Return copies of the objects of `rt` (in `namespace` when given), ordered by namespace and name."""
        items = [obj for key, obj in sorted(self._objects[rt].items()) if namespace is None or key[0] == namespace]
        return copy.deepcopy(items)

    def create(self, rt: ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
        """Store a new object under a new resourceVersion; the caller has checked that the key is free."""
        key = object_key(obj)
        if key in self._objects[rt]:
            raise KeyError(f"{rt.plural} {key} exists")
        stored = copy.deepcopy(obj)
        rv = self._bump(stored)
        self._objects[rt][key] = stored
        self._record(StoreEvent("ADDED", rt, stored, None, rv))
        return copy.deepcopy(stored)

    def update(self, rt: ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
        """Replace an existing object under a new resourceVersion."""
        key = object_key(obj)
        previous = self._objects[rt][key]
        stored = copy.deepcopy(obj)
        rv = self._bump(stored)
        self._objects[rt][key] = stored
        self._record(StoreEvent("MODIFIED", rt, stored, previous, rv))
        return copy.deepcopy(stored)

    def delete(self, rt: ResourceType, namespace: str, name: str) -> dict[str, Any]:
        """Remove an object; return its last state, which carries the deletion's resourceVersion."""
        previous = self._objects[rt].pop((namespace, name))
        final = copy.deepcopy(previous)
        rv = self._bump(final)
        self._record(StoreEvent("DELETED", rt, final, previous, rv))
        return copy.deepcopy(final)

    def _bump(self, obj: dict[str, Any]) -> int:
        self._resource_version += 1
        obj["metadata"]["resourceVersion"] = str(self._resource_version)
        return self._resource_version

    def _record(self, event: StoreEvent) -> None:
        self._history.append(event)
        while len(self._history) > self._history_size:
            dropped = self._history.popleft()
            self._compacted_rv = dropped.resource_version
        for callback in list(self._subscribers):
            try:
                callback(event)
            except Exception:  # a broken subscriber must not undo a committed write
                logger.exception("store subscriber %r failed on %s %s", callback, event.type, event.rt.plural)

    def events_since(self, resource_version: int) -> list[StoreEvent] | None:
        """Return the events after `resource_version`, or None when some of them were already dropped."""
        if resource_version < self._compacted_rv:
            return None
        return [event for event in self._history if event.resource_version > resource_version]

    def snapshot_at(self, rt: ResourceType, resource_version: int) -> list[dict[str, Any]] | None:
        """Return copies of the objects of `rt` as they were at `resource_version`, ordered by key, or None
        when the history no longer reaches back that far."""
        later = self.events_since(resource_version)
        if later is None:
            return None
        state = dict(self._objects[rt])
        undone: set[ObjectKey] = set()
        for event in later:
            if event.rt is not rt:
                continue
            key = object_key(event.obj)
            if key in undone:
                continue
            undone.add(key)
            if event.prev is None:
                state.pop(key, None)
            else:
                state[key] = event.prev
        return copy.deepcopy([obj for _, obj in sorted(state.items())])
