"""Per-container usage: CPU summed over the group and descendants, monotonic, working set never 0."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from pathlib import Path

from jiriaf_fw.adapters import processes
from jiriaf_fw.services.agent.runtime import PodRuntime

from .helpers import make_pod, script_pod, script_sources, wait_until


async def test_usage_counts_child_cpu(runtime: PodRuntime, new_uid: Callable[[], str]) -> None:
    uid = new_uid()
    command = ["bash", "-c", "while :; do :; done & sleep 600"]
    runtime.start(make_pod(uid, [{"name": "main", "command": command}]), {}, {})
    try:
        first = wait_until(lambda: runtime.usage(uid).get("main"), description="a first sample")
        # The busy loop runs in a child of bash, not in the group leader.
        second = wait_until(lambda: (u := runtime.usage(uid)["main"]).cpu_ns >= first.cpu_ns + 200_000_000 and u,
                            description="CPU time to grow by 0.2 s")
        assert second.working_set_bytes > 0
        assert second.pgid == runtime.states(uid)[0].pgid
        assert second.start_time == runtime.states(uid)[0].started_at
    finally:
        await runtime.stop(uid, grace_s=5)
    assert runtime.usage(uid) == {}


async def test_usage_includes_reaped_children(runtime: PodRuntime, new_uid: Callable[[], str]) -> None:
    uid = new_uid()
    # `timeout` runs a busy loop for 1 s; bash reaps it, so its time moves into bash's children time.
    script = "timeout 1 bash -c 'while :; do :; done'\necho burned\nsleep 600\n"
    runtime.start(script_pod(uid, ""), script_sources(script), {})
    try:
        wait_until(lambda: runtime.log_path(uid, "main").read_text() == "burned\n", description="the busy child")
        sample = runtime.usage(uid)["main"]
        assert sample.cpu_ns >= 300_000_000
        assert sample.working_set_bytes > 0
    finally:
        await runtime.stop(uid, grace_s=5)


async def test_usage_never_decreases(runtime: PodRuntime, home: Path, new_uid: Callable[[], str]) -> None:
    uid = new_uid()
    # A CPU-burning setsid child of a subshell: once the subshell dies, the burner is orphaned, is no
    # descendant of the group any more, and its time leaves the raw sum.
    script = "( setsid bash -c 'while :; do :; done' & wait ) &\necho $! > subshell.pid\nsleep 600\n"
    runtime.start(script_pod(uid, ""), script_sources(script), {})
    try:
        high = wait_until(lambda: (u := runtime.usage(uid).get("main")) and u.cpu_ns >= 300_000_000 and u,
                          description="the burner to show up")
        subshell = int((home / "default" / "demo" / "containers" / "main" / "subshell.pid").read_text())
        os.kill(subshell, signal.SIGKILL)
        wait_until(lambda: (raw := processes.ProcessTable().usage(high.pgid)) and raw.cpu_ns < high.cpu_ns,
                   description="the raw sum to drop")

        later = runtime.usage(uid)["main"]

        assert later.cpu_ns >= high.cpu_ns
    finally:
        await runtime.stop(uid, grace_s=5)


async def test_usage_follows_rewritten_pgid_file(runtime: PodRuntime, home: Path,
                                                 new_uid: Callable[[], str]) -> None:
    uid = new_uid()
    # The script starts a separate session and points the pgid file at it, as TP's scripts do.
    script = 'setsid sleep 600 &\necho $! > "$HOME/default/demo/containers/main/pgid"\necho rewrote\nsleep 600\n'
    runtime.start(script_pod(uid, ""), script_sources(script), {})
    try:
        wait_until(lambda: runtime.log_path(uid, "main").read_text() == "rewrote\n", description="the rewrite")
        user_pgid = int((home / "default" / "demo" / "containers" / "main" / "pgid").read_text())
        sample = wait_until(lambda: (u := runtime.usage(uid).get("main")) and u.pgid == user_pgid and u,
                            description="usage of the rewritten group")
        assert sample.pgid != runtime.states(uid)[0].pgid
        assert sample.working_set_bytes > 0
    finally:
        await runtime.stop(uid, grace_s=5)
