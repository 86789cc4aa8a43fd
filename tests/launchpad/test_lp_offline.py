"""An offline rocket on the embedded store, end to end.

This guards the `monty<2026` pin: FireWorks 2.1.4's offline rocket calls `monty.io.zopen` without a mode,
which monty 2026 rejects, so a monty upgrade makes this test fail.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from lp_helpers import DEADLINE_S, RLAUNCH_OFFLINE, clean_env, pilot_firework

from jiriaf_fw.adapters.launchpad import (
    LaunchpadSettings,
    add_pilot_workflow,
    get_pilot,
    open_launchpad,
    record_job_id,
    recover_offline_runs,
    reserve_for_offline,
)


def test_offline_rocket_completes(settings: LaunchpadSettings, tmp_path: Path) -> None:
    launch_dir = tmp_path / "launch"
    launch_dir.mkdir()
    with open_launchpad(settings) as session:
        fw_id = add_pilot_workflow(session, pilot_firework("echo hi > out.txt"), "offline-proof", {})
    with open_launchpad(settings) as session:
        launch_id = reserve_for_offline(session, fw_id, launch_dir)
        record_job_id(session, fw_id, "4242")
    assert (launch_dir / "FW.json").is_file()
    assert (launch_dir / "FW_offline.json").is_file()
    with open_launchpad(settings) as session:
        assert recover_offline_runs(session) == []
        assert get_pilot(session, fw_id).state == "RESERVED"

    # No FW_config.yaml, FW_CONFIG_FILE or MONGOMOCK_SERVERSTORE_FILE: the offline rocket needs no database.
    rocket = subprocess.run(
        RLAUNCH_OFFLINE, cwd=launch_dir, env=clean_env(tmp_path), capture_output=True, text=True,
        timeout=DEADLINE_S, check=False,
    )
    assert rocket.returncode == 0, rocket.stderr
    assert (launch_dir / "out.txt").read_text() == "hi\n"

    with open_launchpad(settings) as session:
        assert recover_offline_runs(session) == [fw_id]
        pilot = get_pilot(session, fw_id)
    assert pilot.state == "COMPLETED"
    assert [(launch.launch_id, launch.state) for launch in pilot.launches] == [(launch_id, "COMPLETED")]
    assert pilot.slurm_job_id == "4242"
    with open_launchpad(settings) as session:
        assert recover_offline_runs(session) == []
