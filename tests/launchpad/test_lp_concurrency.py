"""Several processes adding pilots and reserving ports on one embedded store at the same time."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from lp_helpers import DEADLINE_S, clean_env, open_and_close, wait_for, worker_argv

from jiriaf_fw.adapters.launchpad import LaunchpadSettings, list_pilots, open_launchpad, ports_in_use
from jiriaf_fw.adapters.launchpad.store import locked_store

WRITERS = 6
ROUNDS = 3


def test_concurrent_writers_lose_nothing(settings: LaunchpadSettings, store_path: Path, tmp_path: Path) -> None:
    open_and_close(settings)
    start_file, stop_file = tmp_path / "start", tmp_path / "stop"
    env = clean_env(tmp_path)
    writers = [
        subprocess.Popen(
            worker_argv("writer", store_path, index, ROUNDS, start_file),
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for index in range(WRITERS)
    ]
    reader = subprocess.Popen(
        worker_argv("reader", store_path, stop_file), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )
    try:
        start_file.touch()
        outputs = [writer.communicate(timeout=DEADLINE_S) for writer in writers]
        stop_file.touch()
        reader_out, reader_err = reader.communicate(timeout=DEADLINE_S)
    finally:
        for process in [*writers, reader]:
            process.kill()
            process.wait(timeout=DEADLINE_S)
    for writer, (_, stderr) in zip(writers, outputs, strict=True):
        assert writer.returncode == 0, stderr
    assert reader.returncode == 0, reader_err

    reported: dict[str, dict] = {}
    for stdout, _ in outputs:
        reported.update(json.loads(stdout))
    assert len(reported) == WRITERS * ROUNDS
    fw_ids = [entry["fw_id"] for entry in reported.values()]
    assert sorted(fw_ids) == list(range(1, WRITERS * ROUNDS + 1))
    ports = [port for entry in reported.values() for port in entry["ports"]]
    assert len(set(ports)) == len(ports) == 2 * WRITERS * ROUNDS

    with open_launchpad(settings) as session:
        stored = {pilot.name: pilot.fw_id for pilot in list_pilots(session)}
        owners = ports_in_use(session)
    assert stored == {owner: entry["fw_id"] for owner, entry in reported.items()}
    assert owners == {port: owner for owner, entry in reported.items() for port in entry["ports"]}

    reads = json.loads(reader_out)
    assert reads["invalid"] == []
    assert reads["valid"] > 0


def test_writer_waits_for_lock(settings: LaunchpadSettings, store_path: Path, tmp_path: Path) -> None:
    """A writer started while the lock is held waits, and stores its pilot once the lock is released."""
    open_and_close(settings)
    original = store_path.read_bytes()
    start_file, log_file = tmp_path / "start", tmp_path / "writer.log"
    start_file.touch()
    with log_file.open("w") as log, locked_store(store_path, timeout_s=5):
        writer = subprocess.Popen(
            worker_argv("writer", store_path, 0, 1, start_file),
            env=clean_env(tmp_path), stdout=subprocess.PIPE, stderr=log, text=True,
        )
        try:
            wait_for(
                lambda: "waiting for the launchpad lock" in log_file.read_text() or writer.poll() is not None,
                "the writer to report that it waits for the lock",
            )
            assert writer.poll() is None, log_file.read_text()
            assert store_path.read_bytes() == original
        except BaseException:
            writer.kill()
            writer.wait(timeout=DEADLINE_S)
            raise
    stdout, _ = writer.communicate(timeout=DEADLINE_S)
    assert writer.returncode == 0, log_file.read_text()
    assert list(json.loads(stdout)) == ["writer0-0"]
    with open_launchpad(settings) as session:
        assert [pilot.name for pilot in list_pilots(session)] == ["writer0-0"]
