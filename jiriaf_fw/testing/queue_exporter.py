"""A Prometheus exporter of a simulated stream queue that follows the JIRIAF digital-twin scenario.

The queue's true load state s (a fractional index 0..4, sending rate 162 + s Hz) moves by the scenario
schedule, one change per step. The exported queue length is the measured Lq of JLab's experiment
(arXiv:2502.18596, Tables 8 and 9), interpolated linearly over s for the thread count that is enacted right
now. The thread count is read from a file that a test (or a person) writes, so a digital twin that
recommends a thread count can close the loop through it.

Run it with `python -m jiriaf_fw.testing.queue_exporter --port 9101 --step-seconds 5 --threads-file F`.
It listens on 127.0.0.1 unless `--host` sets another address, and stops on SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import logging
import math
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

import numpy as np
from prometheus_client import CollectorRegistry, Gauge, start_http_server

from jiriaf_fw.core.errors import JiriafError
from jiriaf_fw.twin.paper import ARRIVAL_HZ, OBSERVED_LQ, THREADS, service_hz
from jiriaf_fw.twin.scenario import paper_true_states

logger = logging.getLogger(__name__)

INITIAL_THREADS = 16
"""Thread count enacted until the threads file names another, as in JLab's twin (first control 16c)."""


class ExporterError(JiriafError):
    """The exporter's settings are invalid, or it cannot listen on its port."""

    exit_code = 2


@dataclass(frozen=True)
class QueueReading:
    """The exported values of one scenario step under one enacted thread count."""

    step: int
    state: float
    threads: int
    queue_length: float
    send_rate_hz: float
    process_rate_hz: float


class Scenario:
    """The true load state of the paper's schedule by step, computed ahead in blocks so a lookup is O(1)."""

    def __init__(self, n_states: int = len(ARRIVAL_HZ)) -> None:
        self._n_states = n_states
        self._states = paper_true_states(128, n_states)

    def state(self, step: int) -> float:
        """Return the true load state index (0..n_states-1) at scenario step `step` >= 0."""
        if step >= self._states.size:
            self._states = paper_true_states(2 * step, self._n_states)
        return float(self._states[step])


_SCENARIO = Scenario()


def reading_at(step: int, threads: int) -> QueueReading:
    """Compute the exported values at a scenario step under an enacted thread count (16 or 32)."""
    if threads not in THREADS:
        raise ExporterError(f"thread count {threads} is not in the scenario; use one of {sorted(THREADS)}")
    control = THREADS.index(threads)
    state = _SCENARIO.state(step)
    indices = np.arange(len(ARRIVAL_HZ))
    return QueueReading(step=step, state=state, threads=threads,
                        queue_length=float(np.interp(state, indices, OBSERVED_LQ[control])),
                        send_rate_hz=float(np.interp(state, indices, ARRIVAL_HZ)),
                        process_rate_hz=float(service_hz()[control]))


class ThreadsFile:
    """The enacted thread count, read from a file that contains one integer (16 or 32).

    A missing file means the previous value (initially `initial`). An unreadable or invalid file is
    logged once per distinct content and also keeps the previous value, so a half-written file never
    changes the queue.
    """

    def __init__(self, path: Path | None, initial: int = INITIAL_THREADS) -> None:
        if initial not in THREADS:
            raise ExporterError(f"initial thread count {initial} is not in the scenario; "
                                f"use one of {sorted(THREADS)}")
        self._path = path
        self._threads = initial
        self._last_rejected: str | None = None

    def read(self) -> int:
        """Return the thread count the file names now, or the previous one."""
        if self._path is None:
            return self._threads
        try:
            text = self._path.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            return self._threads
        except OSError as error:
            self._reject(f"cannot read {self._path}: {error}")
            return self._threads
        if not text.isdigit() or int(text) not in THREADS:
            self._reject(f"{self._path} contains {text[:40]!r}, not one of {sorted(THREADS)}; "
                         f"keeping {self._threads} threads")
            return self._threads
        self._threads = int(text)
        self._last_rejected = None
        return self._threads

    def _reject(self, message: str) -> None:
        if message != self._last_rejected:
            logger.warning("%s", message)
            self._last_rejected = message


