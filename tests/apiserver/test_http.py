"""HTTP-level behaviour: discovery, OpenAPI, errors for unknown paths, content negotiation, list options."""

from __future__ import annotations

import pytest

from jiriaf_fw.testing.apiserver import ApiServerDouble

from .support import configmap, node, pod, request

TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"


async def test_discovery_documents(api: ApiServerDouble) -> None:
    code, versions = await request(api.url, "GET", "/api")
    assert code == 200
    assert versions["versions"] == ["v1"]
    code, groups = await request(api.url, "GET", "/apis")
    assert [g["name"] for g in groups["groups"]] == ["coordination.k8s.io"]
    code, core = await request(api.url, "GET", "/api/v1")
    by_name = {r["name"]: r for r in core["resources"]}
    assert by_name["pods"]["shortNames"] == ["po"]
    assert by_name["nodes"]["namespaced"] is False
    assert by_name["namespaces"]["shortNames"] == ["ns"]
    assert by_name["configmaps"]["shortNames"] == ["cm"]
    assert by_name["nodes"]["shortNames"] == ["no"]
    assert "pods/status" in by_name
    assert by_name["pods/log"]["verbs"] == ["get"]
    code, coordination = await request(api.url, "GET", "/apis/coordination.k8s.io/v1")
    assert coordination["resources"][0]["kind"] == "Lease"


async def test_health_and_version(api: ApiServerDouble) -> None:
    for path in ("/healthz", "/readyz", "/livez"):
        code, body = await request(api.url, "GET", path)
        assert (code, body) == (200, "ok")
    code, version = await request(api.url, "GET", "/version")
    assert version["major"] == "1"


async def test_openapi_v3_index_and_documents(api: ApiServerDouble) -> None:
    code, index = await request(api.url, "GET", "/openapi/v3")
    assert set(index["paths"]) == {"api/v1", "apis/coordination.k8s.io/v1"}
    code, document = await request(api.url, "GET", index["paths"]["api/v1"]["serverRelativeURL"])
    assert code == 200
    patch = document["paths"]["/api/v1/namespaces/{namespace}/pods/{name}"]["patch"]
    assert patch["x-kubernetes-group-version-kind"] == {"group": "", "version": "v1", "kind": "Pod"}
    assert "fieldValidation" in [p["name"] for p in patch["parameters"]]
    code, _ = await request(api.url, "GET", "/openapi/v2")
    assert code == 404


async def test_unknown_resource_is_not_found(api: ApiServerDouble) -> None:
    code, status = await request(api.url, "GET", "/api/v1/widgets")
    assert code == 404
    assert status["message"] == "the server could not find the requested resource"
    code, status = await request(api.url, "GET", "/apis/apps/v1/deployments")
    assert code == 404
    code, status = await request(api.url, "GET", "/api/v1/pods/cluster-scoped-name")
    assert code == 404


async def test_method_not_allowed(api: ApiServerDouble) -> None:
    code, status = await request(api.url, "PUT", "/api/v1/namespaces/default/configmaps", {})
    assert code == 405
    assert status["reason"] == "MethodNotAllowed"


async def test_strict_field_validation_rejects_unknown_fields(api: ApiServerDouble) -> None:
    manifest = pod("strict")
    manifest["spec"]["containers"][0]["imagee"] = "typo"
    code, status = await request(api.url, "POST", "/api/v1/namespaces/default/pods?fieldValidation=Strict", manifest)
    assert code == 400
    assert status["reason"] == "BadRequest"
    assert status["message"] == (
        'Pod in version "v1" cannot be handled as a Pod: strict decoding error: unknown field "spec.containers[0].imagee"'
    )


async def test_unknown_fields_are_dropped_by_default(api: ApiServerDouble) -> None:
    manifest = configmap("loose", {"a": "1"})
    manifest["extra"] = True
    code, created = await request(api.url, "POST", "/api/v1/namespaces/default/configmaps", manifest)
    assert code == 201
    assert "extra" not in created


async def test_apply_patch_is_unsupported(api: ApiServerDouble) -> None:
    await request(api.url, "POST", "/api/v1/namespaces/default/configmaps", configmap("cm", {}))
    code, status = await request(api.url, "PATCH", "/api/v1/namespaces/default/configmaps/cm?fieldManager=x",
                                 "data: {a: b}", content_type="application/apply-patch+yaml")
    assert code == 415
    assert status["reason"] == "UnsupportedMediaType"


async def test_json_patch(api: ApiServerDouble) -> None:
    await request(api.url, "POST", "/api/v1/namespaces/default/configmaps", configmap("cm", {"a": "1"}))
    operations = [{"op": "add", "path": "/data/b", "value": "2"}, {"op": "remove", "path": "/data/a"}]
    code, patched = await request(api.url, "PATCH", "/api/v1/namespaces/default/configmaps/cm", operations,
                                  content_type="application/json-patch+json")
    assert code == 200
    assert patched["data"] == {"b": "2"}
    code, status = await request(api.url, "PATCH", "/api/v1/namespaces/default/configmaps/cm",
                                 [{"op": "test", "path": "/data/b", "value": "9"}],
                                 content_type="application/json-patch+json")
    assert code == 422
    assert status["details"]["causes"][0]["message"] == "testing value /data/b failed"


