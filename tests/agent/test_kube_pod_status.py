"""Pod status builder, tested without a server."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from jiriaf_fw.core.kube_objects import format_time
from jiriaf_fw.core.kube_pod_status import (
    PodFailure,
    owned_pod_status,
    pod_phase,
    pod_status,
    pod_status_patch,
)

T0 = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)


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
    assert [c["type"] for c in status["conditions"]] == [
        "PodScheduled",
        "Initialized",
        "ContainersReady",
        "Ready",
    ]
    assert all(c["status"] == "True" for c in status["conditions"])
    (container,) = status["containerStatuses"]
    assert container["containerID"] == "jiriaf://4242"
    assert container["imageID"] == "/home/u/ns/p/containers/c/stress/stress.sh"
    assert container["restartCount"] == 0
    assert container["ready"] is True
    assert container["started"] is True
    assert container["state"] == {"running": {"startedAt": format_time(T0)}}
    assert by_type["Ready"]["lastTransitionTime"] == format_time(T0)


def test_ready_and_start_times_stable() -> None:
    pod = make_pod("c")
    first = pod_status(pod, [View("c", "running")], previous={}, pod_ip="10.1.2.3", now=T0)
    second = pod_status(
        pod,
        [View("c", "running")],
        previous=owned_pod_status(first),
        pod_ip="10.1.2.3",
        now=T0 + timedelta(minutes=3),
    )
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
    status = pod_status(
        make_pod("c"), [View("c", "terminated", exit_code=0)], previous={}, pod_ip="1.2.3.4", now=T0
    )
    assert status["phase"] == "Succeeded"
    assert status["containerStatuses"][0]["state"]["terminated"]["reason"] == "Completed"


def test_pod_pending_shows_waiting_reason() -> None:
    status = pod_status(
        make_pod("c"),
        [],
        previous={},
        pod_ip="1.2.3.4",
        now=T0,
        waiting=("CreateContainerConfigError", 'configmap "x" not found'),
    )
    assert status["phase"] == "Pending"
    assert status["containerStatuses"][0]["state"] == {
        "waiting": {"reason": "CreateContainerConfigError", "message": 'configmap "x" not found'}
    }
    ready = conditions(status)["Ready"]
    assert ready["reason"] == "ContainersNotReady"
    assert ready["message"] == "containers with unready status: [c]"


def test_pod_failure_forces_failed_phase() -> None:
    failure = PodFailure("NodeWalltimeExpired", "the node reached its walltime")
    status = pod_status(
        make_pod("c"), [View("c", "running")], previous={}, pod_ip="1.2.3.4", now=T0, failure=failure
    )
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


def test_failure_before_start_terminates_containers() -> None:
    failure = PodFailure("ProviderFailed", "invalid mountPath '../x'")
    status = pod_status(make_pod("c"), [], previous={}, pod_ip="1.2.3.4", now=T0, failure=failure)
    assert status["phase"] == "Failed"
    terminated = status["containerStatuses"][0]["state"]["terminated"]
    assert terminated["reason"] == "ProviderFailed"
    assert terminated["message"] == "invalid mountPath '../x'"
    assert terminated["exitCode"] == 128
    assert "waiting" not in status["containerStatuses"][0]["state"]
