"""Slurm durations: one parser for sbatch `--time` input and squeue `%l`/`%L` output, and the agent's margin.

Slurm writes and reads durations in these forms (sbatch manual, `--time`):

    minutes, minutes:seconds, hours:minutes:seconds,
    days-hours, days-hours:minutes, days-hours:minutes:seconds

plus `UNLIMITED` (and `INFINITE`). For sbatch, `0` also means no limit. squeue prints `INVALID` or `NOT_SET`
when a job has no usable limit (after a TIMEOUT, for example), which is "unknown", not "no limit". squeue
leaves out the day part below 24 hours and prints jobs under an hour as `M:SS`, so `9:28` is 9 minutes
28 seconds, exactly like the sbatch form `minutes:seconds`.
"""

from __future__ import annotations

import enum
import logging
import re
from dataclasses import dataclass
from typing import Literal

from jiriaf_fw.core.errors import WalltimeError

logger = logging.getLogger(__name__)

AGENT_MARGIN_S = 60
"""Seconds the agent stops before the Slurm job ends, so it can drain its node before Slurm kills it."""

DurationSource = Literal["sbatch", "squeue"]

_FORMS = (
    "minutes, minutes:seconds, hours:minutes:seconds, days-hours, days-hours:minutes, "
    "days-hours:minutes:seconds"
)
_ACCEPTED = {
    "sbatch": f"{_FORMS}, UNLIMITED or 0 (no limit)",
    "squeue": f"{_FORMS}, UNLIMITED, INVALID or NOT_SET",
}
_UNLIMITED_WORDS = frozenset({"UNLIMITED", "INFINITE"})
_UNKNOWN_WORDS = frozenset({"INVALID", "NOT_SET"})

# Fields are digits only, so a sign, a letter or an empty field never matches.
_CLOCK = re.compile(r"(\d+)(?::(\d+))?(?::(\d+))?")
_DAYS = re.compile(r"(\d+)-(\d+)(?::(\d+))?(?::(\d+))?")


class DurationKind(enum.Enum):
    """Whether a Slurm duration is a number of seconds, no limit at all, or not known."""

    LIMITED = "limited"
    UNLIMITED = "unlimited"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class SlurmDuration:
    """A parsed Slurm duration. `seconds` is set only for `LIMITED`, so "no limit" is never 0."""

    kind: DurationKind
    seconds: int | None = None

    def __post_init__(self) -> None:
        if (self.kind is DurationKind.LIMITED) != (self.seconds is not None):
            raise ValueError(f"SlurmDuration({self.kind}) must have seconds exactly when it is limited")
        if self.seconds is not None and self.seconds < 0:
            raise ValueError(f"SlurmDuration seconds must be >= 0, got {self.seconds}")

    @classmethod
    def limited(cls, seconds: int) -> SlurmDuration:
        """Build a limited duration of `seconds`."""
        return cls(DurationKind.LIMITED, seconds)

    @property
    def is_limited(self) -> bool:
        """True when the duration is a number of seconds."""
        return self.kind is DurationKind.LIMITED

    @property
    def is_unlimited(self) -> bool:
        """True when Slurm reported or was given no limit."""
        return self.kind is DurationKind.UNLIMITED

    @property
    def is_unknown(self) -> bool:
        """True when squeue reported `INVALID` or `NOT_SET`."""
        return self.kind is DurationKind.UNKNOWN


UNLIMITED = SlurmDuration(DurationKind.UNLIMITED)
UNKNOWN = SlurmDuration(DurationKind.UNKNOWN)


