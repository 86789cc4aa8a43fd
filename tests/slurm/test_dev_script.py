"""scripts/dev.sh: its subcommands against the running local services, and its argument handling."""

from __future__ import annotations

import os
import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from jiriaf_fw.adapters import slurm
from jiriaf_fw.adapters.commands import run

DEV_SH = Path(__file__).resolve().parents[2] / "scripts" / "dev.sh"
DEV_STATE = Path(os.environ.get("JIRIAF_DEV_STATE", "/tmp/jiriaf-dev"))


def test_slurm_start_keeps_running_jobs(slurm_env: dict[str, str], tmp_path: Path) -> None:
    script = tmp_path / "sleep.sh"
    script.write_text("#!/bin/bash\n#SBATCH --output=/dev/null\nsleep 300\n")
    job_id = slurm.submit(script, cwd=tmp_path)
    try:
        deadline = time.monotonic() + 30.0
        while slurm.query_job(job_id).state != "RUNNING" and time.monotonic() < deadline:
            time.sleep(0.2)
        assert slurm.query_job(job_id).state == "RUNNING"

        result = run([str(DEV_SH), "slurm-start"], timeout_s=120)
        assert "Slurm is already running" in result.stderr
        assert slurm.query_job(job_id).state == "RUNNING"
    finally:
        slurm.cancel(job_id)
        slurm.wait_until_ended(job_id, 60.0)


def test_slurm_status_shows_idle_nodes(slurm_env: dict[str, str]) -> None:
    result = run([str(DEV_SH), "slurm-status"], timeout_s=60)
    nodes = {line.split()[0]: line.split()[1:] for line in result.stdout.splitlines()[1:]}
    assert set(nodes) == {"n1", "n2"}
    assert nodes["n1"][0] == "debug*"


def ssh_argv(ssh_env: dict[str, str], *extra: str) -> list[str]:
    """Build an ssh command line that logs in to the private sshd with its client key, checking its host key."""
    return [
        "ssh", "-p", ssh_env["JIRIAF_DEV_SSH_PORT"], "-i", ssh_env["JIRIAF_DEV_SSH_KEY"],
        "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
        "-o", f"UserKnownHostsFile={ssh_env['JIRIAF_DEV_SSH_KNOWN_HOSTS']}",
        *extra, f"{ssh_env['JIRIAF_DEV_SSH_USER']}@{ssh_env['JIRIAF_DEV_SSH_HOST']}",
    ]


@pytest.fixture
def echo_port() -> Iterator[int]:
    """Port of a one-connection TCP echo server on 127.0.0.1 that runs until its client closes."""
    server = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        connection, _ = server.accept()
        with connection:
            while data := connection.recv(65536):
                connection.sendall(data)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    server.close()
    thread.join(timeout=5)


def test_ssh_key_login(ssh_env: dict[str, str]) -> None:
    result = run([*ssh_argv(ssh_env), "echo", "login-ok"], timeout_s=30)
    assert result.stdout == "login-ok\n"


def test_ssh_forwards_tcp(ssh_env: dict[str, str], echo_port: int) -> None:
    # -W opens the same direct-tcpip channel that a -L forward opens for each connection.
    result = run(ssh_argv(ssh_env, "-W", f"127.0.0.1:{echo_port}"), input="through the tunnel\n", timeout_s=30)
    assert result.stdout == "through the tunnel\n"


@pytest.mark.e2e
@pytest.mark.kubectl
def test_demo_runs_main_job(slurm_env: dict[str, str], tmp_path: Path) -> None:
    # scripts/demo.sh is the part of `dev.sh demo` after the install: the README's main job.
    env = {"JIRIAF_DEV_VENV": sys.prefix, "JIRIAF_DEV_STATE": str(DEV_STATE)}
    result = run([str(DEV_SH.parent / "demo.sh")], env=env, check=False, timeout_s=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "node/vk-local-" in result.stdout
    assert "successful run completed" in result.stdout
    assert "Completed" in result.stdout
    assert "CANCELLED; nodes deleted: vk-local-" in result.stdout
    assert "demo finished in" in result.stdout


def test_unknown_subcommand_shows_usage() -> None:
    result = run([str(DEV_SH), "no-such-command"], check=False)
    assert result.returncode == 2
    assert "usage: scripts/dev.sh" in result.stderr


def test_test_without_venv_fails(tmp_path: Path) -> None:
    env = {"JIRIAF_DEV_VENV": str(tmp_path / "absent"), "JIRIAF_DEV_STATE": str(tmp_path)}
    result = run([str(DEV_SH), "test"], env=env, check=False)
    assert result.returncode == 1
    assert f"no virtualenv at {tmp_path}/absent" in result.stderr
