"""Pilot workflow helpers on the embedded store: add, list, reserve, recover, mark lost, delete."""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from lp_helpers import DEADLINE_S, RLAUNCH_OFFLINE, clean_env, pilot_firework

from jiriaf_fw.adapters.launchpad import (
    LaunchpadError,
    LaunchpadSettings,
    PilotConflictError,
    PilotNotFoundError,
    PilotStateError,
    add_pilot_workflow,
    delete_pilot_workflow,
    get_pilot,
    list_pilots,
    mark_pilot_lost,
    open_launchpad,
    record_job_id,
    recover_offline_runs,
    reserve_for_offline,
)


def _add_and_reserve(settings: LaunchpadSettings, launch_dir: Path, name: str = "pilot-1") -> tuple[int, int]:
    launch_dir.mkdir(parents=True, exist_ok=True)
    with open_launchpad(settings) as session:
        fw_id = add_pilot_workflow(session, pilot_firework(), name, {})
        launch_id = reserve_for_offline(session, fw_id, launch_dir)
        record_job_id(session, fw_id, "900")
    return fw_id, launch_id


def _write_started(launch_dir: Path, launch_id: int) -> None:
    """Write FW_offline.json as FireWorks' offline rocket does when it starts."""
    started = {"launch_id": launch_id, "started_on": datetime.now(UTC).isoformat()}
    (launch_dir / "FW_offline.json").write_text(json.dumps(started))


def test_add_and_list_pilots(settings: LaunchpadSettings) -> None:
    with open_launchpad(settings) as session:
        first = add_pilot_workflow(session, pilot_firework(category="siteA"), "pilot-a", {"site": "siteA"})
        second = add_pilot_workflow(session, pilot_firework(category="siteB"), "pilot-b", {})
        session.lp.add_wf(_plain())
    with open_launchpad(settings) as session:
        pilots = list_pilots(session)
        workflow = session.lp.workflows.find_one({"nodes": first})
    assert [(p.fw_id, p.name, p.state) for p in pilots] == [(first, "pilot-a", "READY"), (second, "pilot-b", "READY")]
    assert pilots[0].jiriaf == {"site": "siteA", "nodenames": ["vk-a-0000abcd"]}
    assert pilots[0].launches == ()
    assert pilots[0].slurm_job_id is None
    assert workflow["metadata"] == {"site": "siteA"}


def _plain():  # type: ignore[no-untyped-def]
    """A Firework without a `jiriaf` spec: not a pilot."""
    from fireworks import Firework, ScriptTask

    return Firework(ScriptTask.from_str("true"), name="not-a-pilot")


def test_duplicate_name_rejected(settings: LaunchpadSettings) -> None:
    with open_launchpad(settings) as session:
        add_pilot_workflow(session, pilot_firework(), "twin", {})
    with open_launchpad(settings) as session, pytest.raises(PilotConflictError, match="'twin'"):
        add_pilot_workflow(session, pilot_firework(), "twin", {})


def test_get_unknown_pilot(settings: LaunchpadSettings) -> None:
    with open_launchpad(settings) as session, pytest.raises(PilotNotFoundError, match="fw_id 5"):
        get_pilot(session, 5)


def test_reserve_requires_ready(settings: LaunchpadSettings, tmp_path: Path) -> None:
    fw_id, launch_id = _add_and_reserve(settings, tmp_path / "launch")
    with open_launchpad(settings) as session:
        pilot = get_pilot(session, fw_id)
        with pytest.raises(PilotStateError, match=f"Firework {fw_id} is RESERVED, not READY"):
            reserve_for_offline(session, fw_id, tmp_path / "launch")
    assert pilot.state == "RESERVED"
    assert [(launch.launch_id, launch.launch_dir) for launch in pilot.launches] == [
        (launch_id, str(tmp_path / "launch"))
    ]


def test_reserve_unknown_or_missing_dir(settings: LaunchpadSettings, tmp_path: Path) -> None:
    with open_launchpad(settings) as session:
        fw_id = add_pilot_workflow(session, pilot_firework(), "no-dir", {})
        with pytest.raises(PilotNotFoundError, match="fw_id 42"):
            reserve_for_offline(session, 42, tmp_path)
        with pytest.raises(LaunchpadError, match="does not exist"):
            reserve_for_offline(session, fw_id, tmp_path / "missing")
        assert get_pilot(session, fw_id).state == "READY"


def test_recover_skips_vanished_launch_dir(settings: LaunchpadSettings, tmp_path: Path) -> None:
    fw_id, _ = _add_and_reserve(settings, tmp_path / "launch")
    shutil.rmtree(tmp_path / "launch")
    with open_launchpad(settings) as session:
        assert recover_offline_runs(session) == []
        assert get_pilot(session, fw_id).state == "RESERVED"
        assert session.lp.offline_runs.count_documents({"completed": False}) == 1


