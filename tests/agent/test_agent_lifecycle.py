"""Walltime expiry, restarts and watch recovery of an in-process agent against the API-server double."""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import replace
from pathlib import Path

import pytest
from agent_harness import FakeClock, agent_environment, agent_settings, free_port, running_agent
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
from lightkube import AsyncClient, KubeConfig
from lightkube.resources.core_v1 import ConfigMap, Node, Pod

from jiriaf_fw.services.agent.agent import Agent
from jiriaf_fw.services.agent.pods import PodReconciler
from jiriaf_fw.testing.apiserver import ApiServerDouble

SLEEPER = "sleep 300 & wait\n"


def pgid_of(home: Path, pod: str) -> int:
    return int((home / "default" / pod / "containers" / pod / "pgid").read_text())


async def node_dict(kube: AsyncClient, name: str = "vk-test") -> dict:
    return (await kube.get(Node, name)).to_dict()


async def test_walltime_expiry_drains_node_and_exits(kubeconfig: Path, home: Path, kube: AsyncClient) -> None:
    clock = FakeClock()
    async with running_agent(agent_settings(kubeconfig, home, walltime_s=100), clock=clock) as running:
        labels = (await node_dict(kube))["metadata"]["labels"]
        assert labels["jiriaf.walltime"] == "100"
        assert labels["jiriaf.alivetime"] == "100"
        await create_script(kube, "sleeper", SLEEPER)
        await create_pod(kube, script_pod("sleeper", "sleeper", grace_s=1))
        await wait_phase(kube, "sleeper", "Running")
        pgid = pgid_of(home, "sleeper")

        clock.advance(40)

        async def counted_down() -> bool:
            return (await node_dict(kube))["metadata"]["labels"]["jiriaf.alivetime"] == "60"

        await eventually(counted_down, what="alivetime 60")
        clock.advance(61)
        exit_code = await asyncio.wait_for(asyncio.shield(running.task), 30)

    assert exit_code == 0
    assert running.agent.stop_reason is not None
    assert running.agent.stop_reason.node_reason == "WalltimeExpired"
    node = await node_dict(kube)
    ready = condition(node, "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "WalltimeExpired")
    assert node["spec"]["unschedulable"] is True
    assert node["metadata"]["labels"]["jiriaf.alivetime"] == "0"
    pod = await get_pod(kube, "sleeper")
    assert pod is not None
    assert pod["status"]["phase"] == "Failed"
    assert pod["status"]["reason"] == "NodeWalltimeExpired"
    assert not group_alive(pgid)
    assert all(task.done() for task in running.agent.supervisor.tasks.values())


async def test_restart_readopts_and_finishes_deletions(
    kubeconfig: Path, home: Path, kube: AsyncClient
) -> None:
    settings = agent_settings(kubeconfig, home)
    await create_script(kube, "once", 'echo run >> "$HOME/runs-$1.txt"\n')
    await create_script(kube, "keep", 'echo run >> "$HOME/runs-$1.txt"\nsleep 300 & wait\n')
    async with running_agent(settings) as first:
        await create_pod(kube, script_pod("pod-a", "once", args=["a"]))
        for name in ("pod-b", "pod-c"):
            await create_pod(kube, script_pod(name, "keep", args=[name[-1]], grace_s=1))
        done = await wait_phase(kube, "pod-a", "Succeeded")
        before = await wait_phase(kube, "pod-b", "Running")
        await wait_phase(kube, "pod-c", "Running")
        pgid_b, pgid_c = pgid_of(home, "pod-b"), pgid_of(home, "pod-c")
        await first.crash()

    assert group_alive(pgid_b)
    await kube.delete(Pod, "pod-c", namespace="default")
    terminating = await get_pod(kube, "pod-c")
    assert terminating is not None
    assert terminating["metadata"].get("deletionTimestamp")

    async with running_agent(replace(settings, kubelet_port=free_port())) as second:

        async def c_gone() -> bool:
            return await get_pod(kube, "pod-c") is None

        await eventually(c_gone, what="pod-c to be finalised")
        assert not group_alive(pgid_c)
        reconciler = second.agent.reconciler
        assert reconciler is not None
        target = reconciler.monitor_passes + 5

        async def synced() -> bool:
            return reconciler.monitor_passes >= target

        await eventually(synced, what="five status syncs")
        after = await get_pod(kube, "pod-b")
        assert after is not None
        assert after["status"]["phase"] == "Running"
        assert after["status"]["containerStatuses"][0]["containerID"] == f"jiriaf://{pgid_b}"
        assert (
            condition(after, "Ready")["lastTransitionTime"]
            == condition(before, "Ready")["lastTransitionTime"]
        )
        assert after["status"]["startTime"] == before["status"]["startTime"]
        assert (home / "runs-b.txt").read_text() == "run\n"
        assert (home / "runs-a.txt").read_text() == "run\n"
        still_done = await get_pod(kube, "pod-a")
        assert still_done is not None
        assert still_done["status"] == done["status"]
    assert not group_alive(pgid_b)


async def test_orphan_on_disk_stopped(kubeconfig: Path, home: Path, kube: AsyncClient) -> None:
    settings = agent_settings(kubeconfig, home)
    await create_script(kube, "keep", SLEEPER)
    async with running_agent(settings) as first:
        await create_pod(kube, script_pod("orphan", "keep", grace_s=1))
        await wait_phase(kube, "orphan", "Running")
        pgid = pgid_of(home, "orphan")
        await first.crash()
    await kube.delete(Pod, "orphan", namespace="default", grace_period=0)
    assert await get_pod(kube, "orphan") is None
    assert group_alive(pgid)

    async with running_agent(replace(settings, kubelet_port=free_port())):

        async def stopped() -> bool:
            return not group_alive(pgid)

        await eventually(stopped, what="the orphan's processes to stop")
        await eventually(lambda: _absent(home / "default" / "orphan"), what="the orphan's files to go")


async def _absent(path: Path) -> bool:
    return not path.exists()


async def test_watch_relists_after_410_gone(
    tmp_path: Path, home: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Ten unrelated writes push the watch's resourceVersion out of a five-event history. Ending the watch
    # makes the agent resume from that version, and the server returns 410 Gone for it.
    async with ApiServerDouble(history_size=5) as api:
        kubeconfig = api.write_kubeconfig(tmp_path / "small-history")
        kube = AsyncClient(KubeConfig.from_file(kubeconfig))
        try:
            with caplog.at_level(logging.INFO, logger="jiriaf_fw.services.agent.pods"):
                async with running_agent(agent_settings(kubeconfig, home)):
                    for index in range(10):
                        await kube.create(
                            ConfigMap.from_dict(
                                {"metadata": {"name": f"filler-{index}", "namespace": "default"}}
                            )
                        )
                    api.watch_settings.hub.terminate_all()

                    async def relisted() -> bool:
                        return "410 Gone" in caplog.text

                    await eventually(relisted, what="a relist after 410 Gone")
                    await create_script(kube, "late", "exit 0\n")
                    await create_pod(kube, script_pod("after-gone", "late"))
                    await wait_phase(kube, "after-gone", "Succeeded")
        finally:
            await kube.close()


async def test_registration_waits_for_late_api_server(
    tmp_path: Path, home: Path, caplog: pytest.LogCaptureFixture
) -> None:
    port = free_port()
    kubeconfig = tmp_path / "late-kubeconfig"
    kubeconfig.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "late",
                "clusters": [{"name": "late", "cluster": {"server": f"http://127.0.0.1:{port}"}}],
                "users": [{"name": "late", "user": {}}],
                "contexts": [{"name": "late", "context": {"cluster": "late", "user": "late"}}],
            }
        )
    )
    agent = Agent(agent_settings(kubeconfig, home), base_env=agent_environment(home))
    with caplog.at_level(logging.WARNING, logger="jiriaf_fw.services.agent.agent"):
        agent_task = asyncio.create_task(agent.run())
        try:

            async def refused() -> bool:
                return "registration of node vk-test failed" in caplog.text

            await eventually(refused, what="a failed registration attempt")
            assert not agent_task.done()
            async with ApiServerDouble(host="127.0.0.1", port=port):
                await asyncio.wait_for(agent.ready.wait(), 30)
                kube = AsyncClient(KubeConfig.from_file(kubeconfig))
                try:
                    assert (await node_dict(kube))["metadata"]["name"] == "vk-test"
                finally:
                    await kube.close()
                agent.request_stop()
                assert await asyncio.wait_for(agent_task, 30) == 0
        finally:
            if not agent_task.done():
                agent_task.cancel()
                await asyncio.gather(agent_task, return_exceptions=True)


