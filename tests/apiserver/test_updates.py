"""Status subresource isolation, resourceVersion conflicts, pod immutability and validation errors."""

from __future__ import annotations

import pytest
from lightkube import ApiError, AsyncClient, codecs
from lightkube.resources.core_v1 import ConfigMap, Node, Pod
from lightkube.types import PatchType

from jiriaf_fw.testing.apiserver import ApiServerDouble

from .support import configmap, node, pod, request


async def test_main_resource_write_ignores_status(client: AsyncClient) -> None:
    await client.create(codecs.from_dict(node("n1")))
    patched = await client.patch(Node, "n1", {"metadata": {"labels": {"a": "b"}}, "status": {"phase": "X"}},
                                 patch_type=PatchType.MERGE)
    assert patched.status.phase is None
    assert patched.metadata.labels == {"a": "b"}


async def test_status_write_ignores_spec(client: AsyncClient) -> None:
    await client.create(codecs.from_dict(pod("p")))
    patched = await client.patch(
        Pod.Status, "p",
        {"spec": {"activeDeadlineSeconds": 5}, "status": {"phase": "Running", "podIP": "10.0.0.1"}},
        namespace="default", patch_type=PatchType.MERGE,
    )
    assert patched.status.phase == "Running"
    assert patched.spec.activeDeadlineSeconds is None
    assert [ip.ip for ip in patched.status.podIPs] == ["10.0.0.1"]


async def test_status_write_may_change_labels(client: AsyncClient) -> None:
    await client.create(codecs.from_dict(node("n1")))
    patched = await client.patch(Node.Status, "n1", {"metadata": {"labels": {"seen": "yes"}}},
                                 patch_type=PatchType.MERGE)
    assert patched.metadata.labels == {"seen": "yes"}


async def test_node_status_put_keeps_spec(client: AsyncClient) -> None:
    created = await client.create(codecs.from_dict(node("n1")))
    body = created.to_dict()
    body["spec"]["unschedulable"] = True
    body["status"]["conditions"] = [{"type": "Ready", "status": "False"}]
    updated = await client.replace(Node.Status.from_dict(body), "n1")
    assert updated.spec.unschedulable is None
    assert updated.status.conditions[0].status == "False"


async def test_stale_resource_version_conflicts(client: AsyncClient) -> None:
    created = await client.create(codecs.from_dict(configmap("cm", {"a": "1"})))
    await client.patch(ConfigMap, "cm", {"data": {"a": "2"}}, namespace="default", patch_type=PatchType.MERGE)
    created.data = {"a": "3"}
    with pytest.raises(ApiError) as caught:
        await client.replace(created)
    status = caught.value.status
    assert status.code == 409
    assert status.reason == "Conflict"
    assert status.message == (
        'Operation cannot be fulfilled on configmaps "cm": the object has been modified; '
        "please apply your changes to the latest version and try again"
    )


async def test_patch_with_stale_resource_version_conflicts(client: AsyncClient) -> None:
    created = await client.create(codecs.from_dict(configmap("cm", {"a": "1"})))
    stale = created.metadata.resourceVersion
    await client.patch(ConfigMap, "cm", {"data": {"a": "2"}}, namespace="default", patch_type=PatchType.MERGE)
    with pytest.raises(ApiError) as caught:
        await client.patch(ConfigMap, "cm", {"metadata": {"resourceVersion": stale}, "data": {"a": "3"}},
                           namespace="default", patch_type=PatchType.MERGE)
    assert caught.value.status.code == 409


async def test_pod_spec_is_immutable(client: AsyncClient) -> None:
    await client.create(codecs.from_dict(pod("p")))
    with pytest.raises(ApiError) as caught:
        await client.patch(Pod, "p", {"spec": {"restartPolicy": "Never"}}, namespace="default",
                           patch_type=PatchType.MERGE)
    status = caught.value.status
    assert status.code == 422
    assert status.details.causes[0].field == "spec"
    assert "pod updates may not change fields other than" in status.message


