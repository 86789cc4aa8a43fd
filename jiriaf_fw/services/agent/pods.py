"""Pods bound to this node: one watch, a start task per new pod, a status poller, deletion and the drain.

State lives in `PodRecord`s keyed by pod UID, and the watch feeds them. The runtime (`PodRuntime`) owns
the processes and their on-disk records, so an agent restarted under the same node name re-adopts running
pods instead of running them again. Nothing is stopped or forgotten because a list was slow: only a
completed list, a DELETED event or a deletionTimestamp removes a pod.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lightkube import AsyncClient

from jiriaf_fw.adapters import kube
from jiriaf_fw.core.kube_pod_status import (
    PodFailure,
    is_terminal,
    owned_pod_status,
    pod_status,
    pod_status_patch,
)
from jiriaf_fw.services.agent.podinputs import PodInputsError, build_env, build_volumes, fetch_pod_inputs
from jiriaf_fw.services.agent.records import AgentRecords
from jiriaf_fw.services.agent.runtime import PodRuntime, PodStartError
from jiriaf_fw.services.agent.settings import AgentTuning
from jiriaf_fw.services.agent.supervisor import Backoff, FailureLog
from jiriaf_fw.services.agent.walltime import Clock

logger = logging.getLogger(__name__)

DEFAULT_GRACE_S = 30


class PodLog(logging.LoggerAdapter):
    """Prefixes each line with the pod's `namespace/name`."""

    def process(self, msg: Any, kwargs: Any) -> tuple[Any, Any]:
        return f"pod {self.extra['pod']}: {msg}", kwargs  # type: ignore[index]


@dataclass(eq=False)
class PodRecord:
    """The agent's state of one pod: its last API object, what was written, and its start or delete task."""

    uid: str
    pod: dict[str, Any]
    log: PodLog
    last_written: dict[str, Any] = field(default_factory=dict)
    started: bool = False
    finished: bool = False
    deleting: bool = False
    waiting: tuple[str, str] = ("ContainerCreating", "")
    failure: PodFailure | None = None
    task: asyncio.Task[None] | None = None
    runtime_call: asyncio.Future[None] | None = None

    @property
    def namespace(self) -> str:
        return self.pod["metadata"]["namespace"]

    @property
    def name(self) -> str:
        return self.pod["metadata"]["name"]


def grace_period_s(pod: Mapping[str, Any]) -> float:
    """Return the seconds a pod's processes get between SIGTERM and SIGKILL."""
    meta_grace = pod["metadata"].get("deletionGracePeriodSeconds")
    if meta_grace is not None:
        return float(meta_grace)
    spec_grace = pod.get("spec", {}).get("terminationGracePeriodSeconds")
    return float(spec_grace if spec_grace is not None else DEFAULT_GRACE_S)


