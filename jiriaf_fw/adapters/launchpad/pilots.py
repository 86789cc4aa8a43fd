"""Pilot workflows on the launchpad: add, list, reserve for an offline rocket, recover, mark lost, delete.

A pilot is a Workflow with one Firework whose spec contains a `jiriaf` mapping (site, node names, ports, ...).
Its rocket runs offline inside the Slurm job (`rlaunch singleshot --offline`), so the launchpad learns the
outcome only from the launch directory's `FW_offline.json`, through `recover_offline_runs`.
"""

from __future__ import annotations

import contextlib
import io
import logging
import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fireworks import Firework, FWAction, FWorker, Workflow
from fireworks.queue.queue_launcher import setup_offline_job
from monty.os.path import zpath
from monty.serialization import loadfn

from jiriaf_fw.adapters.launchpad.errors import (
    LaunchpadError,
    PilotConflictError,
    PilotNotFoundError,
    PilotStateError,
    translate_errors,
)
from jiriaf_fw.adapters.launchpad.session import LaunchpadSession

logger = logging.getLogger(__name__)

JIRIAF_SPEC_KEY = "jiriaf"
FWORKER_NAME = "jiriaf-fw"
_ACTIVE_STATES = ("RESERVED", "RUNNING")
_FINISHED_STATES = ("COMPLETED", "FIZZLED", "DEFUSED", "ARCHIVED")
_SLURM_JOB_ID = re.compile(r"[0-9]+")


@dataclass(frozen=True)
class LaunchRecord:
    """One launch of a pilot's Firework."""

    launch_id: int
    state: str
    launch_dir: str


@dataclass(frozen=True)
class PilotRecord:
    """A pilot as stored on the launchpad."""

    fw_id: int
    name: str
    """The workflow name."""
    state: str
    """The Firework state: READY, RESERVED, RUNNING, COMPLETED, FIZZLED, DEFUSED, ..."""
    jiriaf: dict[str, Any]
    """The Firework's `spec["jiriaf"]`: site, node names, ports, `slurm_job_id` once launched, ..."""
    launches: tuple[LaunchRecord, ...]

    @property
    def slurm_job_id(self) -> str | None:
        """The Slurm job id recorded by `record_job_id`, if any."""
        job_id = self.jiriaf.get("slurm_job_id")
        return None if job_id is None else str(job_id)


def add_pilot_workflow(
    session: LaunchpadSession, fw: Firework, name: str, metadata: Mapping[str, Any] | None = None
) -> int:
    """Store `fw` as the only Firework of a new workflow called `name`; return its new fw_id.

    `fw.spec["jiriaf"]` must be a mapping. Raises PilotConflictError when a workflow called `name` exists.
    FireWorks assigns `fw.fw_id` in place. On MongoDB the workflow is deleted again if the session block
    raises; the embedded store is simply not saved.
    """
    jiriaf = fw.spec.get(JIRIAF_SPEC_KEY)
    if jiriaf is None:
        raise ValueError(f"Firework {fw.name!r} has no spec[{JIRIAF_SPEC_KEY!r}], so it is not a pilot")
    if not isinstance(jiriaf, Mapping):
        raise TypeError(f"spec[{JIRIAF_SPEC_KEY!r}] of Firework {fw.name!r} must be a mapping, got {type(jiriaf).__name__}")
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"workflow name must be a non-empty string, got {name!r}")
    launchpad = session.lp
    with translate_errors(f"add workflow {name!r}", session.location):
        # NOTE: on MongoDB this check and the insert are separate steps, so two clients adding the same name
        # at the same moment can both succeed. The pilot service adds a random suffix to each name.
        if launchpad.workflows.find_one({"name": name}, {"_id": 1}) is not None:
            raise PilotConflictError(
                f"a workflow named {name!r} exists on launchpad {session.location}; choose another name"
            )
        old_id = fw.fw_id
        id_map = launchpad.add_wf(Workflow([fw], name=name, metadata=dict(metadata or {})))
    fw_id = int(id_map[old_id])
    session.add_undo(f"workflow {name!r} (fw_id {fw_id})", lambda: _delete_workflow(session, fw_id))
    logger.info("added pilot workflow %r as fw_id %d", name, fw_id)
    return fw_id


def list_pilots(session: LaunchpadSession) -> list[PilotRecord]:
    """Return every pilot (every Firework with a `spec.jiriaf` mapping), by ascending fw_id."""
    return _pilot_records(session, {f"spec.{JIRIAF_SPEC_KEY}": {"$exists": True}})


