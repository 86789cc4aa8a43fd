"""Helpers for tests that render pilot scripts and run them with a stub Python."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

# A stand-in for the site's Python: records its argv, environment and working directory (NUL-separated,
# so any byte but NUL survives), prints a line, then exits with $STUB_EXIT or waits for signals. The
# cleanup that node-setup.sh runs after the agent only records its argv in cleanup-argv.
STUB_PYTHON = r"""#!/bin/bash
out=${STUB_OUT:?}
if [ "${2:-}" = jiriaf_fw.services.agent.cleanup ]; then
    printf '%s\0' "$@" > "$out/cleanup-argv"
    exit 0
fi
trap 'echo USR1 >> "$out/signals"' USR1
trap 'echo TERM >> "$out/signals"; exit 7' TERM
printf '%s\0' "$@" > "$out/argv"
env -0 > "$out/env"
pwd > "$out/cwd"
echo "stub python ran"
if [ -n "${STUB_EXIT:-}" ]; then
    exit "$STUB_EXIT"
fi
echo "$$" > "$out/ready"
while :; do sleep 0.05; done
"""

# A stand-in for shifter or apptainer: records its argv, then runs the command it wraps.
STUB_CONTAINER = r"""#!/bin/bash
case " $* " in
    *" jiriaf_fw.services.agent.cleanup "*) printf '%s\0' "$@" > "${STUB_OUT:?}/container-cleanup-argv" ;;
    *) printf '%s\0' "$@" > "${STUB_OUT:?}/container-argv" ;;
esac
if [ "$1" = exec ]; then
    shift 2
else
    while [ "$1" != -- ]; do shift; done
    shift
fi
exec "$@"
"""


def write_executable(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o755)
    return path


def read_nul_list(path: Path) -> list[str]:
    return path.read_bytes().decode().split("\0")[:-1]


def read_env(path: Path) -> dict[str, str]:
    return dict(entry.split("=", 1) for entry in read_nul_list(path))


def base_env(stub_out: Path, home: Path, **extra: str) -> dict[str, str]:
    return {"PATH": os.environ["PATH"], "HOME": str(home), "STUB_OUT": str(stub_out), **extra}


def run_script(script: Path, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(script)], env=env, cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )


def wait_until(condition: Callable[[], bool], what: str, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.02)
