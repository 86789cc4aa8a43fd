"""The scenario exporter: the values it computes, the threads file, its step clock, and its command line."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import pytest

from jiriaf_fw.testing.queue_exporter import (
    ExporterError,
    QueueMetrics,
    ThreadsFile,
    reading_at,
    run_exporter,
)

from .helpers import free_port, log_tail, metric, running_exporter, scrape, stop_process, write_atomically


def test_queue_length_under_16_threads() -> None:
    observed = [round(reading_at(step, 16).queue_length, 6) for step in range(12)]
    assert observed == [32, 35.6, 39.2, 44.4, 51.2, 58, 73.6, 89.2, 125.8, 183.4, 241, 241]


def test_queue_length_under_32_threads_while_draining() -> None:
    observed = [round(reading_at(step, 32).queue_length, 6) for step in range(22, 31)]
    assert observed == [3.536, 3.512, 3.312, 2.936, 2.56, 2.536, 2.512, 2.312, 1.936]


def test_reading_rates_and_state() -> None:
    reading = reading_at(3, 16)
    assert reading.state == pytest.approx(1.2)
    assert reading.send_rate_hz == pytest.approx(163.2)
    assert reading.process_rate_hz == pytest.approx(1 / 0.006)
    assert reading_at(3, 32).process_rate_hz == pytest.approx(1 / 0.0045)


def test_scenario_far_steps() -> None:
    assert reading_at(500, 32).state == pytest.approx(0.4)
    assert reading_at(10, 16).state == pytest.approx(4.0)


def test_reading_rejects_unknown_threads() -> None:
    with pytest.raises(ExporterError, match="thread count 24 is not in the scenario; use one of \\[16, 32\\]"):
        reading_at(0, 24)


def test_threads_file_missing_keeps_initial(tmp_path: Path) -> None:
    assert ThreadsFile(tmp_path / "threads", initial=32).read() == 32


def test_threads_file_follows_content(tmp_path: Path) -> None:
    path = tmp_path / "threads"
    threads = ThreadsFile(path)
    write_atomically(path, "32\n")
    assert threads.read() == 32
    write_atomically(path, "16")
    assert threads.read() == 16


def test_threads_file_invalid_keeps_previous(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "threads"
    threads = ThreadsFile(path)
    write_atomically(path, "32")
    threads.read()
    write_atomically(path, "lots")
    with caplog.at_level(logging.WARNING):
        assert threads.read() == 32
        assert threads.read() == 32
    assert [record.getMessage() for record in caplog.records] == [
        f"{path} contains 'lots', not one of [16, 32]; keeping 32 threads"]


def test_threads_file_rejects_initial() -> None:
    with pytest.raises(ExporterError, match="initial thread count 8"):
        ThreadsFile(None, initial=8)


class StepClock:
    """Monotonic time that only `AdvancingEvent.wait` moves forward."""

    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        return self.now


class AdvancingEvent(threading.Event):
    """An event whose `wait` advances a `StepClock` instead of sleeping."""

    def __init__(self, clock: StepClock) -> None:
        super().__init__()
        self.clock = clock
        self.waits: list[float] = []

    def wait(self, timeout: float | None = None) -> bool:
        self.waits.append(timeout or 0.0)
        self.clock.now += timeout or 0.0
        return self.is_set()


def test_run_exporter_publishes_each_step() -> None:
    clock = StepClock()
    stop = AdvancingEvent(clock)
    metrics = QueueMetrics()
    last = run_exporter(metrics, ThreadsFile(None), step_seconds=2.0, stop=stop, monotonic=clock.monotonic,
                        poll_seconds=0.5, max_steps=5)
    assert last == 5
    assert metrics.registry.get_sample_value("stream_scenario_step") == 5
    assert metrics.registry.get_sample_value("stream_queue_length") == pytest.approx(58.0)
    assert metrics.registry.get_sample_value("stream_threads") == 16
    assert max(stop.waits) == 0.5


def test_run_exporter_applies_threads_within_step(tmp_path: Path) -> None:
    path = tmp_path / "threads"
    clock = StepClock()
    metrics = QueueMetrics()
    published_threads: list[float | None] = []

    class SwitchingEvent(AdvancingEvent):
        def wait(self, timeout: float | None = None) -> bool:
            published_threads.append(metrics.registry.get_sample_value("stream_threads"))
            if self.clock.now >= 1.0:
                write_atomically(path, "32")
            if self.clock.now >= 2.0:
                self.set()
            return super().wait(timeout)

    last = run_exporter(metrics, ThreadsFile(path), step_seconds=10.0, stop=SwitchingEvent(clock),
                        monotonic=clock.monotonic, poll_seconds=0.5)
    assert last == 0
    assert published_threads == [16, 16, 16, 32, 32]
    assert metrics.registry.get_sample_value("stream_queue_length") == pytest.approx(1.56)


def test_run_exporter_rejects_step_length() -> None:
    with pytest.raises(ExporterError, match="invalid step length 0.0 s"):
        run_exporter(QueueMetrics(), ThreadsFile(None), step_seconds=0.0, stop=threading.Event())


def test_exporter_command_serves_and_stops(tmp_path: Path) -> None:
    port = free_port()
    threads_file = tmp_path / "threads"
    write_atomically(threads_file, "32")
    log_path = tmp_path / "exporter.log"
    with running_exporter(port, threads_file, log_path, step_seconds=60) as process:
        samples = scrape(f"http://127.0.0.1:{port}/metrics")
        assert metric(samples, "stream_queue_length") == pytest.approx(1.56)
        assert metric(samples, "stream_threads") == 32
        assert metric(samples, "stream_send_rate_hz") == pytest.approx(162.0)
        assert metric(samples, "stream_process_rate_hz") == pytest.approx(1 / 0.0045)
        assert metric(samples, "stream_scenario_step") == 0
        assert stop_process(process) == 0, log_tail(log_path)
    assert f"listening on http://127.0.0.1:{port}/metrics" in log_path.read_text()
