"""Starting a pod: plan each container (mounts, env, argv, working dir), then launch the wrappers.

`plan_pod` materialises volumes and raises PodSpecError, PodStartError or OSError for problems that
concern the whole pod. `launch_pod` records a container that cannot start as StartError and goes on with
the other containers.
"""

from __future__ import annotations

import logging
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from jiriaf_fw.adapters import processes
from jiriaf_fw.adapters.container_wrapper import EXIT_START_FAILED
from jiriaf_fw.core.podspec import (
    ContainerCommand,
    MissingCommandError,
    PodPaths,
    PodRef,
    build_command,
    container_environment,
    expand_home_references,
    pod_containers,
    working_dir,
)
from jiriaf_fw.core.podvolumes import MountSpec, parse_mounts, parse_volumes
from jiriaf_fw.services.agent.records import AgentRecords
from jiriaf_fw.services.agent.volumes import (
    MaterialisedVolume,
    VolumeSources,
    materialise_volumes,
    mount_container_volumes,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ContainerPlan:
    """Command, environment and working directory of one container; `command` is None when it cannot
    start, with the reason in `error`."""

    name: str
    command: ContainerCommand | None
    error: str | None
    env: dict[str, str]
    cwd: Path


def plan_pod(
    pod: Mapping[str, Any],
    ref: PodRef,
    paths: PodPaths,
    sources: VolumeSources,
    env: Mapping[str, Mapping[str, str]],
    base_env: Mapping[str, str],
) -> list[ContainerPlan]:
    """Materialise the pod's volumes, mount them into each container directory and plan each container."""
    containers = pod_containers(pod)
    specs = parse_volumes(pod)
    mounts = {container["name"]: parse_mounts(container, specs) for container in containers}
    materialised = materialise_volumes(paths, specs, sources)
    return [
        _plan_container(ref, paths, container, mounts[container["name"]], materialised,
                        env.get(container["name"], {}), base_env)
        for container in containers
    ]


def _plan_container(
    ref: PodRef,
    paths: PodPaths,
    container: Mapping[str, Any],
    mounts: tuple[MountSpec, ...],
    materialised: Mapping[str, MaterialisedVolume],
    container_env: Mapping[str, str],
    base_env: Mapping[str, str],
) -> ContainerPlan:
    name = container["name"]
    mounted = mount_container_volumes(paths, name, container.get("image"), mounts, materialised)
    home = str(paths.home)
    full_env = container_environment(base_env, container_env, home=home, pod_uid=ref.uid)
    # `$(VAR)` in command and args refers to the container's own env, as in Kubernetes.
    own_env = {key: expand_home_references(value, home) for key, value in container_env.items()}
    cwd = working_dir(container, paths.container_dir(name), mounted.refs)
    try:
        command = build_command(container, own_env, mounted.refs, mounted.files, mounted.legacy_script)
    except MissingCommandError as exc:
        return ContainerPlan(name, None, str(exc), full_env, cwd)
    return ContainerPlan(name, command, None, full_env, cwd)


def launch_pod(
    records: AgentRecords,
    ref: PodRef,
    paths: PodPaths,
    plans: list[ContainerPlan],
    now: Callable[[], datetime],
    wrapper_timeout_s: float,
) -> dict[str, subprocess.Popen[bytes]]:
    """Start a wrapper per container, then collect their status lines; returns the wrappers by container.

    Wrappers start one after another without waiting, so their Python start-up times overlap.
    """

    def start_failed(container: str, message: str) -> None:
        log.warning("pod %s container %s: %s", ref, container, message)
        records.write_start_error(ref.uid, container, message, EXIT_START_FAILED, now())

    launched = []
    for plan in plans:
        if plan.command is None:
            start_failed(plan.name, plan.error or "no command")
            continue
        try:
            plan.cwd.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            start_failed(plan.name, f"workingDir {str(plan.cwd)!r} could not be created: {exc}")
            continue
        spec = processes.WrapperSpec(
            pod_uid=ref.uid, argv=plan.command.argv, env=plan.env, cwd=plan.cwd,
            record_dir=records.container_dir(ref.uid, plan.name), pgid_file=paths.pgid_file(plan.name),
        )
        try:
            launched.append((plan, processes.launch_wrapper(spec)))
        except processes.ProcessError as exc:
            start_failed(plan.name, f"container {plan.name!r} could not start: {exc}")

    wrappers = {}
    for plan, item in launched:
        wrappers[plan.name] = item.process
        try:
            status = processes.read_wrapper_status(item, wrapper_timeout_s)
        except processes.ProcessError as exc:
            if not records.has_exit_code(ref.uid, plan.name):
                start_failed(plan.name, str(exc))
            continue
        if status.error is not None:
            log.warning("pod %s container %s failed to start: %s", ref, plan.name, status.error)
        else:
            log.info("pod %s container %s started, pgid %s", ref, plan.name, status.pgid)
            assert plan.command is not None
            _link_logs_next_to_script(records, ref.uid, plan.name, plan.command.script_path)
    return wrappers


def _link_logs_next_to_script(records: AgentRecords, uid: str, container: str, script: str | None) -> None:
    """Add `stdout` and `stderr` symlinks beside the container's script, where the original agent kept them."""
    if script is None:
        return
    for link, target in (("stdout", records.stdout_path(uid, container)),
                         ("stderr", records.stderr_path(uid, container))):
        path = Path(script).parent / link
        if path.exists() or path.is_symlink():
            continue
        try:
            path.symlink_to(target)
        except OSError as exc:
            log.warning("could not link %s to %s: %s", path, target, exc)