async def test_strategic_merge_patch_merges_conditions(api: ApiServerDouble) -> None:
    await request(api.url, "POST", "/api/v1/nodes", node("n1"))
    patch = {"status": {"conditions": [{"type": "DiskPressure", "status": "False"}]}}
    code, patched = await request(api.url, "PATCH", "/api/v1/nodes/n1/status", patch,
                                  content_type="application/strategic-merge-patch+json")
    assert code == 200
    assert [c["type"] for c in patched["status"]["conditions"]] == ["Ready", "DiskPressure"]


async def test_table_output_for_pods(api: ApiServerDouble) -> None:
    await request(api.url, "POST", "/api/v1/namespaces/default/pods", pod("tabled"))
    code, table = await request(api.url, "GET", "/api/v1/namespaces/default/pods", accept=TABLE)
    assert code == 200
    assert table["kind"] == "Table"
    names = [c["name"] for c in table["columnDefinitions"] if c["priority"] == 0]
    assert names == ["Name", "Ready", "Status", "Restarts", "Age"]
    cells = table["rows"][0]["cells"]
    assert cells[:4] == ["tabled", "0/1", "Pending", "0"]
    assert table["rows"][0]["object"]["kind"] == "PartialObjectMetadata"


async def test_table_output_for_nodes(api: ApiServerDouble) -> None:
    manifest = node("n1", labels={"kubernetes.io/role": "agent"}, unschedulable=True)
    await request(api.url, "POST", "/api/v1/nodes", manifest)
    code, table = await request(api.url, "GET", "/api/v1/nodes/n1", accept=TABLE)
    assert code == 200
    names = [c["name"] for c in table["columnDefinitions"] if c["priority"] == 0]
    assert names == ["Name", "Status", "Roles", "Age", "Version"]
    assert table["rows"][0]["cells"][:3] == ["n1", "Ready,SchedulingDisabled", "agent"]


async def test_protobuf_only_is_not_acceptable(api: ApiServerDouble) -> None:
    code, status = await request(api.url, "GET", "/api/v1/namespaces", accept="application/vnd.kubernetes.protobuf")
    assert code == 406
    assert status["reason"] == "NotAcceptable"


async def test_list_exact_resource_version_rebuilds_past_state(api: ApiServerDouble) -> None:
    await request(api.url, "POST", "/api/v1/namespaces/default/configmaps", configmap("cm", {"v": "1"}))
    code, listed = await request(api.url, "GET", "/api/v1/namespaces/default/configmaps")
    then = listed["metadata"]["resourceVersion"]
    await request(api.url, "PATCH", "/api/v1/namespaces/default/configmaps/cm", {"data": {"v": "2"}},
                  content_type="application/merge-patch+json")
    await request(api.url, "POST", "/api/v1/namespaces/default/configmaps", configmap("later", {}))
    code, past = await request(
        api.url, "GET", f"/api/v1/namespaces/default/configmaps?resourceVersion={then}&resourceVersionMatch=Exact"
    )
    assert code == 200
    assert past["metadata"]["resourceVersion"] == then
    assert [(i["metadata"]["name"], i["data"]) for i in past["items"]] == [("cm", {"v": "1"})]


async def test_list_options_are_validated(api: ApiServerDouble) -> None:
    code, status = await request(api.url, "GET", "/api/v1/namespaces/default/configmaps?resourceVersionMatch=Exact")
    assert code == 422
    assert "resourceVersionMatch is forbidden unless resourceVersion is provided" in status["message"]


async def test_list_items_have_no_kind(api: ApiServerDouble) -> None:
    await request(api.url, "POST", "/api/v1/namespaces/default/configmaps", configmap("cm", {}))
    code, listed = await request(api.url, "GET", "/api/v1/namespaces/default/configmaps")
    assert code == 200
    assert listed["kind"] == "ConfigMapList"
    assert "kind" not in listed["items"][0]


async def test_too_large_resource_version_times_out(api: ApiServerDouble) -> None:
    code, status = await request(api.url, "GET", "/api/v1/namespaces/default/configmaps?resourceVersion=999999")
    assert code == 504
    assert status["message"].startswith("Timeout: Too large resource version: 999999")


@pytest.mark.parametrize("history_size", [3])
async def test_expired_exact_list_and_continue(history_size: int) -> None:
    async with ApiServerDouble(root_ca_publisher=False, history_size=history_size) as api:
        for index in range(3):
            await request(api.url, "POST", "/api/v1/namespaces/default/configmaps", configmap(f"c{index}", {}))
        code, page = await request(api.url, "GET", "/api/v1/namespaces/default/configmaps?limit=1")
        assert page["metadata"]["remainingItemCount"] == 2
        token = page["metadata"]["continue"]
        for index in range(5):
            await request(api.url, "POST", "/api/v1/namespaces/default/configmaps", configmap(f"d{index}", {}))
        code, status = await request(api.url, "GET", f"/api/v1/namespaces/default/configmaps?limit=1&continue={token}")
        assert code == 410
        assert status["reason"] == "Expired"
        code, status = await request(
            api.url, "GET", "/api/v1/namespaces/default/configmaps?resourceVersion=2&resourceVersionMatch=Exact"
        )
        assert code == 410
        assert status["message"] == "The resourceVersion for the provided list is too old."
