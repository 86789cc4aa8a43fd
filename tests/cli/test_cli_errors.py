"""Bad input to the CLI: one exact line on stderr, a non-zero exit, and the launchpad left unchanged."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

GOOD_SLURM = {"nodes": 2, "walltime": "00:10:00"}


def _good_jrm(kubeconfig: Path, work_root: Path) -> dict[str, Any]:
    return {"nodename": "vk-test", "site": "test", "kubeconfig": str(kubeconfig), "vkubelet_pod_ips": "127.0.0.1",
            "work_root": str(work_root)}


@pytest.fixture()
def env(tmp_path: Path) -> dict[str, str]:
    environ = {**os.environ, "JIRIAF_FW_HOME": str(tmp_path / "lp"), "HOME": str(tmp_path)}
    environ.pop("JIRIAF_FW_LAUNCHPAD", None)
    return environ


@pytest.fixture()
def kubeconfig(tmp_path: Path) -> Path:
    path = tmp_path / "kubeconfig"
    path.write_text("apiVersion: v1\nkind: Config\n", encoding="utf-8")
    return path


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "jiriaf_fw.cli", *args], env=env, capture_output=True, text=True,
                          timeout=120, check=False)


def _store_bytes(tmp_path: Path) -> bytes:
    store = tmp_path / "lp" / "launchpad.json"
    return store.read_bytes() if store.exists() else b""


def _write(tmp_path: Path, data: Any, name: str = "site.yaml") -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def _config(kubeconfig: Path, tmp_path: Path, *, slurm: dict[str, Any] | None = None,
            jrm: dict[str, Any] | None = None, drop: tuple[str, str] | None = None) -> dict[str, Any]:
    config = {"slurm": {**GOOD_SLURM, **(slurm or {})},
              "jrm": {**_good_jrm(kubeconfig, tmp_path / "work"), **(jrm or {})}}
    if drop is not None:
        del config[drop[0]][drop[1]]
    return config


@pytest.fixture()
def seeded(tmp_path: Path, env: dict[str, str], kubeconfig: Path) -> bytes:
    """A launchpad that already contains one pilot, so 'unchanged' means more than 'still absent'."""
    first = _write(tmp_path, _config(kubeconfig, tmp_path), "first.yaml")
    assert _run(["add_wf", str(first)], env).returncode == 0
    return _store_bytes(tmp_path)


CASES = [
    ("missing key", {"drop": ("jrm", "nodename")}, "jrm.nodename: missing required key"),
    ("unknown key", {"slurm": {"partitionn": "debug"}}, "slurm.partitionn: unknown key"),
    ("wrong type", {"slurm": {"nodes": "two"}}, "slurm.nodes: expected an integer, got 'two'"),
    ("nodes below one", {"slurm": {"nodes": 0}}, "slurm.nodes: expected a number >= 1, got 0"),
    ("bad walltime", {"slurm": {"walltime": "1:2:3:4"}},
     "slurm.walltime: invalid Slurm duration '1:2:3:4'"),
    ("walltime at margin", {"slurm": {"walltime": "00:01:00"}}, "slurm.walltime:"),
    ("pod ip list length", {"jrm": {"vkubelet_pod_ips": ["127.0.0.1"]}},
     ("jrm.vkubelet_pod_ips: expected one IP address per node (2), got 1: ['127.0.0.1']; give a single IP to "
     "share it")),
    ("control character", {"jrm": {"site": "te\nst"}}, "jrm.site: control character '\\n' is not allowed"),
    ("control character in directive", {"slurm": {"account": "m1\nrm -rf"}}, "slurm.account: control character"),
]


@pytest.mark.parametrize(("case", "change", "expected"), CASES, ids=[case[0] for case in CASES])
def test_add_wf_rejects_bad_config(case: str, change: dict[str, Any], expected: str, tmp_path: Path,
                                   env: dict[str, str], kubeconfig: Path, seeded: bytes) -> None:
    config = _write(tmp_path, _config(kubeconfig, tmp_path, **change))
    result = _run(["add_wf", str(config)], env)
    assert result.returncode != 0
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"error: {config}: {expected}"), lines[0]
    assert result.stdout == ""
    assert _store_bytes(tmp_path) == seeded


def test_add_wf_walltime_at_margin_message(tmp_path: Path, env: dict[str, str], kubeconfig: Path) -> None:
    config = _write(tmp_path, _config(kubeconfig, tmp_path, slurm={"walltime": "00:01:00"}))
    result = _run(["add_wf", str(config)], env)
    assert result.returncode == 2
    assert "60" in result.stderr
    assert _store_bytes(tmp_path) == b""


def test_add_wf_missing_kubeconfig(tmp_path: Path, env: dict[str, str], kubeconfig: Path, seeded: bytes) -> None:
    missing = tmp_path / "nowhere" / "kubeconfig"
    config = _write(tmp_path, _config(kubeconfig, tmp_path, jrm={"kubeconfig": str(missing)}))
    result = _run(["add_wf", str(config)], env)
    assert result.returncode == 2
    assert result.stderr == f"error: {config}: jrm.kubeconfig: file not found: '{missing}'\n"
    assert _store_bytes(tmp_path) == seeded


def test_add_wf_missing_config_file(tmp_path: Path, env: dict[str, str]) -> None:
    result = _run(["add_wf", str(tmp_path / "absent.yaml")], env)
    assert result.returncode != 0
    assert len(result.stderr.splitlines()) == 1
    assert result.stderr.startswith(f"error: {tmp_path / 'absent.yaml'}:")


def test_add_wf_ports_exhausted(tmp_path: Path, env: dict[str, str], kubeconfig: Path) -> None:
    narrow = {"kubelet_port_range": "12000-12002"}
    first = _write(tmp_path, _config(kubeconfig, tmp_path, jrm=narrow), "first.yaml")
    assert _run(["add_wf", str(first)], env).returncode == 0
    before = _store_bytes(tmp_path)

    second = _write(tmp_path, _config(kubeconfig, tmp_path, jrm=narrow), "second.yaml")
    result = _run(["add_wf", str(second)], env)
    assert result.returncode != 0
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert "12000-12002" in lines[0]
    assert "jrm.kubelet_port_range" in lines[0]
    assert _store_bytes(tmp_path) == before


def test_dry_run_stores_nothing(tmp_path: Path, env: dict[str, str], kubeconfig: Path, seeded: bytes) -> None:
    config = _write(tmp_path, _config(kubeconfig, tmp_path))
    result = _run(["add_wf", str(config), "--dry-run"], env)
    assert result.returncode == 0
    assert "#SBATCH --nodes=2" in result.stdout
    assert "srun" not in result.stdout or "node-setup" in result.stdout
    assert _store_bytes(tmp_path) == seeded


def test_delete_unknown_id_fails(tmp_path: Path, env: dict[str, str], seeded: bytes) -> None:
    result = _run(["delete_wf", "42"], env)
    assert result.returncode == 1
    assert result.stderr == (f"error: no pilot with fw_id 42 was ever added on launchpad "
                             f"{tmp_path / 'lp' / 'launchpad.json'}; see jiriaf-fw get_wf for the existing ids\n")
    assert _store_bytes(tmp_path) == seeded


def test_delete_twice_says_already_deleted(tmp_path: Path, env: dict[str, str], seeded: bytes) -> None:
    first = _run(["delete_wf", "1"], env)
    assert first.returncode == 0
    assert first.stdout.startswith("fw_id 1: deleted")
    second = _run(["delete_wf", "1"], env)
    assert second.returncode == 0
    assert second.stdout == "fw_id 1: already deleted, nothing to do\n"


def test_print_config_redacts_passphrase(tmp_path: Path, env: dict[str, str], kubeconfig: Path) -> None:
    config = _config(kubeconfig, tmp_path, jrm={"control_plane_ip": "10.0.0.1", "apiserver_port": 6443})
    config["ssh"] = {"remote": "user@login.example.org", "key": str(tmp_path / "key"),
                     "key_passphrase": "hunter2-secret"}
    path = _write(tmp_path, config)
    result = _run(["print_config", str(path), "--json"], env)
    assert result.returncode == 0, result.stderr
    assert "hunter2-secret" not in result.stdout
    assert '"key_passphrase": "**********"' in result.stdout


def test_usage_error_exits_two(env: dict[str, str]) -> None:
    result = _run(["add_wf"], env)
    assert result.returncode == 2
    assert "Missing argument" in result.stderr
