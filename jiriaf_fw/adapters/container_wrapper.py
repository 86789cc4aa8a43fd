"""The process that runs one container and records its real exit status on disk.

Run as `python -m jiriaf_fw.adapters.container_wrapper`. The agent writes a JSON spec to the wrapper's stdin
(argv, env, cwd, paths), so no container environment value appears in a command line or a file. The wrapper

1. resets signal dispositions and the signal mask, because ignored signals survive `exec`;
2. forks the container process, which starts a new session (so it leads its own process group and
   pgid == its pid) and waits at a gate;
3. writes the records (`wrapper`, `leader`, `started_at`, `pgid`) and the user-visible pgid file, then
   opens the gate, so every record exists before any user code runs;
4. prints one JSON status line on stdout (`{"pgid": N}` or `{"error": ..., "exit_code": N}`);
5. forwards SIGTERM, SIGINT and SIGHUP it receives to the container's process group;
6. waits for the group leader and writes `finished_at`, then `exit_code` (128 + signal when killed).

The wrapper stays outside the container's process group, so `killpg` on the pgid never hits it and its
memory never counts as the container's. Standard library only, to start fast.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

from jiriaf_fw.adapters import procfs

# Record file names, relative to the container's record directory. `exit_code` is written last, so its
# presence means the other files are complete.
WRAPPER_FILE = "wrapper"  # "<wrapper pid> <starttime ticks>\n"
LEADER_FILE = "leader"  # "<leader pid> <starttime ticks>\n"
PGID_FILE = "pgid"
STARTED_AT_FILE = "started_at"
FINISHED_AT_FILE = "finished_at"
EXIT_CODE_FILE = "exit_code"
START_ERROR_FILE = "start_error"
STDOUT_FILE = "stdout"
STDERR_FILE = "stderr"
WRAPPER_LOG_FILE = "wrapper.log"

# Conventional shell exit statuses for a command that cannot be executed.
EXIT_NOT_FOUND = 127
EXIT_NOT_EXECUTABLE = 126
EXIT_START_FAILED = 128

FORWARDED_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


def write_atomic(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Write `data` to `path` through a temporary file, fsync and rename, so readers see all or nothing."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.fchmod(fd, mode)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        os.unlink(tmp)
        raise
    os.close(fd)
    os.replace(tmp, path)


def utc_now_text() -> str:
    return datetime.now(UTC).isoformat()


def exit_status(returncode: int) -> int:
    """Map a `Popen.returncode`-style value to a shell-style status: a negative value -N becomes 128 + N."""
    return 128 - returncode if returncode < 0 else returncode


def reset_signals() -> None:
    """Restore default dispositions for ignored signals and unblock all signals, for the child to inherit.

    SIGPIPE stays ignored here so a vanished agent cannot kill the wrapper; the child resets it before exec.
    """
    signal.pthread_sigmask(signal.SIG_SETMASK, set())
    for sig in signal.valid_signals():
        if sig in (signal.SIGKILL, signal.SIGSTOP, signal.SIGPIPE):
            continue
        try:
            if signal.getsignal(sig) == signal.SIG_IGN:
                signal.signal(sig, signal.SIG_DFL)
        except (OSError, ValueError):
            continue  # real-time signals reserved by libc cannot be changed


def record_start_failure(record_dir: Path, message: str, code: int) -> None:
    write_atomic(record_dir / START_ERROR_FILE, message.encode() + b"\n")
    write_atomic(record_dir / FINISHED_AT_FILE, utc_now_text().encode() + b"\n")
    write_atomic(record_dir / EXIT_CODE_FILE, f"{code}\n".encode())


@dataclass(frozen=True)
class Child:
    """A forked container process waiting at its gate, before `exec`."""

    pid: int
    gate: int  # write end; b"1" lets the child exec, end of file makes it exit
    exec_errors: int  # read end; end of file means exec succeeded, text means it failed


def fork_child(spec: dict[str, Any], record_dir: Path) -> Child:
    """Fork the container process; it starts a new session, then waits at the gate before `exec`.

    The gate lets the wrapper write the pgid records before any user code runs, so a script that rewrites
    its pgid file is never overwritten by the wrapper.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND
    out = os.open(record_dir / STDOUT_FILE, flags, 0o600)
    err = os.open(record_dir / STDERR_FILE, flags, 0o600)
    gate_read, gate_write = os.pipe()
    errors_read, errors_write = os.pipe()  # close-on-exec, like every fd Python opens
    pid = os.fork()
    if pid == 0:
        _exec_child(spec, gate_read, errors_write, out, err)
    for fd in (gate_read, errors_write, out, err):
        os.close(fd)
    return Child(pid, gate_write, errors_read)


