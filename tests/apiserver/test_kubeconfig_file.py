"""The double's kubeconfig file: its own file is replaced, anyone else's is kept unless overwriting is asked for."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from jiriaf_fw.testing.apiserver import ApiServerDouble, KubeconfigExistsError
from jiriaf_fw.testing.apiserver.main import main

REAL_KUBECONFIG = """\
apiVersion: v1
kind: Config
clusters:
- name: production
  cluster: {server: "https://10.0.0.1:6443"}
contexts:
- name: production
  context: {cluster: production, user: admin}
current-context: production
users:
- name: admin
  user: {token: not-a-real-token}
"""


def write_real_kubeconfig(path: Path) -> Path:
    path.write_text(REAL_KUBECONFIG)
    return path


async def test_foreign_kubeconfig_kept(api: ApiServerDouble, tmp_path: Path) -> None:
    path = write_real_kubeconfig(tmp_path / "config")
    with pytest.raises(KubeconfigExistsError) as caught:
        api.write_kubeconfig(path)
    assert str(caught.value) == (
        f"kubeconfig '{path}' already exists and has current-context 'production', not "
        "'jiriaf-apiserver-double', so it was not overwritten"
    )
    assert caught.value.exit_code == 2
    assert path.read_text() == REAL_KUBECONFIG


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("- a list\n", "is not a kubeconfig written by the API-server double"),
        ("clusters: [\n", "cannot be read as a kubeconfig written by the API-server double"),
        (
            "current-context: jiriaf-apiserver-double\nclusters: [{name: jiriaf-apiserver-double}, {name: prod}]\n",
            "has clusters other than 'jiriaf-apiserver-double'",
        ),
    ],
)
async def test_other_files_kept(api: ApiServerDouble, tmp_path: Path, content: str, reason: str) -> None:
    path = tmp_path / "config"
    path.write_text(content)
    with pytest.raises(KubeconfigExistsError) as caught:
        api.write_kubeconfig(path)
    assert caught.value.reason == reason
    assert path.read_text() == content


async def test_dangling_symlink_kept(api: ApiServerDouble, tmp_path: Path) -> None:
    link = tmp_path / "config"
    link.symlink_to(tmp_path / "missing")
    with pytest.raises(KubeconfigExistsError):
        api.write_kubeconfig(link)
    assert link.is_symlink()


async def test_own_kubeconfig_replaced(api: ApiServerDouble, tmp_path: Path) -> None:
    path = tmp_path / "config"
    path.write_text(yaml.safe_dump({**api.kubeconfig(), "clusters": [
        {"name": "jiriaf-apiserver-double", "cluster": {"server": "http://127.0.0.1:1"}}]}))
    api.write_kubeconfig(path)
    assert yaml.safe_load(path.read_text()) == api.kubeconfig()


async def test_overwrite_replaces_any_file(api: ApiServerDouble, tmp_path: Path) -> None:
    path = write_real_kubeconfig(tmp_path / "config")
    api.write_kubeconfig(path, overwrite=True)
    assert yaml.safe_load(path.read_text()) == api.kubeconfig()
    assert path.stat().st_mode & 0o777 == 0o600


def test_console_entry_keeps_foreign_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_real_kubeconfig(tmp_path / "config")
    assert main(["--kubeconfig", str(path), "--log-level", "WARNING"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        f"jiriaf-apiserver-double: kubeconfig '{path}' already exists and has current-context 'production', not "
        "'jiriaf-apiserver-double', so it was not overwritten; choose another --kubeconfig path or pass --force\n"
    )
    assert path.read_text() == REAL_KUBECONFIG


def test_console_entry_force_overwrites(tmp_path: Path) -> None:
    path, ready = write_real_kubeconfig(tmp_path / "config"), tmp_path / "ready"
    process = subprocess.Popen(
        [sys.executable, "-m", "jiriaf_fw.testing.apiserver", "--kubeconfig", str(path), "--force",
         "--ready-file", str(ready), "--log-level", "WARNING"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.monotonic() + 10
        while not ready.exists():
            assert process.poll() is None, "the double exited before it was ready"
            assert time.monotonic() < deadline, "the ready file did not appear"
            time.sleep(0.05)
        config = yaml.safe_load(path.read_text())
        assert config["current-context"] == "jiriaf-apiserver-double"
        assert config["clusters"][0]["cluster"]["server"] == ready.read_text().strip()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
