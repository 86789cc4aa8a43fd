"""FireWorks routing keys on the embedded store: `_category` selects the worker, dotted updates are narrow."""

from __future__ import annotations

from pathlib import Path

import pytest
from fireworks import FWorker
from lp_helpers import pilot_firework

from jiriaf_fw.adapters.launchpad import (
    LaunchpadSettings,
    PilotNotFoundError,
    add_pilot_workflow,
    get_pilot,
    open_launchpad,
    record_job_id,
    reserve_for_offline,
)


def test_category_routes_to_site_worker(settings: LaunchpadSettings, tmp_path: Path) -> None:
    with open_launchpad(settings) as session:
        fw_id = add_pilot_workflow(session, pilot_firework(category="siteA"), "routed", {})
    with open_launchpad(settings) as session:
        fw, launch_id = session.lp.reserve_fw(FWorker(name="b", category="siteB"), str(tmp_path))
        assert fw is None
        assert launch_id is None
        assert get_pilot(session, fw_id).state == "READY"
    with open_launchpad(settings) as session:
        fw, launch_id = session.lp.reserve_fw(FWorker(name="a", category="siteA"), str(tmp_path))
        assert fw is not None
        assert fw.fw_id == fw_id
        assert fw.spec["_queueadapter"] == {"walltime": "00:10:00", "nodes": 2, "qos": "debug"}
        assert get_pilot(session, fw_id).state == "RESERVED"


def test_update_spec_dotted_key_only(settings: LaunchpadSettings) -> None:
    with open_launchpad(settings) as session:
        fw_id = add_pilot_workflow(session, pilot_firework(), "dotted", {})
        session.lp.update_spec([fw_id], {"_queueadapter.walltime": "00:20:00"})
        spec = session.lp.get_fw_by_id(fw_id).spec
    assert spec["_queueadapter"] == {"walltime": "00:20:00", "nodes": 2, "qos": "debug"}
    assert spec["_category"] == "siteA"


def test_record_job_id_changes_one_key(settings: LaunchpadSettings, tmp_path: Path) -> None:
    with open_launchpad(settings) as session:
        fw_id = add_pilot_workflow(session, pilot_firework(ports=[10000]), "job-id", {})
        before = session.lp.get_fw_by_id(fw_id).spec
        reserve_for_offline(session, fw_id, tmp_path)
        record_job_id(session, fw_id, 77)
    with open_launchpad(settings) as session:
        after = session.lp.get_fw_by_id(fw_id).spec
        state = get_pilot(session, fw_id).state
    assert state == "RESERVED"
    assert after["jiriaf"] == {**before["jiriaf"], "slurm_job_id": "77"}
    assert {key: value for key, value in after.items() if key != "jiriaf"} == {
        key: value for key, value in before.items() if key != "jiriaf"
    }


@pytest.mark.parametrize("job_id", ["", "12;rm -rf /", "12 34", "-1", "1.5", True])
def test_record_job_id_rejects_invalid(settings: LaunchpadSettings, job_id: object) -> None:
    with open_launchpad(settings) as session:
        fw_id = add_pilot_workflow(session, pilot_firework(), "bad-job-id", {})
        with pytest.raises(ValueError, match="Slurm job id"):
            record_job_id(session, fw_id, job_id)  # type: ignore[arg-type]  # invalid types on purpose


def test_record_job_id_unknown_pilot(settings: LaunchpadSettings) -> None:
    with open_launchpad(settings) as session, pytest.raises(PilotNotFoundError, match="fw_id 99"):
        record_job_id(session, 99, "1")
