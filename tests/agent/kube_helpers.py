"""Pods, ConfigMaps and polling helpers shared by the agent tests."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from typing import Any

import psutil
from lightkube import ApiError, AsyncClient
from lightkube.resources.core_v1 import ConfigMap, Pod

TOLERATION = {"key": "virtual-kubelet.io/provider", "value": "mock", "effect": "NoSchedule"}


async def eventually(
    check: Callable[[], Awaitable[Any]], timeout_s: float = 20.0, what: str = "condition"
) -> Any:
    """Poll `check` until it returns a truthy value or `timeout_s` passes; return that value."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        value = await check()
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        await asyncio.sleep(0.1)


def script_pod(
    name: str,
    script_volume: str,
    *,
    args: list[str] | None = None,
    grace_s: int | None = None,
    policy: str = "Never",
) -> dict:
    """A pod in the original agent's style: `image` names the volume whose script `bash` runs."""
    spec: dict[str, Any] = {
        "restartPolicy": policy,
        "containers": [
            {
                "name": name,
                "image": script_volume,
                "command": [
                    "bash",
                    f"/{script_volume}/run.sh" if script_volume != "stress" else "/stress/stress.sh",
                ],
                "args": args or [],
                "volumeMounts": [{"name": script_volume, "mountPath": f"/{script_volume}"}],
            }
        ],
        "volumes": [{"name": script_volume, "configMap": {"name": script_volume}}],
        "nodeSelector": {"kubernetes.io/role": "agent"},
        "tolerations": [TOLERATION],
    }
    if grace_s is not None:
        spec["terminationGracePeriodSeconds"] = grace_s
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "default"},
        "spec": spec,
    }


async def create_script(kube: AsyncClient, name: str, script: str, key: str = "run.sh") -> None:
    await kube.create(
        ConfigMap.from_dict({"metadata": {"name": name, "namespace": "default"}, "data": {key: script}})
    )


async def create_pod(kube: AsyncClient, manifest: dict) -> dict:
    return (await kube.create(Pod.from_dict(manifest))).to_dict()


async def get_pod(kube: AsyncClient, name: str) -> dict | None:
    try:
        return (await kube.get(Pod, name, namespace="default")).to_dict()
    except ApiError as exc:
        if exc.status.code == 404:
            return None
        raise


async def wait_phase(kube: AsyncClient, name: str, phase: str, timeout_s: float = 20.0) -> dict:
    async def reached() -> dict | None:
        pod = await get_pod(kube, name)
        return pod if pod and pod.get("status", {}).get("phase") == phase else None

    return await eventually(reached, timeout_s, f"pod {name} to reach phase {phase}")


def condition(pod: dict, kind: str) -> dict:
    return next(c for c in pod["status"]["conditions"] if c["type"] == kind)


def group_alive(pgid: int) -> bool:
    """Tell whether process group `pgid` has a member that is not a zombie (a zombie only awaits reaping)."""
    for process in psutil.process_iter(["status"]):
        try:
            if os.getpgid(process.pid) == pgid and process.info["status"] != psutil.STATUS_ZOMBIE:
                return True
        except (ProcessLookupError, psutil.Error):
            continue
    return False
