"""Fixtures for the API-server double tests: a running double and lightkube clients pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from aiohttp import web
from lightkube import AsyncClient, Client, KubeConfig

from jiriaf_fw.testing.apiserver import ApiServerDouble

from .support import FakeKubelet, self_signed_context


@pytest.fixture
async def api() -> AsyncIterator[ApiServerDouble]:
    async with ApiServerDouble(root_ca_publisher=False) as double:
        yield double


@pytest.fixture
def kubeconfig(api: ApiServerDouble, tmp_path: Path) -> Path:
    return api.write_kubeconfig(tmp_path / "kubeconfig")


@pytest.fixture
async def client(kubeconfig: Path) -> AsyncIterator[AsyncClient]:
    async_client = AsyncClient(KubeConfig.from_file(kubeconfig))
    yield async_client
    await async_client.close()


@pytest.fixture
def threaded_api() -> Iterator[ApiServerDouble]:
    with ApiServerDouble.running_in_thread(root_ca_publisher=False) as double:
        yield double


@pytest.fixture
def sync_client(threaded_api: ApiServerDouble, tmp_path: Path) -> Iterator[Client]:
    path = threaded_api.write_kubeconfig(tmp_path / "kubeconfig")
    sync = Client(KubeConfig.from_file(path))
    yield sync
    sync.close()


@pytest.fixture
async def kubelet(tmp_path: Path) -> AsyncIterator[FakeKubelet]:
    fake = FakeKubelet()
    app = web.Application()
    app.router.add_get("/containerLogs/{namespace}/{pod}/{container}", fake.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=self_signed_context(tmp_path))
    await site.start()
    fake.port = runner.addresses[0][1]
    yield fake
    await runner.cleanup()
