"""Parsers of what sbatch, squeue, scancel and scontrol print. Pure functions; the commands run elsewhere.

The formats were taken from Slurm 22.05 (Debian 12's slurm-wlm). `tests/slurm/test_slurm_output.py` contains
the real output lines these parsers were written against.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from jiriaf_fw.core.errors import JiriafError, WalltimeError
from jiriaf_fw.core.walltime import UNKNOWN, SlurmDuration, parse_duration

SQUEUE_FORMAT = "%i|%T|%L|%N|%r|%j"
"""squeue `-o` format read by `parse_squeue_line`. The job name comes last because it may contain `|`."""

GONE = "GONE"
"""State of a job that squeue no longer lists (it ended more than MinJobAge seconds ago, or never existed)."""

ACTIVE_STATES = frozenset(
    {"PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "SUSPENDED", "RESIZING", "REQUEUED",
     "REQUEUE_FED", "REQUEUE_HOLD", "SIGNALING", "STAGE_OUT", "STOPPED", "RESV_DEL_HOLD"}
)
"""Job states (squeue `%T`) in which the job has or waits for resources."""

ENDED_STATES = frozenset(
    {"BOOT_FAIL", "CANCELLED", "COMPLETED", "DEADLINE", "FAILED", "NODE_FAIL", "OUT_OF_MEMORY",
     "PREEMPTED", "REVOKED", "SPECIAL_EXIT", "TIMEOUT", GONE}
)
"""Job states after which the job never runs again, including `GONE`."""

INVALID_JOB_ID_TEXT = "Invalid job id specified"
"""The stderr text of squeue and scontrol for a job id the controller does not know."""

_JOB_ID = re.compile(r"[1-9][0-9]*")
# squeue also lists array tasks (`12_3`, pending `12_[4-9]`) and heterogeneous job components (`12+0`).
_SQUEUE_JOB_ID = re.compile(r"[1-9][0-9]*(?:_(?:[0-9]+|\[[^\]]*\]))?(?:\+[0-9]+)?")
_ERROR_LINE = re.compile(r"^(?:[\w.-]+:?\s+)?(?:error|fatal):\s*(.*)$")
_SCONTROL_KEY = re.compile(r"(?:^|\s)([A-Za-z][\w/:.-]*)=")
_HOSTLIST_RANGE = re.compile(r"(\d+)(?:-(\d+))?")
_MAX_HOSTS = 100_000


class SlurmOutputError(JiriafError):
    """A Slurm command printed something this parser does not understand. The message quotes it."""


@dataclass(frozen=True)
class SlurmJob:
    """One job as squeue shows it.

    `time_left` is UNKNOWN once the job has ended: squeue then prints the time that was left when the job
    ended, or `INVALID` after a TIMEOUT. `time_left_text` keeps squeue's text either way.
    """

    job_id: str
    state: str
    time_left: SlurmDuration
    time_left_text: str
    nodelist: str
    nodes: tuple[str, ...]
    reason: str
    name: str

    @property
    def ended(self) -> bool:
        """True when the job will never run again (its state is in ENDED_STATES)."""
        return self.state in ENDED_STATES

    @property
    def active(self) -> bool:
        """True while the job is pending, running or finishing (its state is in ACTIVE_STATES)."""
        return self.state in ACTIVE_STATES


def gone_job(job_id: str) -> SlurmJob:
    """Build the record of a job that squeue does not list."""
    return SlurmJob(job_id, GONE, UNKNOWN, "", "", (), "", "")


def is_job_id(text: str) -> bool:
    """True when `text` is a plain Slurm job id (a positive decimal number, no array or het-job suffix)."""
    return _JOB_ID.fullmatch(text) is not None


def parse_sbatch_parsable(stdout: str) -> str:
    """Return the job id from `sbatch --parsable` output, `<id>` or `<id>;<cluster>`.

    Raises SlurmOutputError when the first non-empty line contains no job id.
    """
    lines = [line.strip() for line in stdout.splitlines() if line.strip()]
    if not lines:
        raise SlurmOutputError("sbatch --parsable printed nothing on stdout; expected a job id")
    job_id = lines[0].split(";", 1)[0]
    if not is_job_id(job_id):
        raise SlurmOutputError(f"sbatch --parsable printed {lines[0]!r}; expected '<job id>[;<cluster>]'")
    return job_id


def slurm_error_summary(stderr: str) -> str:
    """Condense the `error:`/`fatal:` lines of a Slurm command's stderr into one line.

    Slurm splits some messages over several lines; a line that starts in lower case continues the one
    before it. Without error lines, the last non-empty line is returned, or `(no error output)`.
    """
    parts: list[str] = []
    for raw in stderr.splitlines():
        match = _ERROR_LINE.match(raw.strip())
        if match is None:
            continue
        text = " ".join(match.group(1).split())
        if not text or text in parts:
            continue
        if parts and text[0].islower():
            parts[-1] = f"{parts[-1]} {text}"
        else:
            parts.append(text)
    if parts:
        return "; ".join(parts)
    lines = [" ".join(line.split()) for line in stderr.splitlines() if line.strip()]
    return lines[-1] if lines else "(no error output)"


def parse_squeue_line(line: str) -> SlurmJob:
    """Parse one line printed by `squeue -h -o SQUEUE_FORMAT`.

    Raises SlurmOutputError quoting the line when it has too few fields, a bad job id, a time left that
    is not a Slurm duration, or a malformed node list.
    """
    fields = line.rstrip("\n").split("|", 5)
    if len(fields) != 6:
        raise SlurmOutputError(f"squeue printed {line!r}; expected 6 '|'-separated fields ({SQUEUE_FORMAT})")
    job_id, state_text, time_left_text, nodelist, reason, name = fields
    job_id = job_id.strip()
    if _SQUEUE_JOB_ID.fullmatch(job_id) is None:
        raise SlurmOutputError(f"squeue printed {line!r}; its job id {job_id!r} is not a Slurm job id")
    # Some tools print "CANCELLED by <uid>"; squeue's %T prints the bare word, so keep only that.
    state = state_text.strip().split(" ", 1)[0].upper()
    if not state:
        raise SlurmOutputError(f"squeue printed {line!r} with an empty job state")
    try:
        time_left = parse_duration(time_left_text, "squeue")
    except WalltimeError as exc:
        raise SlurmOutputError(f"squeue printed {line!r}; its time left is not a Slurm duration") from exc
    if state in ENDED_STATES:
        time_left = UNKNOWN
    try:
        nodes = expand_hostlist(nodelist)
    except SlurmOutputError as exc:
        raise SlurmOutputError(f"squeue printed {line!r}; {exc}") from exc
    return SlurmJob(
        job_id=job_id,
        state=state,
        time_left=time_left,
        time_left_text=time_left_text.strip(),
        nodelist=nodelist.strip(),
        nodes=nodes,
        reason=reason.strip(),
        name=name,
    )


def parse_squeue_output(stdout: str) -> list[SlurmJob]:
    """Parse every non-empty line printed by `squeue -h -o SQUEUE_FORMAT`."""
    return [parse_squeue_line(line) for line in stdout.splitlines() if line.strip()]


def expand_hostlist(text: str) -> tuple[str, ...]:
    """Expand a Slurm host list such as `n[1-2]`, `node[01-03,7],gpu5` or `rack[1-2]-n[1-2]` into names.

    Zero padding is kept (`n[08-10]` gives n08, n09, n10). An empty text gives no names.
    Raises SlurmOutputError for unbalanced brackets, bad ranges, or more than 100000 names.
    """
    names: list[str] = []
    for item in _split_outside_brackets(text.strip(), text):
        names.extend(_expand_hostlist_item(item, text))
        if len(names) > _MAX_HOSTS:
            raise SlurmOutputError(f"host list {text!r} expands to more than {_MAX_HOSTS} names")
    return tuple(names)


def _split_outside_brackets(text: str, whole: str) -> list[str]:
    items: list[str] = []
    depth = 0
    start = 0
    for index, char in enumerate(text):
        if char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
        elif char == "," and depth == 0:
            items.append(text[start:index])
            start = index + 1
        if depth not in (0, 1):
            raise SlurmOutputError(f"host list {whole!r} has unbalanced or nested brackets")
    if depth != 0:
        raise SlurmOutputError(f"host list {whole!r} has unbalanced brackets")
    items.append(text[start:])
    return [item for item in items if item]


def _expand_hostlist_item(item: str, whole: str) -> list[str]:
    opening = item.find("[")
    if opening < 0:
        return [item]
    closing = item.index("]", opening)
    prefix, ranges, rest = item[:opening], item[opening + 1 : closing], item[closing + 1 :]
    numbers: list[str] = []
    for part in ranges.split(","):
        match = _HOSTLIST_RANGE.fullmatch(part)
        if match is None:
            raise SlurmOutputError(f"host list {whole!r} has an invalid range {part!r}")
        low_text, high_text = match.group(1), match.group(2) or match.group(1)
        low, high = int(low_text), int(high_text)
        if high < low or high - low > _MAX_HOSTS:
            raise SlurmOutputError(f"host list {whole!r} has an invalid range {part!r}")
        numbers.extend(f"{number:0{len(low_text)}d}" for number in range(low, high + 1))
    tails = _expand_hostlist_item(rest, whole)
    return [f"{prefix}{number}{tail}" for number in numbers for tail in tails]


def parse_scontrol_record(line: str) -> dict[str, str]:
    """Parse one record of `scontrol show job -o` (`Key=Value` pairs separated by spaces) into a dict.

    A value runs up to the next ` Key=`, so values may contain spaces and `=` (as in `TRES=cpu=2,node=2`).
    NOTE: a value that itself contains ` Word=` (a job name or path with such text) is split there.
    Raises SlurmOutputError when the line does not start with a `Key=`.
    """
    text = line.strip()
    matches = list(_SCONTROL_KEY.finditer(text))
    if not matches or matches[0].start() != 0:
        raise SlurmOutputError(f"scontrol printed {line[:200]!r}; expected 'Key=Value' pairs")
    record: dict[str, str] = {}
    for match, following in zip(matches, [*matches[1:], None]):
        end = following.start() if following is not None else len(text)
        record[match.group(1)] = text[match.end() : end].strip()
    return record
