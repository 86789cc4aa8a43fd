"""The live digital twin: assimilate a stream queue's length from Prometheus each step and publish a thread count.

Each step queries the queue length (and, when configured, the sending and processing rates and the enacted
thread count) from Prometheus, assimilates the queue length into the twin's belief under the enacted
control, gets the twin's recommended control for the next step, and updates the metrics served on the
twin's own port:
`jiriaf_twin_recommended_threads` for a Kubernetes HPA (External metric), a KEDA `prometheus` trigger or a
person to act on, and `jiriaf_twin_belief{state=...}` with the belief over the load states.

The enacted control is the control under which the observed queue length was produced. By default the
loop is closed: it assumes that its previous recommendation was enacted before the step's observation
(initially the model's first control). With an enacted query, Prometheus supplies the thread count that
runs, which must equal the thread count of one of the model's controls.

A step whose query fails (unreachable server, invalid PromQL, no samples, NaN) is logged, counted in
`jiriaf_twin_query_errors_total` and skipped, leaving the belief unchanged. After `max_consecutive_failures`
failed steps in a row `run_live` raises `TwinLiveError`.
"""

from __future__ import annotations

import contextlib
import logging
import math
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from types import FrameType
from typing import Protocol

import numpy as np

from jiriaf_fw.adapters.prometheus import PrometheusClient, PrometheusError, Sample
from jiriaf_fw.core.errors import JiriafError
from jiriaf_fw.services.twin_metrics import QUERY_ROLES, TwinMetrics, control_threads, state_labels
from jiriaf_fw.twin import TwinFilter, TwinModel, TwinObservationError

logger = logging.getLogger(__name__)

DEFAULT_INTERVAL_S = 5.0
"""Seconds between two steps; JLab's asset produced one observation every 5 s."""

DEFAULT_LISTEN = ("127.0.0.1", 9810)
"""Address of the twin's /metrics endpoint when none is given."""

DEFAULT_MAX_CONSECUTIVE_FAILURES = 5

QueryFunction = Callable[[str, float | None], Sample]
"""Evaluate a PromQL query at a Unix time (None: now) and return its single finite sample."""


class TwinLiveError(JiriafError):
    """The live twin cannot run: invalid settings, or too many failed steps in a row."""


class TwinLiveSettingsError(TwinLiveError):
    """A live-twin setting is invalid. The message names the option and the value."""

    exit_code = 2


class StepFailedError(TwinLiveError):
    """One step's query failed or returned a value the twin cannot assimilate; the step is skipped."""

    def __init__(self, message: str, *, role: str) -> None:
        super().__init__(message)
        self.role = role


def parse_listen_address(text: str) -> tuple[str, int]:
    """Parse `HOST:PORT` or `[IPv6]:PORT` (port 0 picks a free port); raise `TwinLiveSettingsError` if invalid."""
    host, separator, port_text = text.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not separator or not host or not port_text.isdigit() or int(port_text) > 65535:
        raise TwinLiveSettingsError(f"invalid --listen address {text!r}: expected HOST:PORT, e.g. 127.0.0.1:9810")
    return host, int(port_text)