async def test_pod_image_and_tolerations_may_change(client: AsyncClient) -> None:
    await client.create(codecs.from_dict(pod("p")))
    patch = {"spec": {"containers": [{"name": "main", "image": "busybox:1.37"}],
                      "tolerations": [{"key": "extra", "operator": "Exists"}]}}
    patched = await client.patch(Pod, "p", patch, namespace="default")
    assert patched.spec.containers[0].image == "busybox:1.37"
    assert "extra" in [t.key for t in patched.spec.tolerations]
    assert patched.metadata.generation == 2


async def test_pod_node_name_cannot_be_set_by_update(client: AsyncClient) -> None:
    await client.create(codecs.from_dict(pod("p", schedulerName="other")))
    with pytest.raises(ApiError) as caught:
        await client.patch(Pod, "p", {"spec": {"nodeName": "n1"}}, namespace="default", patch_type=PatchType.MERGE)
    assert caught.value.status.code == 422


@pytest.mark.parametrize(
    ("spec", "field", "message"),
    [
        ({"containers": []}, "spec.containers", "spec.containers: Required value"),
        ({"containers": [{"image": "x"}]}, "spec.containers[0].name", "spec.containers[0].name: Required value"),
        ({"containers": [{"name": "a"}]}, "spec.containers[0].image", "spec.containers[0].image: Required value"),
        ({"containers": [{"name": "a", "image": "x"}, {"name": "a", "image": "y"}]}, "spec.containers[1].name",
         'spec.containers[1].name: Duplicate value: "a"'),
        ({"containers": [{"name": "a", "image": "x", "volumeMounts": [{"name": "v", "mountPath": "/v"}]}]},
         "spec.containers[0].volumeMounts[0].name", 'spec.containers[0].volumeMounts[0].name: Not found: "v"'),
        ({"containers": [{"name": "a", "image": "x"}], "restartPolicy": "Sometimes"}, "spec.restartPolicy",
         'spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never"'),
    ],
)
async def test_pod_validation(api: ApiServerDouble, spec: dict, field: str, message: str) -> None:
    manifest = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "bad"}, "spec": spec}
    code, status = await request(api.url, "POST", "/api/v1/namespaces/default/pods", manifest)
    assert code == 422
    assert status["reason"] == "Invalid"
    assert status["message"] == f'Pod "bad" is invalid: {message}'
    assert status["details"]["causes"][0]["field"] == field


async def test_several_validation_errors_are_bracketed(api: ApiServerDouble) -> None:
    manifest = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "bad"}, "spec": {"containers": [{}]}}
    code, status = await request(api.url, "POST", "/api/v1/namespaces/default/pods", manifest)
    assert code == 422
    assert status["message"] == (
        'Pod "bad" is invalid: [spec.containers[0].name: Required value, spec.containers[0].image: Required value]'
    )


async def test_status_put_without_qos_class_is_rejected(api: ApiServerDouble) -> None:
    _, created = await request(api.url, "POST", "/api/v1/namespaces/default/pods", pod("p"))
    created["status"] = {"phase": "Running"}
    del created["metadata"]["resourceVersion"]  # the binder may have written the pod since
    code, status = await request(api.url, "PUT", "/api/v1/namespaces/default/pods/p/status", created)
    assert code == 422
    assert status["message"] == 'Pod "p" is invalid: status.qosClass: Invalid value: "": field is immutable'


async def test_invalid_pod_ip_is_rejected(api: ApiServerDouble) -> None:
    await request(api.url, "POST", "/api/v1/namespaces/default/pods", pod("p"))
    code, status = await request(api.url, "PATCH", "/api/v1/namespaces/default/pods/p/status",
                                 {"status": {"podIP": "not-an-ip"}}, content_type="application/merge-patch+json")
    assert code == 422
    assert status["details"]["causes"][0]["field"] == "status.podIPs[0].ip"


