"""The Slurm adapter against the local Slurm of `scripts/dev.sh slurm-start` (nodes n1 and n2, partition debug)."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from jiriaf_fw.adapters import slurm
from jiriaf_fw.adapters.commands import CommandError, LocalRunner
from jiriaf_fw.core.slurm_output import SlurmJob

pytestmark = pytest.mark.slurm

JOB_END_TIMEOUT_S = 60.0


class JobTracker:
    """Submits test jobs and remembers them, so that the fixture cancels whatever is left running."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.job_ids: list[str] = []

    def submit(self, body: str, *directives: str, extra_env: Mapping[str, str] | None = None) -> str:
        script = self.folder / f"job-{len(self.job_ids)}.sh"
        header = [f"#SBATCH --output={self.folder}/slurm-%j.out", "#SBATCH --time=00:10:00", *directives]
        script.write_text("#!/bin/bash\n" + "".join(f"{line}\n" for line in header) + body + "\n")
        job_id = slurm.submit(script, cwd=self.folder, extra_env=extra_env)
        self.job_ids.append(job_id)
        return job_id

    def output(self, job_id: str) -> str:
        return (self.folder / f"slurm-{job_id}.out").read_text()


@pytest.fixture
def jobs(slurm_env: dict[str, str], tmp_path: Path) -> Iterator[JobTracker]:
    tracker = JobTracker(tmp_path)
    yield tracker
    for job_id in tracker.job_ids:
        slurm.cancel(job_id)
    for job_id in tracker.job_ids:
        slurm.wait_until_ended(job_id, JOB_END_TIMEOUT_S)


def wait_for_state(job_id: str, state: str, timeout_s: float = 30.0) -> SlurmJob:
    """Poll squeue until the job is in `state`; fail the test with its last record otherwise."""
    deadline = time.monotonic() + timeout_s
    job = slurm.query_job(job_id)
    while job.state != state and not job.ended and time.monotonic() < deadline:
        time.sleep(0.2)
        job = slurm.query_job(job_id)
    assert job.state == state, f"job {job_id} did not reach {state}: {job}"
    return job


def test_submitted_job_completes(jobs: JobTracker) -> None:
    job_id = jobs.submit('echo "job $SLURM_JOB_ID sees $JIRIAF_TEST_MARKER"',
                         extra_env={"JIRIAF_TEST_MARKER": "marker value"})
    job = slurm.wait_until_ended(job_id, JOB_END_TIMEOUT_S)
    assert job.state == "COMPLETED"
    assert len(job.nodes) == 1
    assert jobs.output(job_id) == f"job {job_id} sees marker value\n"


def test_failing_job_reported_failed(jobs: JobTracker) -> None:
    job_id = jobs.submit("exit 3")
    job = slurm.wait_until_ended(job_id, JOB_END_TIMEOUT_S)
    assert job.state == "FAILED"
    assert job.reason == "NonZeroExitCode"
    assert slurm.show_job(job_id)["ExitCode"] == "3:0"


def test_running_job_has_time_left(jobs: JobTracker) -> None:
    job_id = jobs.submit("sleep 300")
    wait_for_state(job_id, "RUNNING")
    left = slurm.time_left(job_id)
    assert left.is_limited
    assert left.seconds is not None
    assert 0 < left.seconds <= 600


def test_cancel_running_job(jobs: JobTracker) -> None:
    job_id = jobs.submit("sleep 300")
    wait_for_state(job_id, "RUNNING")
    after_cancel = slurm.cancel(job_id)
    assert after_cancel.job_id == job_id
    assert after_cancel.state != "GONE"
    job = slurm.wait_until_ended(job_id, JOB_END_TIMEOUT_S)
    assert job.state == "CANCELLED"
    assert job.time_left.is_unknown


def test_wait_until_ended_times_out(jobs: JobTracker) -> None:
    job_id = jobs.submit("sleep 300")
    wait_for_state(job_id, "RUNNING")
    with pytest.raises(slurm.SlurmWaitTimeoutError, match=f"job {job_id} is still RUNNING after 0.5 s"):
        slurm.wait_until_ended(job_id, 0.5, poll_interval_s=0.1)


