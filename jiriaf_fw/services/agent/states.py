"""Container states and usage as the runtime reports them, and how a state is derived from records.

`derive_terminated` is pure: it turns what is on disk (plus what the runtime observed) into the
`ContainerState` of a container that no longer runs.
"""

from __future__ import annotations

import signal
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from jiriaf_fw.services.agent.records import ContainerRecord

# Reported when a container's group is gone and no exit status was recorded, like SIGKILL's 128 + 9.
LOST_EXIT_CODE = 137


@dataclass(frozen=True)
class ContainerState:
    """One container's state, in the terms of a Kubernetes ContainerStatus."""

    name: str
    state: Literal["waiting", "running", "terminated"]
    started_at: datetime | None  # aware UTC
    finished_at: datetime | None
    exit_code: int | None  # the real exit status; 128 + signal when killed by a signal
    reason: str | None  # "Completed", "Error", "Killed", "StartError", "Unknown", "ContainerCreating"
    message: str | None
    pgid: int | None
    script_path: str | None  # host path of the script the container runs, if any (reported as imageID)


@dataclass(frozen=True)
class ContainerUsage:
    """Resource use of one container's process group and its descendants."""

    cpu_ns: int  # cumulative and never decreasing for the same pgid; includes reaped children
    working_set_bytes: int  # RSS minus file-backed and shared pages; never 0 while a process lives
    start_time: datetime  # container start, or the start of the group named in a user-rewritten pgid file
    pgid: int
    sampled_at: datetime


def describe_exit(code: int) -> str:
    """Return "exit code 3" or "exit code 137 (SIGKILL)" for a shell-style exit status."""
    if code > 128:
        try:
            return f"exit code {code} ({signal.Signals(code - 128).name})"
        except ValueError:
            pass
    return f"exit code {code}"


def derive_terminated(
    name: str,
    record: ContainerRecord,
    script_path: str | None,
    stop_requested_at: datetime | None,
    last_seen_running: datetime | None,
    now: datetime,
) -> ContainerState:
    """Build the terminated state of a container whose processes are all gone.

    With a recorded exit status the code is real: reason Completed for 0, StartError when the container got
    no process, Killed when the agent stopped it, Error otherwise. Without one, the agent lost the container
    and reports 137 with reason Unknown. finished_at is never earlier than the last time it was seen running.
    """
    finished = record.finished_at
    if last_seen_running is not None and (finished is None or finished < last_seen_running):
        finished = last_seen_running
    if record.exit_code is None:
        if record.pgid is None:
            message = "the container's process was never recorded; the agent stopped while starting it"
        else:
            message = (f"process group {record.pgid} ended without a recorded exit status; "
                       "its wrapper was killed or the agent lost track of it")
        return ContainerState(name, "terminated", record.started_at, finished or now, LOST_EXIT_CODE,
                              "Unknown", message, record.pgid, script_path)

    code = record.exit_code
    if record.start_error is not None:
        reason, message = "StartError", record.start_error
    elif code == 0:
        reason, message = "Completed", None
    elif stop_requested_at is not None and (record.finished_at is None or record.finished_at >= stop_requested_at):
        reason, message = "Killed", f"stopped by the agent; {describe_exit(code)}"
    else:
        reason, message = "Error", describe_exit(code)
    return ContainerState(name, "terminated", record.started_at, finished or now, code, reason, message,
                          record.pgid, script_path)
