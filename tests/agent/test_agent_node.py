"""The Node and its Lease, as stored by the API server."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import psutil
from agent_harness import RunningAgent, agent_settings, running_agent
from kube_helpers import eventually
from lightkube import AsyncClient
from lightkube.resources.coordination_v1 import Lease
from lightkube.resources.core_v1 import Node, NodeStatus
from lightkube.types import PatchType


def ready_condition(node: dict) -> dict:
    return next(c for c in node["status"]["conditions"] if c["type"] == "Ready")


async def test_node_registered_with_labels_taint_and_status(agent: RunningAgent, kube: AsyncClient) -> None:
    node = (await kube.get(Node, "vk-test")).to_dict()
    labels = node["metadata"]["labels"]
    assert labels["type"] == "virtual-kubelet"
    assert labels["kubernetes.io/role"] == "agent"
    assert labels["kubernetes.io/hostname"] == "vk-test"
    assert labels["node.kubernetes.io/exclude-from-external-load-balancers"] == "true"
    assert labels["alpha.service-controller.kubernetes.io/exclude-balancer"] == "true"
    assert labels["jiriaf.nodetype"] == "cpu"
    assert labels["jiriaf.site"] == "testsite"
    assert "jiriaf.walltime" not in labels
    assert node["spec"]["taints"] == [
        {"key": "virtual-kubelet.io/provider", "value": "mock", "effect": "NoSchedule"}
    ]
    status = node["status"]
    assert {"type": "InternalIP", "address": "127.0.0.1"} in status["addresses"]
    assert status["daemonEndpoints"]["kubeletEndpoint"]["Port"] == agent.settings.kubelet_port
    assert status["capacity"]["cpu"] == str(len(os.sched_getaffinity(0)))
    assert status["capacity"]["memory"] == f"{psutil.virtual_memory().total // 1024}Ki"
    assert status["capacity"]["pods"] == "1000"
    assert status["allocatable"] == status["capacity"]
    assert status["nodeInfo"]["kubeletVersion"] == "v1.29.0-jiriaf"
    assert status["nodeInfo"]["operatingSystem"] == "linux"
    ready = ready_condition(node)
    assert (ready["status"], ready["reason"]) == ("True", "KubeletReady")
    types = {c["type"] for c in status["conditions"]}
    assert {"MemoryPressure", "DiskPressure", "PIDPressure", "NetworkUnavailable"} <= types


async def test_lease_renewed(agent: RunningAgent, kube: AsyncClient) -> None:
    first = await eventually(lambda: _lease_or_none(kube), what="the lease")
    assert first.spec.holderIdentity == "vk-test"
    assert first.spec.leaseDurationSeconds == 40
    assert first.metadata.ownerReferences[0].name == "vk-test"

    async def renewed() -> bool:
        lease = await kube.get(Lease, "vk-test", namespace="kube-node-lease")
        return lease.spec.renewTime > first.spec.renewTime

    await eventually(renewed, what="a lease renewal")


async def _lease_or_none(kube: AsyncClient) -> Any:
    try:
        return await kube.get(Lease, "vk-test", namespace="kube-node-lease")
    except Exception:  # noqa: BLE001 - the lease does not exist yet
        return None


async def test_external_not_ready_corrected(agent: RunningAgent, kube: AsyncClient) -> None:
    patch = {
        "status": {
            "conditions": [
                {
                    "type": "Ready",
                    "status": "False",
                    "reason": "Tampered",
                    "message": "set by a test",
                    "lastHeartbeatTime": None,
                }
            ]
        }
    }
    await kube.patch(NodeStatus, "vk-test", patch, patch_type=PatchType.STRATEGIC)
    tampered = ready_condition((await kube.get(Node, "vk-test")).to_dict())
    assert tampered["status"] == "False"

    async def corrected() -> bool:
        return ready_condition((await kube.get(Node, "vk-test")).to_dict())["status"] == "True"

    await eventually(corrected, what="Ready=True again")
    ready = ready_condition((await kube.get(Node, "vk-test")).to_dict())
    assert ready["reason"] == "KubeletReady"


async def test_existing_node_replaced(kubeconfig: Path, home: Path, kube: AsyncClient) -> None:
    stale = Node.from_dict(
        {"metadata": {"name": "vk-test", "labels": {"stale": "yes"}}, "spec": {"unschedulable": True}}
    )
    await kube.create(stale)
    async with running_agent(agent_settings(kubeconfig, home)):
        node = (await kube.get(Node, "vk-test")).to_dict()
    assert "stale" not in node["metadata"]["labels"]
    assert node["metadata"]["labels"]["type"] == "virtual-kubelet"
    assert not node["spec"].get("unschedulable")