def get_pilot(session: LaunchpadSession, fw_id: int) -> PilotRecord:
    """Return the pilot with `fw_id`; raises PilotNotFoundError when no pilot has that id."""
    records = _pilot_records(session, {"fw_id": fw_id, f"spec.{JIRIAF_SPEC_KEY}": {"$exists": True}})
    if not records:
        raise PilotNotFoundError(f"no pilot with fw_id {fw_id} on launchpad {session.location}")
    return records[0]


def _pilot_records(session: LaunchpadSession, query: dict[str, Any]) -> list[PilotRecord]:
    launchpad = session.lp
    with translate_errors("list pilots", session.location):
        fw_docs = list(launchpad.fireworks.find(query, {"fw_id": 1, "state": 1, "spec.jiriaf": 1, "launches": 1}))
        fw_ids = [doc["fw_id"] for doc in fw_docs]
        names: dict[int, str] = {}
        for wf_doc in launchpad.workflows.find({"nodes": {"$in": fw_ids}}, {"nodes": 1, "name": 1}):
            names.update({node: wf_doc.get("name", "") for node in wf_doc["nodes"]})
        launch_ids = [launch_id for doc in fw_docs for launch_id in doc.get("launches", [])]
        launches = {
            doc["launch_id"]: LaunchRecord(doc["launch_id"], doc["state"], doc.get("launch_dir", ""))
            for doc in launchpad.launches.find(
                {"launch_id": {"$in": launch_ids}}, {"launch_id": 1, "state": 1, "launch_dir": 1}
            )
        }
    records = [
        PilotRecord(
            fw_id=doc["fw_id"],
            name=names.get(doc["fw_id"], ""),
            state=doc["state"],
            jiriaf=dict(doc["spec"].get(JIRIAF_SPEC_KEY) or {}),
            launches=tuple(launches[lid] for lid in doc.get("launches", []) if lid in launches),
        )
        for doc in fw_docs
    ]
    return sorted(records, key=lambda record: record.fw_id)


def reserve_for_offline(session: LaunchpadSession, fw_id: int, launch_dir: Path) -> int:
    """Reserve the READY pilot `fw_id` for an offline rocket in `launch_dir`; return the launch id.

    Calls `LaunchPad.reserve_fw` (the Firework becomes RESERVED), then FireWorks' `setup_offline_job` with
    the working directory set to `launch_dir`, which writes `FW.json` and `FW_offline.json` there and records
    the offline run. `launch_dir` must be an existing folder. Raises PilotNotFoundError, or PilotStateError
    when the Firework is not READY (FireWorks itself would re-reserve a RESERVED Firework). The working
    directory is changed for the process during the call, so do not call it from several threads.
    """
    folder = Path(launch_dir).absolute()
    if not folder.is_dir():
        raise LaunchpadError(f"launch directory {folder} of fw_id {fw_id} does not exist; create it first")
    launchpad = session.lp
    with translate_errors(f"reserve fw_id {fw_id}", session.location):
        doc = launchpad.fireworks.find_one({"fw_id": fw_id}, {"state": 1, "spec._category": 1})
        if doc is None:
            raise PilotNotFoundError(f"no Firework with fw_id {fw_id} on launchpad {session.location}")
        if doc["state"] != "READY":
            raise PilotStateError(
                f"Firework {fw_id} is {doc['state']}, not READY, so it cannot be launched again; "
                "delete the pilot and add a new one"
            )
        category = doc.get("spec", {}).get("_category", "")
        fw, launch_id = launchpad.reserve_fw(FWorker(name=FWORKER_NAME, category=category), str(folder), fw_id=fw_id)
        if fw is None:
            raise PilotStateError(f"Firework {fw_id} was reserved by another client at the same time")
        session.add_undo(f"reservation of fw_id {fw_id}", lambda: launchpad.cancel_reservation(launch_id))
        with contextlib.chdir(folder):
            setup_offline_job(launchpad, fw, launch_id)
        session.add_undo(
            f"offline run of launch {launch_id}",
            lambda: launchpad.offline_runs.delete_many({"launch_id": launch_id}),
        )
    logger.info("reserved fw_id %d as launch %d in %s", fw_id, launch_id, folder)
    return int(launch_id)


