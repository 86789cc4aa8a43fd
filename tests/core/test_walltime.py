"""Slurm durations: sbatch input and squeue output, the agent's 60 s margin, and --time formatting."""

import pytest

from jiriaf_fw.core.errors import WalltimeError
from jiriaf_fw.core.walltime import (
    UNKNOWN,
    UNLIMITED,
    DurationKind,
    SlurmDuration,
    agent_limit,
    agent_walltime_seconds,
    format_sbatch_time,
    parse_duration,
)

SBATCH_FORMS = (
    "minutes, minutes:seconds, hours:minutes:seconds, days-hours, days-hours:minutes, "
    "days-hours:minutes:seconds, UNLIMITED or 0 (no limit)"
)
SQUEUE_FORMS = (
    "minutes, minutes:seconds, hours:minutes:seconds, days-hours, days-hours:minutes, "
    "days-hours:minutes:seconds, UNLIMITED, INVALID or NOT_SET"
)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30", 1800),
        ("30:15", 1815),
        ("1:30:00", 5400),
        ("2-0", 172800),
        ("1-12:30", 131400),
        ("1-00:00:00", 86400),
        ("00:10:00", 600),
        ("100:00:00", 360000),
        (" 45 ", 2700),
    ],
)
def test_sbatch_durations(text: str, seconds: int) -> None:
    assert parse_duration(text, "sbatch") == SlurmDuration.limited(seconds)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("9:28", 568),
        ("0:45", 45),
        ("1:02:03", 3723),
        ("1-02:03:04", 93784),
        ("1-23:59:57", 172797),
        ("2:00", 120),
        ("0:00", 0),
    ],
)
def test_squeue_durations(text: str, seconds: int) -> None:
    assert parse_duration(text, "squeue") == SlurmDuration.limited(seconds)


@pytest.mark.parametrize("text", ["0", "00", "UNLIMITED", "unlimited", "INFINITE"])
def test_sbatch_no_limit(text: str) -> None:
    result = parse_duration(text, "sbatch")
    assert result is UNLIMITED
    assert result.seconds is None


def test_squeue_unlimited() -> None:
    assert parse_duration("UNLIMITED", "squeue").kind is DurationKind.UNLIMITED


@pytest.mark.parametrize("text", ["INVALID", "NOT_SET"])
def test_squeue_unknown(text: str) -> None:
    result = parse_duration(text, "squeue")
    assert result is UNKNOWN
    assert result.seconds is None


def test_zero_with_colon_is_not_unlimited() -> None:
    assert parse_duration("0:00", "sbatch") == SlurmDuration.limited(0)


@pytest.mark.parametrize(
    "text", ["1:2:3:4", "-5", "abc", "1-", "12:75:00", "", "1-24:00", "30:60", "1.5", "1 2"]
)
def test_sbatch_rejects(text: str) -> None:
    with pytest.raises(WalltimeError) as caught:
        parse_duration(text, "sbatch")
    assert str(caught.value) == f"invalid Slurm duration {text!r}; accepted forms: {SBATCH_FORMS}"


@pytest.mark.parametrize("text", ["INVALID", "NOT_SET"])
def test_sbatch_rejects_squeue_words(text: str) -> None:
    with pytest.raises(WalltimeError, match="accepted forms"):
        parse_duration(text, "sbatch")


def test_squeue_error_lists_its_forms() -> None:
    with pytest.raises(WalltimeError) as caught:
        parse_duration("soon", "squeue")
    assert str(caught.value) == f"invalid Slurm duration 'soon'; accepted forms: {SQUEUE_FORMS}"


def test_non_string_rejected() -> None:
    with pytest.raises(WalltimeError, match="expected a string"):
        parse_duration(30, "sbatch")  # type: ignore[arg-type]  # the check for callers without types


@pytest.mark.parametrize(("text", "seconds"), [("00:10:00", 540), ("00:01:01", 1), ("2", 60), ("1-0", 86340)])
def test_agent_limit_subtracts_margin(text: str, seconds: int) -> None:
    assert agent_limit(parse_duration(text)) == SlurmDuration.limited(seconds)
    assert agent_walltime_seconds(parse_duration(text)) == seconds


@pytest.mark.parametrize("text", ["00:01:00", "00:00:30", "1", "0:00"])
def test_agent_limit_rejects_short(text: str) -> None:
    with pytest.raises(WalltimeError) as caught:
        agent_limit(parse_duration(text))
    assert "is too short: the agent stops 60 s before the Slurm job ends" in str(caught.value)


def test_agent_limit_message_shows_written_value() -> None:
    with pytest.raises(WalltimeError) as caught:
        agent_limit(parse_duration("1"), written="1")
    assert str(caught.value) == (
        "walltime '1' (60 s) is too short: the agent stops 60 s before the Slurm job ends, so the walltime "
        "must be longer than 60 s; use 2 minutes or more, or UNLIMITED"
    )


def test_agent_unlimited_only_when_explicit() -> None:
    assert agent_limit(UNLIMITED) is UNLIMITED
    assert agent_walltime_seconds(UNLIMITED) == 0


def test_agent_limit_rejects_unknown() -> None:
    with pytest.raises(WalltimeError, match="unknown"):
        agent_limit(UNKNOWN)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (1815, "00:30:15"),
        (600, "00:10:00"),
        (86400, "1-00:00:00"),
        (93784, "1-02:03:04"),
        (0, "00:00:00"),
        (172800, "2-00:00:00"),
    ],
)
def test_format_sbatch_time(seconds: int, text: str) -> None:
    assert format_sbatch_time(SlurmDuration.limited(seconds)) == text
    assert parse_duration(text, "sbatch") == SlurmDuration.limited(seconds)


def test_format_unlimited() -> None:
    assert format_sbatch_time(UNLIMITED) == "UNLIMITED"


def test_format_unknown_rejected() -> None:
    with pytest.raises(WalltimeError, match="cannot be given to sbatch"):
        format_sbatch_time(UNKNOWN)


def test_duration_invariants() -> None:
    with pytest.raises(ValueError, match="exactly when it is limited"):
        SlurmDuration(DurationKind.UNLIMITED, 0)
    with pytest.raises(ValueError, match="exactly when it is limited"):
        SlurmDuration(DurationKind.LIMITED)
    with pytest.raises(ValueError, match=">= 0"):
        SlurmDuration.limited(-1)
