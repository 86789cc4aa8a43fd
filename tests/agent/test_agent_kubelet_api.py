"""The kubelet HTTPS API on a real port: health, pods, logs, Summary API and Prometheus metrics."""

from __future__ import annotations

import asyncio
import ipaddress
import re
import ssl
from collections.abc import AsyncIterator

import aiohttp
import pytest
from agent_harness import RunningAgent
from cryptography import x509
from kube_helpers import create_pod, create_script, eventually, script_pod, wait_phase
from lightkube import AsyncClient

LOGGER = 'for i in 1 2 3; do echo "line$i"; done\necho oops >&2\nsleep 300 & wait\n'
BURNER = "while :; do :; done &\nsleep 300 & wait\n"


@pytest.fixture
async def https(agent: RunningAgent) -> AsyncIterator[tuple[aiohttp.ClientSession, str]]:
    """A client that, like metrics-server with --kubelet-insecure-tls, skips certificate checks."""
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=False)) as session:
        yield session, f"https://127.0.0.1:{agent.settings.kubelet_port}"


async def get_text(session: aiohttp.ClientSession, url: str, expect: int = 200) -> str:
    async with session.get(url) as response:
        body = await response.text()
        assert response.status == expect, body
        return body


async def test_healthz_and_pods(https: tuple[aiohttp.ClientSession, str], kube: AsyncClient) -> None:
    session, base = https
    assert await get_text(session, f"{base}/healthz") == "ok"
    await create_script(kube, "quick", "exit 0\n")
    await create_pod(kube, script_pod("quick", "quick"))
    await wait_phase(kube, "quick", "Succeeded")
    async with session.get(f"{base}/pods") as response:
        listing = await response.json()
    assert listing["kind"] == "PodList"
    assert [p["metadata"]["name"] for p in listing["items"]] == ["quick"]


async def test_serving_certificate_names_pod_ip(agent: RunningAgent) -> None:
    pem = await asyncio.to_thread(ssl.get_server_certificate, ("127.0.0.1", agent.settings.kubelet_port))
    names = (
        x509.load_pem_x509_certificate(pem.encode())
        .extensions.get_extension_for_class(x509.SubjectAlternativeName)
        .value
    )
    assert ipaddress.ip_address("127.0.0.1") in names.get_values_for_type(x509.IPAddress)
    assert "vk-test" in names.get_values_for_type(x509.DNSName)


async def test_container_logs(https: tuple[aiohttp.ClientSession, str], kube: AsyncClient) -> None:
    session, base = https
    await create_script(kube, "logger", LOGGER)
    await create_pod(kube, script_pod("logger", "logger", grace_s=1))
    await wait_phase(kube, "logger", "Running")
    url = f"{base}/containerLogs/default/logger/logger"

    async def complete() -> bool:
        return (await get_text(session, url)).endswith("oops\n")

    await eventually(complete, what="the whole log")
    assert await get_text(session, url) == "line1\nline2\nline3\noops\n"
    assert await get_text(session, f"{url}?tailLines=2") == "line3\noops\n"
    assert await get_text(session, f"{url}?limitBytes=7") == "line1\nl"
    stamped = (await get_text(session, f"{url}?timestamps=true")).splitlines()
    assert len(stamped) == 4
    assert all(
        re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z (line\d|oops)", line) for line in stamped
    )
    assert stamped[0].endswith(" line1")
    await get_text(session, f"{url}?tailLines=-1", expect=400)
    await get_text(session, f"{base}/containerLogs/default/logger/nope", expect=400)
    await get_text(session, f"{base}/containerLogs/default/absent/logger", expect=404)


async def test_follow_streams_until_exit(https: tuple[aiohttp.ClientSession, str], kube: AsyncClient) -> None:
    session, base = https
    await create_script(kube, "ticker", "echo first\nsleep 1\necho second\n")
    await create_pod(kube, script_pod("ticker", "ticker"))
    await wait_phase(kube, "ticker", "Running")
    async with session.get(f"{base}/containerLogs/default/ticker/ticker?follow=true") as response:
        body = await asyncio.wait_for(response.text(), 20)
    assert body == "first\nsecond\n"


async def test_stats_summary_and_metrics(https: tuple[aiohttp.ClientSession, str], kube: AsyncClient) -> None:
    session, base = https
    await create_script(kube, "burner", BURNER)
    created = await create_pod(kube, script_pod("burner", "burner", grace_s=1))
    await wait_phase(kube, "burner", "Running")

    async def pod_summary() -> dict | None:
        async with session.get(f"{base}/stats/summary") as response:
            document = await response.json()
        pods = [p for p in document["pods"] if p["podRef"]["name"] == "burner"]
        return document if pods and pods[0]["containers"][0]["cpu"]["usageCoreNanoSeconds"] > 10**6 else None

    first = await eventually(pod_summary, what="CPU use of the burner pod")
    assert first["node"]["nodeName"] == "vk-test"
    assert first["node"]["cpu"]["usageCoreNanoSeconds"] > 0
    assert first["node"]["memory"]["workingSetBytes"] > 0
    (pod,) = first["pods"]
    assert pod["podRef"] == {"name": "burner", "namespace": "default", "uid": created["metadata"]["uid"]}
    (container,) = pod["containers"]
    assert container["name"] == "burner"
    for entry in (pod, container):
        assert entry["cpu"]["time"]
        assert entry["memory"]["time"]
        assert entry["memory"]["workingSetBytes"] > 0
        assert entry["cpu"]["usageNanoCores"] > 0

    async def advanced() -> dict | None:
        later = await pod_summary()
        if later is None:
            return None
        old = first["pods"][0]["containers"][0]["cpu"]["usageCoreNanoSeconds"]
        return later if later["pods"][0]["containers"][0]["cpu"]["usageCoreNanoSeconds"] > old else None

    await eventually(advanced, what="the CPU counter to grow")

    metrics = await get_text(session, f"{base}/metrics/resource")
    labels = 'container="burner",namespace="default",node="vk-test"'
    assert re.search(r'^node_cpu_usage_seconds_total\{node="vk-test"\} [0-9.e+]+ \d+$', metrics, re.MULTILINE)
    assert re.search(r'^node_memory_working_set_bytes\{node="vk-test"\} ', metrics, re.MULTILINE)
    assert re.search(
        rf'^container_cpu_usage_seconds_total\{{{labels},pgid="\d+",pod="burner"\}} ', metrics, re.MULTILINE
    )
    assert re.search(
        rf'^container_memory_working_set_bytes\{{{labels},pgid="\d+",pod="burner"\}} ', metrics, re.MULTILINE
    )
    assert re.search(
        rf'^container_start_time_seconds\{{{labels},pgid="\d+",pod="burner"\}} ', metrics, re.MULTILINE
    )
    assert re.search(
        r'^pod_cpu_usage_seconds_total\{namespace="default",node="vk-test",pod="burner"\} ',
        metrics,
        re.MULTILINE,
    )
