"""The agent as a process (`python -m jiriaf_fw.services.agent`): signals, exit codes, SIGKILL and restart."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from agent_harness import free_port
from kube_helpers import (
    condition,
    create_pod,
    create_script,
    eventually,
    get_pod,
    group_alive,
    script_pod,
    wait_phase,
)
from lightkube import ApiError, AsyncClient
from lightkube.resources.core_v1 import Node

NODE = "vk-proc"


def agent_env(kubeconfig: Path, home: Path) -> dict[str, str]:
    return {
        **os.environ,
        "NODENAME": NODE,
        "KUBECONFIG": str(kubeconfig),
        "VKUBELET_POD_IP": "127.0.0.1",
        "KUBELET_PORT": str(free_port()),
        "KUBELET_BIND_ADDRESS": "127.0.0.1",
        "JIRIAF_WALLTIME": "0",
        "JIRIAF_NODETYPE": "cpu",
        "JIRIAF_SITE": "testsite",
        "HOME": str(home),
    }


@asynccontextmanager
async def agent_process(
    kubeconfig: Path, home: Path, kube: AsyncClient, log: Path
) -> AsyncIterator[asyncio.subprocess.Process]:
    """Start the agent with the original start.sh flags and wait for its Node; kill it if still running."""
    with log.open("ab") as output:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "jiriaf_fw.services.agent",
            "--nodename",
            NODE,
            "--provider",
            "mock",
            "--klog.v",
            "3",
            env=agent_env(kubeconfig, home),
            stdout=output,
            stderr=output,
        )
    try:

        async def ready() -> bool:
            if process.returncode is not None:
                raise AssertionError(f"agent exited with {process.returncode}: {log.read_text()}")
            try:
                node = (await kube.get(Node, NODE)).to_dict()
            except ApiError:
                return False
            return condition(node, "Ready")["status"] == "True" and not node["spec"].get("unschedulable")

        await eventually(ready, timeout_s=30, what="the agent process to register its node")
        yield process
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


@pytest.mark.parametrize(
    ("signum", "node_reason", "pod_reason"),
    [
        (signal.SIGTERM, "AgentStopping", "NodeShutdown"),
        (signal.SIGUSR1, "WalltimeExpired", "NodeWalltimeExpired"),
    ],
)
async def test_signal_drains_and_exits_zero(
    kubeconfig: Path,
    home: Path,
    kube: AsyncClient,
    tmp_path: Path,
    signum: signal.Signals,
    node_reason: str,
    pod_reason: str,
) -> None:
    # The pod ignores SIGTERM, so the drain lasts its whole grace period and ends with SIGKILL; the second
    # signal arrives during that time.
    await create_script(kube, "sleeper", "trap '' TERM\nsleep 300 & wait\n")
    async with agent_process(kubeconfig, home, kube, tmp_path / "agent.log") as process:
        await create_pod(kube, script_pod("sleeper", "sleeper", grace_s=3))
        await wait_phase(kube, "sleeper", "Running")
        pgid = int((home / "default" / "sleeper" / "containers" / "sleeper" / "pgid").read_text())
        process.send_signal(signum)

        async def draining() -> bool:
            node = (await kube.get(Node, NODE)).to_dict()
            return condition(node, "Ready")["status"] == "False"

        await eventually(draining, what="the drain to start")
        process.send_signal(signal.SIGTERM)
        exit_code = await asyncio.wait_for(process.wait(), 60)

    assert exit_code == 0, (tmp_path / "agent.log").read_text()
    node = (await kube.get(Node, NODE)).to_dict()
    ready = condition(node, "Ready")
    assert (ready["status"], ready["reason"]) == ("False", node_reason)
    assert node["spec"]["unschedulable"] is True
    pod = await get_pod(kube, "sleeper")
    assert pod is not None
    assert (pod["status"]["phase"], pod["status"]["reason"]) == ("Failed", pod_reason)
    assert not group_alive(pgid)


async def test_sigkill_then_restart_adopts_pod(
    kubeconfig: Path, home: Path, kube: AsyncClient, tmp_path: Path
) -> None:
    await create_script(kube, "keep", 'echo run >> "$HOME/runs.txt"\nsleep 300 & wait\n')
    log = tmp_path / "agent.log"
    async with agent_process(kubeconfig, home, kube, log) as first:
        await create_pod(kube, script_pod("keeper", "keep", grace_s=1))
        before = await wait_phase(kube, "keeper", "Running")
        pgid = int((home / "default" / "keeper" / "containers" / "keeper" / "pgid").read_text())
        first.kill()
        await first.wait()
    assert group_alive(pgid)

    async with agent_process(kubeconfig, home, kube, log) as second:

        async def adopted() -> bool:
            return "adopted its running processes" in log.read_text()

        await eventually(adopted, what="the restarted agent to adopt the pod")
        after = await get_pod(kube, "keeper")
        assert after is not None
        assert after["status"]["phase"] == "Running"
        assert after["status"]["startTime"] == before["status"]["startTime"]
        assert (home / "runs.txt").read_text() == "run\n"
        second.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(second.wait(), 60) == 0
    assert not group_alive(pgid)


async def test_bad_setting_exits_two(tmp_path: Path) -> None:
    env = {**os.environ, "NODENAME": NODE, "VKUBELET_POD_IP": "127.0.0.1", "JIRIAF_WALLTIME": "1h"}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "jiriaf_fw.services.agent",
        env=env,
        stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 2
    assert b"invalid JIRIAF_WALLTIME '1h'" in stderr
