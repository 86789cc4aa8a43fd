"""The agent's deadline: JIRIAF_WALLTIME outside Slurm, squeue's time left minus the margin inside it."""

from __future__ import annotations

import asyncio

import pytest
from agent_harness import FakeClock

from jiriaf_fw.services.agent.walltime import SlurmQueryError, Walltime, squeue_time_left


class FakeSqueue:
    """Returns scripted `%L` outputs in order, repeating the last; raises when given an exception."""

    def __init__(self, *outputs: str | Exception) -> None:
        self.outputs = list(outputs)
        self.calls: list[str] = []

    async def __call__(self, job_id: str) -> str:
        self.calls.append(job_id)
        value = self.outputs.pop(0) if len(self.outputs) > 1 else self.outputs[0]
        if isinstance(value, Exception):
            raise value
        return value


def make_walltime(
    clock: FakeClock, walltime_s: int = 0, job: str | None = None, squeue: FakeSqueue | None = None
) -> Walltime:
    return Walltime(
        clock=clock,
        walltime_s=walltime_s,
        slurm_job_id=job,
        squeue=squeue or FakeSqueue("0:00"),
        margin_s=60,
        poll_interval_s=60,
    )


async def wait_for_sleepers(clock: FakeClock) -> None:
    for _ in range(100):
        if clock._sleepers:
            return
        await asyncio.sleep(0)
    raise AssertionError("the walltime task never went to sleep")


async def test_no_limit_outside_slurm() -> None:
    walltime = make_walltime(FakeClock())
    await walltime.refresh()
    assert walltime.remaining_s() is None
    assert walltime.total_s() is None


async def test_jiriaf_walltime_expires_on_fake_clock() -> None:
    clock = FakeClock()
    walltime = make_walltime(clock, walltime_s=120)
    task = asyncio.create_task(walltime.run())
    await wait_for_sleepers(clock)
    clock.advance(119)
    await asyncio.sleep(0)
    assert not walltime.expired.is_set()
    assert walltime.remaining_s() == pytest.approx(1)
    clock.advance(1)
    await asyncio.wait_for(walltime.expired.wait(), 5)
    await asyncio.wait_for(task, 5)
    assert walltime.total_s() == 120


@pytest.mark.parametrize(
    ("time_left", "remaining"), [("9:28", 508), ("1:02:03", 3663), ("1-00:00:00", 86340)]
)
async def test_slurm_deadline_is_time_left_minus_margin(time_left: str, remaining: int) -> None:
    squeue = FakeSqueue(time_left)
    walltime = make_walltime(FakeClock(), job="42", squeue=squeue)
    await walltime.refresh()
    assert walltime.remaining_s() == pytest.approx(remaining)
    assert squeue.calls == ["42"]


async def test_slurm_time_left_within_margin_expires_at_once() -> None:
    walltime = make_walltime(FakeClock(), job="42", squeue=FakeSqueue("0:45"))
    await walltime.refresh()
    assert walltime.remaining_s() == pytest.approx(-15)
    await asyncio.wait_for(walltime.run(), 5)
    assert walltime.expired.is_set()


async def test_slurm_unlimited_means_no_deadline() -> None:
    walltime = make_walltime(FakeClock(), walltime_s=600, job="42", squeue=FakeSqueue("UNLIMITED"))
    await walltime.refresh()
    assert walltime.remaining_s() is None


async def test_slurm_failure_keeps_jiriaf_walltime_fallback() -> None:
    squeue = FakeSqueue(SlurmQueryError("squeue: command not found"))
    walltime = make_walltime(FakeClock(), walltime_s=600, job="42", squeue=squeue)
    await walltime.refresh()
    assert walltime.remaining_s() == pytest.approx(600)


async def test_slurm_invalid_keeps_previous_deadline() -> None:
    clock = FakeClock()
    walltime = make_walltime(clock, job="42", squeue=FakeSqueue("10:00", "INVALID"))
    await walltime.refresh()
    clock.advance(60)
    await walltime.refresh()
    assert walltime.remaining_s() == pytest.approx(480)


async def test_slurm_limit_change_followed_by_periodic_read() -> None:
    clock = FakeClock()
    squeue = FakeSqueue("10:00", "30:00")
    walltime = make_walltime(clock, job="42", squeue=squeue)
    await walltime.refresh()
    task = asyncio.create_task(walltime.run())
    await wait_for_sleepers(clock)
    clock.advance(60)
    for _ in range(100):
        if len(squeue.calls) == 2:
            break
        await asyncio.sleep(0)
    assert len(squeue.calls) == 2
    assert walltime.remaining_s() == pytest.approx(1740)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_squeue_rejects_malformed_job_id() -> None:
    with pytest.raises(SlurmQueryError, match="SLURM_JOB_ID"):
        await squeue_time_left("1; rm -rf /")
