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
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from jiriaf_fw.adapters import processes
from jiriaf_fw.adapters.container_wrapper import EXIT_START_FAILED, write_atomic
from jiriaf_fw.core.podspec import (
    ContainerCommand,
    MissingCommandError,
    PodPaths,
    PodRef,
    PodSpecError,
    build_command,
    check_name,
    container_environment,
    expand_home_references,
    pod_containers,
    pod_ref,
    working_dir,
)
from jiriaf_fw.core.podvolumes import parse_mounts, parse_volumes
from jiriaf_fw.services.agent.records import AgentRecords, ContainerRecord, PodRecord
from jiriaf_fw.services.agent.states import ContainerState, ContainerUsage, derive_terminated
from jiriaf_fw.services.agent.stopping import kill_pod_now, stop_pod
from jiriaf_fw.services.agent.volumes import (
    MaterialisedVolume,
    PodStartError,
    VolumeSources,
    materialise_volumes,
    mount_container_volumes,
)

__all__ = ["ContainerState", "ContainerUsage", "PodRuntime", "PodStartError", "ResolvedEnv", "VolumeSources"]

log = logging.getLogger(__name__)

ResolvedEnv = Mapping[str, Mapping[str, str]]
# Marks which pod owns the user-visible `<home>/<namespace>/<pod>/` directory, so `forget` never removes the
# directory of a newer pod that reuses the name.
POD_DIR_OWNER_FILE = ".jiriaf-pod-uid"


class Clock(Protocol):
    def now(self) -> datetime: ...  # aware UTC

    def monotonic(self) -> float: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()


