"""The binder: node selection by selectors, affinity, taints and capacity, and the Unschedulable condition."""

from __future__ import annotations

from typing import Any

import pytest

from jiriaf_fw.testing.apiserver import ApiServerDouble
from jiriaf_fw.testing.apiserver.scheduling import filter_node, parse_quantity, tolerates

from .support import AGENT_TAINT, AGENT_TOLERATION, eventually, node, pod, request

AFFINITY_MISMATCH = "node(s) didn't match Pod's node affinity/selector"


def required_affinity(*terms: list[dict[str, Any]]) -> dict[str, Any]:
    return {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchExpressions": list(term)} for term in terms]}}}


@pytest.mark.parametrize(
    ("expression", "labels", "fits"),
    [
        ({"key": "zone", "operator": "In", "values": ["a", "b"]}, {"zone": "b"}, True),
        ({"key": "zone", "operator": "In", "values": ["a"]}, {"zone": "b"}, False),
        ({"key": "zone", "operator": "In", "values": ["a"]}, {}, False),
        ({"key": "zone", "operator": "NotIn", "values": ["a"]}, {"zone": "b"}, True),
        ({"key": "zone", "operator": "NotIn", "values": ["a"]}, {}, True),
        ({"key": "zone", "operator": "NotIn", "values": ["a"]}, {"zone": "a"}, False),
        ({"key": "gpu", "operator": "Exists"}, {"gpu": ""}, True),
        ({"key": "gpu", "operator": "Exists"}, {}, False),
        ({"key": "gpu", "operator": "DoesNotExist"}, {}, True),
        ({"key": "gpu", "operator": "DoesNotExist"}, {"gpu": "x"}, False),
        ({"key": "cores", "operator": "Gt", "values": ["8"]}, {"cores": "16"}, True),
        ({"key": "cores", "operator": "Gt", "values": ["8"]}, {"cores": "8"}, False),
        ({"key": "cores", "operator": "Gt", "values": ["8"]}, {"cores": "many"}, False),
        ({"key": "cores", "operator": "Lt", "values": ["8"]}, {"cores": "4"}, True),
        ({"key": "cores", "operator": "Lt", "values": ["8"]}, {"cores": "12"}, False),
        ({"key": "cores", "operator": "Lt", "values": ["8"]}, {}, False),
    ],
)
def test_affinity_operators(expression: dict[str, Any], labels: dict[str, str], fits: bool) -> None:
    candidate = pod("p", affinity=required_affinity([expression]))
    reasons = filter_node(candidate, node("n", labels=labels), [])
    assert (reasons == []) is fits
    if not fits:
        assert reasons == [AFFINITY_MISMATCH]


def test_affinity_terms_are_ored_and_expressions_anded() -> None:
    affinity = required_affinity(
        [{"key": "a", "operator": "Exists"}, {"key": "b", "operator": "Exists"}],
        [{"key": "c", "operator": "Exists"}],
    )
    candidate = pod("p", affinity=affinity)
    assert filter_node(candidate, node("n", labels={"a": "1"}), []) == [AFFINITY_MISMATCH]
    assert filter_node(candidate, node("n", labels={"a": "1", "b": "1"}), []) == []
    assert filter_node(candidate, node("n", labels={"c": "1"}), []) == []


@pytest.mark.parametrize(
    ("toleration", "taint", "tolerated"),
    [
        ({"key": "k", "value": "v", "effect": "NoSchedule"}, {"key": "k", "value": "v", "effect": "NoSchedule"}, True),
        ({"key": "k", "value": "w", "effect": "NoSchedule"}, {"key": "k", "value": "v", "effect": "NoSchedule"}, False),
        ({"key": "k", "operator": "Exists"}, {"key": "k", "value": "v", "effect": "NoExecute"}, True),
        ({"operator": "Exists"}, {"key": "anything", "value": "v", "effect": "NoSchedule"}, True),
        ({"key": "k", "value": "v"}, {"key": "k", "value": "v", "effect": "NoExecute"}, True),
        ({"key": "k", "value": "v", "effect": "NoExecute"}, {"key": "k", "value": "v", "effect": "NoSchedule"}, False),
        ({"key": "other", "operator": "Exists"}, {"key": "k", "value": "v", "effect": "NoSchedule"}, False),
    ],
)
def test_tolerations(toleration: dict[str, str], taint: dict[str, str], tolerated: bool) -> None:
    assert tolerates(toleration, taint) is tolerated


def test_prefer_no_schedule_taint_is_ignored() -> None:
    tainted = node("n", taints=[{"key": "soft", "value": "x", "effect": "PreferNoSchedule"}])
    assert filter_node(pod("p"), tainted, []) == []


def test_untolerated_taint_reason() -> None:
    tainted = node("n", taints=[AGENT_TAINT])
    assert filter_node(pod("p"), tainted, []) == ["node(s) had untolerated taint {virtual-kubelet.io/provider: mock}"]


def test_unschedulable_node_is_skipped_unless_tolerated() -> None:
    cordoned = node("n", unschedulable=True)
    assert filter_node(pod("p"), cordoned, []) == ["node(s) were unschedulable"]
    tolerant = pod("p", tolerations=[{"key": "node.kubernetes.io/unschedulable", "operator": "Exists",
                                      "effect": "NoSchedule"}])
    assert filter_node(tolerant, cordoned, []) == []


def test_capacity_limits() -> None:
    full = node("n", pods="1")
    assert filter_node(pod("p"), full, [pod("other")]) == ["Too many pods"]
    hungry = pod("p", containers=[{"name": "c", "image": "x", "resources": {"requests": {"cpu": "5"}}}])
    assert filter_node(hungry, node("n"), []) == ["Insufficient cpu"]


@pytest.mark.parametrize(("text", "value"), [("100m", "0.1"), ("2", "2"), ("1Ki", "1024"), ("1e3", "1000"),
                                             ("1.5Gi", str(int(1.5 * 2**30))), ("2k", "2000")])
def test_parse_quantity(text: str, value: str) -> None:
    assert parse_quantity(text) == parse_quantity(value)


async def get_pod(api: ApiServerDouble, name: str) -> dict[str, Any]:
    code, body = await request(api.url, "GET", f"/api/v1/namespaces/default/pods/{name}")
    assert code == 200
    return body


def condition(pod_object: dict[str, Any]) -> dict[str, Any] | None:
    for item in (pod_object.get("status") or {}).get("conditions") or []:
        if item["type"] == "PodScheduled":
            return item
    return None


async def test_example_pod_binds_to_agent_node(api: ApiServerDouble) -> None:
    await request(api.url, "POST", "/api/v1/nodes", node("plain"))
    await request(api.url, "POST", "/api/v1/nodes",
                  node("agent", labels={"kubernetes.io/role": "agent"}, taints=[AGENT_TAINT]))
    manifest = pod("job", nodeSelector={"kubernetes.io/role": "agent"}, tolerations=[AGENT_TOLERATION])
    await request(api.url, "POST", "/api/v1/namespaces/default/pods", manifest)

    async def bound() -> bool:
        return (await get_pod(api, "job"))["spec"].get("nodeName") == "agent"

    await eventually(bound)
    scheduled = condition(await get_pod(api, "job"))
    assert scheduled is not None
    assert scheduled["status"] == "True"


async def test_no_fit_then_fit_after_node_added(api: ApiServerDouble) -> None:
    await request(api.url, "POST", "/api/v1/nodes", node("plain"))
    await request(api.url, "POST", "/api/v1/nodes", node("tainted", labels={"kubernetes.io/role": "agent"},
                                                          taints=[{"key": "k", "value": "v", "effect": "NoSchedule"}]))
    manifest = pod("job", nodeSelector={"kubernetes.io/role": "agent"})
    await request(api.url, "POST", "/api/v1/namespaces/default/pods", manifest)

    async def unschedulable() -> bool:
        found = condition(await get_pod(api, "job"))
        return found is not None and found["status"] == "False"

    await eventually(unschedulable)
    failed = condition(await get_pod(api, "job"))
    assert failed["reason"] == "Unschedulable"
    assert failed["message"] == (
        "0/2 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, "
        "1 node(s) had untolerated taint {k: v}. preemption: 0/2 nodes are available: "
        "2 Preemption is not helpful for scheduling."
    )
    await request(api.url, "POST", "/api/v1/nodes", node("good", labels={"kubernetes.io/role": "agent"}))

    async def bound() -> bool:
        return (await get_pod(api, "job"))["spec"].get("nodeName") == "good"

    await eventually(bound)
    assert condition(await get_pod(api, "job"))["status"] == "True"


async def test_least_loaded_node_is_chosen(api: ApiServerDouble) -> None:
    await request(api.url, "POST", "/api/v1/nodes", node("b"))
    await request(api.url, "POST", "/api/v1/nodes", node("a"))
    for index in range(3):
        await request(api.url, "POST", "/api/v1/namespaces/default/pods", pod(f"p{index}"))

        async def placed(name: str = f"p{index}") -> bool:
            return bool((await get_pod(api, name))["spec"].get("nodeName"))

        await eventually(placed)
    nodes = [(await get_pod(api, f"p{index}"))["spec"]["nodeName"] for index in range(3)]
    assert nodes == ["a", "b", "a"]


async def test_other_scheduler_is_left_alone(api: ApiServerDouble) -> None:
    await request(api.url, "POST", "/api/v1/nodes", node("n"))
    await request(api.url, "POST", "/api/v1/namespaces/default/pods", pod("mine", schedulerName="my-scheduler"))
    await request(api.url, "POST", "/api/v1/namespaces/default/pods", pod("default"))

    async def default_bound() -> bool:
        return bool((await get_pod(api, "default"))["spec"].get("nodeName"))

    await eventually(default_bound)
    assert "nodeName" not in (await get_pod(api, "mine"))["spec"]


async def test_no_nodes_message(api: ApiServerDouble) -> None:
    await request(api.url, "POST", "/api/v1/namespaces/default/pods", pod("lonely"))

    async def marked() -> bool:
        return condition(await get_pod(api, "lonely")) is not None

    await eventually(marked)
    assert condition(await get_pod(api, "lonely"))["message"] == "no nodes available to schedule pods"


async def test_binding_subresource() -> None:
    async with ApiServerDouble(root_ca_publisher=False, binder=False) as api:
        await request(api.url, "POST", "/api/v1/namespaces/default/pods", pod("p"))
        binding = {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "p"},
                   "target": {"apiVersion": "v1", "kind": "Node", "name": "n1"}}
        code, status = await request(api.url, "POST", "/api/v1/namespaces/default/pods/p/binding", binding)
        assert code == 201
        assert status["status"] == "Success"
        bound = await get_pod(api, "p")
        assert bound["spec"]["nodeName"] == "n1"
        assert condition(bound)["status"] == "True"
        code, status = await request(api.url, "POST", "/api/v1/namespaces/default/pods/p/binding", binding)
        assert code == 409
        assert status["message"] == (
            'Operation cannot be fulfilled on pods/binding "p": pod p is already assigned to node "n1"'
        )
