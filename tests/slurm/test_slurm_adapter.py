"""The Slurm adapter with a scripted runner: the argv it sends and how it reads replies and failures.

The replies are what Slurm 22.05 printed on the local test cluster; the real cluster is exercised in
test_slurm_local.py.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pytest

from jiriaf_fw.adapters import slurm
from jiriaf_fw.adapters.commands import (
    CommandError,
    CommandNotFoundError,
    CommandResult,
    CommandRunner,
    CommandTimeoutError,
    PathArg,
)
from jiriaf_fw.core.walltime import SlurmDuration


@dataclass
class ScriptedRunner:
    """A CommandRunner that returns prepared replies in order and records each call's argv and env.

    A reply is (returncode, stdout, stderr), or an exception to raise. It rejects calls beyond the script.
    """

    replies: list[tuple[int, str, str] | CommandError]
    calls: list[tuple[tuple[str, ...], dict[str, str]]] = field(default_factory=list)

    def run(self, argv: Sequence[str], *, input: str | None = None, timeout_s: float | None = 60.0,
            env: Mapping[str, str] | None = None, cwd: PathArg | None = None,
            check: bool = True) -> CommandResult:
        self.calls.append((tuple(argv), dict(env or {})))
        assert self.replies, f"unexpected command {argv}"
        reply = self.replies.pop(0)
        if isinstance(reply, CommandError):
            raise reply
        returncode, stdout, stderr = reply
        if check and returncode != 0:
            raise CommandError(argv, returncode, stdout, stderr)
        return CommandResult(tuple(argv), returncode, stdout, stderr)


def test_scripted_runner_is_a_command_runner() -> None:
    runner: CommandRunner = ScriptedRunner([])
    assert runner.run is not None


def test_submit_argv_and_cluster_suffix() -> None:
    runner = ScriptedRunner([(0, "1234;cluster1\n", "")])
    job_id = slurm.submit("/work/job.sh", runner=runner, extra_env={"A": "1"}, options=["--hold"])
    assert job_id == "1234"
    assert runner.calls == [(("sbatch", "--parsable", "--hold", "/work/job.sh"), {"A": "1"})]


def test_submit_without_job_id_fails() -> None:
    runner = ScriptedRunner([(0, "Submitted batch job 5\n", "")])
    with pytest.raises(slurm.SlurmSubmitError, match="sbatch gave no job id for /work/job.sh"):
        slurm.submit("/work/job.sh", runner=runner)


def test_submit_missing_sbatch() -> None:
    missing = CommandNotFoundError(["sbatch"], None, "", "", "command 'sbatch' not found")
    runner = ScriptedRunner([missing])
    with pytest.raises(slurm.SlurmSubmitError, match="command 'sbatch' not found") as caught:
        slurm.submit("/work/job.sh", runner=runner)
    assert caught.value.__cause__ is missing


def test_submit_timeout_named() -> None:
    runner = ScriptedRunner([CommandTimeoutError(["sbatch", "x"], 60.0, -9, "", "")])
    with pytest.raises(slurm.SlurmSubmitError, match="timed out after 60 s"):
        slurm.submit("x", runner=runner)


def test_query_argv_and_records() -> None:
    runner = ScriptedRunner([(0, "3|RUNNING|23:59:59|n[1-2]|None|wrap\n7|COMPLETED|UNLIMITED|n2|None|wrap\n", "")])
    jobs = slurm.query_jobs(["3", "7", "3", "8"], runner=runner)
    assert runner.calls[0][0] == ("squeue", "-h", "-t", "all", "-j", "3,7,8", "-o", "%i|%T|%L|%N|%r|%j")
    assert list(jobs) == ["3", "7", "8"]
    assert jobs["3"].time_left == SlurmDuration.limited(86399)
    assert jobs["3"].nodes == ("n1", "n2")
    assert jobs["7"].state == "COMPLETED"
    assert jobs["8"].state == "GONE"


def test_query_single_unknown_id_exit_1_is_gone() -> None:
    runner = ScriptedRunner([(1, "", "slurm_load_jobs error: Invalid job id specified\n")])
    assert slurm.query_jobs(["99999"], runner=runner)["99999"].state == "GONE"


def test_query_several_ids_exit_1_retries() -> None:
    invalid = (1, "", "slurm_load_jobs error: Invalid job id specified\n")
    runner = ScriptedRunner([invalid, (0, "4|RUNNING|1:00|n1|None|a\n", ""), invalid])
    jobs = slurm.query_jobs(["4", "5"], runner=runner)
    assert jobs["4"].state == "RUNNING"
    assert jobs["5"].state == "GONE"
    assert [call[0][5] for call in runner.calls] == ["4,5", "4", "5"]


def test_query_controller_down() -> None:
    runner = ScriptedRunner([(1, "", "slurm_load_jobs error: Unable to contact slurm controller (connect failure)\n")])
    with pytest.raises(slurm.SlurmQueryError) as caught:
        slurm.query_jobs(["1"], runner=runner)
    assert str(caught.value) == (
        "squeue could not list jobs 1: Unable to contact slurm controller (connect failure)"
    )
    assert isinstance(caught.value.__cause__, CommandError)


def test_query_unreadable_line() -> None:
    runner = ScriptedRunner([(0, "1|RUNNING|soon|n1|None|x\n", "")])
    with pytest.raises(slurm.SlurmQueryError, match="could not read squeue's listing of jobs 1"):
        slurm.query_jobs(["1"], runner=runner)


def test_query_leaves_out_array_task_rows() -> None:
    runner = ScriptedRunner([(0, "12_1|RUNNING|1:00|n1|None|a\n12_2|PENDING|1:00||Resources|a\n", "")])
    assert slurm.query_jobs(["12"], runner=runner)["12"].state == "GONE"


def test_cancel_checks_the_job_afterwards() -> None:
    runner = ScriptedRunner([(0, "", ""), (0, "6|CANCELLED|1:00|n1|None|a\n", "")])
    assert slurm.cancel("6", runner=runner).state == "CANCELLED"
    assert runner.calls[0][0] == ("scancel", "6")
    assert runner.calls[1][0][0] == "squeue"


def test_cancel_unknown_job_strict() -> None:
    runner = ScriptedRunner([(0, "", ""), (1, "", "slurm_load_jobs error: Invalid job id specified\n")])
    with pytest.raises(slurm.SlurmJobNotFoundError, match="cannot cancel Slurm job 99"):
        slurm.cancel("99", runner=runner, missing_ok=False)


def test_cancel_failure() -> None:
    stderr = "scancel: error: Kill job error on job id 2: Access/permission denied\n"
    runner = ScriptedRunner([(1, "", stderr)])
    with pytest.raises(slurm.SlurmCancelError) as caught:
        slurm.cancel("2", runner=runner)
    assert str(caught.value) == (
        "scancel could not cancel job 2: Kill job error on job id 2: Access/permission denied (exit code 1)"
    )


def test_wait_polls_until_ended() -> None:
    runner = ScriptedRunner([(0, "6|RUNNING|1:00|n1|None|a\n", ""), (0, "6|COMPLETING|1:00|n1|None|a\n", ""),
                             (0, "6|COMPLETED|1:00|n1|None|a\n", "")])
    assert slurm.wait_until_ended("6", 30.0, runner=runner, poll_interval_s=0.01).state == "COMPLETED"
    assert len(runner.calls) == 3


def test_show_job_record() -> None:
    runner = ScriptedRunner([(0, "JobId=3 JobName=wrap JobState=FAILED ExitCode=3:0 StdOut=/tmp/o\n", "")])
    record = slurm.show_job("3", runner=runner)
    assert runner.calls[0][0] == ("scontrol", "show", "job", "-o", "3")
    assert record["ExitCode"] == "3:0"


@pytest.mark.parametrize("job_id", ["", "abc", "1;rm -rf /", "-1", "12_3", "0", "1 2"])
def test_invalid_job_id_rejected(job_id: str) -> None:
    runner = ScriptedRunner([])
    with pytest.raises(slurm.InvalidJobIdError, match="invalid Slurm job id"):
        slurm.query_jobs([job_id], runner=runner)
    with pytest.raises(slurm.InvalidJobIdError, match="invalid Slurm job id"):
        slurm.cancel(job_id, runner=runner)
    assert runner.calls == []


def test_empty_query_runs_nothing() -> None:
    runner = ScriptedRunner([])
    assert slurm.query_jobs([], runner=runner) == {}
    assert runner.calls == []
