"""The Node object: registration, the Lease heartbeat and the status reporter.

The Lease is renewed every `lease_interval_s` by its own task, so failing status reports do not delay it.
Node status is patched when the desired health changes, and otherwise every `status_interval_s`. Each patch
is computed against the Node read fresh from the API server, so a Ready=False written by someone else is
corrected at the next report.
"""

from __future__ import annotations

import asyncio
import logging
import os
import platform
from typing import Any

import psutil
from lightkube import AsyncClient

from jiriaf_fw.adapters import kube
from jiriaf_fw.core.kube_objects import (
    LEASE_NAMESPACE,
    NodeFacts,
    NodeHealth,
    build_lease,
    build_node,
    cordon_patch,
    node_labels,
    node_labels_patch,
    node_status_patch,
    renewed_lease,
    replacement_node,
)
from jiriaf_fw.services.agent.settings import AgentSettings, AgentTuning
from jiriaf_fw.services.agent.supervisor import FailureLog
from jiriaf_fw.services.agent.walltime import Clock, Walltime

logger = logging.getLogger(__name__)

KUBELET_VERSION = "v1.29.0-jiriaf"
# Go's GOARCH names, which Kubernetes uses in nodeInfo.architecture and the kubernetes.io/arch label.
_GO_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "ppc64le": "ppc64le", "s390x": "s390x", "i686": "386"}


def measure_node_facts(settings: AgentSettings) -> NodeFacts:
    """Measure what the Node reports: the CPUs of this process's affinity mask (the Slurm allocation) and
    the host's RAM."""
    machine = platform.machine()
    return NodeFacts(
        name=settings.nodename,
        pod_ip=settings.pod_ip,
        kubelet_port=settings.kubelet_port,
        cpu_count=len(os.sched_getaffinity(0)),
        memory_ki=psutil.virtual_memory().total // 1024,
        nodetype=settings.nodetype,
        site=settings.site,
        architecture=_GO_ARCH.get(machine, machine),
        kernel_version=platform.release(),
        kubelet_version=KUBELET_VERSION,
    )


class NodeAgent:
    """Owns the Node and its Lease for one agent run."""

    def __init__(
        self, client: AsyncClient, facts: NodeFacts, walltime: Walltime, clock: Clock, tuning: AgentTuning
    ) -> None:
        self._client = client
        self._facts = facts
        self._walltime = walltime
        self._clock = clock
        self._tuning = tuning
        self._health = NodeHealth(ready=True)
        self._changed = asyncio.Event()
        self._lease: dict[str, Any] | None = None
        self._stopping = False
        self.uid: str | None = None

    @property
    def name(self) -> str:
        """The Node name."""
        return self._facts.name

    def _labels(self) -> dict[str, str]:
        remaining = self._walltime.remaining_s()
        alive = None if remaining is None else max(0, int(remaining))
        return node_labels(self._facts, self._walltime.total_s(), alive)

    async def register(self) -> None:
        """Create the Node, or replace the one of the same name, then report its status.

        Replacing (not deleting) an existing Node keeps the pods bound to it, so an agent restarted under
        the same name adopts them. Raises `KubeError` when the API server rejects the Node.
        """
        remaining = self._walltime.remaining_s()
        manifest = build_node(
            self._facts,
            self._health,
            self._walltime.total_s(),
            None if remaining is None else max(0, int(remaining)),
            self._clock.now(),
        )
        try:
            node = await kube.create(self._client, manifest)
            logger.info("registered node %s", self.name)
        except kube.KubeConflict:
            existing = await kube.get(self._client, "Node", self.name)
            node = await kube.replace(self._client, replacement_node(existing, manifest))
            logger.info("replaced the existing node %s", self.name)
        self.uid = node["metadata"].get("uid")
        await self._patch_status(node)

    def set_health(self, health: NodeHealth) -> None:
        """Change the desired Ready condition; the status reporter sends it at once."""
        self._health = health
        self._changed.set()

    async def _patch_status(self, node: dict[str, Any]) -> None:
        patch = node_status_patch(self._facts, self._health, node, self._clock.now())
        await kube.merge_patch(self._client, "Node", self.name, patch, status=True)
        labels_patch = node_labels_patch(node["metadata"].get("labels") or {}, self._labels())
        if labels_patch is not None:
            await kube.merge_patch(self._client, "Node", self.name, labels_patch)

    async def report_status(self) -> None:
        """Read the Node and patch its status and walltime labels; re-register it if it was deleted.

        Raises `KubeError` when the API server cannot be reached.
        """
        try:
            node = await kube.get(self._client, "Node", self.name)
        except kube.KubeNotFound:
            if self._stopping:
                return
            logger.warning("node %s was deleted while the agent runs; registering it again", self.name)
            await self.register()
            return
        await self._patch_status(node)

    async def run_status(self) -> None:
        """Report node status on every health change and at least every `status_interval_s` (root task)."""
        failures = FailureLog(logger, f"status report of node {self.name}", self._clock.monotonic)
        while True:
            try:
                await asyncio.wait_for(self._changed.wait(), self._tuning.status_interval_s)
            except TimeoutError:
                pass
            self._changed.clear()
            try:
                await self.report_status()
                failures.success()
            except kube.KubeError as exc:
                failures.failure(exc)

    async def renew_lease(self) -> None:
        """Create the Lease or move its renewTime to now. Raises `KubeError` on failure.

        A conflict (someone else changed the Lease) makes it read the Lease again and retry once.
        """
        for attempt in range(2):
            now = self._clock.now()
            duration = self._tuning.lease_duration_s
            if self._lease is None:
                try:
                    self._lease = await kube.get(self._client, "Lease", self.name, LEASE_NAMESPACE)
                except kube.KubeNotFound:
                    self._lease = await kube.create(
                        self._client, build_lease(self.name, self.uid, duration, now)
                    )
                    return
            try:
                self._lease = await kube.replace(
                    self._client, renewed_lease(self._lease, self.name, duration, now)
                )
                return
            except (kube.KubeConflict, kube.KubeNotFound):
                self._lease = None
                if attempt:
                    raise

    async def run_lease(self) -> None:
        """Renew the Lease every `lease_interval_s` (root task)."""
        failures = FailureLog(logger, f"lease renewal of node {self.name}", self._clock.monotonic)
        while True:
            try:
                await self.renew_lease()
                failures.success()
            except kube.KubeError as exc:
                failures.failure(exc)
            await asyncio.sleep(self._tuning.lease_interval_s)

    async def mark_stopping(self, reason: str, message: str) -> None:
        """Set Ready=False with `reason` and mark the Node unschedulable; failures are logged, not raised.

        The Node object itself stays, because the launcher deletes Nodes by name.
        """
        self._stopping = True
        self._health = NodeHealth(ready=False, reason=reason, message=message)
        timeout = self._tuning.api_call_timeout_s
        try:
            await asyncio.wait_for(kube.merge_patch(self._client, "Node", self.name, cordon_patch()), timeout)
            await asyncio.wait_for(self.report_status(), timeout)
            logger.info("node %s is NotReady (%s) and unschedulable", self.name, reason)
        except (kube.KubeError, TimeoutError) as exc:
            logger.warning(
                "could not mark node %s NotReady and unschedulable: %s", self.name, exc or "timed out"
            )