class PodReconciler:
    """Keeps the runtime and the API server in step for the pods bound to one node."""

    def __init__(
        self,
        client: AsyncClient,
        runtime: PodRuntime,
        *,
        home: Path,
        nodename: str,
        pod_ip: str,
        allocatable: Mapping[str, str],
        clock: Clock,
        tuning: AgentTuning,
    ) -> None:
        self._client = client
        self._runtime = runtime
        self._nodename = nodename
        self._pod_ip = pod_ip
        self._allocatable = dict(allocatable)
        self._clock = clock
        self._tuning = tuning
        self.records: dict[str, PodRecord] = {}
        self._records = AgentRecords(home, nodename)
        self._draining = False
        self._listed_once = False
        self.monitor_passes = 0
        """Completed passes of `run_monitor`, so tests can wait for a number of syncs."""
        self._orphan_tasks: set[asyncio.Task[None]] = set()

    # --- queries used by the kubelet API ---

    def pods(self) -> list[dict[str, Any]]:
        """Return the API objects of the pods bound to this node, as last seen."""
        return [record.pod for record in self.records.values()]

    def find(self, namespace: str, name: str) -> PodRecord | None:
        """Return the record of pod `namespace/name`, or None."""
        for record in self.records.values():
            if record.namespace == namespace and record.name == name:
                return record
        return None

    # --- the watch ---

    async def run_watch(self) -> None:
        """List and watch this node's pods, relisting on 410 Gone and backing off on errors (root task)."""
        failures = FailureLog(logger, f"pod watch of node {self._nodename}", self._clock.monotonic)
        backoff = Backoff(1.0, self._tuning.max_backoff_s)
        fields = {"spec.nodeName": self._nodename}
        while True:
            try:
                items, version = await kube.list_objects(self._client, "Pod", fields=fields)
                self._relisted(items)
                failures.success()
                backoff.reset()
                async for event_type, pod in kube.watch_objects(
                    self._client,
                    "Pod",
                    resource_version=version,
                    fields=fields,
                    server_timeout_s=self._tuning.watch_timeout_s,
                ):
                    self.handle_event(event_type, pod)
            except kube.KubeGone:
                logger.info("pod watch of node %s expired (410 Gone); listing again", self._nodename)
            except kube.KubeError as exc:
                failures.failure(exc)
                await asyncio.sleep(backoff.next())

    def _relisted(self, items: list[dict[str, Any]]) -> None:
        listed = {pod["metadata"]["uid"] for pod in items}
        for pod in items:
            self.handle_event("MODIFIED", pod)
        # A completed list is authoritative: pods missing from it are gone from the API server.
        for uid in [uid for uid in self.records if uid not in listed]:
            self._removed(self.records[uid].pod)
        if not self._listed_once:
            self._listed_once = True
            for uid in self._runtime.known_pod_uids() - listed - set(self.records):
                self._spawn_orphan(self._stop_orphan(uid))

    def handle_event(self, event_type: str, pod: dict[str, Any]) -> None:
        """Apply one watch event to the pod's record, starting or deleting the pod as needed."""
        if event_type == "DELETED":
            self._removed(pod)
            return
        if event_type not in ("ADDED", "MODIFIED"):
            return
        uid = pod["metadata"]["uid"]
        record = self.records.get(uid)
        if record is None:
            if self._draining:
                return
            name = f"{pod['metadata']['namespace']}/{pod['metadata']['name']}"
            record = PodRecord(
                uid,
                pod,
                PodLog(logger, {"pod": name}),
                last_written=owned_pod_status(pod.get("status") or {}),
            )
            self.records[uid] = record
        record.pod = pod
        if pod["metadata"].get("deletionTimestamp"):
            if not record.deleting:
                self._begin_deletion(record, delete_object=True)
        elif is_terminal(pod) and not record.started:
            record.finished = True  # terminal before this agent saw it run: never run it again
        elif not record.started and record.task is None and record.failure is None and not self._draining:
            record.task = asyncio.create_task(self._start(record), name=f"start {record.uid}")

    def _removed(self, pod: dict[str, Any]) -> None:
        record = self.records.get(pod["metadata"]["uid"])
        if record is not None and not record.deleting:
            record.log.info("removed from the API server; stopping its processes")
            record.pod = pod
            self._begin_deletion(record, delete_object=False)

    # --- start, status, delete ---

    async def _start(self, record: PodRecord) -> None:
        backoff = Backoff(1.0, self._tuning.max_backoff_s)
        while True:
            try:
                adopted = record.uid in self._runtime.known_pod_uids()
                volumes: dict[str, dict[str, bytes]] = {}
                env: dict[str, dict[str, str]] = {}
                if not adopted:
                    sources = await fetch_pod_inputs(self._client, record.pod)
                    volumes = build_volumes(record.pod, sources, self._pod_ip)
                    env = build_env(record.pod, sources, self._pod_ip, self._allocatable)
                # start() waits for the container wrappers to report; a worker thread keeps the loop free.
                # It is shielded: a deletion waits for it instead of leaving a half-started pod behind.
                record.runtime_call = asyncio.ensure_future(
                    asyncio.to_thread(self._runtime.start, record.pod, volumes, env)
                )
                await asyncio.shield(record.runtime_call)
                record.started = True
                record.log.info("adopted its running processes" if adopted else "started")
            except PodInputsError as exc:
                if not exc.retryable:
                    record.failure = PodFailure(exc.reason, str(exc))
                    record.log.warning("cannot start: %s", exc)
                else:
                    record.waiting = (exc.reason, str(exc))
                    record.log.info("waiting: %s", exc)
            except PodStartError as exc:
                record.failure = PodFailure("ProviderFailed", str(exc))
                record.log.warning("start failed: %s", exc)
            except kube.KubeError as exc:
                record.log.warning("cannot read its ConfigMaps or Secrets, will retry: %s", exc)
            await self.sync(record)
            if record.started or record.failure is not None:
                record.task = None
                return
            await asyncio.sleep(backoff.next())

    async def sync(self, record: PodRecord, failure: PodFailure | None = None) -> None:
        """Compute the pod's status from the runtime and write it if it differs from the last write.

        Failures to write are logged; the next poll tries again.
        """
        states = self._runtime.states(record.uid) if record.started else []
        if record.started and not states and failure is None:
            # The runtime has no records of a pod it started (someone removed them): it cannot be watched.
            failure = PodFailure("ContainersLost", "the agent's records of this pod's processes are gone")
        status = pod_status(
            record.pod,
            states,
            previous=record.last_written,
            pod_ip=self._pod_ip,
            now=self._clock.now(),
            waiting=record.waiting,
            failure=failure or record.failure,
        )
        owned = owned_pod_status(status)
        if owned == record.last_written:
            return
        try:
            await kube.merge_patch(
                self._client,
                "Pod",
                record.name,
                pod_status_patch(status),
                namespace=record.namespace,
                status=True,
            )
        except kube.KubeNotFound:
            return  # deleted meanwhile; the watch reports it
        except kube.KubeError as exc:
            record.log.warning("status write failed, will retry: %s", exc)
            return
        if owned["phase"] != record.last_written.get("phase"):
            record.log.info("phase %s", owned["phase"])
        record.last_written = owned
        record.finished = owned["phase"] in ("Succeeded", "Failed")

    async def run_monitor(self) -> None:
        """Poll the runtime's container states every `pod_poll_interval_s` and report changes (root task)."""
        while True:
            for record in list(self.records.values()):
                if record.started and not record.finished and not record.deleting:
                    await self.sync(record)
            self.monitor_passes += 1
            await asyncio.sleep(self._tuning.pod_poll_interval_s)

    def _begin_deletion(self, record: PodRecord, *, delete_object: bool) -> None:
        record.deleting = True
        previous = record.task
        record.task = asyncio.create_task(
            self._delete(record, previous, delete_object), name=f"delete {record.uid}"
        )

    async def _delete(
        self, record: PodRecord, previous: asyncio.Task[None] | None, delete_object: bool
    ) -> None:
        if previous is not None and not previous.done():
            previous.cancel()
            await asyncio.gather(previous, return_exceptions=True)
        if record.runtime_call is not None:
            await asyncio.gather(record.runtime_call, return_exceptions=True)
        grace = grace_period_s(record.pod)
        record.log.info("stopping its processes (grace %.0f s)", grace)
        await self._runtime.stop(record.uid, grace)
        backoff = Backoff(1.0, self._tuning.max_backoff_s)
        while delete_object:
            try:
                # NOTE: the delete has no UID precondition; a new pod of the same name created in between
                # would be deleted too.
                await kube.delete(
                    self._client, "Pod", record.name, namespace=record.namespace, grace_period_s=0
                )
                break
            except kube.KubeNotFound:
                break
            except kube.KubeError as exc:
                record.log.warning("delete failed, will retry: %s", exc)
                await asyncio.sleep(backoff.next())
        self._runtime.forget(record.uid, record.namespace, record.name)
        self.records.pop(record.uid, None)
        record.log.info("deleted")

    def _spawn_orphan(self, coro: Any) -> None:
        task = asyncio.create_task(coro, name="orphan cleanup")
        self._orphan_tasks.add(task)
        task.add_done_callback(self._orphan_tasks.discard)

    async def _stop_orphan(self, uid: str) -> None:
        identity = self._records.read_pod(uid)
        if identity is None:
            return
        logger.info(
            "pod %s/%s (uid %s) is on disk but gone from the API server; stopping and forgetting it",
            identity.namespace,
            identity.name,
            uid,
        )
        await self._runtime.stop(uid, 0)
        self._runtime.forget(uid, identity.namespace, identity.name)

    # --- shutdown ---

    async def drain(self, failure: PodFailure, budget_s: float) -> None:
        """Stop every pod's processes within `budget_s`, then report the pods still present as Failed.

        New pods are ignored from now on. Processes still alive after the budget are logged.
        """
        self._draining = True
        await self.cancel_tasks()
        active = [r for r in self.records.values() if not r.finished]
        # Grace is cut so that SIGKILL and its check still fit in the budget.
        grace_cap = max(0.0, budget_s - 5)
        stops = [self._runtime.stop(r.uid, min(grace_period_s(r.pod), grace_cap)) for r in active]
        try:
            results = await asyncio.wait_for(asyncio.gather(*stops, return_exceptions=True), budget_s)
        except TimeoutError:
            logger.warning(
                "stopping %d pod(s) took longer than %.0f s; some processes may be left",
                len(active),
                budget_s,
            )
            results = []
        for record, result in zip(active, results, strict=False):
            if isinstance(result, BaseException):
                record.log.warning("stopping its processes failed: %s", result)
        for record in active:
            try:
                await asyncio.wait_for(self.sync(record, failure), self._tuning.api_call_timeout_s)
            except TimeoutError:
                record.log.warning("could not report it Failed in time")

    async def cancel_tasks(self) -> None:
        """Cancel every start, deletion and orphan-cleanup task and wait for them to end.

        A `runtime.start` already running in its worker thread cannot be cancelled; it is waited for.
        """
        tasks = [r.task for r in self.records.values() if r.task is not None] + list(self._orphan_tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        calls = [r.runtime_call for r in self.records.values() if r.runtime_call is not None]
        await asyncio.gather(*calls, return_exceptions=True)