def record_job_id(session: LaunchpadSession, fw_id: int, job_id: str | int) -> None:
    """Store the Slurm job id in `spec.jiriaf.slurm_job_id` of pilot `fw_id`, changing no other key.

    A dotted `$set` is used instead of `LaunchPad.update_spec`, which skips RESERVED Fireworks. Raises
    ValueError unless `job_id` is a plain Slurm job id (digits), and PilotNotFoundError for an unknown pilot.
    """
    text = str(job_id)
    if isinstance(job_id, bool) or not _SLURM_JOB_ID.fullmatch(text):
        raise ValueError(f"Slurm job id must be digits only, got {job_id!r}")
    with translate_errors(f"record Slurm job {text} for fw_id {fw_id}", session.location):
        result = session.lp.fireworks.update_one(
            {"fw_id": fw_id, f"spec.{JIRIAF_SPEC_KEY}": {"$exists": True}},
            {"$set": {f"spec.{JIRIAF_SPEC_KEY}.slurm_job_id": text}},
        )
    if result.matched_count == 0:
        raise PilotNotFoundError(f"no pilot with fw_id {fw_id} on launchpad {session.location}")
    logger.info("recorded Slurm job %s for fw_id %d", text, fw_id)


def recover_offline_runs(session: LaunchpadSession) -> list[int]:
    """Update every open offline run from its `FW_offline.json`; return the fw_ids whose state changed.

    Open runs are those neither completed nor deprecated. A run whose launch directory or `FW_offline.json`
    has vanished, or whose file cannot be read yet, is skipped with a warning and stays open: FireWorks would
    mark it FIZZLED, which is wrong for a job still queued or writing. Use `mark_pilot_lost` once Slurm
    reports that the job ended.
    """
    launchpad = session.lp
    with translate_errors("list offline runs", session.location):
        runs = list(launchpad.offline_runs.find({"completed": False, "deprecated": False}, {"launch_id": 1}))
    changed: list[int] = []
    for run in runs:
        fw_id = _recover_one(session, run["launch_id"])
        if fw_id is not None and fw_id not in changed:
            changed.append(fw_id)
    return changed


def _recover_one(session: LaunchpadSession, launch_id: int) -> int | None:
    """Recover one offline launch; return its fw_id when the Firework's state changed."""
    launchpad = session.lp
    with translate_errors(f"recover offline launch {launch_id}", session.location):
        launch = launchpad.launches.find_one({"launch_id": launch_id}, {"fw_id": 1, "launch_dir": 1})
        if launch is None:
            logger.warning("offline launch %d has no launch record; marking the offline run deprecated", launch_id)
            launchpad.forget_offline(launch_id)
            return None
        fw_id = launch["fw_id"]
        offline_file = Path(zpath(str(Path(launch["launch_dir"]) / "FW_offline.json")))
        if not offline_file.is_file():
            logger.warning(
                "fw_id %d: %s is missing (launch directory removed?); leaving launch %d as it is",
                fw_id, offline_file, launch_id,
            )
            return None
        if not _rocket_has_started(offline_file, fw_id):
            return None
        before = _state_of(session, fw_id)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            failed = launchpad.recover_offline(launch_id, ignore_errors=True, print_errors=False)
        for warning in caught:
            logger.debug("FireWorks warned while recovering launch %d: %s", launch_id, warning.message)
        if failed is not None:
            logger.warning("fw_id %d: cannot read %s yet; will retry on the next recovery", fw_id, offline_file)
        after = _state_of(session, fw_id)
    if after != before:
        logger.info("fw_id %d went from %s to %s", fw_id, before, after)
        return fw_id
    return None


def _rocket_has_started(offline_file: Path, fw_id: int) -> bool:
    """Tell whether the rocket wrote its start or its outcome into `FW_offline.json`.

    FireWorks' `recover_offline` marks the Firework RUNNING even when the file contains only the launch id,
    which is the case while the Slurm job is still queued. Skipping such files keeps a queued pilot RESERVED.
    """
    try:
        content = loadfn(str(offline_file))
    except (OSError, ValueError) as exc:
        logger.warning("fw_id %d: cannot read %s yet (%s); will retry on the next recovery", fw_id, offline_file, exc)
        return False
    return isinstance(content, Mapping) and ("started_on" in content or "fwaction" in content)


