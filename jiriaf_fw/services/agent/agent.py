"""One run of the JRM agent: wiring, the root tasks, and the shutdown ladder.

Ladder, at the deadline, on SIGTERM/SIGINT (`request_stop`), or when a root task dies: stop watching for
new pods, set Ready=False and mark the Node unschedulable, stop every pod's processes within
`drain_timeout_s`, report the pods still present as Failed so their controllers replace them, stop the
Lease and the status reporter, close the kubelet API. The Node object stays, because the launcher (the
`jiriaf-fw` CLI) deletes Nodes by name.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass

from lightkube import AsyncClient

from jiriaf_fw.adapters import kube
from jiriaf_fw.core.kube_pod_status import PodFailure
from jiriaf_fw.services.agent.kubelet_server import KubeletServer, server_ssl_context
from jiriaf_fw.services.agent.node import NodeAgent, measure_node_facts
from jiriaf_fw.services.agent.pods import PodReconciler
from jiriaf_fw.services.agent.runtime import PodRuntime
from jiriaf_fw.services.agent.settings import AgentSettings
from jiriaf_fw.services.agent.stats import UsageSampler
from jiriaf_fw.services.agent.supervisor import Backoff, FailureLog, Supervisor
from jiriaf_fw.services.agent.walltime import Clock, SqueueTimeLeft, SystemClock, Walltime, squeue_time_left

logger = logging.getLogger(__name__)

# Root tasks that take in new work; they stop first.
_INTAKE_TASKS = ("pod-watch", "pod-monitor")


def _is_transient(error: kube.KubeError) -> bool:
    if isinstance(error, kube.KubeUnavailable):
        return True
    code = error.status_code
    return code is None or code >= 500 or code == 429


@dataclass(frozen=True)
class StopReason:
    """Why the agent stops: the node condition reason and the reason given to the pods it fails."""

    node_reason: str
    pod_reason: str
    message: str


WALLTIME_EXPIRED = StopReason(
    "WalltimeExpired", "NodeWalltimeExpired", "the node reached its walltime; its pods were stopped"
)
STOPPING = StopReason(
    "AgentStopping", "NodeShutdown", "the node agent was asked to stop; its pods were stopped"
)
TASK_FAILED = StopReason("AgentFailed", "NodeShutdown", "the node agent failed; its pods were stopped")


class Agent:
    """Runs one node until its deadline, a stop request or a failure; `run` returns the exit code.

    `clock` and `squeue` are injectable for tests; `base_env` is the environment every pod inherits
    (the agent's own environment by default).
    """

    def __init__(
        self,
        settings: AgentSettings,
        *,
        clock: Clock | None = None,
        squeue: SqueueTimeLeft = squeue_time_left,
        base_env: Mapping[str, str] | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock or SystemClock()
        self._squeue = squeue
        self._base_env = dict(os.environ if base_env is None else base_env)
        self._stop = asyncio.Event()
        self._requested_reason = STOPPING
        self.ready = asyncio.Event()
        self.supervisor = Supervisor()
        self.reconciler: PodReconciler | None = None
        self.server: KubeletServer | None = None
        self.stop_reason: StopReason | None = None

    def request_stop(self, reason: StopReason | None = None) -> None:
        """Ask the agent to drain and exit; safe to call any number of times, from a signal handler too.

        The first request's `reason` (default `STOPPING`) is the one reported.
        """
        if not self._stop.is_set():
            self._requested_reason = reason or STOPPING
        self._stop.set()

    async def run(self) -> int:
        """Run the node; return 0 after a requested or walltime stop, 1 after a root task failed.

        Raises `JiriafError` subclasses when start-up fails (bad kubeconfig, port taken, Node rejected).
        """
        tuning = self.settings.tuning
        walltime = Walltime(
            clock=self.clock,
            walltime_s=self.settings.walltime_s,
            slurm_job_id=self.settings.slurm_job_id,
            squeue=self._squeue,
            margin_s=tuning.slurm_margin_s,
            poll_interval_s=tuning.slurm_poll_interval_s,
        )
        await walltime.refresh()
        client = kube.open_client(self.settings.kubeconfig)
        try:
            return await self._run_with(client, walltime)
        finally:
            await client.close()

    async def _run_with(self, client: AsyncClient, walltime: Walltime) -> int:
        settings, tuning = self.settings, self.settings.tuning
        facts = measure_node_facts(settings)
        runtime = PodRuntime(
            home=settings.home, nodename=settings.nodename, pod_ip=settings.pod_ip, base_env=self._base_env
        )
        node = NodeAgent(client, facts, walltime, self.clock, tuning)
        self.reconciler = PodReconciler(
            client,
            runtime,
            home=settings.home,
            nodename=settings.nodename,
            pod_ip=settings.pod_ip,
            allocatable={"cpu": str(facts.cpu_count), "memory": f"{facts.memory_ki}Ki"},
            clock=self.clock,
            tuning=tuning,
        )
        context = server_ssl_context(settings.tls_cert, settings.tls_key, settings.pod_ip, settings.nodename)
        self.server = KubeletServer(
            nodename=settings.nodename,
            reconciler=self.reconciler,
            runtime=runtime,
            sampler=UsageSampler(runtime, self.reconciler, self.clock),
            ssl_context=context,
            bind_address=settings.bind_address,
            port=settings.kubelet_port,
        )
        await self.server.start()
        try:
            registered = await self._register(node)
        except BaseException:
            await self.server.close()
            raise
        if not registered:
            await self.server.close()
            logger.info("stopped before node %s was registered", settings.nodename)
            return 0
        self._spawn_root_tasks(node, walltime)
        try:
            self.ready.set()
            logger.info("node %s is ready", settings.nodename)
            reason = await self._wait_for_stop(walltime)
            await self._shut_down(node, reason)
        finally:
            # Reached without a drain only when this task is cancelled or fails: no process is stopped
            # then, as after SIGKILL, but no task of this agent is left running either.
            await self.supervisor.cancel()
            await self.reconciler.cancel_tasks()
            await self.server.close()
        return 1 if self.supervisor.failed else 0

    async def _register(self, node: NodeAgent) -> bool:
        """Register the Node and return True, or return False if a stop was requested first.

        Unreachable or failing API servers are retried with backoff, because the SSH tunnel to them may
        still be coming up. Raises `KubeError` at once when the API server rejects the Node (a 4xx status
        other than 404, 409 and 429).
        """
        failures = FailureLog(logger, f"registration of node {node.name}", self.clock.monotonic)
        backoff = Backoff(1.0, self.settings.tuning.max_backoff_s)
        while not self._stop.is_set():
            try:
                await node.register()
                failures.success()
                return True
            except kube.KubeError as exc:
                if not _is_transient(exc):
                    raise
                failures.failure(exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), backoff.next())
        return False

    def _spawn_root_tasks(self, node: NodeAgent, walltime: Walltime) -> None:
        assert self.reconciler is not None and self.server is not None
        spawn = self.supervisor.spawn
        spawn("lease", node.run_lease())
        spawn("node-status", node.run_status())
        spawn("pod-watch", self.reconciler.run_watch())
        spawn("pod-monitor", self.reconciler.run_monitor())
        spawn("kubelet-server", self.server.run())
        spawn("walltime", walltime.run(), may_finish=True)

    async def _wait_for_stop(self, walltime: Walltime) -> StopReason:
        waiters = {
            asyncio.create_task(self._stop.wait()): self._requested_reason,
            asyncio.create_task(walltime.expired.wait()): WALLTIME_EXPIRED,
            asyncio.create_task(self.supervisor.stop_requested.wait()): TASK_FAILED,
        }
        try:
            done, _ = await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
            await asyncio.gather(*waiters, return_exceptions=True)
        # A failed task wins over the other reasons, so the exit code shows it.
        if self.supervisor.failed:
            return TASK_FAILED
        if self._stop.is_set():
            return self._requested_reason
        return next(waiters[w] for w in waiters if w in done)

    async def _shut_down(self, node: NodeAgent, reason: StopReason) -> None:
        assert self.reconciler is not None
        self.stop_reason = reason
        tuning = self.settings.tuning
        logger.info("stopping node %s: %s", self.settings.nodename, reason.node_reason)
        await self.supervisor.cancel(_INTAKE_TASKS)
        await node.mark_stopping(reason.node_reason, reason.message)
        await self.reconciler.drain(PodFailure(reason.pod_reason, reason.message), tuning.drain_timeout_s)
        await self.supervisor.cancel()
        logger.info("node %s stopped (%s)", self.settings.nodename, reason.node_reason)
