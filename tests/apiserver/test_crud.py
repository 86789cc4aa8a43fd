"""Create, get, list, patch, replace and delete of every kind through lightkube's async and sync clients."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from lightkube import ApiError, AsyncClient, Client, KubeConfig, codecs, operators
from lightkube.resources.coordination_v1 import Lease
from lightkube.resources.core_v1 import ConfigMap, Event, Namespace, Node, Pod, Secret
from lightkube.types import PatchType

from jiriaf_fw.testing.apiserver import ApiServerDouble

from .support import configmap, node, pod


async def test_initial_namespaces_exist(client: AsyncClient) -> None:
    names = [ns.metadata.name async for ns in client.list(Namespace)]
    assert names == ["default", "kube-node-lease", "kube-public", "kube-system"]


async def test_configmap_lifecycle(client: AsyncClient) -> None:
    created = await client.create(codecs.from_dict(configmap("settings", {"a": "1"})))
    assert created.metadata.uid
    assert created.metadata.creationTimestamp is not None
    first_rv = int(created.metadata.resourceVersion)

    fetched = await client.get(ConfigMap, "settings", namespace="default")
    assert fetched.data == {"a": "1"}
    assert [cm.metadata.name async for cm in client.list(ConfigMap, namespace="default")] == ["settings"]

    patched = await client.patch(ConfigMap, "settings", {"data": {"b": "2"}}, namespace="default",
                                 patch_type=PatchType.MERGE)
    assert patched.data == {"a": "1", "b": "2"}
    assert int(patched.metadata.resourceVersion) > first_rv

    patched.data = {"c": "3"}
    replaced = await client.replace(patched)
    assert replaced.data == {"c": "3"}

    await client.delete(ConfigMap, "settings", namespace="default")
    with pytest.raises(ApiError) as caught:
        await client.get(ConfigMap, "settings", namespace="default")
    assert caught.value.status.code == 404
    assert caught.value.status.message == 'configmaps "settings" not found'


async def test_resource_versions_increase_globally(client: AsyncClient) -> None:
    first = await client.create(codecs.from_dict(configmap("one", {})))
    second = await client.create(codecs.from_dict(node("n1")))
    third = await client.create(codecs.from_dict(configmap("two", {})))
    versions = [int(obj.metadata.resourceVersion) for obj in (first, second, third)]
    assert versions == sorted(versions)
    assert len(set(versions)) == 3


async def test_noop_patch_keeps_resource_version(client: AsyncClient) -> None:
    created = await client.create(codecs.from_dict(configmap("same", {"a": "1"})))
    patched = await client.patch(ConfigMap, "same", {"data": {"a": "1"}}, namespace="default",
                                 patch_type=PatchType.MERGE)
    assert patched.metadata.resourceVersion == created.metadata.resourceVersion


async def test_node_lifecycle(client: AsyncClient) -> None:
    created = await client.create(codecs.from_dict(node("vk-1", labels={"jiriaf.nodetype": "cpu"})))
    assert created.status.addresses[0].address == "127.0.0.1"
    assert created.metadata.namespace is None
    labelled = await client.patch(Node, "vk-1", {"metadata": {"labels": {"extra": "yes"}}})
    assert labelled.metadata.labels == {"jiriaf.nodetype": "cpu", "extra": "yes"}
    await client.delete(Node, "vk-1")
    assert [n.metadata.name async for n in client.list(Node)] == []


async def test_pod_defaults_and_status_on_create(client: AsyncClient) -> None:
    manifest = pod("defaults")
    manifest["status"] = {"phase": "Running"}
    created = await client.create(codecs.from_dict(manifest))
    assert created.status.phase == "Pending"
    assert created.status.qosClass == "BestEffort"
    assert created.spec.restartPolicy == "Always"
    assert created.spec.terminationGracePeriodSeconds == 30
    assert created.spec.schedulerName == "default-scheduler"
    assert created.spec.serviceAccountName == "default"
    assert created.spec.containers[0].imagePullPolicy == "IfNotPresent"
    assert created.metadata.generation == 1
    tolerations = {t.key: t.tolerationSeconds for t in created.spec.tolerations}
    assert tolerations == {"node.kubernetes.io/not-ready": 300, "node.kubernetes.io/unreachable": 300}
    token_volumes = [v.name for v in created.spec.volumes if v.name.startswith("kube-api-access-")]
    assert len(token_volumes) == 1


async def test_generate_name(client: AsyncClient) -> None:
    manifest = configmap("", {})
    manifest["metadata"] = {"generateName": "job-"}
    created = await client.create(codecs.from_dict(manifest))
    assert created.metadata.name.startswith("job-")
    assert len(created.metadata.name) == len("job-") + 5


async def test_secret_data_and_string_data(client: AsyncClient) -> None:
    manifest = {
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "token", "namespace": "default"},
        "data": {"a": base64.b64encode(b"alpha").decode()}, "stringData": {"b": "beta"},
    }
    created = await client.create(codecs.from_dict(manifest))
    assert created.type == "Opaque"
    assert created.stringData is None
    assert base64.b64decode(created.data["b"]) == b"beta"
    assert base64.b64decode(created.data["a"]) == b"alpha"
    fetched = await client.get(Secret, "token", namespace="default")
    assert fetched.data == created.data


async def test_secret_rejects_invalid_base64(client: AsyncClient) -> None:
    manifest = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "bad"}, "data": {"a": "%%%"}}
    with pytest.raises(ApiError) as caught:
        await client.create(codecs.from_dict(manifest), namespace="default")
    assert caught.value.status.code == 400
    assert "illegal base64 data" in caught.value.status.message


async def test_lease_lifecycle(client: AsyncClient) -> None:
    manifest = {
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": "vk-1", "namespace": "kube-node-lease"},
        "spec": {"holderIdentity": "vk-1", "leaseDurationSeconds": 40, "renewTime": "2025-01-01T00:00:00.000000Z"},
    }
    created = await client.create(codecs.from_dict(manifest))
    assert created.spec.leaseDurationSeconds == 40
    renewed = await client.patch(Lease, "vk-1", {"spec": {"renewTime": "2025-01-01T00:00:10.000000Z"}},
                                 namespace="kube-node-lease", patch_type=PatchType.MERGE)
    assert renewed.spec.renewTime.second == 10
    with pytest.raises(ApiError) as caught:
        await client.get(Lease, "missing", namespace="kube-node-lease")
    assert caught.value.status.message == 'leases.coordination.k8s.io "missing" not found'
    await client.delete(Lease, "vk-1", namespace="kube-node-lease")


async def test_lease_put_creates_missing(client: AsyncClient) -> None:
    manifest = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                "metadata": {"name": "fresh", "namespace": "kube-node-lease"}, "spec": {"holderIdentity": "x"}}
    created = await client.replace(codecs.from_dict(manifest))
    assert created.metadata.uid


async def test_put_missing_configmap_is_not_found(client: AsyncClient) -> None:
    with pytest.raises(ApiError) as caught:
        await client.replace(codecs.from_dict(configmap("absent", {})))
    assert caught.value.status.code == 404


async def test_events_create_and_list(client: AsyncClient) -> None:
    manifest = {
        "apiVersion": "v1", "kind": "Event", "metadata": {"name": "e1", "namespace": "default"},
        "involvedObject": {"kind": "Pod", "name": "p", "namespace": "default"}, "reason": "Started",
        "message": "started", "type": "Normal",
    }
    await client.create(codecs.from_dict(manifest))
    reasons = [e.reason async for e in client.list(Event, namespace="default", fields={"reason": "Started"})]
    assert reasons == ["Started"]


async def test_namespaced_object_in_missing_namespace(client: AsyncClient) -> None:
    with pytest.raises(ApiError) as caught:
        await client.create(codecs.from_dict(configmap("x", {}, namespace="nowhere")))
    assert caught.value.status.code == 404
    assert caught.value.status.message == 'namespaces "nowhere" not found'


async def test_already_exists(client: AsyncClient) -> None:
    await client.create(codecs.from_dict(configmap("twice", {})))
    with pytest.raises(ApiError) as caught:
        await client.create(codecs.from_dict(configmap("twice", {})))
    assert caught.value.status.code == 409
    assert caught.value.status.reason == "AlreadyExists"
    assert caught.value.status.message == 'configmaps "twice" already exists'


async def test_invalid_name(client: AsyncClient) -> None:
    with pytest.raises(ApiError) as caught:
        await client.create(codecs.from_dict(configmap("Bad_Name", {})))
    status = caught.value.status
    assert status.code == 422
    assert status.reason == "Invalid"
    assert status.message.startswith('ConfigMap "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name"')
    assert status.details.causes[0].field == "metadata.name"


async def test_namespace_create_and_delete_removes_contents(client: AsyncClient) -> None:
    await client.create(codecs.from_dict({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"}}))
    await client.create(codecs.from_dict(configmap("inside", {}, namespace="team")))
    await client.delete(Namespace, "team")
    assert [cm.metadata.name async for cm in client.list(ConfigMap, namespace="team")] == []
    with pytest.raises(ApiError):
        await client.get(Namespace, "team")


async def test_default_namespace_cannot_be_deleted(client: AsyncClient) -> None:
    with pytest.raises(ApiError) as caught:
        await client.delete(Namespace, "default")
    assert caught.value.status.code == 403


async def test_dry_run_stores_nothing(client: AsyncClient) -> None:
    created = await client.create(codecs.from_dict(configmap("dry", {})), dry_run=True)
    assert created.metadata.name == "dry"
    with pytest.raises(ApiError):
        await client.get(ConfigMap, "dry", namespace="default")


async def test_pagination_with_limit_and_continue(client: AsyncClient) -> None:
    for index in range(5):
        await client.create(codecs.from_dict(configmap(f"page-{index}", {})))
    names = [cm.metadata.name async for cm in client.list(ConfigMap, namespace="default", chunk_size=2)]
    assert names == [f"page-{index}" for index in range(5)]


def test_sync_client_lifecycle(sync_client: Client) -> None:
    sync_client.create(codecs.from_dict(node("sync-node")))
    sync_client.create(codecs.from_dict(configmap("sync", {"k": "v"})))
    assert sync_client.get(ConfigMap, "sync", namespace="default").data == {"k": "v"}
    sync_client.patch(ConfigMap, "sync", {"data": {"k": "w"}}, namespace="default")
    assert sync_client.get(ConfigMap, "sync", namespace="default").data == {"k": "w"}
    assert [n.metadata.name for n in sync_client.list(Node)] == ["sync-node"]
    sync_client.delete(ConfigMap, "sync", namespace="default")
    assert list(sync_client.list(ConfigMap, namespace="default")) == []


def test_running_in_thread_serves_url(threaded_api: ApiServerDouble) -> None:
    assert threaded_api.url.startswith("http://127.0.0.1:")
    assert threaded_api.port > 0


async def test_url_before_start_raises() -> None:
    from jiriaf_fw.testing.apiserver import ApiServerDoubleError

    double = ApiServerDouble(root_ca_publisher=False)
    with pytest.raises(ApiServerDoubleError):
        _ = double.url


async def test_port_in_use_raises(api: ApiServerDouble) -> None:
    from jiriaf_fw.testing.apiserver import ApiServerDoubleError

    with pytest.raises(ApiServerDoubleError, match=str(api.port)):
        async with ApiServerDouble(root_ca_publisher=False, port=api.port):
            pass





async def test_unsupported_field_selector(client: AsyncClient) -> None:
    with pytest.raises(ApiError) as caught:
        _ = [p async for p in client.list(Pod, namespace="default", fields={"spec.containers": "x"})]
    assert caught.value.status.code == 400
    assert caught.value.status.message == "field label not supported: spec.containers"


async def test_label_selector_list(client: AsyncClient) -> None:
    for name, tier in (("a", "web"), ("b", "db"), ("c", None)):
        manifest = configmap(name, {})
        if tier:
            manifest["metadata"]["labels"] = {"tier": tier}
        await client.create(codecs.from_dict(manifest))
    selected = [cm.metadata.name async for cm in client.list(ConfigMap, namespace="default", labels={"tier": "web"})]
    assert selected == ["a"]
    absent = [cm.metadata.name async for cm in client.list(ConfigMap, namespace="default",
                                                            labels={"tier": operators.not_in(["web"])})]
    assert absent == ["b", "c"]


async def test_root_ca_published_in_new_namespaces(tmp_path: Path) -> None:
    async with ApiServerDouble() as double:
        client = AsyncClient(KubeConfig.from_file(double.write_kubeconfig(tmp_path / "kubeconfig")))
        try:
            default_ca = await client.get(ConfigMap, "kube-root-ca.crt", namespace="default")
            assert "ca.crt" in default_ca.data
            await client.create(Namespace.from_dict({"metadata": {"name": "team-a"}}))
            team_ca = await client.get(ConfigMap, "kube-root-ca.crt", namespace="team-a")
            assert team_ca.data == default_ca.data
        finally:
            await client.close()
