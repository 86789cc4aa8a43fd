"""Node, Lease and pod status builders, tested without a server."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from jiriaf_fw.core.kube_objects import (
    LabelValueError,
    NodeFacts,
    NodeHealth,
    PodFailure,
    build_lease,
    build_node,
    check_label_value,
    format_time,
    node_labels_patch,
    node_status_patch,
    owned_pod_status,
    pod_phase,
    pod_status,
    pod_status_patch,
    renewed_lease,
)

T0 = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
FACTS = NodeFacts(
    name="vk-a", pod_ip="10.1.2.3", kubelet_port=10011, cpu_count=4, memory_ki=8000000,
    nodetype="cpu", site="perlmutter", architecture="amd64", kernel_version="6.1", kubelet_version="v1.29.0-jiriaf",
)


@dataclass(frozen=True)
class View:
    name: str
    state: str
    started_at: datetime | None = T0
    finished_at: datetime | None = None
    exit_code: int | None = None
    reason: str | None = None
    message: str | None = None
    pgid: int | None = 4242
    script_path: str | None = "/home/u/ns/p/containers/c/stress/stress.sh"


def make_pod(*names: str, policy: str = "Never") -> dict:
    return {
        "metadata": {"name": "p", "namespace": "ns", "uid": "u-1"},
        "spec": {"restartPolicy": policy, "containers": [{"name": n, "image": "stress"} for n in names]},
        "status": {},
    }


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
    assert status["addresses"] == [
        {"type": "InternalIP", "address": "10.1.2.3"}, {"type": "Hostname", "address": "vk-a"}
    ]
    assert status["daemonEndpoints"] == {"kubeletEndpoint": {"Port": 10011}}
    assert status["capacity"] == {"cpu": "4", "memory": "8000000Ki", "pods": "1000"}
    assert status["allocatable"] == status["capacity"]
    assert status["nodeInfo"]["kubeletVersion"] == "v1.29.0-jiriaf"
    assert status["nodeInfo"]["architecture"] == "amd64"
    assert [c["type"] for c in status["conditions"]] == [
        "Ready", "MemoryPressure", "DiskPressure", "PIDPressure", "NetworkUnavailable"
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
    node = {"status": {"conditions": [
        {"type": "Ready", "status": "False", "reason": "Tampered", "lastTransitionTime": format_time(T0)},
        {"type": "Custom", "status": "True", "lastTransitionTime": format_time(T0)},
    ]}}
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
        "holderIdentity": "vk-a", "leaseDurationSeconds": 40, "renewTime": "2024-05-01T12:00:00.000000Z"
    }
    stored = {**lease, "metadata": {**lease["metadata"], "resourceVersion": "7"}}
    renewed = renewed_lease(stored, "vk-a", 40, T0 + timedelta(seconds=10))
    assert renewed["spec"]["renewTime"] == "2024-05-01T12:00:10.000000Z"
    assert renewed["metadata"]["resourceVersion"] == "7"
    assert stored["spec"]["renewTime"] == "2024-05-01T12:00:00.000000Z"


@pytest.mark.parametrize(
    ("states", "phase"),
    [
        ([], "Pending"),
        ([View("a", "waiting")], "Pending"),
        ([View("a", "running")], "Running"),
        ([View("a", "terminated", exit_code=0), View("b", "running")], "Running"),
        ([View("a", "terminated", exit_code=0), View("b", "terminated", exit_code=0)], "Succeeded"),
        ([View("a", "terminated", exit_code=0), View("b", "terminated", exit_code=7)], "Failed"),
    ],
)
def test_pod_phase_from_states(states: list[View], phase: str) -> None:
    assert pod_phase(make_pod("a", "b"), states) == phase


def test_pod_phase_single_container_missing_state_is_pending() -> None:
    assert pod_phase(make_pod("a"), []) == "Pending"


def test_running_pod_status_shape() -> None:
    status = pod_status(make_pod("c"), [View("c", "running")], previous={}, pod_ip="10.1.2.3", now=T0)
    assert status["phase"] == "Running"
    assert status["podIP"] == status["hostIP"] == "10.1.2.3"
    assert status["podIPs"] == [{"ip": "10.1.2.3"}]
    assert status["startTime"] == format_time(T0)
    by_type = conditions(status)
    assert [c["type"] for c in status["conditions"]] == ["PodScheduled", "Initialized", "ContainersReady", "Ready"]
    assert all(c["status"] == "True" for c in status["conditions"])
    (container,) = status["containerStatuses"]
    assert container["containerID"] == "jiriaf://4242"
    assert container["imageID"] == "/home/u/ns/p/containers/c/stress/stress.sh"
    assert container["restartCount"] == 0
    assert container["ready"] is True
    assert container["started"] is True
    assert container["state"] == {"running": {"startedAt": format_time(T0)}}
    assert by_type["Ready"]["lastTransitionTime"] == format_time(T0)


def test_pod_ready_time_and_start_time_stable_across_syncs() -> None:
    pod = make_pod("c")
    first = pod_status(pod, [View("c", "running")], previous={}, pod_ip="10.1.2.3", now=T0)
    second = pod_status(pod, [View("c", "running")], previous=owned_pod_status(first), pod_ip="10.1.2.3",
                        now=T0 + timedelta(minutes=3))
    assert second == first
    assert conditions(second)["Ready"]["lastTransitionTime"] == format_time(T0)
    assert second["startTime"] == format_time(T0)


def test_pod_failed_with_real_exit_code() -> None:
    finished = T0 + timedelta(seconds=5)
    view = View("c", "terminated", exit_code=7, finished_at=finished)
    status = pod_status(make_pod("c"), [view], previous={}, pod_ip="10.1.2.3", now=finished)
    assert status["phase"] == "Failed"
    terminated = status["containerStatuses"][0]["state"]["terminated"]
    assert terminated["exitCode"] == 7
    assert terminated["reason"] == "Error"
    assert terminated["finishedAt"] == format_time(finished)
    assert terminated["containerID"] == "jiriaf://4242"
    ready = conditions(status)["Ready"]
    assert (ready["status"], ready["reason"]) == ("False", "PodCompleted")


def test_pod_succeeded_reason_completed() -> None:
    status = pod_status(make_pod("c"), [View("c", "terminated", exit_code=0)], previous={}, pod_ip="1.2.3.4",
                        now=T0)
    assert status["phase"] == "Succeeded"
    assert status["containerStatuses"][0]["state"]["terminated"]["reason"] == "Completed"


def test_pod_pending_shows_waiting_reason() -> None:
    status = pod_status(make_pod("c"), [], previous={}, pod_ip="1.2.3.4", now=T0,
                        waiting=("CreateContainerConfigError", 'configmap "x" not found'))
    assert status["phase"] == "Pending"
    assert status["containerStatuses"][0]["state"] == {
        "waiting": {"reason": "CreateContainerConfigError", "message": 'configmap "x" not found'}
    }
    ready = conditions(status)["Ready"]
    assert ready["reason"] == "ContainersNotReady"
    assert ready["message"] == "containers with unready status: [c]"


def test_pod_failure_forces_failed_phase() -> None:
    failure = PodFailure("NodeWalltimeExpired", "the node reached its walltime")
    status = pod_status(make_pod("c"), [View("c", "running")], previous={}, pod_ip="1.2.3.4", now=T0,
                        failure=failure)
    assert status["phase"] == "Failed"
    assert status["reason"] == "NodeWalltimeExpired"
    assert status["containerStatuses"][0]["ready"] is False
    assert conditions(status)["Ready"]["status"] == "False"


def test_pod_foreign_conditions_kept() -> None:
    previous = {"conditions": [{"type": "DisruptionTarget", "status": "True", "lastTransitionTime": "x"}]}
    status = pod_status(make_pod("c"), [View("c", "running")], previous=previous, pod_ip="1.2.3.4", now=T0)
    assert conditions(status)["DisruptionTarget"]["status"] == "True"


def test_readiness_gate_holds_ready_false() -> None:
    pod = make_pod("c")
    pod["spec"]["readinessGates"] = [{"conditionType": "example.com/gate"}]
    status = pod_status(pod, [View("c", "running")], previous={}, pod_ip="1.2.3.4", now=T0)
    assert conditions(status)["ContainersReady"]["status"] == "True"
    assert conditions(status)["Ready"]["status"] == "False"


def test_status_patch_clears_stale_reason() -> None:
    status = pod_status(make_pod("c"), [View("c", "running")], previous={}, pod_ip="1.2.3.4", now=T0)
    patch = pod_status_patch(status)
    assert patch["status"]["reason"] is None
    assert patch["status"]["message"] is None
    assert patch["status"]["phase"] == "Running"
