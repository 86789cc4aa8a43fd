"""The binder: a stand-in for kube-scheduler running inside the double.

For every pending pod (no spec.nodeName, schedulerName `default-scheduler` or empty, not being deleted, not
terminal) it picks a node that passes the filters of `scheduling.py`, binds the pod through the `binding`
subresource logic (spec.nodeName plus a PodScheduled=True condition, one MODIFIED event) and records a
`Scheduled` event. When no node fits it sets PodScheduled=False with reason Unschedulable and kube-scheduler's
message, records a `FailedScheduling` event, and tries again whenever a pod or node changes. Among fitting
nodes it takes the one with the fewest non-terminal pods, then the first by name. There are no other
controllers: no node lifecycle controller (NotReady nodes are not tainted), no garbage collector.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from .deletion import Deleter, set_pod_condition
from .errors import StatusError
from .resources import EVENTS, NODES, PODS
from .scheduling import filter_node, unschedulable_message
from .store import StoreEvent

logger = logging.getLogger(__name__)

SCHEDULER_NAME = "default-scheduler"


def is_pending(pod: dict[str, Any]) -> bool:
    spec = pod.get("spec") or {}
    return (
        not spec.get("nodeName")
        and (spec.get("schedulerName") or SCHEDULER_NAME) == SCHEDULER_NAME
        and not pod["metadata"].get("deletionTimestamp")
        and (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed")
    )


class Binder:
    """Schedules pending pods whenever pods or nodes change; runs as one asyncio task."""

    def __init__(self, registry: Any, deleter: Deleter) -> None:
        self._registry = registry
        self._store = registry.store
        self._deleter = deleter
        self._dirty = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._unsubscribe: Any = None

    def start(self) -> None:
        self._unsubscribe = self._store.subscribe(self._on_event)
        self._task = asyncio.get_running_loop().create_task(self._run(), name="apiserver-double-binder")
        self._dirty.set()

    async def stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self._task is not None:
            task, self._task = self._task, None
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass

    def _on_event(self, event: StoreEvent) -> None:
        if event.rt is PODS or event.rt is NODES:
            self._dirty.set()

    async def _run(self) -> None:
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            try:
                self.schedule_pending()
            except Exception:  # keep scheduling later passes; a bug here must not stop the binder silently
                logger.exception("binder pass failed")

    def schedule_pending(self) -> None:
        """Try once to place every pending pod, oldest first."""
        pods = [pod for pod in self._store.list(PODS) if is_pending(pod)]
        pods.sort(key=lambda pod: (pod["metadata"].get("creationTimestamp") or "", pod["metadata"]["namespace"],
                                   pod["metadata"]["name"]))
        for pod in pods:
            self._schedule(pod)

    def _schedule(self, pod: dict[str, Any]) -> None:
        nodes = self._store.list(NODES)
        assigned: dict[str, list[dict[str, Any]]] = {node["metadata"]["name"]: [] for node in nodes}
        for other in self._store.list(PODS):
            node_name = (other.get("spec") or {}).get("nodeName")
            if node_name in assigned and (other.get("status") or {}).get("phase") not in ("Succeeded", "Failed"):
                assigned[node_name].append(other)
        reasons = {node["metadata"]["name"]: filter_node(pod, node, assigned[node["metadata"]["name"]])
                   for node in nodes}
        fitting = sorted((len(assigned[name]), name) for name, node_reasons in reasons.items() if not node_reasons)
        if fitting:
            self._bind(pod, fitting[0][1])
        else:
            self._mark_unschedulable(pod, unschedulable_message(len(nodes), reasons))

    def _bind(self, pod: dict[str, Any], node_name: str) -> None:
        metadata = pod["metadata"]
        binding = {"metadata": {"name": metadata["name"]}, "target": {"kind": "Node", "name": node_name}}
        try:
            self._deleter.bind(metadata["namespace"], metadata["name"], binding)
        except StatusError as error:
            logger.info("binding pod %s/%s to %s failed: %s", metadata["namespace"], metadata["name"], node_name,
                        error.message)
            return
        logger.info("bound pod %s/%s to node %s", metadata["namespace"], metadata["name"], node_name)
        self._record_event(pod, "Normal", "Scheduled",
                           f"Successfully assigned {metadata['namespace']}/{metadata['name']} to {node_name}")

    def _mark_unschedulable(self, pod: dict[str, Any], message: str) -> None:
        condition = {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": message}
        if not set_pod_condition(pod, condition, self._registry.now()):
            return
        try:
            self._store.update(PODS, pod)
        except KeyError:
            return
        metadata = pod["metadata"]
        logger.info("pod %s/%s is unschedulable: %s", metadata["namespace"], metadata["name"], message)
        self._record_event(pod, "Warning", "FailedScheduling", message)

    def _record_event(self, pod: dict[str, Any], event_type: str, reason: str, message: str) -> None:
        metadata = pod["metadata"]
        now = self._registry.now()
        event = {
            "metadata": {"name": f"{metadata['name']}.{time.time_ns():x}", "namespace": metadata["namespace"]},
            "involvedObject": {"kind": "Pod", "namespace": metadata["namespace"], "name": metadata["name"],
                               "uid": metadata["uid"], "apiVersion": "v1",
                               "resourceVersion": metadata.get("resourceVersion")},
            "reason": reason, "message": message, "source": {"component": SCHEDULER_NAME},
            "firstTimestamp": now, "lastTimestamp": now, "count": 1, "type": event_type,
            "reportingComponent": SCHEDULER_NAME, "reportingInstance": "",
        }
        try:
            self._registry.create(EVENTS, metadata["namespace"], event)
        except StatusError as error:
            logger.debug("could not record event %s for pod %s: %s", reason, metadata["name"], error.message)
