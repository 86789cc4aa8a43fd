"""The embedded store file: creation, indexes, atomic saves, kills, the lock and mongomock-persistence."""

from __future__ import annotations

import json
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from fireworks import LaunchPad
from lp_helpers import DEADLINE_S, clean_env, open_and_close, pilot_firework, wait_for, worker_argv

from jiriaf_fw.adapters.launchpad import (
    LaunchpadLockTimeoutError,
    LaunchpadSettings,
    LaunchpadStoreError,
    add_pilot_workflow,
    list_pilots,
    open_launchpad,
)
from jiriaf_fw.adapters.launchpad.session import _DatabaseLaunchPad
from jiriaf_fw.adapters.launchpad.store import load_client, locked_store


def _pilot_names(settings: LaunchpadSettings) -> list[str]:
    with open_launchpad(settings) as session:
        return [pilot.name for pilot in list_pilots(session)]


def _add(settings: LaunchpadSettings, name: str) -> int:
    with open_launchpad(settings) as session:
        return add_pilot_workflow(session, pilot_firework(), name, {})


def test_first_use_creates_store(settings: LaunchpadSettings, store_path: Path) -> None:
    assert not store_path.parent.exists()
    assert _add(settings, "first") == 1
    assert store_path.is_file()
    assert stat.S_IMODE(store_path.stat().st_mode) == 0o600
    assert _add(settings, "second") == 2
    assert _pilot_names(settings) == ["first", "second"]


def test_empty_json_object_initialised(settings: LaunchpadSettings, store_path: Path) -> None:
    store_path.parent.mkdir(parents=True)
    store_path.write_text("{}")
    assert _add(settings, "on-empty") == 1


def test_indexes_recreated_on_open(settings: LaunchpadSettings) -> None:
    _add(settings, "indexed")
    with open_launchpad(settings) as session:
        fw_indexes = session.lp.fireworks.index_information()
        port_indexes = session.lp.db["jiriaf_ports"].index_information()
    assert any(index["key"] == [("fw_id", 1)] and index.get("unique") for index in fw_indexes.values())
    assert any(index["key"] == [("port", 1)] and index.get("unique") for index in port_indexes.values())


def test_read_only_session_leaves_file(settings: LaunchpadSettings, store_path: Path) -> None:
    _add(settings, "kept")
    before = store_path.stat()
    assert _pilot_names(settings) == ["kept"]
    after = store_path.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def test_exception_leaves_file_identical(settings: LaunchpadSettings, store_path: Path) -> None:
    _add(settings, "before")
    original = store_path.read_bytes()
    with pytest.raises(RuntimeError, match="step two failed"), open_launchpad(settings) as session:
        add_pilot_workflow(session, pilot_firework(), "half-done", {})
        raise RuntimeError("step two failed")
    assert store_path.read_bytes() == original
    assert _pilot_names(settings) == ["before"]


def test_exception_on_first_use_writes_nothing(settings: LaunchpadSettings, store_path: Path) -> None:
    with pytest.raises(RuntimeError), open_launchpad(settings):
        raise RuntimeError("abort")
    assert not store_path.exists()


