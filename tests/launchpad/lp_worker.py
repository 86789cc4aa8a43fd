"""Worker processes for the launchpad tests: `python lp_worker.py <command> <store> [args]`.

Each command prints one JSON line on stdout when it finishes.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from pathlib import Path

from lp_helpers import DEADLINE_S, pilot_firework, wait_for

from jiriaf_fw.adapters.launchpad import (
    LaunchpadSettings,
    add_pilot_workflow,
    open_launchpad,
    reserve_ports,
)
from jiriaf_fw.adapters.launchpad.store import locked_store
from jiriaf_fw.core.ports import PortRange

WRITER_RANGE = PortRange(20000, 20999)


def writer(settings: LaunchpadSettings, index: int, rounds: int, start_file: Path) -> None:
    """Wait for `start_file`, then add `rounds` pilots, each with two reserved ports, one session each."""
    wait_for(start_file.exists, f"start file {start_file}")
    added = {}
    for round_number in range(rounds):
        owner = f"writer{index}-{round_number}"
        with open_launchpad(settings) as session:
            ports = reserve_ports(session, owner, "kubelet", WRITER_RANGE, 2)
            fw_id = add_pilot_workflow(session, pilot_firework(owner=owner), owner, {"writer": index})
        added[owner] = {"fw_id": fw_id, "ports": ports}
    print(json.dumps(added))


def reader(store_path: Path, stop_file: Path) -> None:
    """Parse the store under the lock until `stop_file` exists; report how many reads succeeded or failed."""
    valid, invalid = 0, []
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        stop = stop_file.exists()
        with locked_store(store_path, timeout_s=30):
            try:
                json.loads(store_path.read_bytes())
                valid += 1
            except (OSError, ValueError) as exc:
                invalid.append(repr(exc))
        if stop:
            break
    print(json.dumps({"valid": valid, "invalid": invalid}))


def hold(settings: LaunchpadSettings, ready_file: Path) -> None:
    """Add a pilot inside a session, then wait there until killed."""
    with open_launchpad(settings) as session:
        add_pilot_workflow(session, pilot_firework(), "held", {})
        ready_file.touch()
        time.sleep(DEADLINE_S)
    print(json.dumps({"error": "hold was not killed"}))


def block_in_save(settings: LaunchpadSettings, ready_file: Path) -> None:
    """Add a pilot and block inside the save, after the temporary file is written, until killed."""

    def blocking_fsync(fd: int) -> None:
        ready_file.touch()
        time.sleep(DEADLINE_S)

    with open_launchpad(settings) as session:
        add_pilot_workflow(session, pilot_firework(), "in-save", {})
        os.fsync = blocking_fsync
    print(json.dumps({"error": "block_in_save was not killed"}))


def persistence_exit(settings: LaunchpadSettings, ready_file: Path, go_file: Path) -> None:
    """With mongomock-persistence active, add a pilot, wait for `go_file`, then exit normally."""
    import fireworks  # noqa: F401 - importing FireWorks reads MONGOMOCK_SERVERSTORE_FILE and loads the plugin

    active = "mongomock_persistence" in sys.modules
    with open_launchpad(settings) as session:
        add_pilot_workflow(session, pilot_firework(), "from-child", {})
    ready_file.touch()
    wait_for(go_file.exists, f"go file {go_file}")
    print(json.dumps({"mongomock_persistence_active": active}))


def main(argv: list[str]) -> None:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    command, store_path, *args = argv
    settings = LaunchpadSettings.embedded(Path(store_path), lock_timeout_s=DEADLINE_S)
    if command == "writer":
        writer(settings, int(args[0]), int(args[1]), Path(args[2]))
    elif command == "reader":
        reader(Path(store_path), Path(args[0]))
    elif command == "hold":
        hold(settings, Path(args[0]))
    elif command == "block-in-save":
        block_in_save(settings, Path(args[0]))
    elif command == "persistence-exit":
        persistence_exit(settings, Path(args[0]), Path(args[1]))
    else:
        raise SystemExit(f"unknown command {command!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
