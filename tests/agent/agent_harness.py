"""Helpers to run a JRM agent in-process against the API-server double: a fake clock and `running_agent`.

`tests/agent/conftest.py` turns them into fixtures; end-to-end tests elsewhere can import this module
after adding `tests/agent` to `sys.path`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from jiriaf_fw.services.agent.agent import Agent
from jiriaf_fw.services.agent.settings import AgentSettings, AgentTuning
from jiriaf_fw.services.agent.walltime import SqueueTimeLeft

# Loops fast enough for tests, with the production ratios kept where they matter (lease < status).
FAST_TUNING = AgentTuning(
    lease_interval_s=0.5,
    lease_duration_s=40,
    status_interval_s=1.0,
    pod_poll_interval_s=0.2,
    drain_timeout_s=10.0,
    slurm_poll_interval_s=60.0,
    watch_timeout_s=30,
    max_backoff_s=1.0,
    api_call_timeout_s=5.0,
)


class FakeClock:
    """A clock that moves only when `advance` is called; `sleep` returns once the fake time has passed."""

    def __init__(self, start: datetime | None = None) -> None:
        self._wall0 = start or datetime.now(UTC)
        self._mono = 1000.0
        self._mono0 = self._mono
        self._sleepers: list[tuple[float, asyncio.Future[None]]] = []

    def now(self) -> datetime:
        return self._wall0 + timedelta(seconds=self._mono - self._mono0)

    def monotonic(self) -> float:
        return self._mono

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._sleepers.append((self._mono + seconds, future))
        await future

    def advance(self, seconds: float) -> None:
        """Move the time forward and wake every sleeper whose time has come."""
        self._mono += seconds
        due = [(t, f) for t, f in self._sleepers if t <= self._mono]
        self._sleepers = [(t, f) for t, f in self._sleepers if t > self._mono]
        for _, future in due:
            if not future.done():
                future.set_result(None)


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def agent_settings(
    kubeconfig: Path,
    home: Path,
    *,
    nodename: str = "vk-test",
    walltime_s: int = 0,
    slurm_job_id: str | None = None,
    tuning: AgentTuning = FAST_TUNING,
) -> AgentSettings:
    """Settings for an agent on 127.0.0.1 with a free kubelet port and a self-signed certificate."""
    return AgentSettings(
        nodename=nodename,
        kubeconfig=kubeconfig,
        pod_ip="127.0.0.1",
        kubelet_port=free_port(),
        walltime_s=walltime_s,
        nodetype="cpu",
        site="testsite",
        home=home,
        slurm_job_id=slurm_job_id,
        bind_address="127.0.0.1",
        tuning=tuning,
    )


def agent_environment(home: Path) -> dict[str, str]:
    """The environment pods inherit in tests: this process's, with HOME pointing at the test home."""
    return {**os.environ, "HOME": str(home)}


@dataclass
class RunningAgent:
    """An agent running in a task of the test's event loop."""

    agent: Agent
    task: asyncio.Task[int]
    settings: AgentSettings

    async def stop(self, timeout_s: float = 60.0) -> int:
        """Request a stop, wait for the drain, return the exit code."""
        self.agent.request_stop()
        return await asyncio.wait_for(asyncio.shield(self.task), timeout_s)

    async def crash(self) -> None:
        """End the agent abruptly, as a SIGKILL would: no drain, its pods' processes keep running."""
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


@contextlib.asynccontextmanager
async def running_agent(
    settings: AgentSettings,
    *,
    clock: object | None = None,
    squeue: SqueueTimeLeft | None = None,
    base_env: Mapping[str, str] | None = None,
) -> AsyncIterator[RunningAgent]:
    """Start an agent, wait until its node is registered, yield it, then stop it (drain) if still running."""
    kwargs: dict[str, object] = {"base_env": base_env or agent_environment(settings.home)}
    if clock is not None:
        kwargs["clock"] = clock
    if squeue is not None:
        kwargs["squeue"] = squeue
    agent = Agent(settings, **kwargs)  # type: ignore[arg-type]
    task = asyncio.create_task(agent.run(), name=f"agent {settings.nodename}")
    ready = asyncio.create_task(agent.ready.wait())
    await asyncio.wait({task, ready}, timeout=30, return_when=asyncio.FIRST_COMPLETED)
    ready.cancel()
    if task.done():
        task.result()  # raises the start-up error
        raise RuntimeError("the agent ended during start-up")
    if not agent.ready.is_set():
        task.cancel()
        raise TimeoutError("the agent did not become ready within 30 s")
    running = RunningAgent(agent, task, settings)
    try:
        yield running
    finally:
        if not task.done():
            await running.stop()


def with_tuning(settings: AgentSettings, **changes: float) -> AgentSettings:
    """Return `settings` with some tuning values changed."""
    return replace(settings, tuning=replace(settings.tuning, **changes))
