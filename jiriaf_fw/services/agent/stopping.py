"""Stopping a pod's processes: the SIGTERM, grace, SIGKILL ladder, including escaped descendants.

A pod's processes are its containers' process groups plus every process of this user started with
`JIRIAF_POD_UID=<uid>` in its environment, which catches `setsid` and daemonised descendants that left the
group. Processes are never matched by name, command line or port.
"""

from __future__ import annotations

import logging
import signal
import time
from dataclasses import dataclass
from typing import Protocol

from jiriaf_fw.adapters import processes
from jiriaf_fw.services.agent.records import AgentRecords, PodRecord

log = logging.getLogger(__name__)

KILL_ROUNDS = 20  # SIGKILL passes, for processes forked between a scan and the signal
EXIT_RECORD_WAIT_S = 5.0  # how long wrappers get to write exit statuses after their groups died


@dataclass(frozen=True)
class _Group:
    container: str
    pgid: int
    leader_ticks: int | None


@dataclass(frozen=True)
class _Survivors:
    groups: list[_Group]
    pids: list[int]

    def __bool__(self) -> bool:
        return bool(self.groups or self.pids)

    def describe(self) -> str:
        return f"process groups {[group.pgid for group in self.groups]}, marked pids {self.pids}"


def _groups(records: AgentRecords, pod: PodRecord) -> list[_Group]:
    groups = []
    for name in pod.containers:
        record = records.read_container(pod.uid, name)
        if record.pgid is not None:
            groups.append(_Group(name, record.pgid, record.leader.start_ticks if record.leader else None))
    return groups


def _survivors(groups: list[_Group], pod_uid: str) -> _Survivors:
    alive = [group for group in groups if processes.group_alive(group.pgid, group.leader_ticks)]
    return _Survivors(alive, processes.marked_pids(pod_uid))


def _signal(survivors: _Survivors, sig: int) -> None:
    for group in survivors.groups:
        processes.signal_group(group.pgid, sig)
    processes.signal_pids(survivors.pids, sig)


class StopClock(Protocol):
    def monotonic(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


async def stop_pod(records: AgentRecords, pod: PodRecord, grace_s: float, clock: StopClock, poll_s: float) -> None:
    """SIGTERM (then SIGCONT, so stopped processes see it) to the pod's groups and marked processes, wait
    until they are gone or `grace_s` has passed, then SIGKILL whatever is left, rescanning for late forks.
    Finally waits briefly for the wrappers to record exit statuses. Logs, and does not raise, if processes
    survive SIGKILL (for example in uninterruptible sleep)."""
    groups = _groups(records, pod)
    left = _survivors(groups, pod.uid)
    if left:
        log.info("stopping pod %s/%s (uid %s): SIGTERM to %s, grace %g s",
                 pod.namespace, pod.name, pod.uid, left.describe(), grace_s)
        _signal(left, signal.SIGTERM)
        _signal(left, signal.SIGCONT)
        deadline = clock.monotonic() + grace_s
        while (left := _survivors(groups, pod.uid)) and clock.monotonic() < deadline:
            await clock.sleep(poll_s)
    for _ in range(KILL_ROUNDS):
        if not left:
            break
        log.info("pod %s/%s: SIGKILL to %s", pod.namespace, pod.name, left.describe())
        _signal(left, signal.SIGKILL)
        await clock.sleep(min(poll_s, 0.05))
        left = _survivors(groups, pod.uid)
    if left:
        log.error("pod %s/%s: processes survived SIGKILL: %s", pod.namespace, pod.name, left.describe())
    await _wait_for_exit_records(records, pod, clock, poll_s)


async def _wait_for_exit_records(records: AgentRecords, pod: PodRecord, clock: StopClock, poll_s: float) -> None:
    deadline = clock.monotonic() + EXIT_RECORD_WAIT_S
    while clock.monotonic() < deadline:
        pending = [name for name in pod.containers if _wrapper_pending(records, pod.uid, name)]
        if not pending:
            return
        await clock.sleep(poll_s)
    log.warning("pod %s/%s: wrappers recorded no exit status within %g s", pod.namespace, pod.name,
                EXIT_RECORD_WAIT_S)


def _wrapper_pending(records: AgentRecords, pod_uid: str, container: str) -> bool:
    record = records.read_container(pod_uid, container)
    wrapper = record.wrapper
    return (record.exit_code is None and wrapper is not None
            and processes.process_alive(wrapper.pid, wrapper.start_ticks))


def kill_pod_now(records: AgentRecords, pod: PodRecord, timeout_s: float = 2.0) -> None:
    """SIGKILL every remaining process of the pod at once, waiting up to `timeout_s` for them to go.

    For pods being forgotten without a `stop`; logs a warning naming what it had to kill.
    """
    groups = _groups(records, pod)
    left = _survivors(groups, pod.uid)
    if not left:
        return
    log.warning("pod %s/%s (uid %s) is being forgotten with live processes; SIGKILL to %s",
                pod.namespace, pod.name, pod.uid, left.describe())
    deadline = time.monotonic() + timeout_s
    while left and time.monotonic() < deadline:
        _signal(left, signal.SIGKILL)
        time.sleep(0.02)
        left = _survivors(groups, pod.uid)
    if left:
        log.error("pod %s/%s: processes survived SIGKILL: %s", pod.namespace, pod.name, left.describe())
