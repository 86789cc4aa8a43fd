"""The agent's own on-disk records of the pods it started, keyed by node name and pod UID.

Layout (`$HOME` is shared by every node of a site, hence the node level):

    $HOME/.jiriaf/agent/<nodename>/pods/<uid>/pod.json           namespace, name, container order, scripts
    $HOME/.jiriaf/agent/<nodename>/pods/<uid>/stop_requested     time the agent began stopping the pod
    $HOME/.jiriaf/agent/<nodename>/pods/<uid>/<container>/       pgid, leader, wrapper, started_at,
                                                                 finished_at, exit_code, start_error,
                                                                 stdout, stderr, wrapper.log

The container files are written by the container wrapper (see `jiriaf_fw.adapters.container_wrapper`),
except `start_error` for containers that never got a process. No environment value or argument is stored,
because either may hold a secret.
"""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from jiriaf_fw.adapters import container_wrapper as files
from jiriaf_fw.core.errors import JiriafError

log = logging.getLogger(__name__)

POD_RECORD = "pod.json"
STOP_REQUESTED = "stop_requested"


class RecordError(JiriafError):
    """An agent record on disk is unreadable or malformed."""


@dataclass(frozen=True)
class PodRecord:
    uid: str
    namespace: str
    name: str
    containers: tuple[str, ...]
    script_paths: dict[str, str | None]
    pod_ip: str


@dataclass(frozen=True)
class ProcessRef:
    pid: int
    start_ticks: int


@dataclass(frozen=True)
class ContainerRecord:
    """The on-disk records of one container; every field is None until its file exists."""

    pgid: int | None
    leader: ProcessRef | None
    wrapper: ProcessRef | None
    started_at: datetime | None
    finished_at: datetime | None
    exit_code: int | None
    start_error: str | None


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        return None


def _read_int(path: Path) -> int | None:
    text = _read(path)
    if text is None:
        return None
    try:
        return int(text)
    except ValueError as exc:
        raise RecordError(f"record {path} contains {text!r}, not an integer") from exc


def _read_time(path: Path) -> datetime | None:
    text = _read(path)
    if text is None:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError as exc:
        raise RecordError(f"record {path} contains {text!r}, not an ISO 8601 time") from exc


def _read_process(path: Path) -> ProcessRef | None:
    text = _read(path)
    if text is None:
        return None
    try:
        pid, ticks = (int(part) for part in text.split())
    except ValueError as exc:
        raise RecordError(f"record {path} contains {text!r}, not '<pid> <start ticks>'") from exc
    return ProcessRef(pid, ticks)


class AgentRecords:
    """Reads and writes one node's records under `$HOME/.jiriaf/agent/<nodename>/pods/`."""

    def __init__(self, home: Path, nodename: str) -> None:
        self.root = home / ".jiriaf" / "agent" / nodename / "pods"

    def pod_dir(self, uid: str) -> Path:
        return self.root / uid

    def container_dir(self, uid: str, container: str) -> Path:
        return self.root / uid / container

    def known_uids(self) -> set[str]:
        """Return the UIDs that have a pod record on this node."""
        if not self.root.is_dir():
            return set()
        return {entry.name for entry in self.root.iterdir() if (entry / POD_RECORD).is_file()}

    def write_pod(self, record: PodRecord) -> None:
        """Create the pod's record directories (mode 0700) and write `pod.json`."""
        pod_dir = self.pod_dir(record.uid)
        pod_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        for container in record.containers:
            self.container_dir(record.uid, container).mkdir(exist_ok=True, mode=0o700)
        document = {
            "uid": record.uid,
            "namespace": record.namespace,
            "name": record.name,
            "containers": list(record.containers),
            "script_paths": record.script_paths,
            "pod_ip": record.pod_ip,
        }
        files.write_atomic(pod_dir / POD_RECORD, json.dumps(document, indent=2).encode() + b"\n", 0o600)

    def read_pod(self, uid: str) -> PodRecord | None:
        """Return the pod record, or None if this node has none for `uid`."""
        path = self.pod_dir(uid) / POD_RECORD
        text = _read(path)
        if text is None:
            return None
        try:
            document = json.loads(text)
            return PodRecord(
                uid=document["uid"],
                namespace=document["namespace"],
                name=document["name"],
                containers=tuple(document["containers"]),
                script_paths=dict(document["script_paths"]),
                pod_ip=document.get("pod_ip", ""),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise RecordError(f"pod record {path} is malformed: {exc}") from exc

    def read_container(self, uid: str, container: str) -> ContainerRecord:
        directory = self.container_dir(uid, container)
        return ContainerRecord(
            pgid=_read_int(directory / files.PGID_FILE),
            leader=_read_process(directory / files.LEADER_FILE),
            wrapper=_read_process(directory / files.WRAPPER_FILE),
            started_at=_read_time(directory / files.STARTED_AT_FILE),
            finished_at=_read_time(directory / files.FINISHED_AT_FILE),
            exit_code=_read_int(directory / files.EXIT_CODE_FILE),
            start_error=_read(directory / files.START_ERROR_FILE),
        )

    def has_exit_code(self, uid: str, container: str) -> bool:
        return (self.container_dir(uid, container) / files.EXIT_CODE_FILE).exists()

    def write_start_error(self, uid: str, container: str, message: str, code: int, when: datetime) -> None:
        """Record that a container got no process: `start_error`, `started_at`, `finished_at`, `exit_code`."""
        directory = self.container_dir(uid, container)
        stamp = when.isoformat().encode() + b"\n"
        files.write_atomic(directory / files.START_ERROR_FILE, message.encode() + b"\n", 0o600)
        files.write_atomic(directory / files.STARTED_AT_FILE, stamp, 0o600)
        files.write_atomic(directory / files.FINISHED_AT_FILE, stamp, 0o600)
        files.write_atomic(directory / files.EXIT_CODE_FILE, f"{code}\n".encode(), 0o600)

    def write_stop_requested(self, uid: str, when: datetime) -> None:
        """Record when the agent began stopping the pod, unless an earlier time is already recorded."""
        path = self.pod_dir(uid) / STOP_REQUESTED
        if not path.exists():
            files.write_atomic(path, when.isoformat().encode() + b"\n", 0o600)

    def read_stop_requested(self, uid: str) -> datetime | None:
        return _read_time(self.pod_dir(uid) / STOP_REQUESTED)

    def stdout_path(self, uid: str, container: str) -> Path:
        return self.container_dir(uid, container) / files.STDOUT_FILE

    def stderr_path(self, uid: str, container: str) -> Path:
        return self.container_dir(uid, container) / files.STDERR_FILE

    def remove(self, uid: str) -> None:
        """Delete every record of `uid` on this node; a missing directory is fine."""
        if self.pod_dir(uid).exists():
            shutil.rmtree(self.pod_dir(uid))
