"""Readers for Linux `/proc`: process stat lines, process groups and environment markers.

Standard library only, because the container wrapper imports this module and must start fast. Every reader
treats a process that vanished between listing and reading as absent rather than as an error.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")


@dataclass(frozen=True)
class ProcStat:
    """The fields of `/proc/<pid>/stat` this project uses. Times are in clock ticks (`SC_CLK_TCK`)."""

    pid: int
    comm: str
    state: str
    ppid: int
    pgrp: int
    session: int
    utime: int
    stime: int
    cutime: int
    cstime: int
    starttime: int

    @property
    def is_zombie(self) -> bool:
        # "X" (dead) shows for an instant while the kernel tears a process down.
        return self.state in ("Z", "X")


def parse_stat(text: str) -> ProcStat:
    """Parse one `/proc/<pid>/stat` line; `comm` may contain spaces and parentheses.

    Raises ValueError on a line that does not have the kernel's layout.
    """
    head, sep, tail = text.rpartition(")")
    pid_text, open_paren, comm = head.partition(" (")
    if not sep or not open_paren:
        raise ValueError(f"invalid /proc stat line: {text[:80]!r}")
    fields = tail.split()
    # fields[0] is field 3 of proc(5) (state); starttime is field 22.
    if len(fields) < 20:
        raise ValueError(f"invalid /proc stat line, only {len(fields)} fields after comm: {text[:80]!r}")
    return ProcStat(
        pid=int(pid_text),
        comm=comm,
        state=fields[0],
        ppid=int(fields[1]),
        pgrp=int(fields[2]),
        session=int(fields[3]),
        utime=int(fields[11]),
        stime=int(fields[12]),
        cutime=int(fields[13]),
        cstime=int(fields[14]),
        starttime=int(fields[19]),
    )


def read_stat(pid: int) -> ProcStat | None:
    """Return the stat of `pid`, or None if no such process exists."""
    try:
        text = (PROC / str(pid) / "stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return parse_stat(text)


def list_pids() -> list[int]:
    """Return the ids of every process visible in /proc."""
    return [int(name) for name in os.listdir(PROC) if name.isdigit()]


def iter_stats() -> Iterator[ProcStat]:
    """Yield the stat of every process that still exists when it is read."""
    for pid in list_pids():
        stat = read_stat(pid)
        if stat is not None:
            yield stat


def group_has_live_member(pgid: int) -> bool:
    """Return True if a non-zombie process with process group `pgid` exists (a full /proc scan)."""
    return any(stat.pgrp == pgid and not stat.is_zombie for stat in iter_stats())


def is_own_process(pid: int) -> bool:
    """Return True if `pid` exists and belongs to the real user running this code."""
    try:
        return (PROC / str(pid)).stat().st_uid == os.getuid()
    except FileNotFoundError:
        return False


def read_environ(pid: int) -> list[bytes] | None:
    """Return the NUL-separated `NAME=value` entries of a process, or None if unreadable or gone.

    The entries are those the process was started with; a zombie has none.
    """
    try:
        data = (PROC / str(pid) / "environ").read_bytes()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    return [entry for entry in data.split(b"\0") if entry]


def pids_with_env_entry(entry: str) -> list[int]:
    """Return the live processes of this user whose start environment contains exactly `entry`.

    `entry` is a whole `NAME=value` string, so `NAME=value2` and `OTHER_NAME=value` do not match. The calling
    process is never included.
    """
    target = entry.encode()
    found = []
    for pid in list_pids():
        if pid == os.getpid() or not is_own_process(pid):
            continue
        environ = read_environ(pid)
        if environ and target in environ:
            found.append(pid)
    return found