@dataclass(frozen=True)
class _ContainerPlan:
    name: str
    command: ContainerCommand | None
    error: str | None
    env: dict[str, str]
    cwd: Path


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

    # ----- start -----

    def start(self, pod: dict[str, Any], volumes: VolumeSources, env: ResolvedEnv) -> None:
        """Materialise the pod's volumes and start every container, each under its own wrapper.

        Idempotent per pod UID: when this node already has records for the UID (after an agent restart),
        nothing is written or started; `states` then reports the recorded containers. A container without
        command and args, or whose executable cannot start, is recorded as terminated with StartError.
        Raises PodStartError (message fit for pod status) if the spec is invalid or a volume cannot be
        materialised; nothing is recorded then, so a later call may retry.
        """
        try:
            ref = pod_ref(pod)
        except PodSpecError as exc:
            raise PodStartError(str(exc)) from exc
        if self._records.read_pod(ref.uid) is not None:
            log.info("pod %s (uid %s) already has records on node %s; re-adopting it, starting nothing",
                     ref, ref.uid, self._nodename)
            return
        paths = PodPaths(self._home, ref.namespace, ref.name)
        try:
            plans = self._plan(pod, ref, paths, volumes, env)
        except PodSpecError as exc:
            raise PodStartError(f"pod {ref}: {exc}") from exc
        except OSError as exc:
            raise PodStartError(f"pod {ref}: could not prepare {paths.pod_dir}: {exc}") from exc

        write_atomic(paths.pod_dir / POD_DIR_OWNER_FILE, f"{ref.uid}\n".encode())
        scripts = {plan.name: plan.command.script_path if plan.command else None for plan in plans}
        self._records.write_pod(PodRecord(ref.uid, ref.namespace, ref.name, tuple(p.name for p in plans),
                                          scripts, self._pod_ip))
        log.info("starting pod %s (uid %s) with %d container(s)", ref, ref.uid, len(plans))
        self._launch(ref, paths, plans)

    def _plan(self, pod: dict[str, Any], ref: PodRef, paths: PodPaths, sources: VolumeSources,
              env: ResolvedEnv) -> list[_ContainerPlan]:
        containers = pod_containers(pod)
        specs = parse_volumes(pod)
        mounts = {container["name"]: parse_mounts(container, specs) for container in containers}
        materialised = materialise_volumes(paths, specs, sources)
        return [
            self._plan_container(ref, paths, container, mounts[container["name"]], materialised,
                                 env.get(container["name"], {}))
            for container in containers
        ]

    def _plan_container(self, ref: PodRef, paths: PodPaths, container: Mapping[str, Any], mounts: Any,
                        materialised: Mapping[str, MaterialisedVolume],
                        container_env: Mapping[str, str]) -> _ContainerPlan:
        name = container["name"]
        mounted = mount_container_volumes(paths, name, container.get("image"), mounts, materialised)
        home = str(self._home)
        full_env = container_environment(self._base_env, container_env, home=home, pod_uid=ref.uid)
        # `$(VAR)` in command and args refers to the container's own env, as in Kubernetes.
        own_env = {key: expand_home_references(value, home) for key, value in container_env.items()}
        cwd = working_dir(container, paths.container_dir(name), mounted.refs)
        try:
            command = build_command(container, own_env, mounted.refs, mounted.files, mounted.legacy_script)
        except MissingCommandError as exc:
            return _ContainerPlan(name, None, str(exc), full_env, cwd)
        return _ContainerPlan(name, command, None, full_env, cwd)

    def _launch(self, ref: PodRef, paths: PodPaths, plans: list[_ContainerPlan]) -> None:
        launched = []
        for plan in plans:
            if plan.command is None:
                self._start_failed(ref, plan.name, plan.error or "no command")
                continue
            try:
                plan.cwd.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                self._start_failed(ref, plan.name, f"workingDir {str(plan.cwd)!r} could not be created: {exc}")
                continue
            try:
                launched.append(processes.launch_wrapper(processes.WrapperSpec(
                    pod_uid=ref.uid, argv=plan.command.argv, env=plan.env, cwd=plan.cwd,
                    record_dir=self._records.container_dir(ref.uid, plan.name),
                    pgid_file=paths.pgid_file(plan.name),
                )))
            except (OSError, processes.ProcessError) as exc:
                self._start_failed(ref, plan.name, f"container {plan.name!r} could not start: {exc}")
        # Wrappers start in parallel; their status lines are collected afterwards.
        for item in launched:
            name = Path(item.spec.record_dir).name
            self._wrappers[(ref.uid, name)] = item.process
            try:
                status = processes.read_wrapper_status(item, self._wrapper_timeout_s)
            except processes.ProcessError as exc:
                if not self._records.has_exit_code(ref.uid, name):
                    self._start_failed(ref, name, str(exc))
                continue
            if status.error is not None:
                log.warning("pod %s container %s failed to start: %s", ref, name, status.error)
            else:
                log.info("pod %s container %s started, pgid %s", ref, name, status.pgid)
                self._link_logs_next_to_script(ref.uid, name)

    def _start_failed(self, ref: PodRef, container: str, message: str) -> None:
        log.warning("pod %s container %s: %s", ref, container, message)
        self._records.write_start_error(ref.uid, container, message, EXIT_START_FAILED, self._clock.now())

    def _link_logs_next_to_script(self, uid: str, container: str) -> None:
        """Add `stdout` and `stderr` symlinks beside the container's script, where the original agent kept them."""
        pod = self._records.read_pod(uid)
        script = pod.script_paths.get(container) if pod else None
        if script is None:
            return
        for link, target in (("stdout", self._records.stdout_path(uid, container)),
                             ("stderr", self._records.stderr_path(uid, container))):
            path = Path(script).parent / link
            if path.exists() or path.is_symlink():
                continue
            try:
                path.symlink_to(target)
            except OSError as exc:
                log.warning("could not link %s to %s: %s", path, target, exc)

    # ----- observe -----

    def known_pod_uids(self) -> set[str]:
        """Return the UIDs of the pods this node has records for."""
        return self._records.known_uids()

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
        if self._is_running(record):
            self._last_running[key] = now
            if record.pgid is None:
                return ContainerState(name, "waiting", None, None, None, "ContainerCreating",
                                      "the container wrapper is starting", None, script)
            return ContainerState(name, "running", record.started_at, None, None, None, None, record.pgid, script)
        state = derive_terminated(name, record, script, stop_requested_at, self._last_running.get(key), now)
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
        process = self._wrappers.get(key)
        if process is not None and process.poll() is not None:
            del self._wrappers[key]

    def log_path(self, pod_uid: str, container: str) -> Path:
        """Return the container's stdout file, which the kubelet logs endpoint serves.

        stderr is kept apart, in `stderr_path`; merging them would need a copying process between the
        container and the files, and a container must not die because such a process did.
        """
        return self._records.stdout_path(pod_uid, container)

    def stderr_path(self, pod_uid: str, container: str) -> Path:
        """Return the container's stderr file."""
        return self._records.stderr_path(pod_uid, container)

    def usage(self, pod_uid: str) -> dict[str, ContainerUsage]:
        """Measure each container whose process group has a live process; others are left out.

        The group measured is the one in the user-visible pgid file, re-read on every call, because user
        scripts rewrite it to point the metrics at another process; it falls back to the recorded pgid.
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
        pod = self._records.read_pod(pod_uid)
        if pod is None:
            log.debug("stop: no records for pod uid %s on node %s", pod_uid, self._nodename)
            return
        self._records.write_stop_requested(pod_uid, self._clock.now())
        await stop_pod(self._records, pod, grace_s, self._clock.monotonic, self._poll_interval_s)
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
        for cache in (self._terminal, self._last_running, self._wrappers):
            for key in [key for key in cache if key[0] == pod_uid]:
                del cache[key]
        for usage_key in [key for key in self._cpu_high_water if key[0] == pod_uid]:
            del self._cpu_high_water[usage_key]


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        return None


def _read_pgid_file(path: Path) -> int | None:
    text = _read_text(path)
    return int(text) if text and text.isdigit() and int(text) > 1 else None