def test_recover_skips_unreadable_offline_file(settings: LaunchpadSettings, tmp_path: Path) -> None:
    fw_id, _ = _add_and_reserve(settings, tmp_path / "launch")
    (tmp_path / "launch" / "FW_offline.json").write_text('{"launch_id": 1, "started_on": "20')
    with open_launchpad(settings) as session:
        assert recover_offline_runs(session) == []
        assert get_pilot(session, fw_id).state == "RESERVED"


def test_recover_marks_started_rocket_running(settings: LaunchpadSettings, tmp_path: Path) -> None:
    fw_id, launch_id = _add_and_reserve(settings, tmp_path / "launch")
    _write_started(tmp_path / "launch", launch_id)
    with open_launchpad(settings) as session:
        assert recover_offline_runs(session) == [fw_id]
        assert get_pilot(session, fw_id).state == "RUNNING"


def test_mark_lost_running_twice(settings: LaunchpadSettings, tmp_path: Path) -> None:
    fw_id, launch_id = _add_and_reserve(settings, tmp_path / "launch")
    _write_started(tmp_path / "launch", launch_id)
    with open_launchpad(settings) as session:
        recover_offline_runs(session)
    with open_launchpad(settings) as session:
        assert mark_pilot_lost(session, fw_id, "Slurm job 900 ended TIMEOUT") is True
    with open_launchpad(settings) as session:
        first = get_pilot(session, fw_id)
        stored_data = session.lp.get_launch_by_id(launch_id).action.stored_data
        store_after_first = session.lp.fireworks.find_one({"fw_id": fw_id}, {"_id": 0})
        assert mark_pilot_lost(session, fw_id, "Slurm job 900 ended TIMEOUT") is False
        assert recover_offline_runs(session) == []
        store_after_second = session.lp.fireworks.find_one({"fw_id": fw_id}, {"_id": 0})
    assert first.state == "FIZZLED"
    assert [launch.state for launch in first.launches] == ["FIZZLED"]
    assert first.jiriaf["lost_reason"] == "Slurm job 900 ended TIMEOUT"
    assert first.slurm_job_id == "900"
    assert stored_data["jiriaf_lost_reason"] == "Slurm job 900 ended TIMEOUT"
    assert store_after_second == store_after_first


def test_mark_lost_reserved_pilot(settings: LaunchpadSettings, tmp_path: Path) -> None:
    fw_id, _ = _add_and_reserve(settings, tmp_path / "launch")
    with open_launchpad(settings) as session:
        assert mark_pilot_lost(session, fw_id, "job cancelled before it started") is True
        assert get_pilot(session, fw_id).state == "FIZZLED"
        assert session.lp.offline_runs.count_documents({"completed": False}) == 0


def test_mark_lost_rejects_ready_pilot(settings: LaunchpadSettings) -> None:
    with open_launchpad(settings) as session:
        fw_id = add_pilot_workflow(session, pilot_firework(), "never-launched", {})
        with pytest.raises(PilotStateError, match="READY"):
            mark_pilot_lost(session, fw_id, "no job")
        with pytest.raises(PilotNotFoundError):
            mark_pilot_lost(session, fw_id + 1, "no job")


def test_mark_lost_after_completed_rocket(settings: LaunchpadSettings, tmp_path: Path) -> None:
    """A rocket that wrote its outcome is recovered as COMPLETED, not marked lost."""
    fw_id, _ = _add_and_reserve(settings, tmp_path / "launch")
    rocket = subprocess.run(
        RLAUNCH_OFFLINE, cwd=tmp_path / "launch", env=clean_env(tmp_path), capture_output=True, text=True,
        timeout=DEADLINE_S, check=False,
    )
    assert rocket.returncode == 0, rocket.stderr
    with open_launchpad(settings) as session:
        assert mark_pilot_lost(session, fw_id, "squeue no longer lists the job") is False
        pilot = get_pilot(session, fw_id)
    assert pilot.state == "COMPLETED"
    assert "lost_reason" not in pilot.jiriaf


def test_delete_removes_workflow_and_launches(
    settings: LaunchpadSettings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fw_id, launch_id = _add_and_reserve(settings, tmp_path / "launch")
    with open_launchpad(settings) as session:
        keep = add_pilot_workflow(session, pilot_firework(), "kept", {})
    with open_launchpad(settings) as session:
        assert delete_pilot_workflow(session, fw_id) is True
    with open_launchpad(settings) as session:
        assert delete_pilot_workflow(session, fw_id) is False
        assert [pilot.fw_id for pilot in list_pilots(session)] == [keep]
        assert session.lp.launches.count_documents({"launch_id": launch_id}) == 0
        assert session.lp.offline_runs.count_documents({}) == 0
        assert session.lp.workflows.count_documents({}) == 1
    assert capsys.readouterr().out == ""
    assert (tmp_path / "launch" / "FW.json").exists()
