"""Named, guarded root tasks: a task that dies is logged with its traceback and makes the agent stop."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Iterable
from typing import Any

logger = logging.getLogger(__name__)


class Supervisor:
    """Runs the agent's long-lived tasks and records the first one that fails.

    A root task is meant to run until it is cancelled. If one raises, or returns while the supervisor is
    not stopping, `failed` names it and `stop_requested` is set, so the agent shuts down cleanly and exits
    non-zero.
    """

    def __init__(self) -> None:
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self.failed: str | None = None
        self.stop_requested = asyncio.Event()
        self._stopping = False

    def spawn(self, name: str, coro: Coroutine[Any, Any, None], *, may_finish: bool = False) -> None:
        """Start `coro` as the root task `name`; with `may_finish`, returning normally is not a failure."""
        if name in self.tasks:
            raise ValueError(f"root task {name!r} is already running")
        self.tasks[name] = asyncio.create_task(self._guard(name, coro, may_finish), name=name)

    async def _guard(self, name: str, coro: Coroutine[Any, Any, None], may_finish: bool) -> None:
        try:
            await coro
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("root task %s failed; stopping the agent", name)
            self._record_failure(name)
            return
        if not may_finish and not self._stopping:
            logger.error("root task %s returned unexpectedly; stopping the agent", name)
            self._record_failure(name)

    def _record_failure(self, name: str) -> None:
        if self.failed is None:
            self.failed = name
        self.stop_requested.set()

    async def cancel(self, names: Iterable[str] | None = None, timeout_s: float = 5.0) -> None:
        """Cancel the named root tasks (all when None) and wait up to `timeout_s` for them to end."""
        self._stopping = True
        # Let tasks created just now take their first step, so no coroutine is dropped before it ran.
        await asyncio.sleep(0)
        chosen = [self.tasks[n] for n in (self.tasks if names is None else names) if n in self.tasks]
        for task in chosen:
            task.cancel()
        if not chosen:
            return
        _, pending = await asyncio.wait(chosen, timeout=timeout_s)
        for task in pending:
            logger.warning("root task %s did not stop within %.0f s", task.get_name(), timeout_s)


class FailureLog:
    """Logs a repeating failure at its first occurrence, then at most once per `every_s` with a count.

    A success after failures logs the recovery. `clock` returns monotonic seconds.
    """

    def __init__(
        self, log: logging.Logger | logging.LoggerAdapter, what: str, clock: Any, every_s: float = 60.0
    ) -> None:
        self._log = log
        self._what = what
        self._clock = clock
        self._every_s = every_s
        self._count = 0
        self._last_logged = 0.0

    def failure(self, error: BaseException) -> None:
        """Record one failure of the operation and log it unless it was logged recently."""
        self._count += 1
        now = self._clock()
        if self._count == 1 or now - self._last_logged >= self._every_s:
            self._log.warning("%s failed (%d time(s) in a row): %s", self._what, self._count, error)
            self._last_logged = now

    def success(self) -> None:
        """Record a success; log the recovery if the operation had been failing."""
        if self._count:
            self._log.info("%s works again after %d failure(s)", self._what, self._count)
        self._count = 0


class Backoff:
    """Doubling retry delay from `first_s` up to `max_s`."""

    def __init__(self, first_s: float, max_s: float) -> None:
        self._first_s, self._max_s = first_s, max_s
        self._next_s = first_s

    def next(self) -> float:
        """Return the delay to wait now and double the following one."""
        delay = self._next_s
        self._next_s = min(self._max_s, self._next_s * 2)
        return delay

    def reset(self) -> None:
        """Start again from the first delay."""
        self._next_s = self._first_s
