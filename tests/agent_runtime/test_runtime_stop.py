"""Stopping and forgetting pods: SIGTERM, grace, SIGKILL, escaped descendants, directory cleanup."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Callable
from pathlib import Path

from jiriaf_fw.adapters import procfs
from jiriaf_fw.services.agent.runtime import PodRuntime

from .helpers import is_gone, make_pod, script_pod, script_sources, wait_until, wait_until_async


def marked(uid: str) -> list[int]:
    return procfs.pids_with_env_entry(f"JIRIAF_POD_UID={uid}")


async def test_stop_term_honoured(runtime: PodRuntime, new_uid: Callable[[], str]) -> None:
    uid = new_uid()
    runtime.start(make_pod(uid, [{"name": "main", "command": ["sleep", "1000"]}]), {}, {})
    assert runtime.states(uid)[0].state == "running"

    await runtime.stop(uid, grace_s=20)

    final = runtime.states(uid)[0]
    assert final.state == "terminated"
    assert final.exit_code == 128 + signal.SIGTERM
    assert final.reason == "Killed"
    assert "SIGTERM" in (final.message or "")


async def test_stop_kills_term_ignoring_group(runtime: PodRuntime, new_uid: Callable[[], str]) -> None:
    uid = new_uid()
    script = 'trap "" TERM\necho ready\nsleep 1000\n'
    runtime.start(script_pod(uid, ""), script_sources(script), {})
    wait_until(lambda: runtime.log_path(uid, "main").read_text() == "ready\n", description="trap installed")

    await runtime.stop(uid, grace_s=0.5)

    final = runtime.states(uid)[0]
    assert final.exit_code == 128 + signal.SIGKILL
    assert final.reason == "Killed"
    assert marked(uid) == []


async def test_stop_kills_setsid_escapee(runtime: PodRuntime, new_uid: Callable[[], str]) -> None:
    uid = new_uid()
    command = ["bash", "-c", "setsid sleep 1000 & nohup sleep 1001 & sleep 1002"]
    runtime.start(make_pod(uid, [{"name": "main", "command": command}]), {}, {})
    pgid = runtime.states(uid)[0].pgid
    assert pgid is not None

    def escapee() -> int | None:
        for pid in marked(uid):
            stat = procfs.read_stat(pid)
            if stat is not None and stat.pgrp != pgid and stat.comm == "sleep":
                return pid
        return None

    escaped_pid = wait_until(escapee, description="the setsid child")
    members = wait_until(lambda: len(marked(uid)) == 4 and marked(uid), description="bash and three sleeps")

    await runtime.stop(uid, grace_s=5)

    assert all(is_gone(pid) for pid in members)
    assert is_gone(escaped_pid)
    final = runtime.states(uid)[0]
    assert final.state == "terminated"
    assert final.exit_code == 128 + signal.SIGTERM


async def test_stop_spares_other_pods(runtime: PodRuntime, new_uid: Callable[[], str]) -> None:
    victim, bystander = new_uid(), new_uid()
    runtime.start(make_pod(victim, [{"name": "main", "command": ["sleep", "1000"]}], name="victim"), {}, {})
    runtime.start(make_pod(bystander, [{"name": "main", "command": ["sleep", "1000"]}], name="other"), {}, {})

    await runtime.stop(victim, grace_s=5)

    assert runtime.states(victim)[0].state == "terminated"
    assert runtime.states(bystander)[0].state == "running"
    await runtime.stop(bystander, grace_s=5)


async def test_stop_spares_same_name_processes(runtime: PodRuntime, new_uid: Callable[[], str]) -> None:
    uid = new_uid()
    outsider = await asyncio.create_subprocess_exec("sleep", "1000")
    try:
        runtime.start(make_pod(uid, [{"name": "main", "command": ["sleep", "1000"]}]), {}, {})
        await runtime.stop(uid, grace_s=5)
        assert outsider.returncode is None
        assert not is_gone(outsider.pid)
    finally:
        outsider.kill()
        await outsider.wait()


async def test_stop_unknown_pod_is_noop(runtime: PodRuntime) -> None:
    await runtime.stop("no-such-uid", grace_s=1)
    assert runtime.states("no-such-uid") == []


async def test_stop_after_completion_keeps_code(runtime: PodRuntime, new_uid: Callable[[], str]) -> None:
    uid = new_uid()
    runtime.start(script_pod(uid, ""), script_sources("exit 4\n"), {})
    wait_until(lambda: runtime.states(uid)[0].state == "terminated", description="exit 4")
    await runtime.stop(uid, grace_s=1)
    final = runtime.states(uid)[0]
    assert (final.exit_code, final.reason) == (4, "Error")


async def test_forget_removes_records_and_dir(runtime: PodRuntime, home: Path,
                                              new_uid: Callable[[], str]) -> None:
    uid = new_uid()
    runtime.start(script_pod(uid, ""), script_sources("exit 0\n"), {})
    wait_until(lambda: runtime.states(uid)[0].state == "terminated", description="exit")
    (home / "default" / "keep-me").mkdir()

    runtime.forget(uid, "default", "demo")

    assert not (home / "default" / "demo").exists()
    assert (home / "default" / "keep-me").exists()
    assert runtime.known_pod_uids() == set()
    assert runtime.states(uid) == []


async def test_forget_kills_leftovers(runtime: PodRuntime, new_uid: Callable[[], str]) -> None:
    uid = new_uid()
    runtime.start(make_pod(uid, [{"name": "main", "command": ["sleep", "1000"]}]), {}, {})
    pids = wait_until(lambda: marked(uid), description="sleep")

    runtime.forget(uid, "default", "demo")

    assert all(is_gone(pid) for pid in pids)


async def test_forget_keeps_newer_same_name_pod(runtime: PodRuntime, home: Path,
                                                new_uid: Callable[[], str]) -> None:
    old, new = new_uid(), new_uid()
    runtime.start(script_pod(old, ""), script_sources("exit 0\n"), {})
    wait_until(lambda: runtime.states(old)[0].state == "terminated", description="old pod")
    runtime.start(script_pod(new, ""), script_sources("exit 0\n"), {})
    wait_until(lambda: runtime.states(new)[0].state == "terminated", description="new pod")

    runtime.forget(old, "default", "demo")

    assert (home / "default" / "demo" / "containers" / "main" / "scripts" / "run.sh").is_file()
    assert runtime.known_pod_uids() == {new}


async def test_stop_concurrent_pods(runtime: PodRuntime, new_uid: Callable[[], str]) -> None:
    uids = [new_uid() for _ in range(3)]
    for index, uid in enumerate(uids):
        runtime.start(make_pod(uid, [{"name": "main", "command": ["sleep", "1000"]}], name=f"p{index}"), {}, {})
    await asyncio.gather(*(runtime.stop(uid, grace_s=5) for uid in uids))
    assert [runtime.states(uid)[0].exit_code for uid in uids] == [143, 143, 143]


def test_wrapper_forwards_term(runtime: PodRuntime, home: Path, new_uid: Callable[[], str]) -> None:
    uid = new_uid()
    runtime.start(make_pod(uid, [{"name": "main", "command": ["sleep", "1000"]}]), {}, {})
    record = home / ".jiriaf" / "agent" / "jrm-node-a" / "pods" / uid / "main" / "wrapper"
    wrapper_pid = int(record.read_text().split()[0])
    assert wrapper_pid != os.getpid()

    os.kill(wrapper_pid, signal.SIGTERM)

    final = wait_until(lambda: runtime.states(uid)[0].state == "terminated" and runtime.states(uid)[0],
                       description="the container to end")
    assert final.exit_code == 143
    assert final.reason == "Error"


async def test_stop_during_threaded_start(runtime: PodRuntime, new_uid: Callable[[], str]) -> None:
    uid = new_uid()
    containers = [{"name": f"c{index}", "command": ["sleep", "1000"]} for index in range(4)]
    starting = asyncio.create_task(asyncio.to_thread(runtime.start, make_pod(uid, containers), {}, {}))
    await wait_until_async(lambda: uid in runtime.known_pod_uids(), description="the pod record")

    await runtime.stop(uid, grace_s=5)
    await starting

    assert [state.exit_code for state in runtime.states(uid)] == [143] * 4
    assert marked(uid) == []


async def test_stop_before_start_prevents_start(runtime: PodRuntime, new_uid: Callable[[], str]) -> None:
    uid = new_uid()
    await runtime.stop(uid, grace_s=1)

    runtime.start(make_pod(uid, [{"name": "main", "command": ["sleep", "1000"]}]), {}, {})

    assert runtime.states(uid) == []
    assert marked(uid) == []


async def test_agent_signal_state_not_inherited(runtime: PodRuntime, new_uid: Callable[[], str]) -> None:
    uid = new_uid()
    # An agent started under nohup, or by a shell that ignores or blocks signals, passes that on to exec'd
    # children unless the wrapper resets it.
    previous_term = signal.signal(signal.SIGTERM, signal.SIG_IGN)
    previous_usr1 = signal.signal(signal.SIGUSR1, signal.SIG_IGN)
    previous_mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        runtime.start(make_pod(uid, [{"name": "main", "command": ["sleep", "1000"]}]), {}, {})
    finally:
        signal.signal(signal.SIGTERM, previous_term)
        signal.signal(signal.SIGUSR1, previous_usr1)
        signal.pthread_sigmask(signal.SIG_SETMASK, previous_mask)
    pgid = runtime.states(uid)[0].pgid
    status = Path(f"/proc/{pgid}/status").read_text()
    ignored = int(next(line for line in status.splitlines() if line.startswith("SigIgn:")).split()[1], 16)
    blocked = int(next(line for line in status.splitlines() if line.startswith("SigBlk:")).split()[1], 16)

    await runtime.stop(uid, grace_s=20)

    assert ignored & (1 << (signal.SIGTERM - 1)) == 0
    assert ignored & (1 << (signal.SIGUSR1 - 1)) == 0
    assert blocked & (1 << (signal.SIGINT - 1)) == 0
    assert runtime.states(uid)[0].exit_code == 143
