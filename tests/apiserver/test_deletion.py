"""Graceful pod deletion, immediate deletion, finalizers and delete preconditions."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from lightkube import ApiError, AsyncClient, codecs
from lightkube.resources.core_v1 import ConfigMap, Pod
from lightkube.types import PatchType

from jiriaf_fw.testing.apiserver import ApiServerDouble

from .support import configmap, pod, request

NOW = 1_700_000_000.0


@pytest.fixture
async def clocked_api() -> AsyncIterator[ApiServerDouble]:
    async with ApiServerDouble(root_ca_publisher=False, clock=lambda: NOW, binder=False) as double:
        yield double


async def test_bound_pod_deletion_is_graceful(clocked_api: ApiServerDouble) -> None:
    url = clocked_api.url
    await request(url, "POST", "/api/v1/namespaces/default/pods", pod("p", nodeName="n1"))
    code, first = await request(url, "DELETE", "/api/v1/namespaces/default/pods/p")
    assert code == 200
    assert first["metadata"]["deletionGracePeriodSeconds"] == 30
    assert first["metadata"]["deletionTimestamp"] == "2023-11-14T22:13:50Z"
    assert first["metadata"]["generation"] == 2
    code, still = await request(url, "GET", "/api/v1/namespaces/default/pods/p")
    assert code == 200
    assert still["metadata"]["deletionTimestamp"] == "2023-11-14T22:13:50Z"

    code, final = await request(url, "DELETE", "/api/v1/namespaces/default/pods/p?gracePeriodSeconds=0")
    assert code == 200
    assert final["kind"] == "Pod"
    code, _ = await request(url, "GET", "/api/v1/namespaces/default/pods/p")
    assert code == 404


async def test_repeated_delete_keeps_pending_grace(clocked_api: ApiServerDouble) -> None:
    url = clocked_api.url
    await request(url, "POST", "/api/v1/namespaces/default/pods", pod("p", nodeName="n1"))
    _, first = await request(url, "DELETE", "/api/v1/namespaces/default/pods/p")
    _, second = await request(url, "DELETE", "/api/v1/namespaces/default/pods/p")
    assert second["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]
    _, shorter = await request(url, "DELETE", "/api/v1/namespaces/default/pods/p",
                               {"kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 10})
    assert shorter["metadata"]["deletionGracePeriodSeconds"] == 10
    assert shorter["metadata"]["deletionTimestamp"] == "2023-11-14T22:13:30Z"


async def test_pod_grace_period_from_spec(clocked_api: ApiServerDouble) -> None:
    url = clocked_api.url
    await request(url, "POST", "/api/v1/namespaces/default/pods", pod("p", nodeName="n1", terminationGracePeriodSeconds=5))
    _, deleting = await request(url, "DELETE", "/api/v1/namespaces/default/pods/p")
    assert deleting["metadata"]["deletionGracePeriodSeconds"] == 5


async def test_unbound_pod_is_deleted_at_once(clocked_api: ApiServerDouble) -> None:
    url = clocked_api.url
    await request(url, "POST", "/api/v1/namespaces/default/pods", pod("p"))
    code, _ = await request(url, "DELETE", "/api/v1/namespaces/default/pods/p")
    assert code == 200
    code, _ = await request(url, "GET", "/api/v1/namespaces/default/pods/p")
    assert code == 404


async def test_terminal_pod_is_deleted_at_once(clocked_api: ApiServerDouble) -> None:
    url = clocked_api.url
    await request(url, "POST", "/api/v1/namespaces/default/pods", pod("p", nodeName="n1"))
    await request(url, "PATCH", "/api/v1/namespaces/default/pods/p/status", {"status": {"phase": "Succeeded"}},
                  content_type="application/merge-patch+json")
    await request(url, "DELETE", "/api/v1/namespaces/default/pods/p")
    code, _ = await request(url, "GET", "/api/v1/namespaces/default/pods/p")
    assert code == 404


async def test_terminating_pod_that_finishes_is_deleted(clocked_api: ApiServerDouble) -> None:
    url = clocked_api.url
    await request(url, "POST", "/api/v1/namespaces/default/pods", pod("p", nodeName="n1"))
    await request(url, "DELETE", "/api/v1/namespaces/default/pods/p")
    await request(url, "PATCH", "/api/v1/namespaces/default/pods/p/status", {"status": {"phase": "Failed"}},
                  content_type="application/merge-patch+json")
    code, still = await request(url, "GET", "/api/v1/namespaces/default/pods/p")
    assert code == 200
    assert still["status"]["phase"] == "Failed"
    await request(url, "DELETE", "/api/v1/namespaces/default/pods/p")
    code, _ = await request(url, "GET", "/api/v1/namespaces/default/pods/p")
    assert code == 404


async def test_configmap_delete_returns_success_status(clocked_api: ApiServerDouble) -> None:
    url = clocked_api.url
    await request(url, "POST", "/api/v1/namespaces/default/configmaps", configmap("cm", {}))
    code, status = await request(url, "DELETE", "/api/v1/namespaces/default/configmaps/cm")
    assert code == 200
    assert status["kind"] == "Status"
    assert status["status"] == "Success"
    assert status["details"]["name"] == "cm"


async def test_finalizers_delay_deletion(client: AsyncClient) -> None:
    manifest = configmap("held", {})
    manifest["metadata"]["finalizers"] = ["example.com/hold"]
    await client.create(codecs.from_dict(manifest))
    await client.delete(ConfigMap, "held", namespace="default")
    held = await client.get(ConfigMap, "held", namespace="default")
    assert held.metadata.deletionTimestamp is not None
    await client.patch(ConfigMap, "held", {"metadata": {"finalizers": None}}, namespace="default",
                       patch_type=PatchType.MERGE)
    with pytest.raises(ApiError) as caught:
        await client.get(ConfigMap, "held", namespace="default")
    assert caught.value.status.code == 404


async def test_uid_precondition(clocked_api: ApiServerDouble) -> None:
    url = clocked_api.url
    await request(url, "POST", "/api/v1/namespaces/default/configmaps", configmap("cm", {}))
    code, status = await request(url, "DELETE", "/api/v1/namespaces/default/configmaps/cm",
                                 {"preconditions": {"uid": "not-the-uid"}})
    assert code == 409
    assert "Precondition failed: UID in precondition: not-the-uid" in status["message"]


async def test_invalid_propagation_policy(clocked_api: ApiServerDouble) -> None:
    url = clocked_api.url
    await request(url, "POST", "/api/v1/namespaces/default/configmaps", configmap("cm", {}))
    code, _ = await request(url, "DELETE", "/api/v1/namespaces/default/configmaps/cm?propagationPolicy=Sideways")
    assert code == 422
    code, _ = await request(url, "DELETE", "/api/v1/namespaces/default/configmaps/cm?propagationPolicy=Background")
    assert code == 200


async def test_lightkube_two_step_deletion(client: AsyncClient) -> None:
    await client.create(codecs.from_dict(pod("p", nodeName="n1")))
    await client.delete(Pod, "p", namespace="default")
    terminating = await client.get(Pod, "p", namespace="default")
    assert terminating.metadata.deletionGracePeriodSeconds == 30
    await client.delete(Pod, "p", namespace="default", grace_period=0)
    assert [p.metadata.name async for p in client.list(Pod, namespace="default")] == []


async def test_delete_collection(clocked_api: ApiServerDouble) -> None:
    url = clocked_api.url
    for name, group in (("a", "x"), ("b", "y")):
        manifest = configmap(name, {})
        manifest["metadata"]["labels"] = {"group": group}
        await request(url, "POST", "/api/v1/namespaces/default/configmaps", manifest)
    code, deleted = await request(url, "DELETE", "/api/v1/namespaces/default/configmaps?labelSelector=group%3Dx")
    assert code == 200
    assert [item["metadata"]["name"] for item in deleted["items"]] == ["a"]
    _, remaining = await request(url, "GET", "/api/v1/namespaces/default/configmaps")
    assert [item["metadata"]["name"] for item in remaining["items"]] == ["b"]