def _kill_when_ready(argv: list[str], ready_file: Path, tmp_path: Path) -> None:
    child = subprocess.Popen(argv, env=clean_env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_for(lambda: ready_file.exists() or child.poll() is not None, f"{ready_file} from the worker")
        assert child.poll() is None, child.communicate()[1].decode()
        child.send_signal(signal.SIGKILL)
    finally:
        child.kill()
        child.wait(timeout=DEADLINE_S)
        child.stdout.close()  # type: ignore[union-attr]  # PIPE was requested
        child.stderr.close()  # type: ignore[union-attr]
    assert child.returncode == -signal.SIGKILL


def test_sigkill_in_session_keeps_store(settings: LaunchpadSettings, store_path: Path, tmp_path: Path) -> None:
    _add(settings, "before")
    original = store_path.read_bytes()
    ready_file = tmp_path / "ready"
    _kill_when_ready(worker_argv("hold", store_path, ready_file), ready_file, tmp_path)
    assert store_path.read_bytes() == original
    quick = LaunchpadSettings.embedded(store_path, lock_timeout_s=5)
    assert _pilot_names(quick) == ["before"]


def test_sigkill_during_save_keeps_store(settings: LaunchpadSettings, store_path: Path, tmp_path: Path) -> None:
    _add(settings, "before")
    original = store_path.read_bytes()
    ready_file = tmp_path / "ready"
    _kill_when_ready(worker_argv("block-in-save", store_path, ready_file), ready_file, tmp_path)
    assert store_path.read_bytes() == original
    leftovers = list(store_path.parent.glob(".launchpad.json.*.tmp"))
    assert len(leftovers) == 1
    assert _pilot_names(settings) == ["before"]
    assert not leftovers[0].exists()


def test_persistence_exit_writer_neutralised(settings: LaunchpadSettings, store_path: Path, tmp_path: Path) -> None:
    _add(settings, "first")
    ready_file, go_file = tmp_path / "ready", tmp_path / "go"
    env = clean_env(tmp_path)
    # The worst case: FireWorks in the child is configured with our own store file.
    env["MONGOMOCK_SERVERSTORE_FILE"] = str(store_path)
    child = subprocess.Popen(
        worker_argv("persistence-exit", store_path, ready_file, go_file),
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        wait_for(lambda: ready_file.exists() or child.poll() is not None, "the child's first pilot")
        assert child.poll() is None, child.communicate()[1]
        _add(settings, "while-child-alive")
        saved = store_path.read_bytes()
        go_file.touch()
        stdout, stderr = child.communicate(timeout=DEADLINE_S)
    finally:
        child.kill()
        child.wait(timeout=DEADLINE_S)
    assert child.returncode == 0, stderr
    assert json.loads(stdout) == {"mongomock_persistence_active": True}
    assert store_path.read_bytes() == saved
    assert _pilot_names(settings) == ["first", "from-child", "while-child-alive"]


def test_store_readable_by_fireworks(settings: LaunchpadSettings, store_path: Path, tmp_path: Path) -> None:
    fw_id = _add(settings, "shared-format")
    copy = tmp_path / "copy.json"
    copy.write_bytes(store_path.read_bytes())
    env = clean_env(tmp_path)
    env["MONGOMOCK_SERVERSTORE_FILE"] = str(copy)
    script = "from fireworks import LaunchPad; print(LaunchPad(strm_lvl='CRITICAL').get_fw_ids())"
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=DEADLINE_S,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == f"[{fw_id}]"


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"", "not valid JSON"),
        (b'{"fireworks": {"fireworks": {"name": "fireworks", "docu', "not valid JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b'{"fireworks": []}', "database 'fireworks' is not a JSON object"),
        (b'{"fireworks": {"launches": {"name": "launches"}}}', "fireworks.launches has no valid 'documents'"),
    ],
)
def test_invalid_store_rejected(settings: LaunchpadSettings, store_path: Path, content: bytes, problem: str) -> None:
    store_path.parent.mkdir(parents=True)
    store_path.write_bytes(content)
    with pytest.raises(LaunchpadStoreError, match=problem) as caught, open_launchpad(settings):
        pass
    message = str(caught.value)
    assert str(store_path) in message
    assert "\n" not in message
    assert store_path.read_bytes() == content


def test_lock_timeout_names_lock_file(store_path: Path) -> None:
    impatient = LaunchpadSettings.embedded(store_path, lock_timeout_s=0.2)
    store_path.parent.mkdir(parents=True)
    with locked_store(store_path, timeout_s=5), pytest.raises(LaunchpadLockTimeoutError, match=r"launchpad\.json\.lock"):
        open_and_close(impatient)


def test_launchpad_attributes_match_fireworks(store_path: Path) -> None:
    ours = _DatabaseLaunchPad(load_client(None, store_path)["fireworks"])
    theirs = LaunchPad(host="127.0.0.1", port=1, strm_lvl="CRITICAL", mongoclient_kwargs={"connect": False})
    try:
        assert set(vars(ours)) == set(vars(theirs))
    finally:
        theirs.connection.close()
