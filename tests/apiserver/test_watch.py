"""Watch semantics: resume from a resourceVersion, 410 Expired, selectors, bookmarks and timeouts."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from lightkube import ApiError, AsyncClient, Client, KubeConfig, codecs
from lightkube.resources.core_v1 import ConfigMap, Pod
from lightkube.types import PatchType

from jiriaf_fw.testing.apiserver import ApiServerDouble
from jiriaf_fw.testing.apiserver.watchstream import WatchSettings

from .support import configmap, eventually, pod, request


async def stream_events(url: str, path: str, count: int) -> list[dict[str, Any]]:
    """Read `count` watch events from `path` (the stream must deliver them; a hang fails on the timeout)."""
    events = []
    async with aiohttp.ClientSession() as session, session.get(url + path) as response:
        assert response.status == 200
        async for line in response.content:
            events.append(json.loads(line))
            if len(events) == count:
                break
    return events


async def read_all_events(url: str, path: str) -> list[dict[str, Any]]:
    """Read a watch stream until the server ends it (use with timeoutSeconds)."""
    async with aiohttp.ClientSession() as session, session.get(url + path) as response:
        return [json.loads(line) async for line in response.content]


async def test_watch_from_resource_version_sees_later_events(api: ApiServerDouble, client: AsyncClient) -> None:
    await client.create(codecs.from_dict(configmap("before", {})))
    created = await client.create(codecs.from_dict(configmap("watched", {"v": "1"})))
    start = created.metadata.resourceVersion
    await client.patch(ConfigMap, "watched", {"data": {"v": "2"}}, namespace="default", patch_type=PatchType.MERGE)
    await client.delete(ConfigMap, "watched", namespace="default")

    seen = []
    async for event_type, obj in client.watch(ConfigMap, namespace="default", resource_version=start):
        seen.append((event_type, obj.metadata.name, (obj.data or {}).get("v")))
        if len(seen) == 2:
            break
    assert seen == [("MODIFIED", "watched", "2"), ("DELETED", "watched", "2")]


async def test_watch_without_resource_version_starts_with_state(api: ApiServerDouble) -> None:
    await request(api.url, "POST", "/api/v1/namespaces/default/configmaps", configmap("a", {}))
    await request(api.url, "POST", "/api/v1/namespaces/default/configmaps", configmap("b", {}))
    events = await stream_events(api.url, "/api/v1/namespaces/default/configmaps?watch=1", 2)
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [("ADDED", "a"), ("ADDED", "b")]
    assert events[0]["object"]["kind"] == "ConfigMap"


async def test_watch_streams_live_events(api: ApiServerDouble, client: AsyncClient) -> None:
    listed = await request(api.url, "GET", "/api/v1/namespaces/default/configmaps")
    rv = listed[1]["metadata"]["resourceVersion"]
    reader = asyncio.create_task(
        stream_events(api.url, f"/api/v1/namespaces/default/configmaps?watch=true&resourceVersion={rv}", 1)
    )
    await asyncio.sleep(0)
    await client.create(codecs.from_dict(configmap("live", {})))
    events = await asyncio.wait_for(reader, 10)
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [("ADDED", "live")]


async def test_expired_resource_version_gives_410() -> None:
    async with ApiServerDouble(root_ca_publisher=False, history_size=2) as api:
        for index in range(4):
            await request(api.url, "POST", "/api/v1/namespaces/default/configmaps", configmap(f"c{index}", {}))
        events = await stream_events(api.url, "/api/v1/namespaces/default/configmaps?watch=1&resourceVersion=2", 1)
    assert events[0]["type"] == "ERROR"
    status = events[0]["object"]
    assert status["code"] == 410
    assert status["reason"] == "Expired"
    assert status["message"].startswith("too old resource version: 2 (")


async def test_lightkube_raises_on_expired_watch(tmp_path: Path) -> None:
    async with ApiServerDouble(root_ca_publisher=False, history_size=2) as api:
        for index in range(4):
            await request(api.url, "POST", "/api/v1/namespaces/default/configmaps", configmap(f"c{index}", {}))
        client = AsyncClient(KubeConfig.from_file(api.write_kubeconfig(tmp_path / "kc")))
        with pytest.raises(ApiError) as caught:
            async for _ in client.watch(ConfigMap, namespace="default", resource_version="2"):
                pass
        await client.close()
    assert caught.value.status.code == 410


async def test_object_leaving_selector_is_deleted_event(api: ApiServerDouble, client: AsyncClient) -> None:
    created = await client.create(codecs.from_dict({**configmap("tagged", {}), "metadata": {
        "name": "tagged", "namespace": "default", "labels": {"team": "a"}}}))
    start = created.metadata.resourceVersion
    await client.patch(ConfigMap, "tagged", {"metadata": {"labels": {"team": "b"}}}, namespace="default")
    await client.patch(ConfigMap, "tagged", {"metadata": {"labels": {"team": "a"}}}, namespace="default")
    path = f"/api/v1/namespaces/default/configmaps?watch=1&resourceVersion={start}&labelSelector=team%3Da"
    events = await stream_events(api.url, path, 2)
    assert [e["type"] for e in events] == ["DELETED", "ADDED"]
    deleted = events[0]["object"]
    assert deleted["metadata"]["labels"] == {"team": "a"}
    assert int(deleted["metadata"]["resourceVersion"]) > int(start)


async def test_field_selector_watch(api: ApiServerDouble, client: AsyncClient) -> None:
    listed = await request(api.url, "GET", "/api/v1/pods")
    rv = listed[1]["metadata"]["resourceVersion"]
    await client.create(codecs.from_dict(pod("other", schedulerName="none")))
    await client.create(codecs.from_dict(pod("mine", schedulerName="none")))
    path = f"/api/v1/pods?watch=1&resourceVersion={rv}&fieldSelector=metadata.name%3Dmine"
    events = await stream_events(api.url, path, 1)
    assert events[0]["object"]["metadata"]["name"] == "mine"


async def test_timeout_ends_watch_with_bookmark(api: ApiServerDouble) -> None:
    path = "/api/v1/namespaces/default/configmaps?watch=1&resourceVersion=1&timeoutSeconds=1&allowWatchBookmarks=true"
    events = await read_all_events(api.url, path)
    assert events[-1]["type"] == "BOOKMARK"
    assert events[-1]["object"]["kind"] == "ConfigMap"
    assert events[-1]["object"]["metadata"]["resourceVersion"] == str(api.store.resource_version)


async def test_send_initial_events_ends_with_marked_bookmark(api: ApiServerDouble) -> None:
    await request(api.url, "POST", "/api/v1/namespaces/default/configmaps", configmap("a", {}))
    path = ("/api/v1/namespaces/default/configmaps?watch=1&sendInitialEvents=true&allowWatchBookmarks=true"
            "&resourceVersionMatch=NotOlderThan&resourceVersion=")
    events = await stream_events(api.url, path, 2)
    assert events[0]["type"] == "ADDED"
    assert events[1]["type"] == "BOOKMARK"
    assert events[1]["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}


async def test_watch_of_pod_graceful_delete(api: ApiServerDouble, client: AsyncClient) -> None:
    created = await client.create(codecs.from_dict(pod("p", nodeName="n1")))
    start = created.metadata.resourceVersion
    await client.delete(Pod, "p", namespace="default")
    await client.delete(Pod, "p", namespace="default", grace_period=0)
    path = f"/api/v1/namespaces/default/pods?watch=1&resourceVersion={start}"
    events = await stream_events(api.url, path, 2)
    assert [e["type"] for e in events] == ["MODIFIED", "DELETED"]
    assert events[0]["object"]["metadata"]["deletionGracePeriodSeconds"] == 30


async def test_stop_ends_open_watches() -> None:
    api = ApiServerDouble(root_ca_publisher=False)
    await api.start()
    reader = asyncio.create_task(read_all_events(api.url, "/api/v1/namespaces/default/configmaps?watch=1&resourceVersion=1"))
    await asyncio.sleep(0.1)
    await api.stop()
    assert await asyncio.wait_for(reader, 10) == []


def test_sync_client_watch(sync_client: Client) -> None:
    created = sync_client.create(codecs.from_dict(configmap("s", {})))
    sync_client.patch(ConfigMap, "s", {"data": {"x": "y"}}, namespace="default")
    for event_type, obj in sync_client.watch(ConfigMap, namespace="default",
                                             resource_version=created.metadata.resourceVersion):
        assert (event_type, obj.data) == ("MODIFIED", {"x": "y"})
        break





async def test_disconnected_watch_is_released() -> None:
    settings = WatchSettings(disconnect_check_s=0.05)
    async with ApiServerDouble(root_ca_publisher=False, watch_settings=settings) as api:
        async with aiohttp.ClientSession() as session:
            response = await session.get(api.url + "/api/v1/namespaces/default/configmaps?watch=1&resourceVersion=1")
            assert response.status == 200

            async def registered() -> bool:
                return len(settings.hub) == 1

            await eventually(registered)
            response.close()

        async def released() -> bool:
            return len(settings.hub) == 0

        await eventually(released)
