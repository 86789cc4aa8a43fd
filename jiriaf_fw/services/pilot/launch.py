"""`launch`: reserve READY pilots for an offline rocket, write their launch directories, submit them."""

from __future__ import annotations

import logging
import shutil
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from jiriaf_fw.adapters import slurm
from jiriaf_fw.adapters.launchpad import (
    PilotRecord,
    PilotStateError,
    get_pilot,
    list_pilots,
    open_launchpad,
    record_job_id,
    reserve_for_offline,
)
from jiriaf_fw.core.errors import JiriafError
from jiriaf_fw.services.pilot.add import JOB_SCRIPT_NAME, NODE_SETUP_NAME
from jiriaf_fw.services.pilot.results import LaunchResult
from jiriaf_fw.services.pilot.settings import PilotSettings

logger = logging.getLogger(__name__)


class RemoteLaunchUnsupportedError(JiriafError):
    """The pilot belongs to a site with an ssh section, which this version cannot submit to."""


_DEFERRED_SIGNALS = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}


@contextmanager
def _signals_deferred() -> Iterator[None]:
    """Hold Ctrl-C and SIGTERM until the block ends, so a submitted job is always recorded or cancelled.

    NOTE: SIGKILL cannot be deferred. A launch killed between sbatch and the save leaves the job
    unrecorded, so `delete_wf` also looks for `slurm-<job id>.out` files in the launch directory.
    """
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, _DEFERRED_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _ready_pilots(settings: PilotSettings, site: str | None) -> list[PilotRecord]:
    with open_launchpad(settings.launchpad) as session:
        pilots = list_pilots(session)
    ready = [p for p in pilots if p.state == "READY" and (site is None or p.jiriaf.get("site") == site)]
    if site is None:
        remote = [p for p in ready if p.jiriaf.get("remote")]
        for pilot in remote:
            logger.warning("skipping fw_id %d of remote site %r: launching over SSH is not implemented yet",
                           pilot.fw_id, pilot.jiriaf.get("site"))
        ready = [p for p in ready if not p.jiriaf.get("remote")]
    return ready


def _prepare_launch_dir(pilot: PilotRecord) -> Path:
    launch_dir = Path(pilot.jiriaf["launch_dir"])
    if launch_dir.exists() and any(launch_dir.iterdir()):
        raise PilotStateError(
            f"launch directory {launch_dir} of fw_id {pilot.fw_id} exists and is not empty; "
            "move it away or delete the pilot and add it again")
    launch_dir.mkdir(parents=True, exist_ok=True)
    Path(pilot.jiriaf["log_dir"]).mkdir(parents=True, exist_ok=True)
    (launch_dir / NODE_SETUP_NAME).write_text(pilot.jiriaf["node_setup_script"], encoding="utf-8")
    (launch_dir / JOB_SCRIPT_NAME).write_text(pilot.jiriaf["job_script"], encoding="utf-8")
    return launch_dir


def _launch_one(settings: PilotSettings, fw_id: int) -> LaunchResult | None:
    """Reserve, write and submit one pilot, in one launchpad session so a failure undoes the reservation."""
    job_id: str | None = None
    launch_dir: Path | None = None
    try:
        with open_launchpad(settings.launchpad) as session:
            pilot = get_pilot(session, fw_id)
            if pilot.state != "READY":
                logger.info("fw_id %d became %s before it could be launched; skipping it", fw_id, pilot.state)
                return None
            if pilot.jiriaf.get("remote"):
                raise RemoteLaunchUnsupportedError(
                    f"fw_id {fw_id} is for remote site {pilot.jiriaf.get('site')!r} (its config has an ssh "
                    "section), and launching over SSH is not implemented yet; delete it with jiriaf-fw delete_wf")
            launch_dir = _prepare_launch_dir(pilot)
            launch_id = reserve_for_offline(session, fw_id, launch_dir)
            job_id = slurm.submit(launch_dir / JOB_SCRIPT_NAME, runner=settings.runner, cwd=launch_dir)
            record_job_id(session, fw_id, job_id)
    except BaseException:
        if job_id is not None:
            logger.warning("cancelling Slurm job %s because fw_id %d could not be recorded", job_id, fw_id)
            slurm.cancel(job_id, runner=settings.runner)
        if launch_dir is not None and job_id is None:
            shutil.rmtree(launch_dir, ignore_errors=True)
        raise
    logger.info("launched fw_id %d as Slurm job %s in %s", fw_id, job_id, launch_dir)
    return LaunchResult(fw_id=fw_id, site=pilot.jiriaf["site"], launch_id=launch_id, launch_dir=launch_dir,
                        job_id=job_id)


def launch_pilots(*, settings: PilotSettings, site: str | None = None) -> list[LaunchResult]:
    """Submit every READY pilot (of `site`, when given) to Slurm; return one result per submitted pilot.

    Each pilot is reserved with FireWorks (`reserve_fw` and `setup_offline_job`), so the job's rocket runs
    offline and never needs the database. Without `site`, pilots of remote sites (with an ssh section) are
    skipped with a warning. Stops at the first failure, after undoing that pilot's reservation; pilots
    launched before it stay launched. Ctrl-C takes effect between pilots, never between submitting a job
    and recording it. Raises SlurmError and LaunchpadError subclasses.
    """
    results = []
    for pilot in _ready_pilots(settings, site):
        with _signals_deferred():
            result = _launch_one(settings, pilot.fw_id)
        if result is not None:
            results.append(result)
    return results
