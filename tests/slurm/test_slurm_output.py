"""Parsers of sbatch, squeue and scontrol output, against lines printed by Slurm 22.05 (Debian 12)."""

from __future__ import annotations

import pytest

from jiriaf_fw.core.slurm_output import (
    GONE,
    SlurmOutputError,
    expand_hostlist,
    gone_job,
    is_job_id,
    parse_sbatch_parsable,
    parse_scontrol_record,
    parse_squeue_line,
    parse_squeue_output,
    slurm_error_summary,
)
from jiriaf_fw.core.walltime import UNKNOWN, UNLIMITED, SlurmDuration

# Lines of `squeue -h -t all -o '%i|%T|%L|%N|%r|%j'`, with the job id, state, time left, nodes, reason, name.
SQUEUE_LINES = [
    ("1|RUNNING|1:59|n1|None|wrap", "1", "RUNNING", SlurmDuration.limited(119), ("n1",), "None", "wrap"),
    ("5|RUNNING|0:59|n2|None|wrap", "5", "RUNNING", SlurmDuration.limited(59), ("n2",), "None", "wrap"),
    ("4|RUNNING|1:29:59|n1|None|wrap", "4", "RUNNING", SlurmDuration.limited(5399), ("n1",), "None", "wrap"),
    ("3|RUNNING|23:59:59|n[1-2]|None|wrap", "3", "RUNNING", SlurmDuration.limited(86399), ("n1", "n2"),
     "None", "wrap"),
    ("4|RUNNING|1-23:59:57|localhost|None|long", "4", "RUNNING", SlurmDuration.limited(172797),
     ("localhost",), "None", "long"),
    ("2|RUNNING|UNLIMITED|n1|None|my|job name", "2", "RUNNING", UNLIMITED, ("n1",), "None", "my|job name"),
    ("8|PENDING|2:00||Resources|wrap", "8", "PENDING", SlurmDuration.limited(120), (), "Resources", "wrap"),
    ("6|PENDING|UNLIMITED||JobHeldUser|wrap", "6", "PENDING", UNLIMITED, (), "JobHeldUser", "wrap"),
    ("8|PENDING|UNLIMITED||PartitionNodeLimit|wrap", "8", "PENDING", UNLIMITED, (), "PartitionNodeLimit",
     "wrap"),
    ("7|COMPLETED|UNLIMITED|n2|None|wrap", "7", "COMPLETED", UNKNOWN, ("n2",), "None", "wrap"),
    ("1|CANCELLED|1:56|n1|None|wrap", "1", "CANCELLED", UNKNOWN, ("n1",), "None", "wrap"),
    ("5|TIMEOUT|INVALID|n2|TimeLimit|wrap", "5", "TIMEOUT", UNKNOWN, ("n2",), "TimeLimit", "wrap"),
    ("10|FAILED|UNLIMITED|n2|NonZeroExitCode|wrap", "10", "FAILED", UNKNOWN, ("n2",), "NonZeroExitCode",
     "wrap"),
    ("9|FAILED|UNLIMITED||BadConstraints|wrap", "9", "FAILED", UNKNOWN, (), "BadConstraints", "wrap"),
    ("12_3|RUNNING|9:28|n1|None|array", "12_3", "RUNNING", SlurmDuration.limited(568), ("n1",), "None",
     "array"),
    ("13|RUNNING|NOT_SET|n1|None|x", "13", "RUNNING", UNKNOWN, ("n1",), "None", "x"),
    ("14|RUNNING|INVALID|n1|None|x", "14", "RUNNING", UNKNOWN, ("n1",), "None", "x"),
]


@pytest.mark.parametrize(
    ("line", "job_id", "state", "time_left", "nodes", "reason", "name"),
    SQUEUE_LINES,
    ids=[row[0] for row in SQUEUE_LINES],
)
def test_squeue_line_fields(line: str, job_id: str, state: str, time_left: SlurmDuration,
                            nodes: tuple[str, ...], reason: str, name: str) -> None:
    job = parse_squeue_line(line)
    assert job.job_id == job_id
    assert job.state == state
    assert job.time_left == time_left
    assert job.nodes == nodes
    assert job.reason == reason
    assert job.name == name


def test_squeue_ended_job_time_left_text() -> None:
    job = parse_squeue_line("1|CANCELLED|1:56|n1|None|wrap")
    assert job.time_left_text == "1:56"
    assert job.ended
    assert not job.active


