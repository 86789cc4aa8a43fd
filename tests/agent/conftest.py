"""Fixtures for agent tests: an API-server double, a lightkube client, an agent in-process, leak checks.

Helpers live in `agent_harness` (importable because pytest puts this folder on `sys.path`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import psutil
import pytest
from agent_harness import RunningAgent, agent_settings, running_agent
from lightkube import AsyncClient, KubeConfig

from jiriaf_fw.testing.apiserver import ApiServerDouble


def processes_mentioning(text: str) -> list[psutil.Process]:
    """Return live, non-zombie processes whose command line contains `text`."""
    found = []
    for process in psutil.process_iter(["cmdline", "status"]):
        try:
            if process.info["status"] != psutil.STATUS_ZOMBIE and text in " ".join(
                process.info["cmdline"] or []
            ):
                found.append(process)
        except psutil.Error:
            continue
    return found


@pytest.fixture(autouse=True)
def no_leaked_processes(tmp_path: Path) -> Iterator[None]:
    """Fail a test that leaves a process running from its temporary directory (pods, wrappers, agents)."""
    yield
    deadline = time.monotonic() + 10
    left = processes_mentioning(str(tmp_path))
    while left and time.monotonic() < deadline:
        time.sleep(0.1)
        left = processes_mentioning(str(tmp_path))
    for process in left:
        process.kill()
    assert not left, f"processes left running: {[p.info['cmdline'] for p in left]}"


@pytest.fixture(autouse=True)
async def no_leaked_tasks() -> AsyncIterator[None]:
    """Fail a test that leaves asyncio tasks running after its fixtures are torn down."""
    yield
    current = asyncio.current_task()
    for _ in range(20):
        left = [t for t in asyncio.all_tasks() if t is not current and not t.done()]
        if not left:
            return
        await asyncio.sleep(0.05)
    assert not left, f"tasks left running: {[t.get_name() for t in left]}"


@pytest.fixture
async def api() -> AsyncIterator[ApiServerDouble]:
    """An API-server double with its binder, on a free port of 127.0.0.1."""
    async with ApiServerDouble(host="127.0.0.1", port=0) as server:
        yield server


@pytest.fixture
async def kubeconfig(api: ApiServerDouble, tmp_path: Path) -> Path:
    """A kubeconfig file for `api`. The double publishes `kube-root-ca.crt` in every namespace."""
    return api.write_kubeconfig(tmp_path / "kubeconfig")


@pytest.fixture
async def kube(kubeconfig: Path) -> AsyncIterator[AsyncClient]:
    """A lightkube client on `api`, as a user or controller would use it."""
    client = AsyncClient(KubeConfig.from_file(kubeconfig))
    try:
        yield client
    finally:
        await client.close()


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """The `$HOME` of the agent and its pods."""
    path = tmp_path / "home"
    path.mkdir()
    return path


@pytest.fixture
async def agent(kubeconfig: Path, home: Path) -> AsyncIterator[RunningAgent]:
    """An agent for node `vk-test` running in-process against `api`, drained and stopped after the test."""
    async with running_agent(agent_settings(kubeconfig, home)) as running:
        yield running