@dataclass(frozen=True)
class LiveTwinSettings:
    """Settings of the live twin: its PromQL queries, the step interval, and the address of its metrics."""

    prometheus_url: str
    """Base URL of the Prometheus server, e.g. http://127.0.0.1:9090."""
    queue_query: str
    """PromQL returning one series: the queue length the twin assimilates."""
    send_rate_query: str | None = None
    """PromQL of the sending rate in events per second; published, not assimilated."""
    process_rate_query: str | None = None
    """PromQL of the processing rate in events per second; published, not assimilated."""
    enacted_query: str | None = None
    """PromQL of the thread count that runs now; None assumes the twin's previous recommendation runs."""
    interval_s: float = DEFAULT_INTERVAL_S
    """Seconds between the starts of two steps."""
    steps: int | None = None
    """Stop after this many assimilated steps; None runs until stopped."""
    listen: tuple[str, int] | None = DEFAULT_LISTEN
    """(host, port) of the /metrics endpoint; None serves nothing (the metrics stay in `TwinMetrics`)."""
    max_consecutive_failures: int = DEFAULT_MAX_CONSECUTIVE_FAILURES
    """Failed steps in a row after which `run_live` raises."""
    query_timeout_s: float = 10.0
    """Seconds one Prometheus request may take."""

    def __post_init__(self) -> None:
        if not self.queue_query.strip():
            raise TwinLiveSettingsError("empty --query: a PromQL query of the queue length is required")
        for name in ("interval_s", "query_timeout_s"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise TwinLiveSettingsError(f"invalid {name} {value!r}: must be a positive number of seconds")
        if self.steps is not None and self.steps < 1:
            raise TwinLiveSettingsError(f"invalid --steps {self.steps!r}: must be at least 1")
        if self.max_consecutive_failures < 1:
            raise TwinLiveSettingsError(f"invalid max_consecutive_failures {self.max_consecutive_failures!r}: "
                                        "must be at least 1")


@dataclass(frozen=True)
class StepRecord:
    """The outcome of one assimilated step."""

    step: int
    """Number of the assimilated step, from 0."""
    evaluated_at: float
    """Unix time at which Prometheus evaluated the step's queries."""
    queue_length: float
    enacted: int
    """Index of the control under which `queue_length` was produced."""
    recommended: int
    """Index of the control the twin recommends for the next step."""
    recommended_threads: int
    belief: np.ndarray = field(repr=False)
    send_rate_hz: float | None = None
    process_rate_hz: float | None = None


@dataclass
class LiveRunSummary:
    """Counts of a finished `run_live`."""

    steps: int = 0
    failed_steps: int = 0
    last: StepRecord | None = None


class Clock(Protocol):
    """Monotonic time and an interruptible wait, injectable so the loop is tested without sleeping."""

    def monotonic(self) -> float:
        """Return seconds from an arbitrary origin that never goes backwards."""
        ...

    def wait(self, stop: threading.Event, seconds: float) -> bool:
        """Wait up to `seconds` or until `stop` is set; return True when `stop` is set."""
        ...


class SystemClock:
    """The real clock: `time.monotonic` and `threading.Event.wait`."""

    def monotonic(self) -> float:
        return time.monotonic()

    def wait(self, stop: threading.Event, seconds: float) -> bool:
        return stop.wait(seconds)


class LiveTwin:
    """One twin filter fed by queries: `step()` runs the queries, assimilates, and recommends."""

    def __init__(self, model: TwinModel, settings: LiveTwinSettings, query: QueryFunction) -> None:
        self._settings = settings
        self._query = query
        self._filter = TwinFilter(model)
        self._threads = control_threads(model)
        self._recommended = self._filter.recommend()
        self._steps = 0

    @property
    def recommended(self) -> int:
        """Index of the control the twin recommends now (before any step: the model's first control)."""
        return self._recommended

    @property
    def belief(self) -> np.ndarray:
        """Filtered belief over the load states after the last step (the model's prior before the first)."""
        return self._filter.belief

    def step(self) -> StepRecord:
        """Run the step's queries, assimilate the queue length, and return the new recommendation.

        Raises `StepFailedError` (naming the query) before touching the belief when a query fails.
        """
        settings = self._settings
        queue = self._sample("queue", settings.queue_query, None)
        # Evaluate every other query at the queue sample's time, so all values come from the same scrape.
        at = queue.timestamp
        send_rate = self._optional_value("send_rate", settings.send_rate_query, at)
        process_rate = self._optional_value("process_rate", settings.process_rate_query, at)
        enacted = self._enacted_control(at)
        try:
            self._filter.step(queue.value, enacted)
        except TwinObservationError as error:
            raise StepFailedError(f"queue query {settings.queue_query!r}: {error}", role="queue") from error
        self._recommended = self._filter.recommend()
        record = StepRecord(step=self._steps, evaluated_at=at, queue_length=queue.value, enacted=enacted,
                            recommended=self._recommended, recommended_threads=self._threads[self._recommended],
                            belief=np.array(self._filter.belief, dtype=float), send_rate_hz=send_rate,
                            process_rate_hz=process_rate)
        self._steps += 1
        return record

    def _sample(self, role: str, promql: str, at: float | None) -> Sample:
        try:
            return self._query(promql, at)
        except PrometheusError as error:
            raise StepFailedError(f"{role} query failed: {error}", role=role) from error

    def _optional_value(self, role: str, promql: str | None, at: float) -> float | None:
        return None if promql is None else self._sample(role, promql, at).value

    def _enacted_control(self, at: float) -> int:
        if self._settings.enacted_query is None:
            return self._recommended
        value = self._sample("enacted", self._settings.enacted_query, at).value
        for control, threads in enumerate(self._threads):
            if value == threads:
                return control
        raise StepFailedError(f"enacted query {self._settings.enacted_query!r} returned {value:g} threads, which is "
                              f"no control of the model (thread counts {list(self._threads)})", role="enacted")


def run_live(
    settings: LiveTwinSettings,
    model: TwinModel,
    *,
    query: QueryFunction | None = None,
    clock: Clock | None = None,
    stop: threading.Event | None = None,
    metrics: TwinMetrics | None = None,
    on_step: Callable[[StepRecord], None] | None = None,
    on_serving: Callable[[str], None] | None = None,
) -> LiveRunSummary:
    """Run the live twin until `stop` is set or `settings.steps` steps are assimilated; return the counts.

    The first step starts at once, the next ones every `settings.interval_s` seconds. A step that
    overruns its interval delays the next one instead of queueing extra steps. When `settings.listen` is
    set, the /metrics server runs from before the first step until return, and `on_serving` receives its
    URL. Raises `TwinMetricsError` when the port cannot be bound, and `TwinLiveError` after
    `settings.max_consecutive_failures` failed steps in a row.
    """
    stop = stop if stop is not None else threading.Event()
    clock = clock if clock is not None else SystemClock()
    if query is None:
        client = PrometheusClient(settings.prometheus_url, timeout_s=settings.query_timeout_s)

        def query(promql: str, at: float | None) -> Sample:
            return client.query_value(promql, at=at)

    twin = LiveTwin(model, settings, query)
    metrics = metrics if metrics is not None else TwinMetrics(state_labels(model), control_threads(model))
    metrics.start(twin.recommended, twin.belief, roles=_roles_in_use(settings))
    if settings.listen is None:
        return _loop(settings, twin, metrics, clock, stop, on_step)
    host, _ = settings.listen
    with metrics.serve(*settings.listen) as server:
        if on_serving is not None:
            on_serving(f"http://{f'[{host}]' if ':' in host else host}:{server.port}/metrics")
        return _loop(settings, twin, metrics, clock, stop, on_step)


def _roles_in_use(settings: LiveTwinSettings) -> list[str]:
    queries = {"queue": settings.queue_query, "send_rate": settings.send_rate_query,
               "process_rate": settings.process_rate_query, "enacted": settings.enacted_query}
    return [role for role in QUERY_ROLES if queries[role] is not None]


def _loop(settings: LiveTwinSettings, twin: LiveTwin, metrics: TwinMetrics, clock: Clock,
          stop: threading.Event, on_step: Callable[[StepRecord], None] | None) -> LiveRunSummary:
    summary = LiveRunSummary()
    consecutive_failures = 0
    next_step_at = clock.monotonic()
    while not stop.is_set() and (settings.steps is None or summary.steps < settings.steps):
        delay = next_step_at - clock.monotonic()
        if delay > 0 and clock.wait(stop, delay):
            break
        started = clock.monotonic()
        next_step_at = max(next_step_at + settings.interval_s, started)
        try:
            record = twin.step()
        except StepFailedError as error:
            summary.failed_steps += 1
            consecutive_failures += 1
            metrics.count_error(error.role)
            logger.warning("step skipped (%d in a row): %s", consecutive_failures, error)
            if consecutive_failures >= settings.max_consecutive_failures:
                raise TwinLiveError(
                    f"{consecutive_failures} steps in a row failed; the last failure: {error}") from error
            continue
        finally:
            _warn_if_slow(clock.monotonic() - started, settings.interval_s)
        consecutive_failures = 0
        _log_decision(summary.last, record)
        summary.steps += 1
        summary.last = record
        metrics.publish(record)
        if on_step is not None:
            on_step(record)
    logger.info("live twin stopped after %d steps (%d skipped)", summary.steps, summary.failed_steps)
    return summary


def _warn_if_slow(duration_s: float, interval_s: float) -> None:
    if duration_s > interval_s:
        logger.warning("a step took %.1f s, longer than the %g s interval, so the next step starts late; "
                       "check the query latency or raise the interval", duration_s, interval_s)


def _log_decision(previous: StepRecord | None, record: StepRecord) -> None:
    if previous is None or previous.recommended != record.recommended:
        logger.info("step %d: queue length %g, recommending %d threads", record.step, record.queue_length,
                    record.recommended_threads)
    else:
        logger.debug("step %d: queue length %g, belief %s", record.step, record.queue_length,
                     np.array2string(record.belief, precision=4))


@contextlib.contextmanager
def stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """Set `stop` on SIGTERM and SIGINT while the block runs, then restore the previous handlers.

    Must be entered in the main thread, because Python delivers signals only there.
    """

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        logger.info("stopping on %s", signal.Signals(signum).name)
        stop.set()

    previous = {signum: signal.signal(signum, request_stop) for signum in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
