"""The container runtime of the JRM agent: a Pod's containers become process groups on this host.

No Kubernetes API calls happen here; the controller reads the API, resolves ConfigMaps, Secrets and
`valueFrom`, and calls `PodRuntime`. All state lives on disk (see `records` and `volumes` for the layout),
so a new `PodRuntime` after an agent restart re-adopts running pods and reports finished ones with their
real exit status. Every method except `stop` is synchronous and cheap enough to call every second or two.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jiriaf_fw.adapters import processes
from jiriaf_fw.adapters.container_wrapper import write_atomic
from jiriaf_fw.core.podspec import PodPaths, PodRef, PodSpecError, check_name, pod_ref
from jiriaf_fw.services.agent.records import AgentRecords, ContainerRecord, PodRecord
from jiriaf_fw.services.agent.starting import launch_pod, plan_pod
from jiriaf_fw.services.agent.states import ContainerState, ContainerUsage, derive_terminated
from jiriaf_fw.services.agent.stopping import kill_pod_now, stop_pod
from jiriaf_fw.services.agent.volumes import PodStartError, VolumeSources
from jiriaf_fw.services.agent.walltime import Clock, SystemClock

__all__ = ["ContainerState", "ContainerUsage", "PodRuntime", "PodStartError", "ResolvedEnv", "VolumeSources"]

log = logging.getLogger(__name__)

ResolvedEnv = Mapping[str, Mapping[str, str]]
# Marks which pod owns the user-visible `<home>/<namespace>/<pod>/` directory, so `forget` never removes the
# directory of a newer pod that reuses the name.
POD_DIR_OWNER_FILE = ".jiriaf-pod-uid"


class PodRuntime:
    """Starts, observes, stops and forgets the pods of one node.

    `home` is the user's `$HOME` (shared by every node of a site), `nodename` keys this node's records,
    `base_env` is the environment every container inherits before its own env is laid on top.
    """

    def __init__(
        self,
        *,
        home: Path,
        nodename: str,
        pod_ip: str,
        base_env: Mapping[str, str],
        clock: Clock | None = None,
        wrapper_timeout_s: float = 15.0,
        poll_interval_s: float = 0.1,
    ) -> None:
        self._home = Path(home)
        self._nodename = check_name(nodename, "agent node name")
        self._pod_ip = pod_ip
        self._base_env = dict(base_env)
        self._clock: Clock = clock or SystemClock()
        self._wrapper_timeout_s = wrapper_timeout_s
        self._poll_interval_s = poll_interval_s
        self._records = AgentRecords(self._home, self._nodename)
        self._wrappers: dict[tuple[str, str], subprocess.Popen[bytes]] = {}
        self._terminal: dict[tuple[str, str], ContainerState] = {}
        self._last_running: dict[tuple[str, str], datetime] = {}
        self._cpu_high_water: dict[tuple[str, str, int], int] = {}
        self._starting: set[str] = set()
        self._stopped: set[str] = set()  # UIDs `stop` was called for, until `forget`
        # `start` may run in a worker thread, because it blocks on wrapper start-up, while the event loop
        # calls the other methods. The lock guards the in-memory caches above.
        self._lock = threading.Lock()

    # ----- start -----

    def start(self, pod: dict[str, Any], volumes: VolumeSources, env: ResolvedEnv) -> None:
        """Materialise the pod's volumes and start every container, each under its own wrapper.

        Idempotent per pod UID: nothing is written or started when this node already has records for the
        UID (after an agent restart), when a start of it is under way in another thread, or after `stop`
        was called for it. A container without command and args, or whose executable cannot start, is
        recorded as terminated with StartError. Raises PodStartError (message fit for pod status) if the
        spec is invalid or a volume cannot be materialised; no pod record exists then, so a later call
        may retry. Safe to run in a worker thread while other methods run in the event loop.
        """
        try:
            ref = pod_ref(pod)
        except PodSpecError as exc:
            raise PodStartError(str(exc)) from exc
        with self._lock:
            if ref.uid in self._stopped:
                log.info("pod %s (uid %s) was stopped before it started; not starting it", ref, ref.uid)
                return
            if ref.uid in self._starting or self._records.read_pod(ref.uid) is not None:
                log.info("pod %s (uid %s) already has records on node %s; re-adopting it, starting nothing",
                         ref, ref.uid, self._nodename)
                return
            self._starting.add(ref.uid)
        try:
            self._start_new(pod, ref, volumes, env)
        finally:
            with self._lock:
                self._starting.discard(ref.uid)

    def _start_new(self, pod: dict[str, Any], ref: PodRef, volumes: VolumeSources, env: ResolvedEnv) -> None:
        paths = PodPaths(self._home, ref.namespace, ref.name)
        try:
            plans = plan_pod(pod, ref, paths, volumes, env, self._base_env)
            write_atomic(paths.pod_dir / POD_DIR_OWNER_FILE, f"{ref.uid}\n".encode())
            scripts = {plan.name: plan.command.script_path if plan.command else None for plan in plans}
            self._records.write_pod(PodRecord(ref.uid, ref.namespace, ref.name, tuple(p.name for p in plans),
                                              scripts, self._pod_ip))
        except PodSpecError as exc:
            raise PodStartError(f"pod {ref}: {exc}") from exc
        except OSError as exc:
            raise PodStartError(f"pod {ref}: could not prepare {paths.pod_dir}: {exc}") from exc

        log.info("starting pod %s (uid %s) with %d container(s)", ref, ref.uid, len(plans))
        try:
            wrappers = launch_pod(self._records, ref, paths, plans, self._clock.now, self._wrapper_timeout_s)
        except OSError as exc:
            raise PodStartError(f"pod {ref}: could not write its container records: {exc}") from exc
        with self._lock:
            self._wrappers.update({(ref.uid, name): process for name, process in wrappers.items()})

    # ----- observe -----

    def known_pod_uids(self) -> set[str]:
        """Return the UIDs of the pods this node has records for."""
        return self._records.known_uids()

    def pod_identity(self, pod_uid: str) -> tuple[str, str] | None:
        """Return the recorded (namespace, name) of a pod UID, or None if this node has no records for it."""
        pod = self._records.read_pod(pod_uid)
        return (pod.namespace, pod.name) if pod is not None else None

    def states(self, pod_uid: str) -> list[ContainerState]:
        """Return the state of each container in spec order; [] for a UID this node has no records for.

        A terminated state is final: once reported it is cached and never recomputed.
        """
        pod = self._records.read_pod(pod_uid)
        if pod is None:
            return []
        stop_requested_at = self._records.read_stop_requested(pod_uid)
        return [self._state(pod, name, stop_requested_at) for name in pod.containers]

    def _state(self, pod: PodRecord, name: str, stop_requested_at: datetime | None) -> ContainerState:
        key = (pod.uid, name)
        cached = self._terminal.get(key)
        if cached is not None:
            return cached
        self._reap_wrapper(key)
        record = self._records.read_container(pod.uid, name)
        script = pod.script_paths.get(name)
        now = self._clock.now()
        starting = pod.uid in self._starting and record.pgid is None and record.exit_code is None
        if starting or self._is_running(record):
            self._last_running[key] = now
            if record.pgid is None:
                return ContainerState(name, "waiting", None, None, None, "ContainerCreating",
                                      "the container's process is being started", None, script)
            return ContainerState(name, "running", record.started_at, None, None, None, None, record.pgid, script)
        state = derive_terminated(name, record, script, stop_requested_at, self._last_running.get(key), now)
        with self._lock:
            self._terminal[key] = state
        return state

    @staticmethod
    def _is_running(record: ContainerRecord) -> bool:
        """True while the container's group has a live member, or its wrapper has yet to record the exit.

        A group outliving its leader (say a `nohup cmd &` left behind) keeps the container running, as in
        the original agent.
        """
        if record.start_error is not None:
            return False
        if record.pgid is not None:
            leader_ticks = record.leader.start_ticks if record.leader else None
            if processes.group_alive(record.pgid, leader_ticks):
                return True
        wrapper = record.wrapper
        return (record.exit_code is None and wrapper is not None
                and processes.process_alive(wrapper.pid, wrapper.start_ticks))

    def _reap_wrapper(self, key: tuple[str, str]) -> None:
        with self._lock:
            process = self._wrappers.get(key)
            if process is not None and process.poll() is not None:
                del self._wrappers[key]

    def log_path(self, pod_uid: str, container: str) -> Path:
        """Return the container's stdout file, which the kubelet logs endpoint serves.

        stderr is kept apart, in `stderr_path`. Merging them would need a copying process between the
        container and the files, and a container must not die because such a process did.
        """
        return self._records.stdout_path(pod_uid, container)

    def stderr_path(self, pod_uid: str, container: str) -> Path:
        """Return the container's stderr file."""
        return self._records.stderr_path(pod_uid, container)

    def usage(self, pod_uid: str) -> dict[str, ContainerUsage]:
        """Measure each container whose process group has a live process; others are left out.

        The group measured is the one in the user-visible pgid file, re-read on every call, because user
        scripts rewrite it to point the metrics at another process. Without a valid file, the recorded
        pgid is used.
        """
        pod = self._records.read_pod(pod_uid)
        if pod is None:
            return {}
        table = processes.ProcessTable()
        now = self._clock.now()
        paths = PodPaths(self._home, pod.namespace, pod.name)
        result = {}
        for name in pod.containers:
            record = self._records.read_container(pod_uid, name)
            pgid = _read_pgid_file(paths.pgid_file(name)) or record.pgid
            measured = table.usage(pgid) if pgid is not None else None
            if pgid is None or measured is None:
                continue
            key = (pod_uid, name, pgid)
            cpu_ns = max(measured.cpu_ns, self._cpu_high_water.get(key, 0))
            self._cpu_high_water[key] = cpu_ns
            if pgid == record.pgid and record.started_at is not None:
                start = record.started_at
            elif measured.leader_create_time is not None:
                start = datetime.fromtimestamp(measured.leader_create_time, UTC)
            else:
                start = now
            result[name] = ContainerUsage(cpu_ns, measured.working_set_bytes, start, pgid, now)
        return result

    # ----- stop and forget -----

    async def stop(self, pod_uid: str, grace_s: float) -> None:
        """Stop every process of the pod; see `stopping.stop_pod` for the signal ladder.

        The wrappers record each container's exit status (143 after SIGTERM, 137 after SIGKILL), and
        `states` reports containers ended this way with reason Killed. A UID without records is ignored.
        """
        with self._lock:
            self._stopped.add(pod_uid)  # a `start` that has not begun yet will not start the pod
        # Wait for a `start` running in a worker thread, so the processes it starts are stopped too.
        while pod_uid in self._starting:
            await self._clock.sleep(self._poll_interval_s)
        pod = self._records.read_pod(pod_uid)
        if pod is None:
            log.debug("stop: no records for pod uid %s on node %s", pod_uid, self._nodename)
            return
        self._records.write_stop_requested(pod_uid, self._clock.now())
        await stop_pod(self._records, pod, grace_s, self._clock, self._poll_interval_s)
        for name in pod.containers:
            self._reap_wrapper((pod_uid, name))

    def forget(self, pod_uid: str, namespace: str, name: str) -> None:
        """Remove the pod's records and its user-visible directory, once the pod object is gone.

        Processes still alive are killed first with SIGKILL (a warning is logged), so nothing runs untracked.
        `<home>/<namespace>/<name>/` is removed only if it belongs to this UID, never a newer pod's.
        """
        paths = PodPaths(self._home, check_name(namespace, "forget namespace"), check_name(name, "forget name"))
        pod = self._records.read_pod(pod_uid)
        if pod is not None:
            kill_pod_now(self._records, pod)
        self._records.remove(pod_uid)
        owner = _read_text(paths.pod_dir / POD_DIR_OWNER_FILE)
        if owner == pod_uid:
            shutil.rmtree(paths.pod_dir, ignore_errors=True)
        elif paths.pod_dir.exists():
            log.info("kept %s: it belongs to pod uid %s, not %s", paths.pod_dir, owner, pod_uid)
        with self._lock:
            for cache in (self._terminal, self._last_running, self._wrappers, self._cpu_high_water):
                _drop_pod_keys(cache, pod_uid)
            self._stopped.discard(pod_uid)


def _read_text(path: Path) -> str | None:
    """Return the stripped content of a small user-writable file, or None if it is missing or unreadable."""
    try:
        return path.read_text().strip()
    except (OSError, UnicodeDecodeError):
        return None


def _read_pgid_file(path: Path) -> int | None:
    text = _read_text(path)
    return int(text) if text and text.isdigit() and int(text) > 1 else None


def _drop_pod_keys(cache: dict[Any, Any], pod_uid: str) -> None:
    """Delete the entries of a cache keyed by tuples whose first item is the pod UID."""
    for key in [key for key in cache if key[0] == pod_uid]:
        del cache[key]
