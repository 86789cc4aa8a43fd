"""Pods through the whole path: lightkube → API-server double → binder → agent → real processes."""

from __future__ import annotations

import os
from pathlib import Path

from agent_harness import RunningAgent
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
from lightkube import AsyncClient
from lightkube.resources.core_v1 import ConfigMap, Pod

STRESS = "#!/bin/bash\nstress --timeout $1 --cpu $2\n"


def paper_pod() -> dict:
    manifest = script_pod("direct-stress", "stress", args=["3", "1"])
    manifest["spec"]["containers"][0]["name"] = "direct-stress"
    return manifest


async def test_paper_stress_pod_runs_to_success(agent: RunningAgent, kube: AsyncClient, home: Path) -> None:
    await create_script(kube, "stress", STRESS, key="stress.sh")
    await create_pod(kube, paper_pod())

    running = await wait_phase(kube, "direct-stress", "Running")
    container_dir = home / "default" / "direct-stress" / "containers" / "direct-stress"
    assert (container_dir / "stress" / "stress.sh").read_text() == STRESS
    pgid = int((container_dir / "pgid").read_text())
    (status,) = running["status"]["containerStatuses"]
    assert status["containerID"] == f"jiriaf://{pgid}"
    assert status["imageID"] == str(container_dir / "stress" / "stress.sh")
    assert status["ready"] is True
    assert running["status"]["podIP"] == "127.0.0.1"
    assert running["status"]["hostIP"] == "127.0.0.1"
    assert condition(running, "Ready")["status"] == "True"
    assert condition(running, "ContainersReady")["status"] == "True"

    done = await wait_phase(kube, "direct-stress", "Succeeded", timeout_s=30)
    terminated = done["status"]["containerStatuses"][0]["state"]["terminated"]
    assert terminated["exitCode"] == 0
    assert terminated["reason"] == "Completed"
    assert done["status"]["startTime"] == running["status"]["startTime"]
    assert condition(done, "Ready")["status"] == "False"


async def test_exit_code_seven_fails_pod(agent: RunningAgent, kube: AsyncClient) -> None:
    await create_script(kube, "seven", "echo failing >&2\nexit 7\n")
    await create_pod(kube, script_pod("seven", "seven"))
    failed = await wait_phase(kube, "seven", "Failed")
    terminated = failed["status"]["containerStatuses"][0]["state"]["terminated"]
    assert terminated["exitCode"] == 7
    assert terminated["reason"] == "Error"


async def test_deleting_running_pod_kills_group(agent: RunningAgent, kube: AsyncClient, home: Path) -> None:
    await create_script(kube, "sleeper", "sleep 300 & wait\n")
    await create_pod(kube, script_pod("sleeper", "sleeper", grace_s=2))
    await wait_phase(kube, "sleeper", "Running")
    pgid = int((home / "default" / "sleeper" / "containers" / "sleeper" / "pgid").read_text())
    assert group_alive(pgid)

    await kube.delete(Pod, "sleeper", namespace="default")

    async def gone() -> bool:
        return await get_pod(kube, "sleeper") is None

    await eventually(gone, what="the pod object to disappear")
    assert not group_alive(pgid)
    assert not (home / "default" / "sleeper").exists()


async def test_ready_time_stable_across_syncs(agent: RunningAgent, kube: AsyncClient) -> None:
    await create_script(kube, "steady", "sleep 300 & wait\n")
    await create_pod(kube, script_pod("steady", "steady", grace_s=1))
    first = await wait_phase(kube, "steady", "Running")
    reconciler = agent.agent.reconciler
    assert reconciler is not None
    target = reconciler.monitor_passes + 8

    async def synced_enough() -> bool:
        return reconciler.monitor_passes >= target

    await eventually(synced_enough, what="eight more status syncs")
    later = await get_pod(kube, "steady")
    assert later is not None
    assert later["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]
    assert condition(later, "Ready")["lastTransitionTime"] == condition(first, "Ready")["lastTransitionTime"]
    assert later["status"]["startTime"] == first["status"]["startTime"]


async def test_missing_configmap_waits_then_runs(agent: RunningAgent, kube: AsyncClient) -> None:
    await create_pod(kube, script_pod("late", "late", args=["ok"]))

    async def waiting_for_config() -> dict | None:
        pod = await get_pod(kube, "late")
        statuses = (pod or {}).get("status", {}).get("containerStatuses") or []
        return pod if statuses and "waiting" in statuses[0]["state"] else None

    pending = await eventually(waiting_for_config, what="a waiting container")
    waiting = pending["status"]["containerStatuses"][0]["state"]["waiting"]
    assert pending["status"]["phase"] == "Pending"
    assert waiting["reason"] == "CreateContainerConfigError"
    assert 'configmap "late" not found' in waiting["message"]

    await kube.create(
        ConfigMap.from_dict(
            {"metadata": {"name": "late", "namespace": "default"}, "data": {"run.sh": "echo $1\n"}}
        )
    )
    done = await wait_phase(kube, "late", "Succeeded", timeout_s=30)
    assert done["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 0


async def test_env_reaches_process(agent: RunningAgent, kube: AsyncClient, home: Path) -> None:
    await create_script(kube, "envy", 'echo "$POD_NAME $MY_NODE $GREETING" > "$HOME/env.out"\n')
    manifest = script_pod("envy", "envy")
    manifest["spec"]["containers"][0]["env"] = [
        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "MY_NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
        {"name": "GREETING", "valueFrom": {"configMapKeyRef": {"name": "envy", "key": "run.sh"}}},
    ]
    await create_pod(kube, manifest)
    await wait_phase(kube, "envy", "Succeeded")
    assert (home / "env.out").read_text().startswith("envy vk-test echo")
    assert os.environ.get("POD_NAME") is None
