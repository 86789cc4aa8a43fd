"""Queue-length formulas: M/M/1 and M/M/c (Erlang C) mean queue length Lq, and the JIRIAF paper's tables.

Tables 8 and 9 of the JIRIAF paper (arXiv:2502.18596) list, per load state, the arrival rate, the service
rate, the thread count, the measured Lq and the M/M/1 Lq ("Calc. Lq").

Rates are in events per second (Hz). Lq is the mean number of events waiting, not counting those in service.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from jiriaf_fw.twin.errors import TwinModelError

# Tables 8 and 9 print Calc. Lq rounded to two decimals.
TABLE_DECIMALS = 2


def _check_rates(arrival_hz: float, service_hz: float, servers: int = 1) -> None:
    if not (math.isfinite(arrival_hz) and arrival_hz >= 0):
        raise TwinModelError(f"invalid arrival rate {arrival_hz!r} Hz: expected a finite number >= 0")
    if not (math.isfinite(service_hz) and service_hz > 0):
        raise TwinModelError(f"invalid service rate {service_hz!r} Hz: expected a finite number > 0")
    if servers < 1:
        raise TwinModelError(f"invalid server count {servers!r}: expected an integer >= 1")
    if arrival_hz >= servers * service_hz:
        raise TwinModelError(f"unstable queue: arrival rate {arrival_hz} Hz >= capacity {servers} x {service_hz} Hz, "
                             "so Lq is infinite")


def mm1_queue_length(arrival_hz: float, service_hz: float) -> float:
    """Return the M/M/1 mean queue length Lq = lambda^2 / (mu (mu - lambda)), unrounded.

    Raises TwinModelError when a rate is invalid or lambda >= mu (the queue grows without bound).
    """
    _check_rates(arrival_hz, service_hz)
    return arrival_hz**2 / (service_hz * (service_hz - arrival_hz))


def calc_lq(arrival_hz: float, service_hz: float, decimals: int = TABLE_DECIMALS) -> float:
    """Return the M/M/1 Lq rounded as the "Calc. Lq" column of Tables 8 and 9 prints it (two decimals)."""
    return round(mm1_queue_length(arrival_hz, service_hz), decimals)


def erlang_c(arrival_hz: float, service_hz: float, servers: int) -> float:
    """Return the Erlang C probability that an arriving event waits in an M/M/c queue."""
    _check_rates(arrival_hz, service_hz, servers)
    offered = arrival_hz / service_hz
    utilisation = offered / servers
    # Sum a^k/k! iteratively so large server counts do not overflow a factorial.
    term = 1.0
    partial_sum = 1.0
    for k in range(1, servers):
        term *= offered / k
        partial_sum += term
    last = term * offered / servers / (1.0 - utilisation)
    return last / (partial_sum + last)


def mmc_queue_length(arrival_hz: float, service_hz: float, servers: int) -> float:
    """Return the M/M/c mean queue length Lq = C(c, a) rho / (1 - rho), with a = lambda/mu, rho = a/c."""
    utilisation = arrival_hz / (servers * service_hz)
    return erlang_c(arrival_hz, service_hz, servers) * utilisation / (1.0 - utilisation)


def min_servers_for_queue_length(arrival_hz: float, service_hz: float, target_lq: float,
                                 max_servers: int = 4096) -> int:
    """Return the smallest server count c whose M/M/c Lq is at most `target_lq`.

    Raises TwinModelError when the target is negative or even `max_servers` servers do not meet it.
    """
    if not (math.isfinite(target_lq) and target_lq >= 0):
        raise TwinModelError(f"invalid target queue length {target_lq!r}: expected a finite number >= 0")
    _check_rates(arrival_hz, service_hz, max_servers)
    servers = max(1, math.floor(arrival_hz / service_hz) + 1)
    while servers <= max_servers:
        if mmc_queue_length(arrival_hz, service_hz, servers) <= target_lq:
            return servers
        servers += 1
    raise TwinModelError(f"no server count up to {max_servers} brings Lq to {target_lq} at {arrival_hz} Hz")


@dataclass(frozen=True)
class QueueTableRow:
    """One row of Table 8 (16 threads) or Table 9 (32 threads): a load state measured under one thread count."""

    state: int
    arrival_hz: float
    service_hz_label: int
    threads: int
    observed_lq: float
    calc_lq: float


def queue_table(arrival_hz: list[float], service_hz: float, threads: int,
                observed_lq: list[float]) -> list[QueueTableRow]:
    """Build the rows of Table 8 or 9: Calc. Lq from M/M/1 and mu printed rounded to a whole hertz."""
    if len(arrival_hz) != len(observed_lq):
        raise TwinModelError(f"{len(arrival_hz)} arrival rates but {len(observed_lq)} observed Lq values")
    return [QueueTableRow(state=index, arrival_hz=arrival, service_hz_label=round(service_hz), threads=threads,
                          observed_lq=observed, calc_lq=calc_lq(arrival, service_hz))
            for index, (arrival, observed) in enumerate(zip(arrival_hz, observed_lq, strict=True))]
