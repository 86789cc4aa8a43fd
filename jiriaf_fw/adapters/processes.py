"""Container process groups on this host: start through the wrapper, liveness, signals, usage.

Each container runs under `jiriaf_fw.adapters.container_wrapper`, which starts the container's process in a
new session (so pgid == that process's pid) and records its real exit status. This module starts wrappers
and checks whether a group or a recorded process is still alive. The check compares start times in clock
ticks, so a reused pid is not mistaken for the recorded process. It also signals groups, finds a pod's
escaped descendants by the `JIRIAF_POD_UID=<uid>` entry in their start environment, and measures CPU and
memory with psutil.
"""

from __future__ import annotations

import json
import logging
import os
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil

import jiriaf_fw
from jiriaf_fw.adapters import procfs
from jiriaf_fw.core.errors import JiriafError

log = logging.getLogger(__name__)

WRAPPER_MODULE = "jiriaf_fw.adapters.container_wrapper"
# The wrapper's environment contains this entry instead of JIRIAF_POD_UID, so a marker scan never kills it.
WRAPPER_MARKER = "JIRIAF_WRAPPER_POD_UID"
_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


class ProcessError(JiriafError):
    """Starting, inspecting or signalling a container's processes failed."""


@dataclass(frozen=True)
class WrapperSpec:
    """Command, environment and paths of one wrapper. `env` goes through a pipe, never through argv or a file."""

    pod_uid: str
    argv: Sequence[str]
    env: Mapping[str, str]
    cwd: Path
    record_dir: Path
    pgid_file: Path


@dataclass
class LaunchedWrapper:
    """A wrapper that was started and has been sent its spec; its status line is still to be read."""

    spec: WrapperSpec
    process: subprocess.Popen[bytes]


@dataclass(frozen=True)
class WrapperStatus:
    """The wrapper's status line: the container's pgid, or a start error with its exit status."""

    pgid: int | None
    error: str | None = None
    exit_code: int | None = None


def _wrapper_env(pod_uid: str) -> dict[str, str]:
    package_parent = str(Path(jiriaf_fw.__file__).resolve().parent.parent)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": package_parent}
    env[WRAPPER_MARKER] = pod_uid
    return env


def launch_wrapper(spec: WrapperSpec) -> LaunchedWrapper:
    """Start a wrapper in its own session and send it `spec`; raises ProcessError if Python cannot start."""
    payload = json.dumps(
        {
            "argv": list(spec.argv),
            "env": dict(spec.env),
            "cwd": str(spec.cwd),
            "record_dir": str(spec.record_dir),
            "pgid_file": str(spec.pgid_file),
        }
    ).encode()
    log_path = spec.record_dir / "wrapper.log"
    try:
        with open(log_path, "ab") as wrapper_log:
            process = subprocess.Popen(
                [sys.executable, "-m", WRAPPER_MODULE],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=wrapper_log,
                env=_wrapper_env(spec.pod_uid),
                cwd=spec.record_dir,
                start_new_session=True,
                close_fds=True,
            )
    except OSError as exc:
        raise ProcessError(f"could not start the container wrapper {sys.executable!r}: {exc}") from exc
    assert process.stdin is not None
    try:
        process.stdin.write(payload)
        process.stdin.close()
    except BrokenPipeError as exc:
        process.kill()
        process.wait()
        raise ProcessError(f"the container wrapper exited before reading its spec; see {log_path}") from exc
    return LaunchedWrapper(spec, process)


def read_wrapper_status(launched: LaunchedWrapper, timeout_s: float) -> WrapperStatus:
    """Read the wrapper's status line, waiting at most `timeout_s`.

    On timeout or a missing line, kills the wrapper (and the container group, if one was recorded) and
    raises ProcessError naming the wrapper log.
    """
    stream = launched.process.stdout
    assert stream is not None
    data = b""
    deadline = time.monotonic() + timeout_s
    with selectors.DefaultSelector() as selector:
        selector.register(stream, selectors.EVENT_READ)
        while b"\n" not in data and (remaining := deadline - time.monotonic()) > 0:
            if not selector.select(remaining):
                continue
            chunk = os.read(stream.fileno(), 4096)
            if not chunk:
                break
            data += chunk
    stream.close()
    line = data.partition(b"\n")[0]
    if not line:
        _kill_failed_wrapper(launched)
        raise ProcessError(
            f"the container wrapper reported no status within {timeout_s:g} s; "
            f"see {launched.spec.record_dir / 'wrapper.log'}"
        )
    try:
        status = json.loads(line)
    except ValueError as exc:
        _kill_failed_wrapper(launched)
        raise ProcessError(f"the container wrapper reported an invalid status line {line[:200]!r}") from exc
    return WrapperStatus(pgid=status.get("pgid"), error=status.get("error"), exit_code=status.get("exit_code"))


