"""Checked field types of the site config. Every value that can reach a script gets a character set here.

Quoting alone does not make a `#SBATCH` line safe, because a comment ends at a newline whatever the quotes.
So each text field first rejects control characters and then checks a character set of its own. The checks
raise ValueError, which pydantic reports with the field's dotted key.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import unicodedata
from collections.abc import Callable
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, PlainSerializer, PlainValidator, WithJsonSchema

from jiriaf_fw.core.errors import PortRangeError, WalltimeError
from jiriaf_fw.core.naming import check_node_name_prefix
from jiriaf_fw.core.ports import PortRange
from jiriaf_fw.core.walltime import agent_limit, parse_duration

logger = logging.getLogger(__name__)

# Options that job.sh writes itself, mapped to the config key that sets them.
MANAGED_SBATCH_OPTIONS: dict[str, str] = {
    "time": "slurm.walltime",
    "nodes": "slurm.nodes",
    "job-name": "slurm.job_name",
    "constraint": "slurm.constraint",
    "qos": "slurm.qos",
    "account": "slurm.account",
    "reservation": "slurm.reservation",
    "partition": "slurm.partition",
    "cpus-per-task": "slurm.cpus_per_task",
    "mem": "slurm.mem",
    "gpus-per-node": "slurm.gpus_per_node",
    "exclusive": "slurm.exclusive",
    "output": "jiriaf-fw (the launch directory)",
    "error": "jiriaf-fw (the launch directory)",
    "chdir": "jiriaf-fw (the launch directory)",
    "wrap": "jiriaf-fw (job.sh is the batch script)",
    "array": "jiriaf-fw (a pilot is a single job)",
    "parsable": "jiriaf-fw (the sbatch command line, which reads the job id from it)",
}
# Options that break how jiriaf-fw submits and follows the job, with the reason shown in the error.
REJECTED_SBATCH_OPTIONS: dict[str, str] = {
    "export": (
        "jiriaf-fw relies on sbatch's default --export=ALL, because the job needs the submitter's PATH and "
        "SLURM_CONF"
    ),
    "get-user-env": (
        "it replaces the submitter's environment with the user's login environment, and the job needs the "
        "submitter's PATH and SLURM_CONF"
    ),
    "test-only": "sbatch would only check the script and submit no job",
    "hold": "the job would stay pending until someone releases it with scontrol release",
    "wait": "sbatch would not return until the job ends, so the launch would block for the whole walltime",
}
# sbatch takes unambiguous abbreviations of long options (getopt_long), so a prefix of a managed option is
# rejected too, except for real sbatch options that happen to be such a prefix.
_REAL_OPTIONS_THAT_ARE_PREFIXES = frozenset({"gpus"})

_SEPARATORS = frozenset({"Zl", "Zp"})


def reject_control_characters(value: str) -> str:
    """Return `value` unless it contains a control character or a Unicode line or paragraph separator."""
    for char in value:
        if unicodedata.category(char) == "Cc" or unicodedata.category(char) in _SEPARATORS:
            raise ValueError(f"control character {char!r} is not allowed")
    return value


def _as_text(value: Any, *, allow_int: bool) -> str:
    """Return `value` as text; YAML turns `account: 1234` into an int, which is accepted where `allow_int`."""
    if isinstance(value, str):
        return value
    if allow_int and isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise ValueError(f"expected a string, got {value!r}")


def _text_checker(
    value_name: str,
    pattern: str,
    rule: str,
    *,
    optional: bool = False,
    allow_int: bool = True,
    max_length: int = 256,
) -> Callable[[Any], str | None]:
    """Build a check for a text field: no control characters, then `pattern` (matched in full)."""
    compiled = re.compile(pattern)

    def check(value: Any) -> str | None:
        if optional and (value is None or value == ""):
            return None
        text = reject_control_characters(_as_text(value, allow_int=allow_int))
        if len(text) > max_length:
            raise ValueError(f"invalid {value_name} {text!r}: longer than {max_length} characters")
        if compiled.fullmatch(text) is None:
            raise ValueError(f"invalid {value_name} {text!r}: {rule}")
        return text

    return check


_NAME = r"[A-Za-z0-9_][A-Za-z0-9_.+-]*"
_NAME_RULE = "use letters, digits and . _ + -"


def _slurm_name(value_name: str, *, commas: bool = False) -> Any:
    pattern = rf"{_NAME}(,{_NAME})*" if commas else _NAME
    rule = f"{_NAME_RULE}, with ',' between names" if commas else _NAME_RULE
    return Annotated[str | None, BeforeValidator(_text_checker(value_name, pattern, rule, optional=True))]


SlurmAccount = _slurm_name("Slurm account")
SlurmQos = _slurm_name("Slurm QOS")
SlurmReservation = _slurm_name("Slurm reservation")
SlurmPartition = _slurm_name("Slurm partition", commas=True)
SlurmConstraint = Annotated[
    str | None,
    BeforeValidator(
        _text_checker(
            "Slurm constraint",
            r"[A-Za-z0-9_.&|,*!()\[\]-]+",
            "use feature names of letters, digits and . _ - joined by & | , * ! ( ) [ ]",
            optional=True,
        )
    ),
]
SlurmJobName = Annotated[
    str | None,
    BeforeValidator(
        _text_checker(
            "Slurm job name", r"[A-Za-z0-9_.+=@-]+", "use letters, digits and . _ + = @ -", optional=True
        )
    ),
]
SlurmMemory = Annotated[
    str | None,
    BeforeValidator(
        _text_checker(
            "Slurm memory size",
            r"[0-9]+[KMGTkmgt]?",
            "use a number with an optional K, M, G or T suffix, e.g. 4G "
            "or 4000M (megabytes without a suffix)",
            optional=True,
        )
    ),
]


MAX_WALLTIME_DAYS = 365


def _check_walltime(value: Any) -> str:
    text = reject_control_characters(_as_text(value, allow_int=True)).strip()
    try:
        duration = parse_duration(text, "sbatch")
        agent_limit(duration, written=text)
    except WalltimeError as error:
        raise ValueError(str(error)) from error
    if duration.seconds is not None and duration.seconds > MAX_WALLTIME_DAYS * 86400:
        raise ValueError(
            f"walltime {text!r} is longer than {MAX_WALLTIME_DAYS} days; use UNLIMITED for no limit"
        )
    return text


Walltime = Annotated[str, BeforeValidator(_check_walltime)]

_GPU_TYPE_COUNT = re.compile(r"[A-Za-z0-9_.-]+:[1-9][0-9]*")


def _check_gpus(value: Any) -> int | str | None:
    if value is None or value == "":
        return None
    text = reject_control_characters(_as_text(value, allow_int=True))
    if text.isdigit():
        return int(text)
    if _GPU_TYPE_COUNT.fullmatch(text) is None:
        raise ValueError(f"invalid GPU count {text!r}: use a number >= 0 or type:count, e.g. a100:4")
    return text


GpusPerNode = Annotated[int | str | None, BeforeValidator(_check_gpus)]

_OPTION_VALUE = r"[A-Za-z0-9_.,:@%/=+&|*!()\[\]~-]+"
_EXTRA_OPTION = re.compile(rf"--([a-z][a-z0-9-]*)(=({_OPTION_VALUE}))?")


def _check_extra_sbatch(value: Any) -> str:
    text = reject_control_characters(_as_text(value, allow_int=False))
    match = _EXTRA_OPTION.fullmatch(text)
    if match is None:
        raise ValueError(
            f"invalid sbatch option {text!r}: use '--option' or '--option=value', with a value of letters, "
            "digits and . _ , : @ % / = + & | * ! ( ) [ ] ~ - (no spaces or quotes)"
        )
    name = match.group(1)
    for managed, key in MANAGED_SBATCH_OPTIONS.items():
        if _names_option(name, managed):
            raise ValueError(f"sbatch option {text!r} is set by {key}, so it cannot be in slurm.extra_sbatch")
    for rejected, reason in REJECTED_SBATCH_OPTIONS.items():
        if _names_option(name, rejected):
            raise ValueError(f"sbatch option {text!r} is not allowed in slurm.extra_sbatch: {reason}")
    return text


def _names_option(name: str, option: str) -> bool:
    """Return True if sbatch reads the long option `name` as `option`, in full or abbreviated."""
    return name == option or (option.startswith(name) and name not in _REAL_OPTIONS_THAT_ARE_PREFIXES)


ExtraSbatchOption = Annotated[str, BeforeValidator(_check_extra_sbatch)]

NodeNamePrefix = Annotated[
    str,
    BeforeValidator(
        lambda value: check_node_name_prefix(reject_control_characters(_as_text(value, allow_int=False)))
    ),
]

_LABEL_RULE = (
    "use at most 63 letters, digits and - _ . , starting and ending with a letter or digit "
    "(a Kubernetes label value)"
)
LABEL_VALUE = re.compile(r"([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)")
LabelValue = Annotated[
    str, BeforeValidator(_text_checker("label value", LABEL_VALUE.pattern, _LABEL_RULE, max_length=63))
]
OptionalLabelValue = Annotated[
    str | None,
    BeforeValidator(
        _text_checker("label value", LABEL_VALUE.pattern, _LABEL_RULE, max_length=63, optional=True)
    ),
]


def _check_host(value: Any) -> str | None:
    if value is None or value == "":
        return None
    text = reject_control_characters(_as_text(value, allow_int=False))
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        pass
    if len(text) > 253 or re.fullmatch(r"[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?", text) is None:
        raise ValueError(
            f"invalid host {text!r}: use an IP address or a host name of letters, digits, '.' and '-'"
        )
    return text


Host = Annotated[str | None, BeforeValidator(_check_host)]


def check_ip_address(value: Any, index: int | None = None) -> str:
    """Return `value` as a normalised IP address; `index` names a list entry in the error."""
    where = "" if index is None else f" at index {index}"
    text = reject_control_characters(_as_text(value, allow_int=False))
    try:
        return str(ipaddress.ip_address(text))
    except ValueError as error:
        raise ValueError(f"invalid IP address {text!r}{where}") from error


def _reject_bool(value: Any) -> Any:
    if isinstance(value, bool):
        # pydantic reports only ValueError (not TypeError) as a validation error of the field.
        raise ValueError(f"expected an integer, got {value!r}")  # noqa: TRY004
    return value


Port = Annotated[int, BeforeValidator(_reject_bool), Field(ge=1, le=65535)]
Count = Annotated[int, BeforeValidator(_reject_bool), Field(ge=1)]

_IMAGE_RULE = (
    "use letters, digits and . _ / : @ + - (e.g. docker:registry/name:tag for shifter, or an "
    "image file such as /path/jiriaf-fw.sif for apptainer)"
)
Image = Annotated[
    str | None,
    BeforeValidator(
        _text_checker(
            "container image", r"[A-Za-z0-9/][A-Za-z0-9._/:@+-]*", _IMAGE_RULE, optional=True, allow_int=False
        )
    ),
]

_USER = r"[A-Za-z0-9._][A-Za-z0-9._-]*"
_HOSTNAME = r"[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?"
SshRemote = Annotated[
    str,
    BeforeValidator(
        _text_checker("SSH remote", rf"{_USER}@{_HOSTNAME}", "expected user@host", allow_int=False)
    ),
]
SshProxy = Annotated[
    str | None,
    BeforeValidator(
        _text_checker(
            "SSH proxy",
            rf"({_USER}@)?{_HOSTNAME}",
            "expected host or user@host",
            optional=True,
            allow_int=False,
        )
    ),
]

# A path is quoted wherever it is used; it only has to be one line of printable text.
PathText = Annotated[
    str,
    BeforeValidator(
        _text_checker(
            "path", r"[^\x00-\x1f\x7f]+", "expected a non-empty path", allow_int=False, max_length=4096
        )
    ),
]
OptionalPathText = Annotated[
    str | None,
    BeforeValidator(
        _text_checker(
            "path",
            r"[^\x00-\x1f\x7f]+",
            "expected a non-empty path",
            optional=True,
            allow_int=False,
            max_length=4096,
        )
    ),
]
# The work root becomes the launch directory of `#SBATCH --chdir/--output/--error`: no `%` (Slurm expands
# `%j` and friends in those paths), no quotes or backslashes (sbatch unescapes them in `#SBATCH` lines).
check_work_root = _text_checker(
    "work root",
    r"[A-Za-z0-9_./~+,@=: -]+",
    "use letters, digits, spaces and . _ / ~ + , @ = : -",
    allow_int=False,
    max_length=1024,
)
WorkRoot = Annotated[str, BeforeValidator(check_work_root)]


def _check_port_range(value: Any) -> PortRange:
    try:
        return PortRange.parse(value)
    except PortRangeError as error:
        raise ValueError(str(error)) from error


PortRangeField = Annotated[
    PortRange,
    PlainValidator(_check_port_range),
    PlainSerializer(str, return_type=str),
    WithJsonSchema({"type": "string", "pattern": r"^\d+-\d+$"}),
]
