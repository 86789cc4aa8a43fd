"""Fixtures for the local services that `scripts/dev.sh` starts: Slurm (`slurm-start`) and sshd (`sshd-start`).

A test that needs one of them requests its fixture. When the service is not running the test is skipped,
unless JIRIAF_REQUIRE_SLURM=1 or JIRIAF_REQUIRE_SSHD=1 is set (as CI does): then it fails.
"""

from __future__ import annotations

import os
import shlex
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

import pytest


def _dev_state() -> Path:
    return Path(os.environ.get("JIRIAF_DEV_STATE", "/tmp/jiriaf-dev"))


def _read_env_file(path: Path) -> dict[str, str]:
    """Read the `export NAME=VALUE` lines that scripts/dev.sh writes (values quoted with printf %q)."""
    env: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        words = shlex.split(line, comments=True)
        if len(words) == 2 and words[0] == "export" and "=" in words[1]:
            name, value = words[1].split("=", 1)
            env[name] = value
    return env


def _unavailable(reason: str, require_variable: str) -> NoReturn:
    if os.environ.get(require_variable) == "1":
        pytest.fail(f"{reason}, and {require_variable}=1 requires it", pytrace=False)
    pytest.skip(reason)


def _slurm_env_or_none() -> dict[str, str] | None:
    env_file = _dev_state() / "slurm" / "env.sh"
    if env_file.is_file():
        return _read_env_file(env_file)
    if os.environ.get("SLURM_CONF"):
        return {"SLURM_CONF": os.environ["SLURM_CONF"]}
    return None


@pytest.fixture(scope="session")
def slurm_env() -> Iterator[dict[str, str]]:
    """The environment of the running local Slurm (SLURM_CONF and the JIRIAF_DEV_SLURM_* variables).

    The variables are also set in os.environ for the whole session, so Slurm commands started by the code
    under test reach this cluster.
    """
    env = _slurm_env_or_none()
    if env is None or "SLURM_CONF" not in env:
        _unavailable(f"no local Slurm: neither {_dev_state()}/slurm/env.sh nor SLURM_CONF exists "
                     "(start it with 'scripts/dev.sh slurm-start')", "JIRIAF_REQUIRE_SLURM")
    conf = env["SLURM_CONF"]
    try:
        ping = subprocess.run(["scontrol", "ping"], env={**os.environ, **env}, capture_output=True,
                              text=True, timeout=30, check=False)
        output = ping.stdout + ping.stderr
    except (OSError, subprocess.TimeoutExpired) as exc:
        output = str(exc)
    if "is UP" not in output:
        _unavailable(f"the Slurm controller of {conf} does not answer: {output.strip()}",
                     "JIRIAF_REQUIRE_SLURM")
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        yield env


@pytest.fixture(scope="session")
def ssh_env() -> dict[str, str]:
    """Connection details of the private sshd (JIRIAF_DEV_SSH_HOST, _PORT, _USER, _KEY, _KNOWN_HOSTS)."""
    env_file = _dev_state() / "ssh" / "env.sh"
    if not env_file.is_file():
        _unavailable(f"no local sshd: {env_file} does not exist (start it with 'scripts/dev.sh sshd-start')",
                     "JIRIAF_REQUIRE_SSHD")
    env = _read_env_file(env_file)
    address = (env["JIRIAF_DEV_SSH_HOST"], int(env["JIRIAF_DEV_SSH_PORT"]))
    try:
        with socket.create_connection(address, timeout=5):
            pass
    except OSError as exc:
        _unavailable(f"the local sshd at {address[0]}:{address[1]} does not accept connections: {exc}",
                     "JIRIAF_REQUIRE_SSHD")
    return env