async def test_dead_root_task_stops_agent_nonzero(
    kubeconfig: Path,
    home: Path,
    kube: AsyncClient,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def broken_monitor(self: PodReconciler) -> None:
        await asyncio.sleep(0.2)
        raise RuntimeError("monitor exploded")

    monkeypatch.setattr(PodReconciler, "run_monitor", broken_monitor)
    with caplog.at_level(logging.ERROR):
        async with running_agent(agent_settings(kubeconfig, home)) as running:
            exit_code = await asyncio.wait_for(asyncio.shield(running.task), 30)
    assert exit_code == 1
    assert running.agent.supervisor.failed == "pod-monitor"
    assert "RuntimeError: monitor exploded" in caplog.text
    ready = condition(await node_dict(kube), "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "AgentFailed")


async def test_slurm_time_left_sets_walltime_labels(kubeconfig: Path, home: Path, kube: AsyncClient) -> None:
    calls: list[str] = []

    async def squeue(job_id: str) -> str:
        calls.append(job_id)
        return "10:00"

    settings = agent_settings(kubeconfig, home, slurm_job_id="4242")
    async with running_agent(settings, clock=FakeClock(), squeue=squeue):
        labels = (await node_dict(kube))["metadata"]["labels"]
    assert calls == ["4242"]
    assert labels["jiriaf.walltime"] == "540"
    assert labels["jiriaf.alivetime"] == "540"
