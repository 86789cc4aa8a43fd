"""Starting pods with real processes: layout, argv, env, exit statuses, start errors."""

from __future__ import annotations

import asyncio
import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from jiriaf_fw.services.agent.runtime import PodRuntime, PodStartError

from .helpers import make_pod, script_pod, script_sources, terminated, wait_until

STRESS_SCRIPT = "#!/bin/bash\nstress --timeout $1 --cpu $2\n"


def stress_pod(uid: str, seconds: str) -> dict[str, object]:
    container = {
        "name": "direct-stress",
        "image": "direct-stress",
        "command": ["bash", "/stress/stress.sh"],
        "args": [seconds, "1"],
        "volumeMounts": [{"name": "direct-stress", "mountPath": "/stress"}],
    }
    volumes = [{"name": "direct-stress", "configMap": {"name": "direct-stress"}}]
    return make_pod(uid, [container], volumes, name="direct-stress")


def test_stress_script_example_completes(runtime: PodRuntime, home: Path, new_uid: Callable[[], str]) -> None:
    uid = new_uid()
    runtime.start(stress_pod(uid, "1"), {"direct-stress": {"stress.sh": STRESS_SCRIPT.encode()}}, {})

    container_dir = home / "default" / "direct-stress" / "containers" / "direct-stress"
    script = container_dir / "stress" / "stress.sh"
    assert script.read_text() == STRESS_SCRIPT
    running = runtime.states(uid)[0]
    assert running.state == "running"
    assert running.script_path == str(script)
    assert (container_dir / "pgid").read_text() == f"{running.pgid}\n"

    final = wait_until(terminated(runtime, uid), description="stress to finish")[0]
    assert final.exit_code == 0
    assert final.reason == "Completed"
    assert final.finished_at is not None and final.started_at is not None
    assert final.finished_at >= final.started_at
    assert "successful run completed" in runtime.log_path(uid, "direct-stress").read_text()
    # The original agent kept stdout and stderr next to the script; they are links to the records now.
    assert (script.parent / "stdout").read_text() == runtime.log_path(uid, "direct-stress").read_text()


def test_real_exit_code_reported(runtime: PodRuntime, new_uid: Callable[[], str]) -> None:
    uid = new_uid()
    runtime.start(script_pod(uid, ""), script_sources("sleep 1\nexit 3\n"), {})
    assert runtime.states(uid)[0].state == "running"
    final = wait_until(terminated(runtime, uid), description="exit 3")[0]
    assert final.exit_code == 3
    assert final.reason == "Error"
    assert final.message == "exit code 3"


def test_stderr_alone_is_not_failure(runtime: PodRuntime, new_uid: Callable[[], str]) -> None:
    uid = new_uid()
    runtime.start(script_pod(uid, ""), script_sources("echo warning >&2\necho out\nexit 0\n"), {})
    final = wait_until(terminated(runtime, uid), description="script end")[0]
    assert final.exit_code == 0
    assert final.reason == "Completed"
    assert runtime.stderr_path(uid, "main").read_text() == "warning\n"
    assert runtime.log_path(uid, "main").read_text() == "out\n"


def test_hostile_args_passed_literally(runtime: PodRuntime, home: Path, new_uid: Callable[[], str]) -> None:
    uid = new_uid()
    hostile = ["$(touch x)", "a; touch y", "'single'", '"double"', "two words", "`touch z`", "$HOME", "*"]
    container = {"name": "main", "command": ["printf", "%s\\n"], "args": hostile}
    runtime.start(make_pod(uid, [container]), {}, {})
    final = wait_until(terminated(runtime, uid), description="printf")[0]
    assert final.exit_code == 0
    assert runtime.log_path(uid, "main").read_text() == "".join(f"{arg}\n" for arg in hostile)
    container_dir = home / "default" / "demo" / "containers" / "main"
    for name in ("x", "y", "z"):
        assert not (container_dir / name).exists()


def test_env_and_reference_expansion(runtime: PodRuntime, home: Path, new_uid: Callable[[], str]) -> None:
    uid = new_uid()
    script = 'echo "$GREETING|$SERVER_BIN|$JIRIAF_POD_UID|$LANG|$1|$2|$(pwd)"\n'
    pod = script_pod(uid, "", args=["$(GREETING)", "$$(GREETING)"])
    env = {"main": {"GREETING": "hello world", "SERVER_BIN": "~/bin/server", "LANG": "C"}}
    runtime.start(pod, script_sources(script), env)
    wait_until(terminated(runtime, uid), description="echo")
    container_dir = home / "default" / "demo" / "containers" / "main"
    expected = f"hello world|{home}/bin/server|{uid}|C|hello world|$(GREETING)|{container_dir}\n"
    assert runtime.log_path(uid, "main").read_text() == expected


def test_working_dir_created(runtime: PodRuntime, home: Path, tmp_path: Path, new_uid: Callable[[], str]) -> None:
    uid = new_uid()
    host_path = tmp_path / "scratch" / "run"
    runtime.start(make_pod(uid, [{"name": "main", "command": ["pwd"], "workingDir": str(host_path)}]), {}, {})
    wait_until(terminated(runtime, uid), description="pwd")
    container_dir = home / "default" / "demo" / "containers" / "main"
    assert runtime.log_path(uid, "main").read_text() == f"{container_dir}{host_path}\n"
    assert not host_path.exists()


