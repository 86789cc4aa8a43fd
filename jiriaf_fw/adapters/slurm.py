"""Slurm through its client commands (sbatch, squeue, scancel, scontrol), run by a `CommandRunner`.

Every function takes the runner that reaches the cluster: `LocalRunner()` (the default) on a login node,
or a remote runner. Each failure raises a `SlurmError` subclass whose message is one line, with Slurm's own
error text, and whose cause is the `CommandError`.

This module relies on these facts about Slurm 22.05. `scancel` of an unknown or finished job exits 0 and
prints nothing. `squeue -j <one unknown id>` exits 1 with "Invalid job id specified", but several unknown
ids give an empty listing and exit 0. Finished jobs are listed only with `-t all`, and only for MinJobAge
seconds (300 by default) after they end.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable, Mapping, Sequence

from jiriaf_fw.adapters.commands import (
    CommandError,
    CommandRunner,
    CommandTimeoutError,
    LocalRunner,
    PathArg,
)
from jiriaf_fw.core.errors import JiriafError
from jiriaf_fw.core.slurm_output import (
    INVALID_JOB_ID_TEXT,
    SQUEUE_FORMAT,
    SlurmJob,
    SlurmOutputError,
    gone_job,
    is_job_id,
    parse_sbatch_parsable,
    parse_scontrol_record,
    parse_squeue_output,
    slurm_error_summary,
)
from jiriaf_fw.core.walltime import SlurmDuration

logger = logging.getLogger(__name__)

SLURM_COMMAND_TIMEOUT_S = 60.0
"""Seconds a Slurm client command may run. They give up by themselves after about 10 s (Slurm's default
MessageTimeout) when the controller cannot be reached, so this only catches a hung command."""

DEFAULT_POLL_INTERVAL_S = 0.5
"""Seconds between two squeue calls while waiting for a job to end."""

_LOCAL = LocalRunner()


class SlurmError(JiriafError):
    """A Slurm command failed or printed something unexpected."""


class InvalidJobIdError(SlurmError):
    """A job id is not a positive decimal number, so it is never passed to a Slurm command."""

    exit_code = 2


class SlurmSubmitError(SlurmError):
    """sbatch rejected a job script, or did not print a job id."""


class SlurmQueryError(SlurmError):
    """squeue or scontrol failed, for example because the controller cannot be reached."""


class SlurmCancelError(SlurmError):
    """scancel failed."""


class SlurmJobNotFoundError(SlurmError):
    """Slurm does not know the job: it never existed, or it ended more than MinJobAge seconds ago."""


class SlurmWaitTimeoutError(SlurmError):
    """A job did not end before the deadline given to `wait_until_ended`."""


def submit(
    script_path: PathArg,
    *,
    runner: CommandRunner = _LOCAL,
    extra_env: Mapping[str, str] | None = None,
    options: Sequence[str] = (),
    cwd: PathArg | None = None,
) -> str:
    """Submit a batch script with `sbatch --parsable [options] script_path` and return the job id.

    `extra_env` is added to sbatch's environment, which the job inherits (sbatch's default `--export=ALL`).
    `cwd` is where sbatch runs, and so the job's default working directory. The `;cluster` suffix of a
    federated cluster is dropped.
    Raises SlurmSubmitError with sbatch's error text (for example "Invalid partition name specified").
    """
    script = os.fspath(script_path)
    argv = ["sbatch", "--parsable", *options, script]
    try:
        result = runner.run(argv, env=extra_env, cwd=cwd, timeout_s=SLURM_COMMAND_TIMEOUT_S)
    except CommandError as exc:
        raise SlurmSubmitError(f"sbatch could not submit {script}: {_command_failure(exc)}") from exc
    try:
        job_id = parse_sbatch_parsable(result.stdout)
    except SlurmOutputError as exc:
        raise SlurmSubmitError(f"sbatch gave no job id for {script}: {exc}") from exc
    logger.info("submitted %s as Slurm job %s", script, job_id)
    return job_id


def query_jobs(job_ids: Iterable[str], *, runner: CommandRunner = _LOCAL) -> dict[str, SlurmJob]:
    """Return the squeue record of each job id, in any state (`squeue -t all`).

    A job that squeue does not list gets a record with state `GONE` and no nodes. An empty `job_ids`
    returns an empty dict without running squeue. Rows squeue adds for array tasks are left out.
    Raises InvalidJobIdError before running anything, and SlurmQueryError when squeue fails.
    """
    ids = list(dict.fromkeys(_checked_job_id(job_id) for job_id in job_ids))
    if not ids:
        return {}
    argv = ["squeue", "-h", "-t", "all", "-j", ",".join(ids), "-o", SQUEUE_FORMAT]
    try:
        result = runner.run(argv, check=False, timeout_s=SLURM_COMMAND_TIMEOUT_S)
    except CommandError as exc:
        raise SlurmQueryError(f"squeue could not list jobs {','.join(ids)}: {_command_failure(exc)}") from exc
    if result.returncode != 0:
        if INVALID_JOB_ID_TEXT in result.stderr:
            if len(ids) == 1:
                return {ids[0]: gone_job(ids[0])}
            # squeue normally exits 0 for several ids, so ask one id at a time if this Slurm version does not.
            return {job_id: query_jobs([job_id], runner=runner)[job_id] for job_id in ids}
        failure = CommandError(result.argv, result.returncode, result.stdout, result.stderr)
        raise SlurmQueryError(
            f"squeue could not list jobs {','.join(ids)}: {slurm_error_summary(result.stderr)}"
        ) from failure
    try:
        listed = {job.job_id: job for job in parse_squeue_output(result.stdout)}
    except SlurmOutputError as exc:
        raise SlurmQueryError(f"could not read squeue's listing of jobs {','.join(ids)}: {exc}") from exc
    return {job_id: listed.get(job_id) or gone_job(job_id) for job_id in ids}


def query_job(job_id: str, *, runner: CommandRunner = _LOCAL) -> SlurmJob:
    """Return the squeue record of one job (state `GONE` when squeue does not list it)."""
    return query_jobs([job_id], runner=runner)[job_id]


def time_left(job_id: str, *, runner: CommandRunner = _LOCAL) -> SlurmDuration:
    """Return the time the job has left: limited, UNLIMITED, or UNKNOWN once it has ended or is gone."""
    return query_job(job_id, runner=runner).time_left


def cancel(job_id: str, *, runner: CommandRunner = _LOCAL, missing_ok: bool = True) -> SlurmJob:
    """Cancel a job with scancel, then return its squeue record, as it is right after the cancel request.

    Cancelling is asynchronous: the record may still show RUNNING or COMPLETING, so call
    `wait_until_ended` to wait for the end. Because scancel exits 0 even for an unknown job id, the job
    is looked up afterwards. A job squeue does not list raises SlurmJobNotFoundError unless `missing_ok`,
    which is the default because a job that ended long ago is also no longer listed.
    Raises InvalidJobIdError, SlurmCancelError, SlurmQueryError.
    """
    checked = _checked_job_id(job_id)
    try:
        runner.run(["scancel", checked], timeout_s=SLURM_COMMAND_TIMEOUT_S)
    except CommandError as exc:
        raise SlurmCancelError(f"scancel could not cancel job {checked}: {_command_failure(exc)}") from exc
    job = query_job(checked, runner=runner)
    if job.state == "GONE":
        if not missing_ok:
            raise SlurmJobNotFoundError(
                f"cannot cancel Slurm job {checked}: squeue does not list it (it never existed, or it "
                "ended more than MinJobAge seconds ago)"
            )
        logger.info("Slurm job %s was not listed by squeue, so there was nothing to cancel", checked)
    else:
        logger.info("cancel requested for Slurm job %s, now %s", checked, job.state)
    return job


def wait_until_ended(
    job_id: str,
    timeout_s: float,
    *,
    runner: CommandRunner = _LOCAL,
    poll_interval_s: float = DEFAULT_POLL_INTERVAL_S,
) -> SlurmJob:
    """Poll squeue until the job has ended (an ENDED_STATES state, including GONE) and return its record.

    Raises SlurmWaitTimeoutError naming the job's last state when `timeout_s` seconds pass first, and
    InvalidJobIdError or SlurmQueryError like `query_jobs`.
    """
    checked = _checked_job_id(job_id)
    deadline = time.monotonic() + timeout_s
    while True:
        job = query_job(checked, runner=runner)
        if job.ended:
            logger.debug("Slurm job %s ended as %s", checked, job.state)
            return job
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise SlurmWaitTimeoutError(
                f"Slurm job {checked} is still {job.state} after {timeout_s:g} s of waiting for it to end"
            )
        time.sleep(min(poll_interval_s, remaining))


def show_job(job_id: str, *, runner: CommandRunner = _LOCAL) -> dict[str, str]:
    """Return the fields of `scontrol show job -o <job_id>` (JobState, ExitCode, StdOut, NodeList, ...).

    Raises SlurmJobNotFoundError when the controller does not know the job, SlurmQueryError otherwise.
    """
    checked = _checked_job_id(job_id)
    argv = ["scontrol", "show", "job", "-o", checked]
    try:
        result = runner.run(argv, timeout_s=SLURM_COMMAND_TIMEOUT_S)
    except CommandError as exc:
        if INVALID_JOB_ID_TEXT in exc.stderr:
            raise SlurmJobNotFoundError(f"Slurm does not know job {checked} (scontrol show job)") from exc
        raise SlurmQueryError(f"scontrol could not show job {checked}: {_command_failure(exc)}") from exc
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    if not lines:
        raise SlurmQueryError(f"scontrol show job {checked} printed nothing")
    try:
        return parse_scontrol_record(lines[0])
    except SlurmOutputError as exc:
        raise SlurmQueryError(f"could not read scontrol's record of job {checked}: {exc}") from exc


def _checked_job_id(job_id: str) -> str:
    if not isinstance(job_id, str) or not is_job_id(job_id.strip()):
        raise InvalidJobIdError(f"invalid Slurm job id {job_id!r}: expected a positive decimal number")
    return job_id.strip()


def _command_failure(exc: CommandError) -> str:
    """Describe a failed command in a few words: Slurm's error text and the exit code, or the CommandError."""
    if exc.returncode is None or isinstance(exc, CommandTimeoutError):
        return str(exc)
    return f"{slurm_error_summary(exc.stderr)} (exit code {exc.returncode})"