def _state_of(session: LaunchpadSession, fw_id: int) -> str | None:
    doc = session.lp.fireworks.find_one({"fw_id": fw_id}, {"state": 1})
    return None if doc is None else doc["state"]


def mark_pilot_lost(session: LaunchpadSession, fw_id: int, reason: str) -> bool:
    """Mark a RESERVED or RUNNING pilot whose Slurm job ended without an outcome as FIZZLED.

    First recovers the pilot's open offline runs, in case the rocket did write its outcome. Then every
    RESERVED or RUNNING launch is completed as FIZZLED with `reason` in its stored data, the offline runs are
    closed, and `reason` is stored in `spec.jiriaf.lost_reason`. Returns True when it changed the pilot, and
    False when the pilot had already finished (COMPLETED, FIZZLED, DEFUSED, ARCHIVED), so a second call is a
    no-op. Raises PilotNotFoundError, or PilotStateError for a pilot that was never launched (READY, ...).
    """
    if not isinstance(reason, str) or not reason.strip():
        raise ValueError(f"reason must be a non-empty string, got {reason!r}")
    launchpad = session.lp
    with translate_errors(f"mark fw_id {fw_id} lost", session.location):
        doc = launchpad.fireworks.find_one({"fw_id": fw_id}, {"state": 1, "launches": 1})
        if doc is None:
            raise PilotNotFoundError(f"no Firework with fw_id {fw_id} on launchpad {session.location}")
        for run in launchpad.offline_runs.find({"fw_id": fw_id, "completed": False, "deprecated": False}):
            _recover_one(session, run["launch_id"])
        state = _state_of(session, fw_id)
        if state in _FINISHED_STATES:
            logger.debug("fw_id %d is %s already; not marking it lost", fw_id, state)
            return False
        if state not in _ACTIVE_STATES:
            raise PilotStateError(
                f"Firework {fw_id} is {state}, so no Slurm job of it can have ended; only RESERVED or RUNNING "
                "pilots can be marked lost"
            )
        _fizzle_active_launches(session, fw_id, doc.get("launches", []), reason.strip())
        launchpad.fireworks.update_one(
            {"fw_id": fw_id}, {"$set": {f"spec.{JIRIAF_SPEC_KEY}.lost_reason": reason.strip()}}
        )
        state = _state_of(session, fw_id)
    logger.info("marked fw_id %d lost (%s); it is now %s", fw_id, reason.strip(), state)
    return True


def _fizzle_active_launches(session: LaunchpadSession, fw_id: int, launch_ids: list[int], reason: str) -> None:
    """Complete the Firework's RESERVED/RUNNING launches as FIZZLED; defuse it if it has none."""
    launchpad = session.lp
    active = [
        doc["launch_id"]
        for doc in launchpad.launches.find(
            {"launch_id": {"$in": launch_ids}, "state": {"$in": list(_ACTIVE_STATES)}}, {"launch_id": 1}
        )
    ]
    action = FWAction(stored_data={"_message": f"pilot lost: {reason}", "jiriaf_lost_reason": reason})
    for launch_id in active:
        launchpad.complete_launch(launch_id, action, "FIZZLED")
    launchpad.offline_runs.update_many({"launch_id": {"$in": launch_ids}}, {"$set": {"completed": True}})
    if not active:
        logger.warning("fw_id %d has no RESERVED or RUNNING launch; defusing it instead", fw_id)
        launchpad.defuse_fw(fw_id)


def delete_pilot_workflow(session: LaunchpadSession, fw_id: int) -> bool:
    """Delete the workflow holding `fw_id`, its Fireworks, launches and offline runs; return whether it existed.

    Launch directories and ports are left alone: release the pilot's ports with `release_ports` in the same
    session. The deletion is not undone when the session block raises on MongoDB.
    """
    with translate_errors(f"delete the workflow of fw_id {fw_id}", session.location):
        if session.lp.workflows.find_one({"nodes": fw_id}, {"_id": 1}) is None:
            return False
        _delete_workflow(session, fw_id)
    logger.info("deleted the workflow of fw_id %d", fw_id)
    return True


def _delete_workflow(session: LaunchpadSession, fw_id: int) -> None:
    # LaunchPad.delete_wf prints its progress; stdout carries the CLI's data, so it goes to the debug log.
    with contextlib.redirect_stdout(io.StringIO()) as printed:
        session.lp.delete_wf(fw_id)
    for line in printed.getvalue().splitlines():
        logger.debug("FireWorks: %s", line)
