"""Helpers for the container runtime tests: polling, pod builders, process checks."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any, TypeVar

import pytest

from jiriaf_fw.adapters import procfs
from jiriaf_fw.services.agent.runtime import PodRuntime

T = TypeVar("T")


def wait_until(condition: Callable[[], T], timeout_s: float = 15.0, description: str = "condition") -> T:
    """Poll `condition` every 50 ms until it returns a truthy value; fail the test after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s} s waiting for {description}")
        time.sleep(0.05)


async def wait_until_async(condition: Callable[[], T], timeout_s: float = 15.0, description: str = "condition") -> T:
    """Like `wait_until`, but yields to the event loop between polls."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s} s waiting for {description}")
        await asyncio.sleep(0.01)


def pids_with_env_prefix(prefix: str) -> list[int]:
    """Return live processes whose environment has a JIRIAF_POD_UID or wrapper marker starting with `prefix`."""
    markers = (f"JIRIAF_POD_UID={prefix}".encode(), f"JIRIAF_WRAPPER_POD_UID={prefix}".encode())
    found = []
    for pid in procfs.list_pids():
        environ = procfs.read_environ(pid)
        if environ and any(entry.startswith(markers) for entry in environ):
            found.append(pid)
    return found


def is_gone(pid: int) -> bool:
    """True once `pid` no longer runs. A zombie counts as gone, because a container's PID 1 may never reap orphans."""
    stat = procfs.read_stat(pid)
    return stat is None or stat.is_zombie


def make_pod(
    uid: str,
    containers: list[dict[str, Any]],
    volumes: list[dict[str, Any]] | None = None,
    name: str = "demo",
    namespace: str = "default",
) -> dict[str, Any]:
    """Build a Pod as the controller passes it: a plain JSON dict."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "uid": uid},
        "spec": {"containers": containers, "volumes": volumes or []},
    }


def script_pod(uid: str, script: str, args: list[str] | None = None, name: str = "demo") -> dict[str, Any]:
    """A pod running `bash /scripts/run.sh ARGS` from a ConfigMap volume named "scripts" (key run.sh)."""
    container = {
        "name": "main",
        "image": "scripts",
        "command": ["bash", "/scripts/run.sh"],
        "args": args or [],
        "volumeMounts": [{"name": "scripts", "mountPath": "/scripts"}],
    }
    return make_pod(uid, [container], [{"name": "scripts", "configMap": {"name": "scripts"}}], name=name)


def script_sources(script: str) -> dict[str, dict[str, bytes]]:
    return {"scripts": {"run.sh": script.encode()}}


def terminated(runtime: PodRuntime, uid: str) -> Callable[[], Any]:
    """A condition for `wait_until`: the states, once every container has terminated."""

    def check() -> Any:
        states = runtime.states(uid)
        return states if states and all(state.state == "terminated" for state in states) else None

    return check
