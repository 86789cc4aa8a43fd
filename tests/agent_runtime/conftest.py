"""Fixtures for the container runtime tests: real processes, tmp_path as HOME, and a process-leak check.

Every pod UID a test makes starts with a per-test prefix. After the test, `no_leaked_processes` looks for
processes whose start environment carries that prefix (containers through `JIRIAF_POD_UID`, wrappers
through `JIRIAF_WRAPPER_POD_UID`), kills any it finds and fails the test. Only those processes are ever
touched, so concurrent work on the machine is safe.
"""

from __future__ import annotations

import itertools
import os
import signal
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from jiriaf_fw.services.agent.runtime import PodRuntime

from .helpers import is_gone, pids_with_env_prefix


@pytest.fixture
def uid_prefix() -> str:
    return f"t{uuid.uuid4().hex[:12]}"


@pytest.fixture(autouse=True)
def no_leaked_processes(uid_prefix: str) -> Iterator[None]:
    yield
    deadline = time.monotonic() + 5.0
    leaked = pids_with_env_prefix(uid_prefix)
    while leaked and time.monotonic() < deadline:
        time.sleep(0.05)
        leaked = pids_with_env_prefix(uid_prefix)
    if leaked:
        descriptions = [(pid, (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" "))
                        for pid in leaked if not is_gone(pid)]
        for pid in leaked:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        pytest.fail(f"processes of this test survived it: {descriptions}")


@pytest.fixture
def new_uid(uid_prefix: str) -> Callable[[], str]:
    counter = itertools.count(1)
    return lambda: f"{uid_prefix}-{next(counter)}"


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    return path


@pytest.fixture
def make_runtime(home: Path) -> Callable[..., PodRuntime]:
    def make(nodename: str = "jrm-node-a", **kwargs: Any) -> PodRuntime:
        base_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "LANG": "C.UTF-8"}
        return PodRuntime(home=home, nodename=nodename, pod_ip="127.0.0.1", base_env=base_env, **kwargs)

    return make


@pytest.fixture
def runtime(make_runtime: Callable[..., PodRuntime]) -> PodRuntime:
    return make_runtime()