async def test_terminated_container_may_not_restart_under_never(api: ApiServerDouble) -> None:
    await request(api.url, "POST", "/api/v1/namespaces/default/pods", pod("p", restartPolicy="Never"))
    path = "/api/v1/namespaces/default/pods/p/status"
    terminated = {"status": {"containerStatuses": [
        {"name": "main", "state": {"terminated": {"exitCode": 0}}, "ready": False, "restartCount": 0,
         "image": "busybox:1.36", "imageID": ""}]}}
    code, _ = await request(api.url, "PATCH", path, terminated, content_type="application/merge-patch+json")
    assert code == 200
    running = {"status": {"containerStatuses": [
        {"name": "main", "state": {"running": {"startedAt": "2025-01-01T00:00:00Z"}}, "ready": True,
         "restartCount": 1, "image": "busybox:1.36", "imageID": ""}]}}
    code, status = await request(api.url, "PATCH", path, running, content_type="application/merge-patch+json")
    assert code == 422
    assert status["message"] == (
        'Pod "p" is invalid: status.containerStatuses[0].state: Forbidden: may not be transitioned to '
        "non-terminated state"
    )


async def test_go_zero_values_are_filled(api: ApiServerDouble, client: AsyncClient) -> None:
    await request(api.url, "POST", "/api/v1/namespaces/default/pods", pod("p"))
    await request(api.url, "PATCH", "/api/v1/namespaces/default/pods/p/status",
                  {"status": {"containerStatuses": [{"name": "main", "state": {"waiting": {"reason": "X"}}}]}},
                  content_type="application/merge-patch+json")
    fetched = await client.get(Pod, "p", namespace="default")
    status = fetched.status.containerStatuses[0]
    assert (status.ready, status.restartCount, status.image, status.imageID) == (False, 0, "", "")
    await request(api.url, "POST", "/api/v1/nodes", {"metadata": {"name": "bare"}})
    bare = await client.get(Node, "bare")
    assert bare.status.nodeInfo.architecture == ""
    assert bare.status.daemonEndpoints.kubeletEndpoint.Port == 0


async def test_timestamps_are_normalized(api: ApiServerDouble) -> None:
    await request(api.url, "POST", "/api/v1/namespaces/default/pods", pod("p"))
    code, patched = await request(api.url, "PATCH", "/api/v1/namespaces/default/pods/p/status",
                                  {"status": {"startTime": "2025-01-01T02:00:00.75+02:00"}},
                                  content_type="application/merge-patch+json")
    assert code == 200
    assert patched["status"]["startTime"] == "2025-01-01T00:00:00Z"
    lease = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "l"},
             "spec": {"renewTime": "2025-01-01T00:00:00Z"}}
    code, created = await request(api.url, "POST", "/apis/coordination.k8s.io/v1/namespaces/default/leases", lease)
    assert code == 201
    assert created["spec"]["renewTime"] == "2025-01-01T00:00:00.000000Z"


async def test_unparsable_timestamp_is_bad_request(api: ApiServerDouble) -> None:
    lease = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "l"},
             "spec": {"renewTime": "yesterday"}}
    code, status = await request(api.url, "POST", "/apis/coordination.k8s.io/v1/namespaces/default/leases", lease)
    assert code == 400
    assert 'parsing time "yesterday"' in status["message"]


async def test_pod_containers_cannot_be_added(client: AsyncClient) -> None:
    await client.create(codecs.from_dict(pod("p")))
    patch = {"spec": {"containers": [{"name": "extra", "image": "x"}]}}
    with pytest.raises(ApiError) as caught:
        await client.patch(Pod, "p", patch, namespace="default")
    assert caught.value.status.message == (
        'Pod "p" is invalid: spec.containers: Forbidden: pod updates may not add or remove containers'
    )


async def test_toleration_seconds_may_change(client: AsyncClient) -> None:
    await client.create(codecs.from_dict(pod("p")))
    created = await client.get(Pod, "p", namespace="default")
    tolerations = [t.to_dict() for t in created.spec.tolerations]
    for toleration in tolerations:
        toleration["tolerationSeconds"] = 60
    patched = await client.patch(Pod, "p", {"spec": {"tolerations": tolerations}}, namespace="default",
                                 patch_type=PatchType.MERGE)
    assert {t.tolerationSeconds for t in patched.spec.tolerations} == {60}
