"""Manifest builders and a polling helper for the API-server double tests."""

from __future__ import annotations

import asyncio
import datetime
import ssl
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


async def eventually(check: Callable[[], Awaitable[bool]], timeout_s: float = 5.0) -> None:
    """Poll `check` until it returns true; fail after `timeout_s` seconds."""
    deadline = time.monotonic() + timeout_s
    while not await check():
        if time.monotonic() > deadline:
            pytest.fail(f"condition {check.__name__} not met within {timeout_s} s")
        await asyncio.sleep(0.02)


NODE_INFO = dict.fromkeys((
    "machineID", "systemUUID", "bootID", "kernelVersion", "osImage", "containerRuntimeVersion", "kubeletVersion",
    "kubeProxyVersion", "operatingSystem", "architecture",
), "")


def node(
    name: str,
    labels: dict[str, str] | None = None,
    taints: list[dict[str, str]] | None = None,
    unschedulable: bool = False,
    pods: str = "110",
    address: str = "127.0.0.1",
    kubelet_port: int = 10250,
) -> dict[str, Any]:
    spec: dict[str, Any] = {}
    if taints:
        spec["taints"] = taints
    if unschedulable:
        spec["unschedulable"] = True
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": labels or {}},
        "spec": spec,
        "status": {
            "allocatable": {"pods": pods, "cpu": "4", "memory": "8Gi"},
            "capacity": {"pods": pods, "cpu": "4", "memory": "8Gi"},
            "addresses": [{"type": "InternalIP", "address": address}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": kubelet_port}},
            "conditions": [{"type": "Ready", "status": "True"}],
            "nodeInfo": {**NODE_INFO, "kubeletVersion": "v1.32.0-test"},
        },
    }


def pod(name: str, namespace: str = "default", **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"containers": [{"name": "main", "image": "busybox:1.36"}]}
    body.update(spec)
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": namespace}, "spec": body}


def configmap(name: str, data: dict[str, str], namespace: str = "default") -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": namespace}, "data": data}


AGENT_TOLERATION = {"key": "virtual-kubelet.io/provider", "value": "mock", "effect": "NoSchedule"}
AGENT_TAINT = {"key": "virtual-kubelet.io/provider", "value": "mock", "effect": "NoSchedule"}


async def request(url: str, method: str, path: str, body: Any = None,
                  content_type: str = "application/json", accept: str | None = None) -> tuple[int, Any]:
    """Send one raw request to the double; return the status code and the decoded JSON body (or text)."""
    import json

    import aiohttp

    headers = {"Content-Type": content_type}
    if accept:
        headers["Accept"] = accept
    data = None if body is None else (body if isinstance(body, (str, bytes)) else json.dumps(body))
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, url + path, data=data, headers=headers) as response,
    ):
        text = await response.text()
        try:
            return response.status, json.loads(text)
        except ValueError:
            return response.status, text


def self_signed_context(directory: Path) -> ssl.SSLContext:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fake-kubelet")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1)).sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "kubelet.crt", directory / "kubelet.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_path, key_path)
    return context


class FakeKubelet:
    """An HTTPS server answering `containerLogs` like a kubelet; records the requests it gets."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.port = 0

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.requests.append((request.path, dict(request.query)))
        container = request.match_info["container"]
        if container == "waiting":
            return web.Response(status=400, text='container "waiting" in pod "p" is waiting to start: ContainerCreating')
        if container == "broken":
            return web.Response(status=500, text="log file is gone")
        lines = [f"line {index}\n" for index in range(int(request.query.get("tailLines", "3")))]
        return web.Response(text="".join(lines))
