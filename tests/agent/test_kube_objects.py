"""Node and Lease builders, tested without a server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from jiriaf_fw.core.kube_objects import (
    LabelValueError,
    NodeFacts,
    NodeHealth,
    build_lease,
    build_node,
    check_label_value,
    format_time,
    node_labels_patch,
    node_status_patch,
    renewed_lease,
    replacement_node,
)

T0 = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
FACTS = NodeFacts(
    name="vk-a",
    pod_ip="10.1.2.3",
    kubelet_port=10011,
    cpu_count=4,
    memory_ki=8000000,
    nodetype="cpu",
    site="perlmutter",
    architecture="amd64",
    kernel_version="6.1",
    kubelet_version="v1.29.0-jiriaf",
)


def conditions(status: dict) -> dict[str, dict]:
    return {c["type"]: c for c in status["conditions"]}


def test_node_manifest_labels_taint_and_status() -> None:
    node = build_node(FACTS, NodeHealth(ready=True), 3600, 3500, T0)
    labels = node["metadata"]["labels"]
    assert labels["type"] == "virtual-kubelet"
    assert labels["kubernetes.io/role"] == "agent"
    assert labels["kubernetes.io/hostname"] == "vk-a"
    assert labels["alpha.service-controller.kubernetes.io/exclude-balancer"] == "true"
    assert labels["node.kubernetes.io/exclude-from-external-load-balancers"] == "true"
    assert labels["jiriaf.nodetype"] == "cpu"
    assert labels["jiriaf.site"] == "perlmutter"
    assert labels["jiriaf.walltime"] == "3600"
    assert labels["jiriaf.alivetime"] == "3500"
    assert "kubernetes.io/os" not in labels
    assert node["spec"]["taints"] == [
        {"key": "virtual-kubelet.io/provider", "value": "mock", "effect": "NoSchedule"}
    ]
    status = node["status"]
    assert status["addresses"] == [{"type": "InternalIP", "address": "10.1.2.3"}]
    assert status["daemonEndpoints"] == {"kubeletEndpoint": {"Port": 10011}}
    assert status["capacity"] == {"cpu": "4", "memory": "8000000Ki", "pods": "1000"}
    assert status["allocatable"] == status["capacity"]
    assert status["nodeInfo"]["kubeletVersion"] == "v1.29.0-jiriaf"
    assert status["nodeInfo"]["architecture"] == "amd64"
    assert [c["type"] for c in status["conditions"]] == [
        "Ready",
        "MemoryPressure",
        "DiskPressure",
        "PIDPressure",
        "NetworkUnavailable",
    ]


def test_node_without_walltime_has_no_walltime_labels() -> None:
    labels = build_node(FACTS, NodeHealth(ready=True), None, None, T0)["metadata"]["labels"]
    assert "jiriaf.walltime" not in labels
    assert "jiriaf.alivetime" not in labels


def test_node_alivetime_never_negative() -> None:
    labels = build_node(FACTS, NodeHealth(ready=True), 100, -30, T0)["metadata"]["labels"]
    assert labels["jiriaf.alivetime"] == "0"


def test_node_ready_transition_time_kept_while_status_same() -> None:
    first = node_status_patch(FACTS, NodeHealth(ready=True), {}, T0)
    node = {"status": first["status"]}
    later = node_status_patch(FACTS, NodeHealth(ready=True), node, T0 + timedelta(minutes=5))
    ready = conditions(later["status"])["Ready"]
    assert ready["lastTransitionTime"] == format_time(T0)
    assert ready["lastHeartbeatTime"] == format_time(T0 + timedelta(minutes=5))


def test_node_external_not_ready_is_corrected() -> None:
    node = {
        "status": {
            "conditions": [
                {
                    "type": "Ready",
                    "status": "False",
                    "reason": "Tampered",
                    "lastTransitionTime": format_time(T0),
                },
                {"type": "Custom", "status": "True", "lastTransitionTime": format_time(T0)},
            ]
        }
    }
    later = T0 + timedelta(seconds=30)
    patch = node_status_patch(FACTS, NodeHealth(ready=True), node, later)
    by_type = conditions(patch["status"])
    assert by_type["Ready"]["status"] == "True"
    assert by_type["Ready"]["reason"] == "KubeletReady"
    assert by_type["Ready"]["lastTransitionTime"] == format_time(later)
    assert by_type["Custom"]["status"] == "True"


def test_node_walltime_expiry_condition() -> None:
    health = NodeHealth(ready=False, reason="WalltimeExpired", message="walltime expired")
    ready = conditions(node_status_patch(FACTS, health, {}, T0)["status"])["Ready"]
    assert (ready["status"], ready["reason"]) == ("False", "WalltimeExpired")


def test_labels_patch_only_changes() -> None:
    current = {"jiriaf.alivetime": "100", "jiriaf.walltime": "200", "other": "x"}
    assert node_labels_patch(current, {"jiriaf.alivetime": "100", "jiriaf.walltime": "200"}) is None
    patch = node_labels_patch(current, {"jiriaf.alivetime": "40", "jiriaf.walltime": "200"})
    assert patch == {"metadata": {"labels": {"jiriaf.alivetime": "40"}}}
    removed = node_labels_patch(current, {})
    assert removed == {"metadata": {"labels": {"jiriaf.alivetime": None, "jiriaf.walltime": None}}}


@pytest.mark.parametrize("value", ["cpu&knl", "a" * 64, "-x", "x y", "x;rm"])
def test_label_value_rejected(value: str) -> None:
    with pytest.raises(LabelValueError, match="JIRIAF_SITE"):
        check_label_value(value, "JIRIAF_SITE")


@pytest.mark.parametrize("value", ["", "cpu", "knl_2.x", "A-b"])
def test_label_value_accepted(value: str) -> None:
    assert check_label_value(value, "JIRIAF_NODETYPE") == value


def test_lease_built_and_renewed() -> None:
    lease = build_lease("vk-a", "node-uid", 40, T0)
    assert lease["metadata"]["namespace"] == "kube-node-lease"
    assert lease["metadata"]["ownerReferences"][0]["uid"] == "node-uid"
    assert lease["spec"] == {
        "holderIdentity": "vk-a",
        "leaseDurationSeconds": 40,
        "renewTime": "2024-05-01T12:00:00.000000Z",
    }
    stored = {**lease, "metadata": {**lease["metadata"], "resourceVersion": "7"}}
    renewed = renewed_lease(stored, "vk-a", 40, T0 + timedelta(seconds=10))
    assert renewed["spec"]["renewTime"] == "2024-05-01T12:00:10.000000Z"
    assert renewed["metadata"]["resourceVersion"] == "7"
    assert stored["spec"]["renewTime"] == "2024-05-01T12:00:00.000000Z"


def test_replacement_keeps_immutable_fields() -> None:
    existing = {
        "metadata": {"name": "vk-a", "uid": "u", "resourceVersion": "9", "labels": {"stale": "yes"}},
        "spec": {
            "podCIDR": "10.244.3.0/24",
            "podCIDRs": ["10.244.3.0/24"],
            "providerID": "kind://vk-a",
            "unschedulable": True,
            "taints": [
                {"key": "node.kubernetes.io/unreachable", "effect": "NoExecute"},
                {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"},
                {"key": "example.com/manual", "effect": "NoSchedule"},
            ],
        },
    }
    manifest = build_node(FACTS, NodeHealth(ready=True), None, None, T0)
    replacement = replacement_node(existing, manifest)
    assert replacement["metadata"]["resourceVersion"] == "9"
    assert replacement["metadata"]["uid"] == "u"
    assert replacement["metadata"]["labels"] == manifest["metadata"]["labels"]
    spec = replacement["spec"]
    assert spec["podCIDR"] == "10.244.3.0/24"
    assert spec["podCIDRs"] == ["10.244.3.0/24"]
    assert spec["providerID"] == "kind://vk-a"
    assert "unschedulable" not in spec
    assert [t["key"] for t in spec["taints"]] == [
        "virtual-kubelet.io/provider",
        "node.kubernetes.io/unreachable",
    ]