def test_squeue_running_job_is_active() -> None:
    job = parse_squeue_line("3|RUNNING|23:59:59|n[1-2]|None|wrap")
    assert job.active
    assert not job.ended
    assert job.nodelist == "n[1-2]"


@pytest.mark.parametrize(
    "line",
    ["", "1|RUNNING|1:00|n1|None", "abc|RUNNING|1:00|n1|None|x", "1||1:00|n1|None|x",
     "1|RUNNING|soon|n1|None|x", "1|RUNNING|1:75|n1|None|x", "1|RUNNING|1:00|n[1-|None|x"],
)
def test_squeue_line_rejected(line: str) -> None:
    with pytest.raises(SlurmOutputError) as caught:
        parse_squeue_line(line)
    assert str(caught.value).startswith(f"squeue printed {line!r}")


def test_squeue_output_skips_blank_lines() -> None:
    jobs = parse_squeue_output("1|RUNNING|1:59|n1|None|wrap\n\n7|COMPLETED|UNLIMITED|n2|None|wrap\n")
    assert [job.job_id for job in jobs] == ["1", "7"]


def test_gone_job_has_ended_with_unknown_time_left() -> None:
    job = gone_job("42")
    assert job.state == GONE
    assert job.ended
    assert job.time_left == UNKNOWN
    assert job.nodes == ()


@pytest.mark.parametrize(
    ("stdout", "job_id"),
    [("8\n", "8"), ("1234;cluster1\n", "1234"), ("  77  \n", "77"), ("\n55;c\nextra\n", "55")],
)
def test_sbatch_parsable_job_id(stdout: str, job_id: str) -> None:
    assert parse_sbatch_parsable(stdout) == job_id


@pytest.mark.parametrize("stdout", ["", "\n", "Submitted batch job 8\n", "-1\n", ";cluster\n", "0\n"])
def test_sbatch_parsable_rejected(stdout: str) -> None:
    with pytest.raises(SlurmOutputError, match="sbatch --parsable"):
        parse_sbatch_parsable(stdout)


# stderr of failed Slurm commands, and the one line made of it.
ERROR_OUTPUTS = [
    (
        (
            "sbatch: error: invalid partition specified: nope\n"
            "sbatch: error: Batch job submission failed: Invalid partition name specified\n"
        ),
        "invalid partition specified: nope; Batch job submission failed: Invalid partition name specified",
    ),
    ("sbatch: error: Unable to open file /tmp/jx/missing.sh\n", "Unable to open file /tmp/jx/missing.sh"),
    ("sbatch: error: Invalid --time specification\n", "Invalid --time specification"),
    (
        (
            "sbatch: error: This does not look like a batch script.  The first\n"
            "sbatch: error: line must start with #! followed by the path to an interpreter.\n"
            "sbatch: error: For instance: #!/bin/sh\n"
        ),
        (
            "This does not look like a batch script. The first line must start with #! followed by the "
            "path to an interpreter.; For instance: #!/bin/sh"
        ),
    ),
    (
        (
            "sbatch: error: Memory specification can not be satisfied\n"
            "sbatch: error: Batch job submission failed: Requested node configuration is not available\n"
        ),
        (
            "Memory specification can not be satisfied; "
            "Batch job submission failed: Requested node configuration is not available"
        ),
    ),
    ("sbatch: error: Batch job submission failed: Unable to contact slurm controller (connect failure)\n",
     "Batch job submission failed: Unable to contact slurm controller (connect failure)"),
    (
        "sbatch: error: ClusterName needs to be specified\nsbatch: fatal: Unable to process configuration file\n",
        "ClusterName needs to be specified; Unable to process configuration file",
    ),
    ("slurm_load_jobs error: Invalid job id specified\n", "Invalid job id specified"),
    ("slurm_load_jobs error: Unable to contact slurm controller (connect failure)\n",
     "Unable to contact slurm controller (connect failure)"),
    ("scancel: error: Kill job error on job id 2: Unable to contact slurm controller (connect failure)\n",
     "Kill job error on job id 2: Unable to contact slurm controller (connect failure)"),
    ("squeue: error: Invalid job id: abc\n", "Invalid job id: abc"),
    ("something odd happened\nand then this\n", "and then this"),
    ("", "(no error output)"),
]


