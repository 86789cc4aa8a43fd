"""Helpers of the live-twin tests: free ports, polling with a deadline, scraping, and child processes."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from prometheus_client.parser import text_string_to_metric_families

T = TypeVar("T")


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(condition: Callable[[], T | None], *, timeout_s: float, what: str, interval_s: float = 0.1) -> T:
    """Poll `condition` until it returns a truthy value and return that; fail the test after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(interval_s)


def scrape(url: str, *, timeout_s: float = 5.0) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Fetch a /metrics page and return {(sample name, labels): value}."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(url, timeout=timeout_s) as response:
        text = response.read().decode("utf-8")
    return {(sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def try_scrape(url: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float] | None:
    """Like `scrape`, but return None while the server does not respond."""
    try:
        return scrape(url, timeout_s=2.0)
    except OSError:
        return None


def metric(samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float | None:
    """Return one sample's value from a `scrape` result, or None when it is absent."""
    return samples.get((name, frozenset(labels.items())))


def write_atomically(path: Path, text: str) -> None:
    """Replace `path` with `text` in one rename, so a reader never sees half a file."""
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


def stop_process(process: subprocess.Popen[bytes], *, grace_s: float = 10.0) -> int:
    """SIGTERM a child we started, SIGKILL it after `grace_s`, and return its exit status."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=grace_s)
    return int(process.returncode)


def log_tail(path: Path, lines: int = 30) -> str:
    """Return the last lines of a log file, for failure messages."""
    if not path.exists():
        return f"(no {path})"
    return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])


@contextmanager
def child_process(argv: Sequence[str], log_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """Run `argv` with stdout and stderr in `log_path`; stop it (SIGTERM, then SIGKILL) on exit."""
    with log_path.open("wb") as log:
        process = subprocess.Popen(list(argv), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        yield process
    finally:
        stop_process(process)


@contextmanager
def running_exporter(port: int, threads_file: Path, log_path: Path, *,
                     step_seconds: float = 1.0) -> Iterator[subprocess.Popen[bytes]]:
    """Run the queue exporter on 127.0.0.1:`port` and wait until it serves /metrics."""
    argv = [sys.executable, "-m", "jiriaf_fw.testing.queue_exporter", "--port", str(port),
            "--step-seconds", str(step_seconds), "--threads-file", str(threads_file)]
    with child_process(argv, log_path) as process:
        url = f"http://127.0.0.1:{port}/metrics"

        def ready() -> bool:
            if process.poll() is not None:
                raise AssertionError(f"the exporter exited with {process.returncode}:\n{log_tail(log_path)}")
            return try_scrape(url) is not None

        wait_for(ready, timeout_s=20, what=f"the exporter at {url}")
        yield process
