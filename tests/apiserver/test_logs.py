"""The pods/log subresource proxies to the node's kubelet over HTTPS without verifying its certificate."""

from __future__ import annotations

import socket
from typing import Any

from lightkube import AsyncClient

from jiriaf_fw.testing.apiserver import ApiServerDouble

from .support import FakeKubelet, node, pod, request


async def bound_pod(api: ApiServerDouble, port: int, containers: list[dict[str, Any]] | None = None) -> None:
    await request(api.url, "POST", "/api/v1/nodes", node("vk", kubelet_port=port))
    manifest = pod("p", nodeName="vk")
    if containers:
        manifest["spec"]["containers"] = containers
    await request(api.url, "POST", "/api/v1/namespaces/default/pods", manifest)


async def test_logs_are_proxied(api: ApiServerDouble, kubelet: FakeKubelet) -> None:
    await bound_pod(api, kubelet.port)
    code, body = await request(api.url, "GET", "/api/v1/namespaces/default/pods/p/log?tailLines=2&timestamps=true")
    assert code == 200
    assert body == "line 0\nline 1\n"
    assert kubelet.requests == [("/containerLogs/default/p/main", {"tailLines": "2", "timestamps": "true"})]


async def test_lightkube_log(api: ApiServerDouble, kubelet: FakeKubelet, client: AsyncClient) -> None:
    await bound_pod(api, kubelet.port)
    lines = [line async for line in client.log("p", namespace="default", tail_lines=1)]
    assert lines == ["line 0\n"]


async def test_kubelet_bad_request_is_passed_on(api: ApiServerDouble, kubelet: FakeKubelet) -> None:
    await bound_pod(api, kubelet.port, [{"name": "waiting", "image": "x"}])
    code, status = await request(api.url, "GET", "/api/v1/namespaces/default/pods/p/log")
    assert code == 400
    assert status["reason"] == "BadRequest"
    assert status["message"] == 'container "waiting" in pod "p" is waiting to start: ContainerCreating'


async def test_kubelet_internal_error(api: ApiServerDouble, kubelet: FakeKubelet) -> None:
    await bound_pod(api, kubelet.port, [{"name": "broken", "image": "x"}])
    code, status = await request(api.url, "GET", "/api/v1/namespaces/default/pods/p/log")
    assert code == 500
    assert status["message"] == "Internal error occurred: log file is gone"


async def test_unreachable_kubelet(api: ApiServerDouble) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    await bound_pod(api, closed_port)
    code, status = await request(api.url, "GET", "/api/v1/namespaces/default/pods/p/log")
    assert code == 500
    assert status["message"].startswith(f'Get "https://127.0.0.1:{closed_port}/containerLogs/default/p/main": ')


async def test_container_must_be_named_when_several(api: ApiServerDouble, kubelet: FakeKubelet) -> None:
    await bound_pod(api, kubelet.port, [{"name": "a", "image": "x"}, {"name": "b", "image": "x"}])
    code, status = await request(api.url, "GET", "/api/v1/namespaces/default/pods/p/log")
    assert code == 400
    assert status["message"] == "a container name must be specified for pod p, choose one of: [a b]"
    code, status = await request(api.url, "GET", "/api/v1/namespaces/default/pods/p/log?container=c")
    assert code == 400
    assert status["message"] == "container c is not valid for pod p"
    code, _ = await request(api.url, "GET", "/api/v1/namespaces/default/pods/p/log?container=b")
    assert code == 200


async def test_unbound_pod_has_empty_log() -> None:
    async with ApiServerDouble(root_ca_publisher=False, binder=False) as unbound:
        await request(unbound.url, "POST", "/api/v1/namespaces/default/pods", pod("p"))
        code, body = await request(unbound.url, "GET", "/api/v1/namespaces/default/pods/p/log")
    assert (code, body) == (200, "")


async def test_missing_pod_log(api: ApiServerDouble) -> None:
    code, status = await request(api.url, "GET", "/api/v1/namespaces/default/pods/none/log")
    assert code == 404
    assert status["message"] == 'pods "none" not found'



