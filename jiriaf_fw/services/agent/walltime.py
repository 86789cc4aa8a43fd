"""The agent's deadline: `JIRIAF_WALLTIME` outside Slurm, the job's end minus a margin inside it.

Time comes from an injectable `Clock`, and `squeue` from an injectable coroutine, so tests drive expiry
without waiting for real walltimes or running Slurm.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Protocol

from jiriaf_fw.adapters import commands
from jiriaf_fw.core.errors import JiriafError, WalltimeError
from jiriaf_fw.core.walltime import parse_duration

logger = logging.getLogger(__name__)

SQUEUE_TIMEOUT_S = 30.0
_JOB_ID = re.compile(r"^[0-9]+$")


class SlurmQueryError(JiriafError):
    """`squeue` could not tell the job's time left."""


class Clock(Protocol):
    """Wall time, monotonic time and sleeping, injectable for tests."""

    def now(self) -> datetime:
        """Return the current UTC time."""
        ...

    def monotonic(self) -> float:
        """Return seconds on a clock that never goes back."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Sleep for `seconds` of this clock's time."""
        ...


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        """Return the current UTC time."""
        return datetime.now(UTC)

    def monotonic(self) -> float:
        """Return `time.monotonic()`."""
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        """Sleep with `asyncio.sleep`."""
        await asyncio.sleep(max(0.0, seconds))


SqueueTimeLeft = Callable[[str], Awaitable[str]]
"""Coroutine that returns `squeue -h -j <job id> -o %L` output for a job id."""


async def squeue_time_left(job_id: str) -> str:
    """Run `squeue -h -j <job_id> -o %L` in a worker thread and return its output stripped.

    Raises `SlurmQueryError` when the job id is malformed, or squeue is missing, times out or fails.
    """
    if not _JOB_ID.match(job_id):
        raise SlurmQueryError(f"invalid SLURM_JOB_ID {job_id!r}: expected digits")
    argv = ["squeue", "-h", "-j", job_id, "-o", "%L"]
    try:
        result = await asyncio.to_thread(commands.run, argv, timeout_s=SQUEUE_TIMEOUT_S)
    except commands.CommandError as exc:
        raise SlurmQueryError(f"cannot read the time left of Slurm job {job_id}: {exc}") from exc
    return result.stdout.strip()


class Walltime:
    """Tracks the deadline and sets `expired` when it passes.

    Outside Slurm the deadline is start + `walltime_s` (0 means none). Inside Slurm it is now + time left
    - `margin_s`, read again every `poll_interval_s`, so a late start or a changed limit is followed. A
    failed or unknown read keeps the last deadline, which starts as the `walltime_s` one.
    """

    def __init__(
        self,
        *,
        clock: Clock,
        walltime_s: int,
        slurm_job_id: str | None,
        squeue: SqueueTimeLeft,
        margin_s: int,
        poll_interval_s: float,
    ) -> None:
        self._clock = clock
        self._job_id = slurm_job_id
        self._squeue = squeue
        self._margin_s = margin_s
        self._poll_interval_s = poll_interval_s
        self._start = clock.monotonic()
        self._deadline: float | None = self._start + walltime_s if walltime_s > 0 else None
        self.expired = asyncio.Event()

    @property
    def limited(self) -> bool:
        """True when a deadline is known."""
        return self._deadline is not None

    def remaining_s(self) -> float | None:
        """Return the seconds left before the deadline (negative once past), or None without a deadline."""
        if self._deadline is None:
            return None
        return self._deadline - self._clock.monotonic()

    def total_s(self) -> int | None:
        """Return the agent's whole allowed run time in seconds (start to deadline), or None without one."""
        if self._deadline is None:
            return None
        return max(0, round(self._deadline - self._start))

    async def refresh(self) -> None:
        """Read the job's time left from squeue and move the deadline; outside Slurm, do nothing.

        Failures are logged and keep the previous deadline.
        """
        if self._job_id is None:
            return
        try:
            text = await self._squeue(self._job_id)
            duration = parse_duration(text, "squeue")
        except (SlurmQueryError, WalltimeError) as exc:
            logger.warning("keeping the current deadline: %s", exc)
            return
        if duration.is_unknown:
            logger.warning(
                "squeue reports no usable time left for job %s; keeping the current deadline", self._job_id
            )
            return
        if duration.is_unlimited or duration.seconds is None:
            self._set_deadline(None)
            return
        # A time left at or below the margin means the deadline has passed, never "no limit".
        self._set_deadline(self._clock.monotonic() + duration.seconds - self._margin_s)

    def _set_deadline(self, deadline: float | None) -> None:
        if deadline is None and self._deadline is not None:
            logger.info(
                "Slurm job %s has no time limit any more; the agent runs without a deadline", self._job_id
            )
        elif deadline is not None and (self._deadline is None or abs(deadline - self._deadline) >= 1):
            logger.info(
                "deadline set to %.0f s from now (Slurm job %s)",
                deadline - self._clock.monotonic(),
                self._job_id,
            )
        self._deadline = deadline

    async def run(self) -> None:
        """Follow the deadline until it passes, then set `expired` and return.

        Without a deadline outside Slurm, wait until cancelled.
        """
        next_read = self._clock.monotonic() + self._poll_interval_s
        while True:
            remaining = self.remaining_s()
            if remaining is not None and remaining <= 0:
                logger.info("walltime expired")
                self.expired.set()
                return
            waits = [] if remaining is None else [remaining]
            if self._job_id is not None:
                waits.append(next_read - self._clock.monotonic())
            if not waits:
                await asyncio.Event().wait()  # no deadline and nothing to poll: only cancellation ends this
            await self._clock.sleep(max(0.0, min(waits)))
            if self._job_id is not None and self._clock.monotonic() >= next_read:
                await self.refresh()
                next_read = self._clock.monotonic() + self._poll_interval_s