class QueueMetrics:
    """The exporter's gauges in a registry of their own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._gauges = {
            "queue_length": Gauge("stream_queue_length", "Events waiting in the stream queue (measured Lq)",
                                  registry=self.registry),
            "send_rate_hz": Gauge("stream_send_rate_hz", "Events per second the sender sends",
                                  registry=self.registry),
            "process_rate_hz": Gauge("stream_process_rate_hz",
                                     "Events per second the receiver can process with the enacted threads",
                                     registry=self.registry),
            "threads": Gauge("stream_threads", "Receiver thread count the other values were produced with",
                             registry=self.registry),
            "step": Gauge("stream_scenario_step", "Scenario step number, from 0", registry=self.registry),
            "state": Gauge("stream_scenario_state", "True load state index (0..4) of the scenario",
                           registry=self.registry),
        }

    def publish(self, reading: QueueReading) -> None:
        """Set every gauge from one reading."""
        for name, gauge in self._gauges.items():
            gauge.set(getattr(reading, name))


def run_exporter(
    metrics: QueueMetrics,
    threads: ThreadsFile,
    *,
    step_seconds: float,
    stop: threading.Event,
    monotonic: Callable[[], float] = time.monotonic,
    poll_seconds: float = 0.1,
    max_steps: int | None = None,
) -> int:
    """Advance the scenario every `step_seconds` and publish it until `stop` is set; return the last step.

    The threads file is re-read every `poll_seconds`, so a new thread count changes the queue length within
    that time, without waiting for the next step. With `max_steps`, the loop also returns once that step
    has been published.
    """
    if not (math.isfinite(step_seconds) and step_seconds > 0):
        raise ExporterError(f"invalid step length {step_seconds!r} s: must be a positive number")
    started = monotonic()
    published: QueueReading | None = None
    while True:
        step = int((monotonic() - started) // step_seconds)
        reading = reading_at(step, threads.read())
        if reading != published:
            metrics.publish(reading)
            if published is None or reading.threads != published.threads:
                logger.info("step %d: %d threads, queue length %.3f", step, reading.threads, reading.queue_length)
            published = reading
        if max_steps is not None and step >= max_steps:
            return step
        next_step_at = started + (step + 1) * step_seconds
        if stop.wait(max(0.0, min(poll_seconds, next_step_at - monotonic()))):
            return step


def build_parser() -> argparse.ArgumentParser:
    """Build the command-line parser of `python -m jiriaf_fw.testing.queue_exporter`."""
    parser = argparse.ArgumentParser(
        prog="python -m jiriaf_fw.testing.queue_exporter",
        description="Export a simulated stream queue that follows the JIRIAF digital-twin scenario.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, required=True, help="port to serve /metrics on")
    parser.add_argument("--step-seconds", type=float, default=5.0,
                        help="seconds per scenario step (default: 5, as in JLab's experiment)")
    parser.add_argument("--threads-file", type=Path,
                        help="file containing the enacted thread count (16 or 32), re-read every 0.1 s; "
                             "while it is missing the initial thread count applies")
    parser.add_argument("--initial-threads", type=int, default=INITIAL_THREADS, choices=sorted(THREADS),
                        help=f"thread count before the file exists (default: {INITIAL_THREADS})")
    parser.add_argument("--log-level", default="INFO", help="logging level (default: INFO)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the exporter until SIGTERM or SIGINT; return the process exit code."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    stop = threading.Event()

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, request_stop)
    try:
        metrics = QueueMetrics()
        threads = ThreadsFile(args.threads_file, args.initial_threads)
        server, thread = start_http_server(args.port, addr=args.host, registry=metrics.registry)
    except (ExporterError, OSError) as error:
        print(f"queue_exporter: cannot start on {args.host}:{args.port}: {error}", file=sys.stderr)
        return 2
    print(f"listening on http://{args.host}:{server.server_port}/metrics", flush=True)
    try:
        step = run_exporter(metrics, threads, step_seconds=args.step_seconds, stop=stop)
    except ExporterError as error:
        print(f"queue_exporter: {error}", file=sys.stderr)
        return error.exit_code
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
    logger.info("stopped at step %d", step)
    return 0


if __name__ == "__main__":
    sys.exit(main())
