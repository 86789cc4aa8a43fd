"""The live twin closed over the queue exporter through a real Prometheus: in-process and through the CLI.

The exporter steps through the scenario once a second and Prometheus scrapes it once a second, so the load
rises under 16 threads within a few seconds of the exporter's start. An actuator (standing in for an HPA) copies the
twin's recommended thread count into the exporter's threads file, which closes the loop.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from jiriaf_fw.services.twin_live import LiveTwinSettings, StepRecord, run_live
from jiriaf_fw.services.twin_metrics import TwinMetrics, control_threads, state_labels
from jiriaf_fw.twin.paper import default_model

from .conftest import PrometheusServer
from .helpers import (
    free_port,
    log_tail,
    metric,
    running_exporter,
    scrape,
    try_scrape,
    wait_for,
    write_atomically,
)

STATES = state_labels(default_model())
# The twin assigns a 16-thread queue length to load state 40 (index 2) or above from about 52 on.
RISEN_QUEUE_LENGTH = 52.0
# Under 32 threads the measured queue length stays below 3.6 in every load state.
DRAINED_QUEUE_LENGTH = 5.0


def twin_argv(prometheus: PrometheusServer, name: str, port: int, *extra: str) -> list[str]:
    return [sys.executable, "-m", "jiriaf_fw.cli", "twin", "run", "--prometheus", prometheus.url,
            "--query", prometheus.selector("stream_queue_length", name),
            "--listen", f"127.0.0.1:{port}", *extra]


@contextmanager
def actuator(twin_metrics_url: str, threads_file: Path) -> Iterator[list[dict[tuple[str, frozenset], float]]]:
    """Copy the twin's recommended thread count into the exporter's threads file every 0.1 s, as an HPA would.

    Yields the list of every successful scrape of the twin's /metrics.
    """
    scrapes: list[dict[tuple[str, frozenset], float]] = []
    stop = threading.Event()

    def copy() -> None:
        while not stop.wait(0.1):
            samples = try_scrape(twin_metrics_url)
            threads = None if samples is None else metric(samples, "jiriaf_twin_recommended_threads")
            if threads is not None:
                scrapes.append(samples)  # type: ignore[arg-type]  # not None when threads is not None
                write_atomically(threads_file, f"{int(threads)}\n")

    thread = threading.Thread(target=copy, name="actuator", daemon=True)
    thread.start()
    try:
        yield scrapes
    finally:
        stop.set()
        thread.join()


def test_loop_counts_down_target_then_switches(prometheus: PrometheusServer, tmp_path: Path) -> None:
    threads_file = tmp_path / "threads"
    listen_port = free_port()
    settings = LiveTwinSettings(
        prometheus_url=prometheus.url, queue_query=prometheus.selector("stream_queue_length", "loop"),
        send_rate_query=prometheus.selector("stream_send_rate_hz", "loop"),
        process_rate_query=prometheus.selector("stream_process_rate_hz", "loop"),
        enacted_query=prometheus.selector("stream_threads", "loop"),
        interval_s=1.0, listen=("127.0.0.1", listen_port), max_consecutive_failures=30)
    model = default_model()
    metrics = TwinMetrics(state_labels(model), control_threads(model))
    records: list[StepRecord] = []
    errors: list[BaseException] = []
    stop = threading.Event()

    def on_step(record: StepRecord) -> None:
        records.append(record)
        write_atomically(threads_file, f"{record.recommended_threads}\n")

    def run() -> None:
        try:
            run_live(settings, model, stop=stop, metrics=metrics, on_step=on_step)
        except Exception as error:  # noqa: BLE001  (the test thread asserts that none occurred)
            errors.append(error)

    loop = threading.Thread(target=run, name="live-twin")
    loop.start()
    twin_url = f"http://127.0.0.1:{listen_port}/metrics"
    try:
        # The exporter is not running yet, so every step fails and is counted, and the loop keeps going.
        wait_for(lambda: (metric(try_scrape(twin_url) or {}, "jiriaf_twin_query_errors_total", query="queue")
                          or 0) >= 2, timeout_s=20, what="two counted query errors")
        assert loop.is_alive()
        with running_exporter(prometheus.exporter_ports["loop"], threads_file, tmp_path / "exporter.log"):
            wait_for(lambda: any(record.enacted == 0 and record.queue_length < DRAINED_QUEUE_LENGTH
                                 for record in records), timeout_s=45, what="the twin to see the drained queue")
            samples = scrape(twin_url)
    finally:
        stop.set()
        loop.join(timeout=30)
    assert not errors, f"run_live raised {errors!r}"
    first_switch = next(record for record in records if record.recommended_threads == 32)
    assert first_switch.queue_length >= RISEN_QUEUE_LENGTH
    assert first_switch.enacted == 1
    assert all(record.recommended_threads == 16 for record in records[:first_switch.step])
    assert metric(samples, "jiriaf_twin_recommended_threads") == 32
    assert metric(samples, "jiriaf_twin_enacted_threads") == 32
    assert metric(samples, "jiriaf_twin_observed_process_rate_hz") == pytest.approx(1 / 0.0045)
    assert 162.0 <= (metric(samples, "jiriaf_twin_observed_send_rate_hz") or 0) <= 166.0
    assert (metric(samples, "jiriaf_twin_query_errors_total", query="queue") or 0) >= 2
    assert metric(samples, "jiriaf_twin_query_errors_total", query="enacted") == 0
    beliefs = [metric(samples, "jiriaf_twin_belief", state=label) for label in STATES]
    assert None not in beliefs
    assert sum(beliefs) == pytest.approx(1.0)  # type: ignore[arg-type]  # checked for None above


def test_cli_closed_loop_switches_to_32(prometheus: PrometheusServer, tmp_path: Path) -> None:
    threads_file = tmp_path / "threads"
    twin_port = free_port()
    argv = twin_argv(prometheus, "cli", twin_port, "--interval", "1", "--steps", "14", "--max-failures", "20",
                     "--send-rate-query", prometheus.selector("stream_send_rate_hz", "cli"), "--json")
    with (running_exporter(prometheus.exporter_ports["cli"], threads_file, tmp_path / "exporter.log"),
          actuator(f"http://127.0.0.1:{twin_port}/metrics", threads_file) as scrapes):
        twin = subprocess.run(argv, capture_output=True, text=True, timeout=90, check=False)
    assert twin.returncode == 0, twin.stderr
    assert "stopped after 14 steps" in twin.stderr
    steps = [json.loads(line) for line in twin.stdout.splitlines()]
    assert len(steps) == 14
    first_switch = next(index for index, step in enumerate(steps) if step["recommended_threads"] == 32)
    assert steps[first_switch]["queue_length"] >= RISEN_QUEUE_LENGTH
    assert all(step["recommended_threads"] == 16 for step in steps[:first_switch])
    assert steps[-1]["enacted_threads"] == 32
    assert steps[-1]["queue_length"] < DRAINED_QUEUE_LENGTH
    assert set(steps[-1]["belief"]) == set(STATES)
    served = [samples for samples in scrapes if metric(samples, "jiriaf_twin_recommended_threads") == 32]
    assert served, "the twin's /metrics never showed 32 recommended threads"
    assert all(metric(served[-1], "jiriaf_twin_belief", state=label) is not None for label in STATES)
    assert metric(served[-1], "jiriaf_twin_steps_total") >= first_switch + 1  # type: ignore[operator]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_cli_stops_on_signal(prometheus: PrometheusServer, steady_exporter: str, tmp_path: Path,
                             signum: signal.Signals) -> None:
    twin_port = free_port()
    log_path = tmp_path / "twin.log"
    argv = twin_argv(prometheus, "steady", twin_port, "--interval", "0.5", "--max-failures", "100")
    with log_path.open("wb") as log:
        twin = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: (metric(try_scrape(f"http://127.0.0.1:{twin_port}/metrics") or {},
                                 "jiriaf_twin_steps_total") or 0) >= 1,
                 timeout_s=30, what="the twin's first step")
        twin.send_signal(signum)
        returncode = twin.wait(timeout=15)
    finally:
        if twin.poll() is None:
            twin.kill()
            twin.wait()
    assert returncode == 0, log_tail(log_path)
    assert "stopped after" in log_path.read_text()


def test_cli_exits_after_consecutive_failures(prometheus: PrometheusServer) -> None:
    argv = [sys.executable, "-m", "jiriaf_fw.cli", "twin", "run", "--prometheus", prometheus.url,
            "--query", 'no_such_metric{job="queue"}', "--interval", "0.2", "--max-failures", "3",
            "--listen", f"127.0.0.1:{free_port()}"]
    twin = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    assert twin.returncode == 1
    last_line = twin.stderr.strip().splitlines()[-1]
    assert last_line.startswith("error: 3 steps in a row failed; the last failure: queue query failed: "
                                "query 'no_such_metric{job=\"queue\"}' returned no samples from Prometheus at "
                                f"{prometheus.url}")


def test_cli_rejects_port_in_use(prometheus: PrometheusServer, steady_exporter: str) -> None:
    argv = [sys.executable, "-m", "jiriaf_fw.cli", "twin", "run", "--prometheus", prometheus.url,
            "--query", "up", "--listen", steady_exporter]
    twin = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    assert twin.returncode == 1
    assert twin.stderr.strip().splitlines()[-1].startswith(
        f"error: cannot serve the twin's metrics on {steady_exporter}: Address already in use")
