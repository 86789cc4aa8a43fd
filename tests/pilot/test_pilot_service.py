"""The pilot service without Slurm: remote pilots, lost job ids, Slurm outages, env.list configs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

from jiriaf_fw.adapters.commands import CommandError, CommandResult
from jiriaf_fw.adapters.launchpad import LaunchpadSettings, get_pilot, open_launchpad, record_job_id
from jiriaf_fw.core.slurm_output import SlurmJob
from jiriaf_fw.core.walltime import parse_duration
from jiriaf_fw.services import pilot
from jiriaf_fw.services.pilot.delete import _job_ids, _was_launched
from jiriaf_fw.services.pilot.launch import _ready_pilots
from jiriaf_fw.services.pilot.status import _job_state

REPO = Path(__file__).resolve().parents[2]


class FailingSqueue:
    """A command runner whose every command fails as squeue does when the controller is down."""

    def run(self, argv: Sequence[str], *, input: str | None = None, timeout_s: float | None = None,
            env: Mapping[str, str] | None = None, cwd: Any = None, check: bool = True) -> CommandResult:
        raise CommandError(argv, 1, "", "slurm_load_jobs error: Unable to contact slurm controller (connect failure)")


@pytest.fixture()
def settings(tmp_path: Path) -> pilot.PilotSettings:
    return pilot.PilotSettings(launchpad=LaunchpadSettings.embedded(tmp_path / "lp" / "launchpad.json"))


def _site(tmp_path: Path, site: str, *, remote: bool) -> Path:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text("apiVersion: v1\n", encoding="utf-8")
    jrm: dict[str, Any] = {"nodename": "vk-t", "site": site, "kubeconfig": str(kubeconfig),
                           "vkubelet_pod_ips": "127.0.0.1", "work_root": str(tmp_path / "work")}
    config: dict[str, Any] = {"slurm": {"nodes": 1, "walltime": "00:10:00"}, "jrm": jrm}
    if remote:
        jrm.update(control_plane_ip="10.0.0.1", apiserver_port=6443)
        config["ssh"] = {"remote": "user@login.example.org", "key": str(tmp_path / "key")}
    path = tmp_path / f"{site}.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def test_launch_skips_remote_without_site(tmp_path: Path, settings: pilot.PilotSettings) -> None:
    remote = pilot.add_pilot(_site(tmp_path, "far", remote=True), settings=settings)
    local = pilot.add_pilot(_site(tmp_path, "near", remote=False), settings=settings)
    assert [p.fw_id for p in _ready_pilots(settings, None)] == [local.fw_id]
    assert [p.fw_id for p in _ready_pilots(settings, "far")] == [remote.fw_id]


def test_job_id_found_in_launch_dir(tmp_path: Path, settings: pilot.PilotSettings) -> None:
    added = pilot.add_pilot(_site(tmp_path, "near", remote=False), settings=settings)
    with open_launchpad(settings.launchpad) as session:
        record = get_pilot(session, added.fw_id)
    assert _job_ids(record) == []
    assert not _was_launched(record, [])

    launch_dir = Path(record.jiriaf["launch_dir"])
    launch_dir.mkdir(parents=True)
    (launch_dir / "job.sh").write_text("#!/bin/bash\n")
    assert _was_launched(record, [])
    (launch_dir / "slurm-4242.out").write_text("")
    (launch_dir / "slurm-notanid.out").write_text("")
    assert _job_ids(record) == ["4242"]


def test_get_wf_survives_slurm_outage(tmp_path: Path, settings: pilot.PilotSettings) -> None:
    added = pilot.add_pilot(_site(tmp_path, "near", remote=False), settings=settings)
    with open_launchpad(settings.launchpad) as session:
        record_job_id(session, added.fw_id, "77")
    outage = pilot.PilotSettings(launchpad=settings.launchpad, runner=FailingSqueue())
    views = pilot.list_pilots(settings=outage)
    assert [view.fw_id for view in views] == [added.fw_id]
    assert views[0].job_id == "77"
    assert views[0].job_state == "UNKNOWN"
    assert views[0].fw_state == "READY"


def test_pending_state_shows_reason() -> None:
    unknown = parse_duration("INVALID", "squeue")
    pending = SlurmJob("5", "PENDING", unknown, "INVALID", "", (), "PartitionNodeLimit", "jiriaf-x")
    running = SlurmJob("6", "RUNNING", unknown, "INVALID", "n1", ("n1",), "None", "jiriaf-x")
    assert _job_state(pending) == "PENDING (PartitionNodeLimit)"
    assert _job_state(running) == "RUNNING"
    assert _job_state(None) is None


def test_env_list_config_is_accepted() -> None:
    data = pilot.show_config(REPO / "examples" / "env.list")
    assert data["slurm"]["nodes"] == 2
    assert data["jrm"]["site"] == "perlmutter"
    assert data["ssh"]["remote"] == "jlabsai@128.55.64.13"