def parse_duration(text: str, source: DurationSource = "sbatch") -> SlurmDuration:
    """Parse a Slurm duration written for sbatch or printed by squeue.

    `source="sbatch"` accepts `0` as no limit and rejects squeue's `INVALID`/`NOT_SET`; `source="squeue"`
    returns `UNKNOWN` for those and reads `0` as zero minutes. Surrounding whitespace is ignored.

    Raises WalltimeError naming the value and listing the accepted forms.
    """
    if not isinstance(text, str):
        raise WalltimeError(
            f"invalid Slurm duration {text!r}: expected a string; accepted forms: {_ACCEPTED[source]}"
        )
    value = text.strip()
    word = value.upper()
    if word in _UNLIMITED_WORDS:
        return UNLIMITED
    if word in _UNKNOWN_WORDS and source == "squeue":
        return UNKNOWN

    seconds = _parse_fields(value)
    if seconds is None:
        raise WalltimeError(f"invalid Slurm duration {text!r}; accepted forms: {_ACCEPTED[source]}")
    if seconds == 0 and source == "sbatch" and value.isdigit():
        return UNLIMITED
    return SlurmDuration.limited(seconds)


def _parse_fields(value: str) -> int | None:
    """Return the seconds of a numeric Slurm duration, or None when `value` is not one of its forms."""
    days_match = _DAYS.fullmatch(value)
    if days_match is not None:
        days, hours, minutes, seconds = (int(f) if f is not None else 0 for f in days_match.groups())
        if hours >= 24 or minutes >= 60 or seconds >= 60:
            return None
        return ((days * 24 + hours) * 60 + minutes) * 60 + seconds

    clock_match = _CLOCK.fullmatch(value)
    if clock_match is None:
        return None
    fields = [int(f) for f in clock_match.groups() if f is not None]
    if len(fields) == 1:
        return fields[0] * 60
    if len(fields) == 2:
        minutes, seconds = fields
        return None if seconds >= 60 else minutes * 60 + seconds
    hours, minutes, seconds = fields
    if minutes >= 60 or seconds >= 60:
        return None
    return (hours * 60 + minutes) * 60 + seconds


def agent_limit(
    walltime: SlurmDuration, margin_s: int = AGENT_MARGIN_S, *, written: str | None = None
) -> SlurmDuration:
    """Return how long the agent may run: the walltime minus `margin_s`.

    An unlimited walltime gives an unlimited agent. A limited walltime never turns into "unlimited" here:
    a walltime of `margin_s` or less raises WalltimeError, because the agent would get zero or negative
    time. An unknown walltime raises WalltimeError too. `written` is the walltime as the user wrote it,
    for the message.
    """
    if walltime.is_unlimited:
        return UNLIMITED
    if walltime.is_unknown or walltime.seconds is None:
        raise WalltimeError(
            "the walltime is unknown (squeue reported INVALID or NOT_SET), so the agent "
            "has no time limit to follow"
        )
    if walltime.seconds <= margin_s:
        walltime_text = repr(written) if written is not None else format_sbatch_time(walltime)
        raise WalltimeError(
            f"walltime {walltime_text} ({walltime.seconds} s) is too short: the agent stops {margin_s} s "
            f"before the Slurm job ends, so the walltime must be longer than {margin_s} s; use 2 minutes "
            "or more, or UNLIMITED"
        )
    return SlurmDuration.limited(walltime.seconds - margin_s)


def agent_walltime_seconds(walltime: SlurmDuration, margin_s: int = AGENT_MARGIN_S) -> int:
    """Return the `JIRIAF_WALLTIME` value for a job walltime: the agent limit in seconds, 0 only if unlimited.

    Raises WalltimeError like `agent_limit`.
    """
    limit = agent_limit(walltime, margin_s)
    return 0 if limit.seconds is None else limit.seconds


def format_sbatch_time(duration: SlurmDuration) -> str:
    """Format a duration for `sbatch --time`: `D-HH:MM:SS` from one day up, `HH:MM:SS` below, or `UNLIMITED`.

    Raises WalltimeError for an unknown duration, which has no sbatch form.
    """
    if duration.is_unlimited:
        return "UNLIMITED"
    if duration.seconds is None:
        raise WalltimeError(
            "an unknown duration (squeue INVALID or NOT_SET) cannot be given to sbatch --time"
        )
    days, rest = divmod(duration.seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    clock = f"{hours:02d}:{minutes:02d}:{seconds:02d}"
    return f"{days}-{clock}" if days else clock
