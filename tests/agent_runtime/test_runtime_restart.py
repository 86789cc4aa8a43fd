"""Agent restarts and shared HOMEs: re-adoption from records, lost containers, per-node isolation."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from pathlib import Path

from jiriaf_fw.adapters import procfs
from jiriaf_fw.services.agent.runtime import PodRuntime

from .helpers import is_gone, make_pod, script_pod, script_sources, terminated, wait_until

LONG_SCRIPT = "echo started\nsleep 1000\n"


def records_dir(home: Path, node: str, uid: str) -> Path:
    return home / ".jiriaf" / "agent" / node / "pods" / uid


async def test_restart_readopts_running_pod(make_runtime: Callable[..., PodRuntime],
                                            new_uid: Callable[[], str]) -> None:
    uid = new_uid()
    first = make_runtime()
    pod = script_pod(uid, "")
    first.start(pod, script_sources(LONG_SCRIPT), {})
    wait_until(lambda: first.log_path(uid, "main").read_text() == "started\n", description="first start")
    before = first.states(uid)[0]
    pids_before = set(procfs.pids_with_env_entry(f"JIRIAF_POD_UID={uid}"))

    second = make_runtime()
    second.start(pod, script_sources(LONG_SCRIPT), {})

    after = second.states(uid)[0]
    assert after.state == "running"
    assert after.pgid == before.pgid
    assert after.started_at == before.started_at
    assert second.known_pod_uids() == {uid}
    assert set(procfs.pids_with_env_entry(f"JIRIAF_POD_UID={uid}")) == pids_before
    assert second.log_path(uid, "main").read_text() == "started\n"

    await second.stop(uid, grace_s=5)
    final = second.states(uid)[0]
    assert (final.exit_code, final.reason) == (143, "Killed")


def test_restart_reports_finished_code(make_runtime: Callable[..., PodRuntime], home: Path,
                                       new_uid: Callable[[], str]) -> None:
    uid = new_uid()
    pod = script_pod(uid, "")
    make_runtime().start(pod, script_sources("echo ran\nexit 3\n"), {})
    exit_record = records_dir(home, "jrm-node-a", uid) / "main" / "exit_code"
    wait_until(exit_record.exists, description="the exit record")

    second = make_runtime()
    second.start(pod, script_sources("echo ran\nexit 3\n"), {})

    final = wait_until(terminated(second, uid), description="terminated state")[0]
    assert (final.exit_code, final.reason) == (3, "Error")
    assert second.log_path(uid, "main").read_text() == "ran\n"


def test_lost_container_reported_unknown(make_runtime: Callable[..., PodRuntime], home: Path,
                                         new_uid: Callable[[], str]) -> None:
    uid = new_uid()
    first = make_runtime()
    first.start(make_pod(uid, [{"name": "main", "command": ["sleep", "1000"]}]), {}, {})
    record = records_dir(home, "jrm-node-a", uid) / "main"
    wrapper_pid = int((record / "wrapper").read_text().split()[0])
    pgid = int((record / "pgid").read_text())

    os.kill(wrapper_pid, signal.SIGKILL)
    wait_until(lambda: first.states(uid)[0].pgid and is_gone(wrapper_pid), description="the wrapper to die")
    os.killpg(pgid, signal.SIGKILL)

    final = wait_until(terminated(make_runtime(), uid), description="the lost state")[0]
    assert final.exit_code == 137
    assert final.reason == "Unknown"
    assert "without a recorded exit status" in (final.message or "")
    assert not (record / "exit_code").exists()


def test_orphaned_group_member_keeps_container_running(runtime: PodRuntime,
                                                       new_uid: Callable[[], str]) -> None:
    uid = new_uid()
    # The script's own process ends at once; the backgrounded sleep stays in its process group.
    runtime.start(script_pod(uid, ""), script_sources("nohup sleep 1000 >/dev/null 2>&1 &\nexit 0\n"), {})
    exit_record = runtime.log_path(uid, "main").with_name("exit_code")
    wait_until(exit_record.exists, description="the leader's exit record")
    state = runtime.states(uid)[0]
    assert state.state == "running"

    pgid = state.pgid
    assert pgid is not None
    os.killpg(pgid, signal.SIGKILL)
    final = wait_until(terminated(runtime, uid), description="the group to end")[0]
    assert (final.exit_code, final.reason) == (0, "Completed")


async def test_nodes_do_not_share_records(make_runtime: Callable[..., PodRuntime],
                                          new_uid: Callable[[], str]) -> None:
    node_a, node_b = make_runtime("jrm-node-a"), make_runtime("jrm-node-b")
    uid_a, uid_b = new_uid(), new_uid()
    node_a.start(make_pod(uid_a, [{"name": "main", "command": ["sleep", "1000"]}], name="on-a"), {}, {})
    node_b.start(make_pod(uid_b, [{"name": "main", "command": ["sleep", "1000"]}], name="on-b"), {}, {})

    assert node_a.known_pod_uids() == {uid_a}
    assert node_b.known_pod_uids() == {uid_b}
    assert node_b.states(uid_a) == []
    assert node_b.usage(uid_a) == {}
    await node_b.stop(uid_a, grace_s=1)
    assert node_a.states(uid_a)[0].state == "running"

    await node_a.stop(uid_a, grace_s=5)
    await node_b.stop(uid_b, grace_s=5)