def _kill_failed_wrapper(launched: LaunchedWrapper) -> None:
    try:
        os.killpg(launched.process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    launched.process.wait()
    pgid_text = _read_text(launched.spec.record_dir / "pgid")
    if pgid_text and pgid_text.isdigit():
        signal_group(int(pgid_text), signal.SIGKILL)


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        return None


def process_alive(pid: int, start_ticks: int) -> bool:
    """Return True if `pid` runs, is not a zombie, and started at `start_ticks` (so it is not a reused pid)."""
    stat = procfs.read_stat(pid)
    return stat is not None and not stat.is_zombie and stat.starttime == start_ticks


def group_alive(pgid: int, leader_start_ticks: int | None) -> bool:
    """Return True if process group `pgid` has a non-zombie member that belongs to this container.

    Fast path: the leader itself is alive. A leader pid with another start time belongs to a new group,
    because the kernel does not reuse a pid while a group of that id still has members.
    """
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    leader = procfs.read_stat(pgid)
    if leader is not None and leader_start_ticks is not None and leader.starttime != leader_start_ticks:
        return False
    if leader is not None and not leader.is_zombie and leader.pgrp == pgid:
        return True
    return procfs.group_has_live_member(pgid)


def signal_group(pgid: int, sig: int) -> bool:
    """Send `sig` to process group `pgid`; return False if the group no longer exists."""
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        return False
    except PermissionError as exc:
        raise ProcessError(f"not allowed to signal process group {pgid}: {exc}") from exc
    return True


def marked_pids(pod_uid: str) -> list[int]:
    """Return this user's live processes started with `JIRIAF_POD_UID=<pod_uid>` in their environment."""
    return procfs.pids_with_env_entry(f"JIRIAF_POD_UID={pod_uid}")


def signal_pids(pids: Iterable[int], sig: int) -> None:
    """Send `sig` to each pid that still exists."""
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            continue


@dataclass(frozen=True)
class GroupUsage:
    """Resource use of a process group and its descendants at one moment."""

    cpu_ns: int  # user + system time of live members, plus the time of children they reaped
    working_set_bytes: int
    leader_create_time: float | None  # epoch seconds, None if the leader is gone
    processes: int


class ProcessTable:
    """One /proc snapshot, so that measuring several groups costs a single scan."""

    def __init__(self) -> None:
        self.stats = {stat.pid: stat for stat in procfs.iter_stats()}
        self.children: dict[int, list[int]] = {}
        for stat in self.stats.values():
            self.children.setdefault(stat.ppid, []).append(stat.pid)

    def group_and_descendants(self, pgid: int) -> list[int]:
        """Return the live members of group `pgid` and every live descendant of a member."""
        found = [pid for pid, stat in self.stats.items() if stat.pgrp == pgid]
        seen = set(found)
        index = 0
        while index < len(found):
            for child in self.children.get(found[index], []):
                if child not in seen:
                    seen.add(child)
                    found.append(child)
            index += 1
        return [pid for pid in found if not self.stats[pid].is_zombie]

    def usage(self, pgid: int) -> GroupUsage | None:
        """Measure group `pgid` with psutil; None when it has no live process."""
        cpu_s = 0.0
        working_set = 0
        count = 0
        for pid in self.group_and_descendants(pgid):
            try:
                process = psutil.Process(pid)
                with process.oneshot():
                    times = process.cpu_times()
                    memory = process.memory_info()
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
            cpu_s += times.user + times.system + times.children_user + times.children_system
            # Working set is RSS minus file-backed and shared pages. A process made only of such pages
            # counts with its full RSS, so a live group never reports 0.
            anonymous = memory.rss - getattr(memory, "shared", 0)
            working_set += anonymous if anonymous > 0 else memory.rss
            count += 1
        if count == 0:
            return None
        leader = self.stats.get(pgid)
        create_time = None
        if leader is not None and not leader.is_zombie:
            try:
                create_time = psutil.Process(pgid).create_time()
            except psutil.NoSuchProcess:
                create_time = None
        return GroupUsage(int(cpu_s * 1e9), max(working_set, _PAGE_SIZE), create_time, count)
