"""The live twin's Prometheus metrics, in a registry of their own, and the HTTP server that exposes them."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Self

import numpy as np
from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server

from jiriaf_fw.core.errors import JiriafError
from jiriaf_fw.twin import TwinModel

if TYPE_CHECKING:
    from wsgiref.simple_server import WSGIServer

    from jiriaf_fw.services.twin_live import StepRecord

logger = logging.getLogger(__name__)

QUERY_ROLES = ("queue", "send_rate", "process_rate", "enacted")
"""Values of the `query` label of `jiriaf_twin_query_errors_total`."""


class TwinMetricsError(JiriafError):
    """The metrics endpoint cannot be served, for example because its port is in use."""


def control_threads(model: TwinModel) -> tuple[int, ...]:
    """Return the thread count of each control of `model`, by control index."""
    return tuple(int(threads) for threads in model.threads)


def state_labels(model: TwinModel) -> tuple[str, ...]:
    """Return the label of each load state of `model`, by state index."""
    return tuple(str(label) for label in model.state_labels)


class MetricsServer:
    """A running /metrics HTTP server; a context manager that shuts it down on exit."""

    def __init__(self, server: WSGIServer, thread: threading.Thread) -> None:
        self._server = server
        self._thread = thread

    @property
    def port(self) -> int:
        """The port the server listens on (the one the kernel chose when port 0 was requested)."""
        return int(self._server.server_port)

    def close(self) -> None:
        """Stop serving, close the socket, and wait for the server thread to end."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()


class TwinMetrics:
    """The gauges and counters of the live twin.

    `jiriaf_twin_recommended_threads` is the thread count of the recommended control,
    `jiriaf_twin_belief{state}` the filtered probability of each load state after the last step.
    """

    def __init__(self, states: Sequence[str], threads: Sequence[int]) -> None:
        self.registry = CollectorRegistry()
        self._states = tuple(states)
        self._threads = tuple(threads)
        registry = self.registry
        self.recommended_threads = Gauge("jiriaf_twin_recommended_threads",
                                         "Thread count of the control the twin recommends", registry=registry)
        self.enacted_threads = Gauge("jiriaf_twin_enacted_threads",
                                     "Thread count under which the last assimilated queue length was produced",
                                     registry=registry)
        self.belief = Gauge("jiriaf_twin_belief", "Probability of each load state after the last step",
                            ["state"], registry=registry)
        self.queue_length = Gauge("jiriaf_twin_observed_queue_length", "Queue length assimilated in the last step",
                                  registry=registry)
        self.send_rate = Gauge("jiriaf_twin_observed_send_rate_hz",
                               "Sending rate read in the last step, in events per second", registry=registry)
        self.process_rate = Gauge("jiriaf_twin_observed_process_rate_hz",
                                  "Processing rate read in the last step, in events per second", registry=registry)
        self.last_step = Gauge("jiriaf_twin_last_step_timestamp_seconds",
                               "Unix time at which the last assimilated step's queries were evaluated",
                               registry=registry)
        self.steps = Counter("jiriaf_twin_steps", "Steps whose observation was assimilated", registry=registry)
        self.query_errors = Counter("jiriaf_twin_query_errors",
                                    "Steps skipped because a query failed or returned an unusable value",
                                    ["query"], registry=registry)

    def start(self, recommended: int, belief: np.ndarray, *, roles: Sequence[str]) -> None:
        """Publish the state before the first step: the model's first control and its prior belief.

        Creates the error counter of each query in `roles` at 0, so `rate()` over it works from the start.
        """
        self.recommended_threads.set(self._threads[recommended])
        self._set_belief(belief)
        for role in roles:
            self.query_errors.labels(query=role)

    def publish(self, record: StepRecord) -> None:
        """Update every metric from one assimilated step."""
        self.recommended_threads.set(record.recommended_threads)
        self.enacted_threads.set(self._threads[record.enacted])
        self._set_belief(record.belief)
        self.queue_length.set(record.queue_length)
        if record.send_rate_hz is not None:
            self.send_rate.set(record.send_rate_hz)
        if record.process_rate_hz is not None:
            self.process_rate.set(record.process_rate_hz)
        self.last_step.set(record.evaluated_at)
        self.steps.inc()

    def count_error(self, role: str) -> None:
        """Count one skipped step whose `role` query failed."""
        self.query_errors.labels(query=role).inc()

    def serve(self, host: str, port: int) -> MetricsServer:
        """Start serving /metrics on host:port in a daemon thread; raise `TwinMetricsError` if it cannot bind."""
        try:
            server, thread = start_http_server(port, addr=host, registry=self.registry)
        except OSError as error:
            raise TwinMetricsError(f"cannot serve the twin's metrics on {host}:{port}: {error.strerror or error}; "
                                   "choose another --listen address") from error
        logger.info("serving the twin's metrics on http://%s:%d/metrics", host, server.server_port)
        return MetricsServer(server, thread)

    def _set_belief(self, belief: np.ndarray) -> None:
        for label, probability in zip(self._states, belief, strict=True):
            self.belief.labels(state=label).set(float(probability))
