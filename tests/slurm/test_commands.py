"""The external-command runner: results, errors, timeouts, environment and working directory."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from jiriaf_fw.adapters.commands import (
    CommandError,
    CommandNotFoundError,
    CommandTimeoutError,
    LocalRunner,
    run,
)
from jiriaf_fw.core.errors import JiriafError


def _process_is_gone(pid: int) -> bool:
    """True when `pid` does not exist or is a zombie (killed, waiting to be reaped by its new parent)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return True
    state_line = next(line for line in status.splitlines() if line.startswith("State:"))
    return state_line.split()[1] in ("Z", "X")


def _wait_until_gone(pid: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if _process_is_gone(pid):
            return True
        time.sleep(0.05)
    return _process_is_gone(pid)


def test_run_returns_output() -> None:
    result = run(["sh", "-c", "echo out; echo err >&2"])
    assert result.argv == ("sh", "-c", "echo out; echo err >&2")
    assert result.returncode == 0
    assert result.stdout == "out\n"
    assert result.stderr == "err\n"


def test_run_passes_arguments_unexpanded() -> None:
    hostile = "$(touch /tmp/never); `id`; 'quoted' \"double\"\nnext line"
    result = run(["printf", "%s", hostile])
    assert result.stdout == hostile


def test_run_nonzero_exit_raises() -> None:
    with pytest.raises(CommandError) as caught:
        run(["sh", "-c", "echo partial; echo first >&2; echo 'last words' >&2; exit 3"])
    error = caught.value
    assert isinstance(error, JiriafError)
    assert error.returncode == 3
    assert error.stdout == "partial\n"
    assert error.stderr == "first\nlast words\n"
    assert error.argv[0] == "sh"
    assert "\n" not in str(error)
    assert "exit code 3" in str(error)
    assert str(error).endswith(": last words")


def test_run_without_check_returns_failure() -> None:
    result = run(["sh", "-c", "exit 4"], check=False)
    assert result.returncode == 4


def test_missing_binary_raises_not_found() -> None:
    with pytest.raises(CommandNotFoundError) as caught:
        run(["jiriaf-no-such-command", "--flag"], check=False)
    assert caught.value.returncode is None
    assert "'jiriaf-no-such-command' not found" in str(caught.value)
    assert isinstance(caught.value.__cause__, FileNotFoundError)


def test_missing_cwd_is_not_reported_as_missing_command(tmp_path: Path) -> None:
    missing = tmp_path / "absent"
    with pytest.raises(CommandError) as caught:
        run(["true"], cwd=missing)
    assert not isinstance(caught.value, CommandNotFoundError)
    assert f"working directory {str(missing)!r} does not exist" in str(caught.value)


def test_timeout_kills_process_group(tmp_path: Path) -> None:
    child_pid_file = tmp_path / "child.pid"
    script = f"sleep 60 & echo $! > {child_pid_file}; echo started; wait"
    with pytest.raises(CommandTimeoutError) as caught:
        run(["sh", "-c", script], timeout_s=1.0)
    error = caught.value
    assert error.timeout_s == 1.0
    assert error.stdout == "started\n"
    assert "timed out after 1 s" in str(error)
    child_pid = int(child_pid_file.read_text())
    assert _wait_until_gone(child_pid, timeout_s=5.0)


def test_input_goes_to_stdin() -> None:
    assert run(["cat"], input="line 1\nline 2\n").stdout == "line 1\nline 2\n"


def test_stdin_is_empty_without_input() -> None:
    result = run(["cat"], timeout_s=10)
    assert result.stdout == ""


def test_env_is_added_to_environment() -> None:
    result = run(["sh", "-c", 'echo "$JIRIAF_TEST_VALUE:$PATH"'], env={"JIRIAF_TEST_VALUE": "a b"})
    value, path = result.stdout.rstrip("\n").split(":", 1)
    assert value == "a b"
    assert path == os.environ["PATH"]


def test_cwd_is_used(tmp_path: Path) -> None:
    assert run(["pwd"], cwd=tmp_path).stdout.strip() == str(tmp_path)


def test_local_runner_env_layers() -> None:
    runner = LocalRunner(env={"JIRIAF_A": "runner", "JIRIAF_B": "runner"})
    result = runner.run(["sh", "-c", 'echo "$JIRIAF_A $JIRIAF_B"'], env={"JIRIAF_B": "call"})
    assert result.stdout == "runner call\n"


def test_local_runner_raises_like_run() -> None:
    with pytest.raises(CommandError) as caught:
        LocalRunner().run(["false"])
    assert caught.value.returncode == 1


@pytest.mark.parametrize(
    ("argv", "error"),
    [([], ValueError), (["echo", "nul\0byte"], ValueError), ("ls -l", TypeError), (["echo", 3], TypeError)],
)
def test_invalid_argv_rejected(argv: object, error: type[Exception]) -> None:
    with pytest.raises(error, match="argv"):
        run(argv)  # type: ignore[arg-type]  # invalid on purpose


def test_long_command_shortened_in_message() -> None:
    with pytest.raises(CommandError) as caught:
        run(["sh", "-c", "exit 1", "x" * 1000])
    assert len(str(caught.value)) < 400
    assert "..." in str(caught.value)
