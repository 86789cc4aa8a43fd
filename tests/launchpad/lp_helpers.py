"""Helpers shared by the launchpad tests and their worker processes."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fireworks import Firework, ScriptTask

from jiriaf_fw.adapters.launchpad import LaunchpadSettings, open_launchpad

WORKER = Path(__file__).with_name("lp_worker.py")
DEADLINE_S = 120.0
RLAUNCH_OFFLINE = [sys.executable, "-m", "fireworks.scripts.rlaunch_run", "singleshot", "--offline"]


def pilot_firework(script: str = "echo hi > out.txt", category: str = "siteA", **jiriaf: Any) -> Firework:
    """A one-task Firework shaped like a pilot: `_category`, `_queueadapter` and a `jiriaf` spec mapping."""
    spec = {
        "_category": category,
        "_queueadapter": {"walltime": "00:10:00", "nodes": 2, "qos": "debug"},
        "jiriaf": {"site": category, "nodenames": ["vk-a-0000abcd"], **jiriaf},
    }
    return Firework(ScriptTask.from_str(script), spec=spec, name="pilot")


def clean_env(tmp_path: Path) -> dict[str, str]:
    """The test process's environment without any FireWorks or jiriaf-fw launchpad configuration."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"FW_CONFIG_FILE", "MONGOMOCK_SERVERSTORE_FILE"} and not key.startswith("JIRIAF_FW_")
    }
    user_home = tmp_path / "user-home"
    user_home.mkdir(exist_ok=True)
    env["HOME"] = str(user_home)
    return env


def open_and_close(settings: LaunchpadSettings) -> None:
    """Open the launchpad and close it at once: initialises a new store, raises what opening raises."""
    with open_launchpad(settings):
        pass


def worker_argv(*args: str | Path) -> list[str]:
    """The command line that runs `lp_worker.py` with `args` under this interpreter."""
    return [sys.executable, str(WORKER), *map(str, args)]


def wait_for(condition: Callable[[], bool], what: str, timeout_s: float = DEADLINE_S) -> None:
    """Poll `condition` until it holds; fail the test naming `what` after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.02)
