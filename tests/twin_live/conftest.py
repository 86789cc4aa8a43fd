"""A real Prometheus server (Debian's `prometheus` package) for the live-twin tests.

The session fixture starts /usr/bin/prometheus on a free 127.0.0.1 port with a 1 s scrape interval. It
scrapes one queue exporter target per name in `EXPORTER_NAMES`, each on a port chosen up front. A test
starts the exporter of its name when it needs a scenario that begins at step 0, so tests do not share a
scenario clock. Without /usr/bin/prometheus the tests that need it are skipped, unless
JIRIAF_REQUIRE_PROMETHEUS=1 (as in CI): then they fail.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import pytest

from .helpers import child_process, free_port, log_tail, running_exporter, wait_for

PROMETHEUS_BINARY = Path("/usr/bin/prometheus")
EXPORTER_NAMES = ("steady", "loop", "cli", "signals")
SCRAPE_INTERVAL = "1s"


def _unavailable(reason: str) -> NoReturn:
    if os.environ.get("JIRIAF_REQUIRE_PROMETHEUS") == "1":
        pytest.fail(f"{reason}, and JIRIAF_REQUIRE_PROMETHEUS=1 requires it", pytrace=False)
    pytest.skip(reason)


@dataclass(frozen=True)
class PrometheusServer:
    """A running Prometheus and the exporter ports it scrapes."""

    url: str
    exporter_ports: dict[str, int]
    log_path: Path

    def instance(self, name: str) -> str:
        """The `instance` label of the named exporter target."""
        return f"127.0.0.1:{self.exporter_ports[name]}"

    def selector(self, metric: str, name: str) -> str:
        """PromQL selecting one exporter's series of `metric`."""
        return f'{metric}{{instance="{self.instance(name)}"}}'


def _config(exporter_ports: dict[str, int]) -> str:
    targets = ", ".join(f'"127.0.0.1:{port}"' for port in exporter_ports.values())
    return (f"global:\n  scrape_interval: {SCRAPE_INTERVAL}\n  scrape_timeout: {SCRAPE_INTERVAL}\n"
            f"  evaluation_interval: {SCRAPE_INTERVAL}\n"
            f"scrape_configs:\n  - job_name: queue\n    static_configs:\n      - targets: [{targets}]\n")


def _get(url: str) -> bytes | None:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=2) as response:
            return response.read() if response.status == 200 else None
    except (urllib.error.URLError, OSError):
        return None


def _scraping_every_target(url: str) -> bool:
    """True once the scrape manager lists every target; Prometheus 2.42 applies the config about 5 s after start."""
    body = _get(f"{url}/api/v1/targets")
    return body is not None and len(json.loads(body)["data"]["activeTargets"]) == len(EXPORTER_NAMES)


@pytest.fixture(scope="session")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrometheusServer]:
    """Start Prometheus, wait for /-/ready, and stop it after the session."""
    if not os.access(PROMETHEUS_BINARY, os.X_OK):
        _unavailable(f"{PROMETHEUS_BINARY} is missing (install Debian's prometheus package: scripts/dev.sh install)")
    root = tmp_path_factory.mktemp("prometheus")
    exporter_ports = {name: free_port() for name in EXPORTER_NAMES}
    config = root / "prometheus.yml"
    config.write_text(_config(exporter_ports), encoding="utf-8")
    port = free_port()
    server = PrometheusServer(url=f"http://127.0.0.1:{port}", exporter_ports=exporter_ports,
                              log_path=root / "prometheus.log")
    argv = [str(PROMETHEUS_BINARY), f"--config.file={config}", f"--storage.tsdb.path={root / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}"]
    with child_process(argv, server.log_path) as process:

        def ready() -> bool:
            if process.poll() is not None:
                raise AssertionError(f"prometheus exited with {process.returncode}:\n{log_tail(server.log_path)}")
            return _get(f"{server.url}/-/ready") is not None

        wait_for(ready, timeout_s=60, what=f"Prometheus at {server.url}/-/ready", interval_s=0.2)
        wait_for(lambda: _scraping_every_target(server.url), timeout_s=60,
                 what=f"Prometheus at {server.url} to list its scrape targets", interval_s=0.2)
        yield server


@pytest.fixture(scope="session")
def steady_exporter(prometheus: PrometheusServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Run the "steady" exporter for the whole session (16 threads) and return its instance label (host:port)."""
    root = tmp_path_factory.mktemp("steady-exporter")
    with running_exporter(prometheus.exporter_ports["steady"], root / "threads", root / "exporter.log"):
        yield prometheus.instance("steady")
