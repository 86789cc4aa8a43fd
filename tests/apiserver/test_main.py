"""The `jiriaf-apiserver-double` process: announces its URL, writes the kubeconfig, stops on SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import yaml


def test_process_serves_and_stops_on_sigterm(tmp_path: Path) -> None:
    kubeconfig, ready = tmp_path / "kubeconfig", tmp_path / "ready"
    process = subprocess.Popen(
        [sys.executable, "-m", "jiriaf_fw.testing.apiserver", "--kubeconfig", str(kubeconfig),
         "--ready-file", str(ready), "--log-level", "WARNING"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        assert line.startswith("listening on http://127.0.0.1:")
        url = line.removeprefix("listening on ")
        deadline = time.monotonic() + 10
        while not ready.exists():
            assert time.monotonic() < deadline, "the ready file did not appear"
            time.sleep(0.05)
        assert ready.read_text().strip() == url
        config = yaml.safe_load(kubeconfig.read_text())
        assert config["clusters"][0]["cluster"]["server"] == url
        assert config["current-context"] == config["contexts"][0]["name"]
        assert kubeconfig.stat().st_mode & 0o777 == 0o600
        with urllib.request.urlopen(url + "/readyz", timeout=10) as response:
            assert response.read() == b"ok"
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_port_in_use_exits_non_zero(tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "jiriaf_fw.testing.apiserver", "--kubeconfig", str(tmp_path / "kc"),
             "--port", str(port)],
            capture_output=True, text=True, timeout=30, check=False,
        )
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