@pytest.mark.parametrize("value", ["../escape", "/run/../../../escape"])
def test_escaping_working_dir_rejected(runtime: PodRuntime, home: Path, value: str,
                                       new_uid: Callable[[], str]) -> None:
    uid = new_uid()
    with pytest.raises(PodStartError, match="workingDir"):
        runtime.start(make_pod(uid, [{"name": "main", "command": ["true"], "workingDir": value}]), {}, {})
    assert not (home / "default" / "demo" / "escape").exists()
    assert not (home / "default" / "escape").exists()


def test_legacy_image_script_contract(runtime: PodRuntime, new_uid: Callable[[], str]) -> None:
    uid = new_uid()
    container = {"name": "main", "image": "scripts", "command": ["bash"], "args": ["7"],
                 "volumeMounts": [{"name": "scripts", "mountPath": "/scripts"}]}
    pod = make_pod(uid, [container], [{"name": "scripts", "configMap": {"name": "scripts"}}])
    runtime.start(pod, {"scripts": {"run.sh": b'echo "arg=$1"\n', "tls.key": b"not a script\n"}}, {})
    final = wait_until(terminated(runtime, uid), description="legacy script")[0]
    assert final.exit_code == 0
    assert final.script_path is not None and final.script_path.endswith("/scripts/run.sh")
    assert runtime.log_path(uid, "main").read_text() == "arg=7\n"


def test_missing_command_is_start_error(runtime: PodRuntime, new_uid: Callable[[], str]) -> None:
    uid = new_uid()
    containers = [{"name": "empty", "image": "x"}, {"name": "ok", "command": ["true"]}]
    runtime.start(make_pod(uid, containers), {}, {})
    empty, ok = wait_until(terminated(runtime, uid), description="both containers")
    assert (empty.name, empty.state, empty.reason) == ("empty", "terminated", "StartError")
    assert empty.exit_code == 128
    assert "neither command nor args" in (empty.message or "")
    assert (ok.name, ok.exit_code, ok.reason) == ("ok", 0, "Completed")


def test_unknown_executable_is_start_error(runtime: PodRuntime, new_uid: Callable[[], str]) -> None:
    uid = new_uid()
    runtime.start(make_pod(uid, [{"name": "main", "command": ["no-such-binary-jiriaf"]}]), {}, {})
    final = runtime.states(uid)[0]
    assert final.state == "terminated"
    assert final.reason == "StartError"
    assert final.exit_code == 127
    assert "no-such-binary-jiriaf" in (final.message or "")


def test_script_without_exec_bit_is_start_error(runtime: PodRuntime, new_uid: Callable[[], str]) -> None:
    uid = new_uid()
    container = {"name": "main", "command": ["/scripts/run.sh"],
                 "volumeMounts": [{"name": "scripts", "mountPath": "/scripts"}]}
    pod = make_pod(uid, [container], [{"name": "scripts", "configMap": {"name": "scripts"}}])
    runtime.start(pod, script_sources("#!/bin/sh\nexit 0\n"), {})
    final = runtime.states(uid)[0]
    assert (final.reason, final.exit_code) == ("StartError", 126)


def test_start_is_idempotent(runtime: PodRuntime, new_uid: Callable[[], str]) -> None:
    uid = new_uid()
    pod = script_pod(uid, "")
    runtime.start(pod, script_sources("echo once\n"), {})
    wait_until(terminated(runtime, uid), description="echo")
    runtime.start(pod, script_sources("echo twice\n"), {})
    assert runtime.states(uid)[0].state == "terminated"
    assert runtime.log_path(uid, "main").read_text() == "once\n"


def test_record_layout(runtime: PodRuntime, home: Path, new_uid: Callable[[], str]) -> None:
    uid = new_uid()
    runtime.start(script_pod(uid, ""), script_sources("exit 0\n"), {})
    final = wait_until(terminated(runtime, uid), description="exit")[0]
    record_dir = home / ".jiriaf" / "agent" / "jrm-node-a" / "pods" / uid / "main"
    assert (record_dir / "pgid").read_text() == f"{final.pgid}\n"
    assert (record_dir / "exit_code").read_text() == "0\n"
    for name in ("started_at", "finished_at", "stdout", "stderr"):
        assert (record_dir / name).is_file()
    assert stat.S_IMODE(os.stat(record_dir).st_mode) == 0o700
    assert runtime.known_pod_uids() == {uid}


async def test_states_during_threaded_start(runtime: PodRuntime, new_uid: Callable[[], str]) -> None:
    uid = new_uid()
    containers = [{"name": f"c{index}", "command": ["true"]} for index in range(6)]
    starting = asyncio.create_task(asyncio.to_thread(runtime.start, make_pod(uid, containers), {}, {}))
    seen: set[tuple[str, str | None]] = set()
    while not starting.done():
        seen.update((state.state, state.reason) for state in runtime.states(uid))
        await asyncio.sleep(0.001)
    await starting

    final = wait_until(terminated(runtime, uid), description="all containers")
    seen.update((state.state, state.reason) for state in final)
    assert ("terminated", "Unknown") not in seen
    assert [state.exit_code for state in final] == [0] * 6
