"""`get_wf`: recover offline launches and show each pilot with its Firework and Slurm state."""

from __future__ import annotations

import logging

from jiriaf_fw.adapters import slurm
from jiriaf_fw.adapters.launchpad import PilotRecord, mark_pilot_lost, open_launchpad, recover_offline_runs
from jiriaf_fw.adapters.launchpad import list_pilots as stored_pilots
from jiriaf_fw.adapters.slurm import SlurmError
from jiriaf_fw.core.slurm_output import SlurmJob
from jiriaf_fw.services.pilot.results import PilotView
from jiriaf_fw.services.pilot.settings import PilotSettings

logger = logging.getLogger(__name__)

_ACTIVE_FW_STATES = ("RESERVED", "RUNNING")


def _job_state(job: SlurmJob | None) -> str | None:
    if job is None:
        return None
    if job.state == "PENDING" and job.reason and job.reason != "None":
        return f"PENDING ({job.reason})"
    return job.state


def _view(record: PilotRecord, job: SlurmJob | None, slurm_unknown: bool = False) -> PilotView:
    return PilotView(
        fw_id=record.fw_id,
        name=record.name,
        site=str(record.jiriaf.get("site", "")),
        fw_state=record.state,
        job_id=record.slurm_job_id,
        job_state="UNKNOWN" if slurm_unknown and record.slurm_job_id else _job_state(job),
        time_left=None if job is None or not job.active else job.time_left_text,
        nodes=[node["nodename"] for node in record.jiriaf.get("nodes", [])],
    )


def _mark_lost(settings: PilotSettings, lost: dict[int, SlurmJob]) -> list[PilotRecord]:
    """Fizzle pilots whose Slurm job ended without an offline outcome; return the refreshed records.

    `mark_pilot_lost` recovers each pilot's own offline runs first, so a rocket that did finish is kept.
    """
    with open_launchpad(settings.launchpad) as session:
        for fw_id, job in lost.items():
            mark_pilot_lost(session, fw_id, f"Slurm job {job.job_id} ended as {job.state} without an outcome")
        return stored_pilots(session)


def list_pilots(*, settings: PilotSettings) -> list[PilotView]:
    """Return every pilot, after recovering finished offline launches.

    The Slurm state comes from `squeue -t all`, so a pilot whose job ended shows that state even before
    any offline ping reached the launchpad. A pending job shows its reason. When squeue fails, the state
    is UNKNOWN (with a warning) instead of an error. A RESERVED or RUNNING pilot whose job ended without writing an
    outcome is marked FIZZLED (its launch is lost, as FireWorks' lost-run detection would after hours).
    """
    with open_launchpad(settings.launchpad) as session:
        recover_offline_runs(session)
        records = stored_pilots(session)
    job_ids = [record.slurm_job_id for record in records if record.slurm_job_id]
    try:
        jobs = slurm.query_jobs(job_ids, runner=settings.runner) if job_ids else {}
    except SlurmError as error:
        # The launchpad's view is still worth showing when the Slurm controller is down.
        logger.warning("Slurm job states are unknown: %s", error)
        return [_view(record, None, slurm_unknown=True) for record in records]
    lost = {
        record.fw_id: jobs[record.slurm_job_id]
        for record in records
        if record.state in _ACTIVE_FW_STATES and record.slurm_job_id and jobs[record.slurm_job_id].ended
    }
    if lost:
        records = _mark_lost(settings, lost)
    return [_view(record, jobs.get(record.slurm_job_id or "")) for record in records]
