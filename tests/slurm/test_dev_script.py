"""scripts/dev.sh: its subcommands against the running local services, and its argument handling."""

from __future__ import annotations

from pathlib import Path

from jiriaf_fw.adapters.commands import run

DEV_SH = Path(__file__).resolve().parents[2] / "scripts" / "dev.sh"


def test_slurm_start_when_running_is_noop(slurm_env: dict[str, str]) -> None:
    result = run([str(DEV_SH), "slurm-start"], timeout_s=120)
    assert "Slurm is already running" in result.stderr


def test_slurm_status_shows_idle_nodes(slurm_env: dict[str, str]) -> None:
    result = run([str(DEV_SH), "slurm-status"], timeout_s=60)
    nodes = {line.split()[0]: line.split()[1:] for line in result.stdout.splitlines()[1:]}
    assert set(nodes) == {"n1", "n2"}
    assert nodes["n1"][0] == "debug*"


def test_ssh_key_login(ssh_env: dict[str, str]) -> None:
    result = run(
        ["ssh", "-p", ssh_env["JIRIAF_DEV_SSH_PORT"], "-i", ssh_env["JIRIAF_DEV_SSH_KEY"],
         "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
         "-o", f"UserKnownHostsFile={ssh_env['JIRIAF_DEV_SSH_KNOWN_HOSTS']}",
         f"{ssh_env['JIRIAF_DEV_SSH_USER']}@{ssh_env['JIRIAF_DEV_SSH_HOST']}", "echo", "login-ok"],
        timeout_s=30,
    )
    assert result.stdout == "login-ok\n"


def test_demo_is_a_stub() -> None:
    result = run([str(DEV_SH), "demo"], check=False)
    assert result.returncode == 2
    assert "not written yet" in result.stderr


def test_unknown_subcommand_shows_usage() -> None:
    result = run([str(DEV_SH), "no-such-command"], check=False)
    assert result.returncode == 2
    assert "usage: scripts/dev.sh" in result.stderr


def test_test_without_venv_fails(tmp_path: Path) -> None:
    env = {"JIRIAF_DEV_VENV": str(tmp_path / "absent"), "JIRIAF_DEV_STATE": str(tmp_path)}
    result = run([str(DEV_SH), "test"], env=env, check=False)
    assert result.returncode == 1
    assert f"no virtualenv at {tmp_path}/absent" in result.stderr
