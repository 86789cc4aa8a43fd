"""Root tasks: a failure is logged and stops the agent; cancellation is not a failure."""

from __future__ import annotations

import asyncio
import logging

import pytest

from jiriaf_fw.services.agent.supervisor import Supervisor


async def forever() -> None:
    await asyncio.Event().wait()


async def broken() -> None:
    await asyncio.sleep(0)
    raise RuntimeError("boom")


async def test_failing_task_requests_stop(caplog: pytest.LogCaptureFixture) -> None:
    supervisor = Supervisor()
    supervisor.spawn("lease", forever())
    supervisor.spawn("pod-watch", broken())
    with caplog.at_level(logging.ERROR):
        await asyncio.wait_for(supervisor.stop_requested.wait(), 5)
    assert supervisor.failed == "pod-watch"
    assert "root task pod-watch failed" in caplog.text
    assert "RuntimeError: boom" in caplog.text
    await supervisor.cancel()
    assert all(task.done() for task in supervisor.tasks.values())


async def test_returning_task_counts_as_failure() -> None:
    supervisor = Supervisor()

    async def quits() -> None:
        return None

    supervisor.spawn("pod-monitor", quits())
    await asyncio.wait_for(supervisor.stop_requested.wait(), 5)
    assert supervisor.failed == "pod-monitor"


async def test_cancel_is_not_failure() -> None:
    supervisor = Supervisor()
    supervisor.spawn("lease", forever())
    supervisor.spawn("walltime", forever(), may_finish=True)
    await supervisor.cancel()
    assert supervisor.failed is None
    assert not supervisor.stop_requested.is_set()
    assert [t.get_name() for t in supervisor.tasks.values()] == ["lease", "walltime"]