def test_unknown_job_id_is_gone(jobs: JobTracker) -> None:
    known = jobs.submit("true")
    slurm.wait_until_ended(known, JOB_END_TIMEOUT_S)
    assert slurm.query_job("99999999").state == "GONE"
    listed = slurm.query_jobs([known, "99999998", "99999999"])
    assert listed[known].state == "COMPLETED"
    assert listed["99999998"].state == "GONE"
    assert listed["99999999"].state == "GONE"
    assert slurm.time_left("99999999").is_unknown


def test_unknown_job_id_cancel_and_show(slurm_env: dict[str, str]) -> None:
    assert slurm.cancel("99999999").state == "GONE"
    with pytest.raises(slurm.SlurmJobNotFoundError, match="99999999"):
        slurm.cancel("99999999", missing_ok=False)
    with pytest.raises(slurm.SlurmJobNotFoundError, match="99999999"):
        slurm.show_job("99999999")


@pytest.mark.slurm2
def test_two_node_job_runs_step_on_both_nodes(jobs: JobTracker) -> None:
    job_id = jobs.submit('srun -N2 --ntasks-per-node=1 bash -c \'echo "node $SLURM_NODEID on $SLURMD_NODENAME"\'',
                         "#SBATCH --nodes=2")
    job = slurm.wait_until_ended(job_id, JOB_END_TIMEOUT_S)
    assert job.state == "COMPLETED"
    assert job.nodes == ("n1", "n2")
    assert sorted(jobs.output(job_id).splitlines()) == ["node 0 on n1", "node 1 on n2"]


def test_submit_error_has_sbatch_message(jobs: JobTracker) -> None:
    with pytest.raises(slurm.SlurmSubmitError) as caught:
        jobs.submit("true", "#SBATCH --partition=nosuchpartition")
    message = str(caught.value)
    assert "Invalid partition name specified" in message
    assert "exit code 1" in message
    assert "\n" not in message
    assert isinstance(caught.value.__cause__, CommandError)


def test_submit_missing_script(slurm_env: dict[str, str], tmp_path: Path) -> None:
    with pytest.raises(slurm.SlurmSubmitError, match="Unable to open file"):
        slurm.submit(tmp_path / "absent.sh")


def test_unreachable_controller_is_query_error(slurm_env: dict[str, str], tmp_path: Path) -> None:
    conf = Path(slurm_env["SLURM_CONF"]).read_text()
    # Nothing listens on port 1 of 127.0.0.1. MessageTimeout=2 makes the client give up after about 1 s
    # instead of 10 s.
    lines = ["SlurmctldPort=1" if line.startswith("SlurmctldPort=") else line for line in conf.splitlines()]
    unreachable = tmp_path / "slurm.conf"
    unreachable.write_text("\n".join([*lines, "MessageTimeout=2"]) + "\n")
    runner = LocalRunner(env={"SLURM_CONF": str(unreachable)})
    with pytest.raises(slurm.SlurmQueryError, match="Unable to contact slurm controller"):
        slurm.query_jobs(["1", "2"], runner=runner)


@pytest.mark.slurm2
def test_small_jobs_run_side_by_side(jobs: JobTracker) -> None:
    """Several 1-node jobs and a 2-node job run at the same time on the local cluster's two nodes."""
    single = [jobs.submit("sleep 300") for _ in range(3)]
    double = jobs.submit("srun -N2 --ntasks-per-node=1 sleep 300", "#SBATCH --nodes=2")
    deadline = time.monotonic() + 30.0
    states = slurm.query_jobs([*single, double])
    while any(job.state != "RUNNING" for job in states.values()) and time.monotonic() < deadline:
        time.sleep(0.2)
        states = slurm.query_jobs([*single, double])
    assert {job_id: job.state for job_id, job in states.items()} == dict.fromkeys([*single, double], "RUNNING")
    assert states[double].nodes == ("n1", "n2")