def _exec_child(spec: dict[str, Any], gate: int, errors: int, out: int, err: int) -> NoReturn:
    """Runs in the forked child: never returns. Reports an exec failure as "<code> <message>" on `errors`."""
    code, stage = EXIT_START_FAILED, "start"
    try:
        for sig in (*FORWARDED_SIGNALS, signal.SIGPIPE, signal.SIGXFSZ):
            signal.signal(sig, signal.SIG_DFL)
        os.setsid()
        if os.read(gate, 1) != b"1":
            os._exit(EXIT_START_FAILED)  # the wrapper failed to write the records
        os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
        os.dup2(out, 1)
        os.dup2(err, 2)
        stage = "working directory"
        os.chdir(spec["cwd"])
        stage = "executable"
        os.execvpe(spec["argv"][0], spec["argv"], spec["env"])
    except FileNotFoundError as exc:
        code = EXIT_NOT_FOUND
        message = f"{stage} {_subject(spec, stage)!r} not found ({exc.strerror}); check the command and PATH"
    except PermissionError as exc:
        code = EXIT_NOT_EXECUTABLE
        message = f"{stage} {_subject(spec, stage)!r} is not usable ({exc.strerror}); is it executable?"
    except BaseException as exc:  # noqa: BLE001 - the forked child must reach _exit whatever happens
        message = f"{stage} failed: {exc}"
    try:
        os.write(errors, f"{code} {message}".encode())
    finally:
        os._exit(code)


def _subject(spec: dict[str, Any], stage: str) -> str:
    return str(spec["cwd"]) if stage == "working directory" else str(spec["argv"][0])


def read_exec_error(child: Child) -> tuple[int, str] | None:
    """Wait until the child has exec'd (None) or failed to (exit status and message)."""
    data = b""
    while chunk := os.read(child.exec_errors, 4096):
        data += chunk
    os.close(child.exec_errors)
    if not data:
        return None
    code, _, message = data.decode(errors="replace").partition(" ")
    return int(code), message


def write_start_records(record_dir: Path, pgid_file: Path, pid: int) -> None:
    stat = procfs.read_stat(pid)
    # The child cannot be reaped yet (only this process waits for it), so its stat exists.
    ticks = stat.starttime if stat is not None else 0
    write_atomic(record_dir / LEADER_FILE, f"{pid} {ticks}\n".encode())
    write_atomic(record_dir / STARTED_AT_FILE, utc_now_text().encode() + b"\n")
    write_atomic(record_dir / PGID_FILE, f"{pid}\n".encode())
    write_atomic(pgid_file, f"{pid}\n".encode())


def report(status: dict[str, Any]) -> None:
    """Print the status line, then point stdout at /dev/null so the agent's read sees end of file."""
    try:
        sys.stdout.write(json.dumps(status) + "\n")
        sys.stdout.flush()
    except BrokenPipeError:
        print("the agent closed the status pipe before reading it", file=sys.stderr)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.close(devnull)


class SignalForwarder:
    """Forward SIGTERM, SIGINT and SIGHUP to the container's group; hold the ones that arrive before it exists."""

    def __init__(self) -> None:
        self.pgid: int | None = None
        self.pending: list[int] = []
        for sig in FORWARDED_SIGNALS:
            signal.signal(sig, self.handle)

    def handle(self, signum: int, _frame: object) -> None:
        if self.pgid is None:
            self.pending.append(signum)
            return
        try:
            os.killpg(self.pgid, signum)
        except ProcessLookupError:
            pass

    def attach(self, pgid: int) -> None:
        self.pgid = pgid
        for signum in self.pending:
            self.handle(signum, None)
        self.pending.clear()


def run(spec: dict[str, Any]) -> int:
    """Run one container as described by `spec`; return the wrapper's own exit status (0 unless it failed)."""
    record_dir = Path(spec["record_dir"])
    own = procfs.read_stat(os.getpid())
    write_atomic(record_dir / WRAPPER_FILE, f"{os.getpid()} {own.starttime if own else 0}\n".encode())
    reset_signals()
    forwarder = SignalForwarder()
    try:
        child = fork_child(spec, record_dir)
    except OSError as exc:
        return fail_start(record_dir, f"could not fork the container process: {exc}", EXIT_START_FAILED)

    try:
        write_start_records(record_dir, Path(spec["pgid_file"]), child.pid)
    except OSError as exc:
        os.close(child.gate)  # end of file at the gate: the child exits without running anything
        os.waitpid(child.pid, 0)
        return fail_start(record_dir, f"could not write the pgid records: {exc}", EXIT_START_FAILED)
    os.write(child.gate, b"1")
    os.close(child.gate)

    failure = read_exec_error(child)
    if failure is not None:
        os.waitpid(child.pid, 0)
        return fail_start(record_dir, failure[1], failure[0])
    forwarder.attach(child.pid)
    report({"pgid": child.pid})
    _, wait_status = os.waitpid(child.pid, 0)
    code = exit_status(os.waitstatus_to_exitcode(wait_status))
    write_atomic(record_dir / FINISHED_AT_FILE, utc_now_text().encode() + b"\n")
    write_atomic(record_dir / EXIT_CODE_FILE, f"{code}\n".encode())
    return 0


def fail_start(record_dir: Path, message: str, code: int) -> int:
    print(f"container start failed: {message}", file=sys.stderr)
    record_start_failure(record_dir, message, code)
    report({"error": message, "exit_code": code})
    return 0


def main() -> int:
    try:
        spec = json.loads(sys.stdin.buffer.read())
    except ValueError as exc:
        print(f"invalid wrapper spec on stdin: {exc}", file=sys.stderr)
        return 2
    return run(spec)


if __name__ == "__main__":
    sys.exit(main())
