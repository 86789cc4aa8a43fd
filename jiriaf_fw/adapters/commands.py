"""The one place that runs external commands (sbatch, squeue, scancel, ...).

Commands are argv lists, never shell strings, so no value is ever parsed by a shell here. Each run is logged
at debug level with its argv, so argv must never carry a secret (it is also visible in `ps`). Failures are
`CommandError`s holding argv, exit code, stdout and stderr, with a one-line message.

`CommandRunner` is what the other adapters take, so that a runner for a remote login node (over SSH) can
replace `LocalRunner` without changing them.
"""

from __future__ import annotations

import logging
import os
import shlex
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from jiriaf_fw.core.errors import JiriafError

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 60.0
"""Seconds a command may run before it is killed, unless the caller passes another `timeout_s`."""

_KILL_COLLECT_TIMEOUT_S = 5.0
_MAX_SHOWN_CHARS = 300

PathArg = str | os.PathLike[str]


@dataclass(frozen=True)
class CommandResult:
    """The result of a finished command. stdout and stderr are decoded as UTF-8 (bad bytes replaced)."""

    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str


class CommandError(JiriafError):
    """A command failed: it exited non-zero, could not be started, or timed out.

    `returncode` is None when the command never ran.
    """

    def __init__(
        self,
        argv: Sequence[str],
        returncode: int | None,
        stdout: str,
        stderr: str,
        message: str | None = None,
    ) -> None:
        self.argv = tuple(argv)
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr
        if message is None:
            message = (
                f"command {format_argv(argv)} failed with exit code {returncode}: {last_line(stderr)}"
            )
        super().__init__(message)


class CommandNotFoundError(CommandError):
    """The executable (argv[0]) does not exist on PATH or at the given path."""


class CommandTimeoutError(CommandError):
    """The command ran longer than its timeout and was killed with its whole process group."""

    def __init__(self, argv: Sequence[str], timeout_s: float, returncode: int | None, stdout: str,
                 stderr: str) -> None:
        self.timeout_s = timeout_s
        message = f"command {format_argv(argv)} timed out after {timeout_s:g} s and was killed"
        super().__init__(argv, returncode, stdout, stderr, message)


class CommandRunner(Protocol):
    """Runs one command somewhere (this machine, or a login node) and returns its result.

    `env` contains variables added to the command's environment. With `check=True` a non-zero exit raises
    CommandError; with `check=False` it is returned. A missing executable or a timeout raises either way.
    """

    def run(
        self,
        argv: Sequence[str],
        *,
        input: str | None = None,
        timeout_s: float | None = DEFAULT_TIMEOUT_S,
        env: Mapping[str, str] | None = None,
        cwd: PathArg | None = None,
        check: bool = True,
    ) -> CommandResult: ...


@dataclass(frozen=True)
class LocalRunner:
    """Runs commands on this machine. `env` is added to every command's environment (below a call's `env`)."""

    env: Mapping[str, str] = field(default_factory=dict)

    def run(
        self,
        argv: Sequence[str],
        *,
        input: str | None = None,
        timeout_s: float | None = DEFAULT_TIMEOUT_S,
        env: Mapping[str, str] | None = None,
        cwd: PathArg | None = None,
        check: bool = True,
    ) -> CommandResult:
        """Run `argv` here with `run`, adding this runner's `env` below the call's `env`."""
        merged = {**self.env, **(env or {})}
        return run(argv, input=input, timeout_s=timeout_s, env=merged or None, cwd=cwd, check=check)


def format_argv(argv: Sequence[str]) -> str:
    """Quote argv as a shell would need it, shortened for messages."""
    return _shorten(shlex.join(argv))