@pytest.mark.parametrize(("stderr", "summary"), ERROR_OUTPUTS)
def test_slurm_error_summary(stderr: str, summary: str) -> None:
    assert slurm_error_summary(stderr) == summary


@pytest.mark.parametrize(
    ("hostlist", "names"),
    [
        ("", ()),
        ("n1", ("n1",)),
        ("n[1-2]", ("n1", "n2")),
        ("n1,n2", ("n1", "n2")),
        ("node[01-03,7],gpu5", ("node01", "node02", "node03", "node7", "gpu5")),
        ("n[08-10]", ("n08", "n09", "n10")),
        ("rack[1-2]-n[1-2]", ("rack1-n1", "rack1-n2", "rack2-n1", "rack2-n2")),
    ],
)
def test_hostlist_expansion(hostlist: str, names: tuple[str, ...]) -> None:
    assert expand_hostlist(hostlist) == names


@pytest.mark.parametrize("hostlist", ["n[1-2", "n1-2]", "n[[1]]", "n[a-b]", "n[3-1]", "n[]", "n[0-999999]"])
def test_hostlist_rejected(hostlist: str) -> None:
    with pytest.raises(SlurmOutputError, match="host list"):
        expand_hostlist(hostlist)


SCONTROL_LINE = (
    "JobId=3 JobName=wrap UserId=root(0) GroupId=root(0) MCS_label=N/A Priority=4294901757 Nice=0 "
    "Account=(null) QOS=(null) JobState=RUNNING Reason=None Dependency=(null) Requeue=1 Restarts=0 "
    "BatchFlag=1 Reboot=0 ExitCode=0:0 RunTime=00:00:05 TimeLimit=1-00:00:00 TimeMin=N/A "
    "SubmitTime=2026-12-04T20:05:38 EligibleTime=2026-12-04T20:05:38 AccrueTime=2026-12-04T20:05:38 "
    "StartTime=2026-12-04T20:05:39 EndTime=2026-12-05T20:05:39 Deadline=N/A SuspendTime=None "
    "SecsPreSuspend=0 LastSchedEval=2026-12-04T20:05:39 Scheduler=Main Partition=debug "
    "AllocNode:Sid=localhost:4864 ReqNodeList=(null) ExcNodeList=(null) NodeList=n[1-2] BatchHost=n1 "
    "NumNodes=2 NumCPUs=2 NumTasks=2 CPUs/Task=1 ReqB:S:C:T=0:0:*:* TRES=cpu=2,node=2,billing=2 "
    "Socks/Node=* NtasksPerN:B:S:C=0:0:*:* CoreSpec=* MinCPUsNode=1 MinMemoryNode=0 MinTmpDiskNode=0 "
    "Features=(null) DelayBoot=00:00:00 OverSubscribe=OK Contiguous=0 Licenses=(null) Network=(null) "
    "Command=(null) WorkDir=/tmp/jx StdErr=/tmp/jx/c.out StdIn=/dev/null StdOut=/tmp/jx/c.out Power= "
)


def test_scontrol_record_fields() -> None:
    record = parse_scontrol_record(SCONTROL_LINE)
    assert record["JobId"] == "3"
    assert record["JobState"] == "RUNNING"
    assert record["ExitCode"] == "0:0"
    assert record["TimeLimit"] == "1-00:00:00"
    assert record["NodeList"] == "n[1-2]"
    assert record["TRES"] == "cpu=2,node=2,billing=2"
    assert record["AllocNode:Sid"] == "localhost:4864"
    assert record["StdOut"] == "/tmp/jx/c.out"
    assert record["Power"] == ""


def test_scontrol_value_with_spaces() -> None:
    record = parse_scontrol_record("JobId=4 JobName=my job WorkDir=/tmp/a b StdOut=/tmp/a b/out")
    assert record["JobName"] == "my job"
    assert record["WorkDir"] == "/tmp/a b"


@pytest.mark.parametrize("line", ["", "no pairs here", " =x"])
def test_scontrol_record_rejected(line: str) -> None:
    with pytest.raises(SlurmOutputError, match="scontrol"):
        parse_scontrol_record(line)


@pytest.mark.parametrize(("text", "valid"), [("1", True), ("123456", True), ("0", False), ("007", False),
                                             ("12_3", False), ("-1", False), ("1;c", False), ("", False)])
def test_job_id_check(text: str, valid: bool) -> None:
    assert is_job_id(text) is valid
