"""`delete_wf`: cancel a pilot's Slurm job, delete its Nodes, release its ports, remove its workflow."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from pathlib import Path

from jiriaf_fw.adapters import slurm
from jiriaf_fw.adapters.kube_cleanup import delete_nodes
from jiriaf_fw.adapters.launchpad import (
    PilotNotFoundError,
    PilotRecord,
    delete_pilot_workflow,
    get_pilot,
    open_launchpad,
    release_ports,
)
from jiriaf_fw.adapters.launchpad.tombstones import record_deleted, was_deleted
from jiriaf_fw.services.pilot.results import DeleteResult
from jiriaf_fw.services.pilot.settings import PilotSettings

logger = logging.getLogger(__name__)

_SLURM_OUTPUT = re.compile(r"slurm-([0-9]+)\.out")


def _job_ids(pilot: PilotRecord) -> list[str]:
    """Return the pilot's recorded Slurm job id, and any job that wrote output into its launch directory.

    A launch killed between sbatch and saving the launchpad leaves a job whose id is only in the name of
    its `slurm-<job id>.out` file.
    """
    ids = [pilot.slurm_job_id] if pilot.slurm_job_id else []
    launch_dir = Path(pilot.jiriaf.get("launch_dir", ""))
    if launch_dir.is_dir():
        for output in sorted(launch_dir.glob("slurm-*.out")):
            match = _SLURM_OUTPUT.fullmatch(output.name)
            if match and match.group(1) not in ids:
                logger.warning("found Slurm job %s of fw_id %d from %s", match.group(1), pilot.fw_id, output)
                ids.append(match.group(1))
    return ids


def _was_launched(pilot: PilotRecord, job_ids: list[str]) -> bool:
    """True when a job may have run, so Nodes may exist: a job is known or the launch directory was written."""
    launch_dir = Path(pilot.jiriaf.get("launch_dir", ""))
    return bool(job_ids) or (launch_dir.is_dir() and any(launch_dir.iterdir()))


def _find(settings: PilotSettings, fw_ids: Sequence[int]) -> dict[int, PilotRecord | None]:
    """Return each id's pilot, or None when it was deleted before; raise for an id that never existed."""
    found: dict[int, PilotRecord | None] = {}
    with open_launchpad(settings.launchpad) as session:
        for fw_id in fw_ids:
            try:
                found[fw_id] = get_pilot(session, fw_id)
            except PilotNotFoundError:
                if not was_deleted(session, fw_id):
                    raise PilotNotFoundError(
                        f"no pilot with fw_id {fw_id} was ever added on launchpad {session.location}; "
                        "see jiriaf-fw get_wf for the existing ids") from None
                found[fw_id] = None
    return found


def _delete_one(settings: PilotSettings, pilot: PilotRecord) -> DeleteResult:
    job_ids = _job_ids(pilot)
    job_state = None
    for job_id in job_ids:
        slurm.cancel(job_id, runner=settings.runner)
        job_state = slurm.wait_until_ended(job_id, settings.cancel_wait_s, runner=settings.runner).state
    # Nodes exist only once a job ran; a pilot that was never launched has none to delete.
    names = [node["nodename"] for node in pilot.jiriaf.get("nodes", [])] if _was_launched(pilot, job_ids) else []
    # Deleting the Nodes before the workflow keeps their names on record if the API server is unreachable,
    # so a second delete_wf can finish the job.
    nodes_deleted = delete_nodes(Path(pilot.jiriaf["kubeconfig"]), names) if names else []
    with open_launchpad(settings.launchpad) as session:
        ports = release_ports(session, pilot.jiriaf["pilot_id"])
        delete_pilot_workflow(session, pilot.fw_id)
        record_deleted(session, pilot.fw_id, pilot.name)
    logger.info("deleted pilot fw_id %d (%s)", pilot.fw_id, pilot.name)
    return DeleteResult(fw_id=pilot.fw_id, already_deleted=False, job_id=",".join(job_ids) or None,
                        job_state=job_state,
                        nodes_deleted=nodes_deleted, ports_released=ports)


def delete_pilots(fw_ids: Sequence[int], *, settings: PilotSettings) -> list[DeleteResult]:
    """Delete each pilot: cancel its job and wait for the end, delete its Nodes, release its ports.

    Every id is checked before anything is deleted: an id that never existed raises PilotNotFoundError
    and nothing changes. An id deleted earlier gives a result with `already_deleted` set. A failure
    part-way (Slurm, Kubernetes) raises and keeps that pilot on the launchpad, so running the command
    again finishes the work.
    """
    results = []
    for fw_id, pilot in _find(settings, list(dict.fromkeys(fw_ids))).items():
        if pilot is None:
            results.append(DeleteResult(fw_id=fw_id, already_deleted=True))
        else:
            results.append(_delete_one(settings, pilot))
    return results
