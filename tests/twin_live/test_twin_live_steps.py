"""The live twin's step logic with a fake query function and a fake clock: no server, no sleeping."""

from __future__ import annotations

import os
import signal
import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

from jiriaf_fw.adapters.prometheus import PrometheusEmptyResultError, PrometheusQueryError, Sample
from jiriaf_fw.services.twin_live import (
    LiveTwinSettings,
    StepRecord,
    TwinLiveError,
    TwinLiveSettingsError,
    parse_listen_address,
    run_live,
    stop_on_signals,
)
from jiriaf_fw.services.twin_metrics import TwinMetrics, control_threads, state_labels
from jiriaf_fw.testing.queue_exporter import reading_at
from jiriaf_fw.twin import TwinModel, default_model, improved_model

QUEUE = "stream_queue_length"
SEND = "stream_send_rate_hz"
PROCESS = "stream_process_rate_hz"
ENACTED = "stream_threads"


class FakeClock:
    """Monotonic time that advances only when the loop waits."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.waits: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def wait(self, stop: threading.Event, seconds: float) -> bool:
        self.waits.append(seconds)
        self.now += seconds
        return stop.is_set()


@dataclass
class FakeQueue:
    """The JIRIAF twin scenario (arXiv:2502.18596) behind a query function; `enact` plays the HPA that applies
    the recommendation."""

    threads: int = 16
    scenario_step: int = 0
    failing_steps: set[int] = field(default_factory=set)
    calls: list[tuple[str, float | None]] = field(default_factory=list)
    enacted_override: float | None = None

    def query(self, promql: str, at: float | None) -> Sample:
        self.calls.append((promql, at))
        if promql == QUEUE and self.scenario_step in self.failing_steps:
            self.scenario_step += 1
            raise PrometheusEmptyResultError(f"query {promql!r} returned no samples")
        reading = reading_at(self.scenario_step, self.threads)
        values = {QUEUE: reading.queue_length, SEND: reading.send_rate_hz, PROCESS: reading.process_rate_hz,
                  ENACTED: self.enacted_override if self.enacted_override is not None else float(self.threads)}
        if promql not in values:
            raise PrometheusQueryError(f"Prometheus rejected query {promql!r} (bad_data): parse error")
        return Sample(labels={}, timestamp=5000.0 + self.scenario_step, value=values[promql])

    def enact(self, record: StepRecord) -> None:
        self.threads = record.recommended_threads
        self.scenario_step += 1


def settings(**overrides: Any) -> LiveTwinSettings:
    values: dict[str, Any] = {"prometheus_url": "http://127.0.0.1:9", "queue_query": QUEUE, "interval_s": 5.0,
                              "listen": None}
    values.update(overrides)
    return LiveTwinSettings(**values)


def run_closed_loop(steps: int, queue: FakeQueue, *, model: TwinModel | None = None,
                    **overrides: Any) -> tuple[list[StepRecord], TwinMetrics]:
    model = model if model is not None else default_model()
    metrics = TwinMetrics(state_labels(model), control_threads(model))
    records: list[StepRecord] = []

    def on_step(record: StepRecord) -> None:
        records.append(record)
        queue.enact(record)

    run_live(settings(steps=steps, **overrides), model, query=queue.query, clock=FakeClock(), metrics=metrics,
             on_step=on_step)
    return records, metrics


def switch_steps(records: list[StepRecord]) -> list[int]:
    """Steps at which the enacted thread count differs from the step before (the JLab switch list)."""
    enacted = [record.enacted for record in records]
    return [step for step in range(1, len(enacted)) if enacted[step] != enacted[step - 1]]


def test_closed_loop_reproduces_jlab_switches() -> None:
    records, _ = run_closed_loop(80, FakeQueue())
    assert switch_steps(records) == [6, 37, 46, 77]


def test_closed_loop_observations_follow_scenario() -> None:
    records, _ = run_closed_loop(12, FakeQueue())
    observed = [round(record.queue_length, 6) for record in records]
    assert observed == [32, 35.6, 39.2, 44.4, 51.2, 58, 2.936, 3.312, 3.512, 3.536, 3.56, 3.56]


def test_improved_model_drains_sooner() -> None:
    records, _ = run_closed_loop(80, FakeQueue(), model=improved_model())
    switches = switch_steps(records)
    assert switches[0] <= 6
    assert switches[1] < 37


def test_metrics_after_switch() -> None:
    records, metrics = run_closed_loop(8, FakeQueue())
    registry = metrics.registry
    assert registry.get_sample_value("jiriaf_twin_recommended_threads") == 32
    assert registry.get_sample_value("jiriaf_twin_enacted_threads") == 32
    assert registry.get_sample_value("jiriaf_twin_observed_queue_length") == pytest.approx(3.312)
    assert registry.get_sample_value("jiriaf_twin_steps_total") == 8
    assert registry.get_sample_value("jiriaf_twin_query_errors_total", {"query": "queue"}) == 0
    assert registry.get_sample_value("jiriaf_twin_last_step_timestamp_seconds") == 5007.0
    beliefs = [registry.get_sample_value("jiriaf_twin_belief", {"state": label})
               for label in state_labels(default_model())]
    assert beliefs == pytest.approx(records[-1].belief.tolist())
    assert sum(beliefs) == pytest.approx(1.0)


def test_metrics_before_first_step() -> None:
    model = default_model()
    metrics = TwinMetrics(state_labels(model), control_threads(model))
    stop = threading.Event()
    stop.set()
    summary = run_live(settings(), model, query=FakeQueue().query, clock=FakeClock(), stop=stop, metrics=metrics)
    assert summary.steps == 0
    assert metrics.registry.get_sample_value("jiriaf_twin_recommended_threads") == 16
    assert metrics.registry.get_sample_value("jiriaf_twin_belief", {"state": "0"}) == 1.0


def test_rates_published_and_pinned_to_queue_time() -> None:
    queue = FakeQueue()
    records, metrics = run_closed_loop(3, queue, send_rate_query=SEND, process_rate_query=PROCESS)
    assert records[2].send_rate_hz == pytest.approx(162.8)
    assert records[2].process_rate_hz == pytest.approx(1 / 0.006)
    assert metrics.registry.get_sample_value("jiriaf_twin_observed_send_rate_hz") == pytest.approx(162.8)
    queue_times = [at for promql, at in queue.calls if promql == QUEUE]
    assert queue_times == [None, None, None]
    assert [at for promql, at in queue.calls if promql == SEND] == [5000.0, 5001.0, 5002.0]


def test_enacted_query_overrides_recommendation() -> None:
    queue = FakeQueue(threads=32)
    records: list[StepRecord] = []

    def ignore_recommendation(record: StepRecord) -> None:
        records.append(record)
        queue.scenario_step += 1

    run_live(settings(steps=3, enacted_query=ENACTED), default_model(), query=queue.query, clock=FakeClock(),
             on_step=ignore_recommendation)
    assert [record.enacted for record in records] == [0, 0, 0]
    assert [record.recommended_threads for record in records] == [16, 16, 16]
    assert [record.queue_length for record in records] == [1.56, pytest.approx(1.936), pytest.approx(2.312)]


def test_enacted_thread_count_unknown_skips_step() -> None:
    queue = FakeQueue(enacted_override=24.0)
    model = default_model()
    metrics = TwinMetrics(state_labels(model), control_threads(model))
    with pytest.raises(TwinLiveError) as caught:
        run_live(settings(enacted_query=ENACTED, max_consecutive_failures=2), model, query=queue.query,
                 clock=FakeClock(), metrics=metrics)
    assert "returned 24 threads, which is no control of the model (thread counts [32, 16])" in str(caught.value)
    assert metrics.registry.get_sample_value("jiriaf_twin_query_errors_total", {"query": "enacted"}) == 2
    assert metrics.registry.get_sample_value("jiriaf_twin_steps_total") == 0


def test_failed_queries_skip_steps() -> None:
    queue = FakeQueue(failing_steps={1, 2, 5})
    records, metrics = run_closed_loop(6, queue, max_consecutive_failures=3)
    assert len(records) == 6
    assert [record.step for record in records] == [0, 1, 2, 3, 4, 5]
    assert metrics.registry.get_sample_value("jiriaf_twin_query_errors_total", {"query": "queue"}) == 3
    assert metrics.registry.get_sample_value("jiriaf_twin_steps_total") == 6
    assert records[1].queue_length == pytest.approx(reading_at(3, 16).queue_length)


def test_failed_step_leaves_belief_unchanged() -> None:
    queue = FakeQueue(failing_steps={1})
    beliefs: list[np.ndarray] = []
    model = default_model()

    def on_step(record: StepRecord) -> None:
        beliefs.append(record.belief)
        queue.enact(record)

    run_live(settings(steps=2), model, query=queue.query, clock=FakeClock(), on_step=on_step)
    reference, _ = run_closed_loop(1, FakeQueue())
    assert np.array_equal(beliefs[0], reference[0].belief)
    assert queue.scenario_step == 3


def test_consecutive_failures_raise() -> None:
    queue = FakeQueue(failing_steps=set(range(100)))
    with pytest.raises(TwinLiveError) as caught:
        run_live(settings(max_consecutive_failures=4), default_model(), query=queue.query, clock=FakeClock())
    message = str(caught.value)
    assert message.startswith("4 steps in a row failed; the last failure: queue query failed:")
    assert "\n" not in message
    assert queue.scenario_step == 4


def test_bad_rate_query_skips_step() -> None:
    queue = FakeQueue()
    with pytest.raises(TwinLiveError) as caught:
        run_live(settings(send_rate_query="rate(", max_consecutive_failures=1), default_model(),
                 query=queue.query, clock=FakeClock())
    assert "send_rate query failed: Prometheus rejected query 'rate('" in str(caught.value)


def test_steps_are_interval_apart() -> None:
    clock = FakeClock()
    queue = FakeQueue()
    run_live(settings(steps=4, interval_s=2.5), default_model(), query=queue.query, clock=clock,
             on_step=queue.enact)
    assert clock.waits == [2.5, 2.5, 2.5]


def test_overrun_step_delays_next(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    queue = FakeQueue()

    def slow_query(promql: str, at: float | None) -> Sample:
        clock.now += 4.0
        return queue.query(promql, at)

    run_live(settings(steps=3, interval_s=2.5), default_model(), query=slow_query, clock=clock, on_step=queue.enact)
    assert clock.waits == []
    expected = ("a step took 4.0 s, longer than the 2.5 s interval, so the next step starts late; "
                "check the query latency or raise the interval")
    assert [record.getMessage() for record in caplog.records if "interval" in record.getMessage()] == [expected] * 3


def test_stop_event_ends_loop() -> None:
    stop = threading.Event()
    queue = FakeQueue()

    def on_step(record: StepRecord) -> None:
        queue.enact(record)
        if record.step == 2:
            stop.set()

    summary = run_live(settings(), default_model(), query=queue.query, clock=FakeClock(), stop=stop, on_step=on_step)
    assert summary.steps == 3
    assert summary.last is not None
    assert summary.last.step == 2


def test_stop_on_signals_sets_event() -> None:
    stop = threading.Event()
    before = signal.getsignal(signal.SIGTERM)
    with stop_on_signals(stop):
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop.wait(5)
    assert signal.getsignal(signal.SIGTERM) is before


@pytest.mark.parametrize(("text", "expected"), [
    ("127.0.0.1:9810", ("127.0.0.1", 9810)),
    ("[::1]:0", ("::1", 0)),
    ("localhost:65535", ("localhost", 65535)),
])
def test_parse_listen_address(text: str, expected: tuple[str, int]) -> None:
    assert parse_listen_address(text) == expected


@pytest.mark.parametrize("text", ["9810", "127.0.0.1", ":9810", "127.0.0.1:port", "127.0.0.1:65536", "127.0.0.1:-1"])
def test_parse_listen_address_rejects(text: str) -> None:
    with pytest.raises(TwinLiveSettingsError, match="invalid --listen address"):
        parse_listen_address(text)


@pytest.mark.parametrize(("overrides", "message"), [
    ({"queue_query": "  "}, "empty --query"),
    ({"interval_s": 0.0}, "invalid interval_s 0.0"),
    ({"interval_s": float("nan")}, "invalid interval_s nan"),
    ({"steps": 0}, "invalid --steps 0"),
    ({"max_consecutive_failures": 0}, "invalid max_consecutive_failures 0"),
    ({"query_timeout_s": -1.0}, "invalid query_timeout_s -1.0"),
])
def test_settings_reject(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(TwinLiveSettingsError, match=message):
        settings(**overrides)