def last_line(text: str) -> str:
    """Return the last non-empty line of `text`, shortened for messages, or `(no error output)`."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return _shorten(lines[-1]) if lines else "(no error output)"


def run(
    argv: Sequence[str],
    *,
    input: str | None = None,
    timeout_s: float | None = DEFAULT_TIMEOUT_S,
    env: Mapping[str, str] | None = None,
    cwd: PathArg | None = None,
    check: bool = True,
) -> CommandResult:
    """Run `argv` on this machine, wait for it, and return its result.

    `input` is written to stdin (otherwise stdin is /dev/null, so no command waits on a terminal). `env` is
    added to this process's environment. The command runs in a new session, and on timeout (or when this
    call is interrupted) its whole process group is killed with SIGKILL; a descendant that started a
    session of its own escapes that kill.

    Raises CommandNotFoundError, CommandTimeoutError, CommandError (start failure, or non-zero exit when
    `check` is true). An argv that is empty, contains a NUL character (ValueError) or is not a sequence of
    strings (TypeError) is a caller bug.
    """
    args = _validated_argv(argv)
    full_env = None if env is None else {**os.environ, **env}
    logger.debug("running %s (cwd=%s, added env: %s)", format_argv(args), cwd or ".",
                 ", ".join(sorted(env or {})) or "none")
    started = time.monotonic()
    process = _start(args, input is not None, full_env, cwd)
    try:
        stdout, stderr = process.communicate(input, timeout=timeout_s)
    except subprocess.TimeoutExpired as exc:
        stdout, stderr = _kill_and_collect(process)
        raise CommandTimeoutError(args, exc.timeout, process.returncode, stdout, stderr) from exc
    except BaseException:
        _kill_and_collect(process)
        raise
    result = CommandResult(args, process.returncode, stdout, stderr)
    logger.debug("%s exited with code %d after %.2f s", args[0], result.returncode,
                 time.monotonic() - started)
    if check and result.returncode != 0:
        raise CommandError(args, result.returncode, stdout, stderr)
    return result


def _validated_argv(argv: Sequence[str]) -> tuple[str, ...]:
    if isinstance(argv, str):
        raise TypeError(f"argv must be a sequence of strings, not the string {argv!r}")
    args = tuple(argv)
    if not args:
        raise ValueError("argv is empty; expected at least the command name")
    for arg in args:
        if not isinstance(arg, str):
            raise TypeError(f"invalid argv {args!r}: {arg!r} is not a string")
        if "\0" in arg:
            raise ValueError(f"invalid argv {args!r}: an argument contains a NUL character")
    return args


def _start(args: tuple[str, ...], has_input: bool, env: dict[str, str] | None,
           cwd: PathArg | None) -> subprocess.Popen[str]:
    try:
        return subprocess.Popen(
            args,
            stdin=subprocess.PIPE if has_input else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            cwd=cwd,
            start_new_session=True,
            text=True,
            encoding="utf-8",
            errors="replace",
        )
    except FileNotFoundError as exc:
        if cwd is not None and exc.filename is not None and os.fspath(exc.filename) == os.fspath(cwd):
            raise CommandError(args, None, "", "", f"cannot run {format_argv(args)}: working directory "
                               f"{os.fspath(cwd)!r} does not exist") from exc
        raise CommandNotFoundError(args, None, "", "", f"command {args[0]!r} not found (running "
                                   f"{format_argv(args)}); install it or add its folder to PATH") from exc
    except OSError as exc:
        raise CommandError(args, None, "", "", f"cannot run {format_argv(args)}: {exc.strerror or exc}") from exc


def _kill_and_collect(process: subprocess.Popen[str]) -> tuple[str, str]:
    """Kill the command's process group and return what it printed so far."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    try:
        stdout, stderr = process.communicate(timeout=_KILL_COLLECT_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        # A descendant in another session still keeps the pipes open, so its output is given up.
        logger.warning("%s: a descendant outside its process group keeps the output pipes open",
                       process.args[0] if isinstance(process.args, (list, tuple)) else process.args)
        for pipe in (process.stdout, process.stderr):
            if pipe is not None:
                pipe.close()
        process.wait()
        return "", ""
    return stdout or "", stderr or ""


def _shorten(text: str) -> str:
    return text if len(text) <= _MAX_SHOWN_CHARS else text[: _MAX_SHOWN_CHARS - 3] + "..."
