"""M/M/1 and M/M/c queue lengths, and the Calc. Lq columns of Tables 8 and 9 of the JIRIAF paper."""

from __future__ import annotations

import pytest

from jiriaf_fw.twin.errors import TwinModelError
from jiriaf_fw.twin.paper import ARRIVAL_HZ, OBSERVED_LQ, SERVICE_TIME_S, THREADS, calculated_lq
from jiriaf_fw.twin.queueing import (
    calc_lq,
    min_servers_for_queue_length,
    mm1_queue_length,
    mmc_queue_length,
    queue_table,
)

MU_16 = 1 / 0.006
MU_32 = 1 / 0.0045
TABLE_8_CALC = [33.74, 43.48, 60.52, 98.01, 248.00]
TABLE_9_CALC = [1.96, 2.02, 2.08, 2.14, 2.21]


def test_calc_lq_table_endpoints() -> None:
    """Service times of 6 ms and 4.5 ms reproduce the printed Calc. Lq."""
    assert calc_lq(162, MU_16) == pytest.approx(33.74, abs=1e-6)
    assert calc_lq(166, MU_16) == pytest.approx(248.00, abs=1e-6)
    assert calc_lq(162, MU_32) == pytest.approx(1.96, abs=1e-6)
    assert calc_lq(166, MU_32) == pytest.approx(2.21, abs=1e-6)


def test_calc_lq_printed_mu_is_rounded() -> None:
    """The printed mu = 167 Hz gives 31.43, not the table's 33.74."""
    assert calc_lq(162, 167) == pytest.approx(31.43, abs=1e-6)
    assert calc_lq(162, 167) != pytest.approx(33.74, abs=1e-6)


def test_table_8_sixteen_threads() -> None:
    rows = queue_table(list(ARRIVAL_HZ), 1 / SERVICE_TIME_S[1], THREADS[1], list(OBSERVED_LQ[1]))
    assert [row.calc_lq for row in rows] == pytest.approx(TABLE_8_CALC, abs=1e-6)
    assert [row.observed_lq for row in rows] == [32, 41, 58, 97, 241]
    assert {row.service_hz_label for row in rows} == {167}
    assert {row.threads for row in rows} == {16}
    assert [row.arrival_hz for row in rows] == [162, 163, 164, 165, 166]


def test_table_9_thirty_two_threads() -> None:
    rows = queue_table(list(ARRIVAL_HZ), 1 / SERVICE_TIME_S[0], THREADS[0], list(OBSERVED_LQ[0]))
    assert [row.calc_lq for row in rows] == pytest.approx(TABLE_9_CALC, abs=1e-6)
    assert [row.observed_lq for row in rows] == [1.56, 2.5, 2.56, 3.5, 3.56]
    assert {row.service_hz_label for row in rows} == {222}
    assert {row.threads for row in rows} == {32}


def test_calculated_lq_matches_both_tables() -> None:
    table = calculated_lq()
    assert table[0].tolist() == pytest.approx(TABLE_9_CALC, abs=1e-6)
    assert table[1].tolist() == pytest.approx(TABLE_8_CALC, abs=1e-6)


def test_mm1_unrounded_value() -> None:
    assert mm1_queue_length(162, MU_16) == pytest.approx(162**2 / (MU_16 * (MU_16 - 162)), rel=1e-15)


@pytest.mark.parametrize("arrival, service", [(3.0, 5.0), (162.0, MU_16), (0.5, 1.0)])
def test_mmc_with_one_server_is_mm1(arrival: float, service: float) -> None:
    assert mmc_queue_length(arrival, service, 1) == pytest.approx(mm1_queue_length(arrival, service), rel=1e-12)


@pytest.mark.parametrize("rho", [0.2, 0.5, 0.9, 0.99])
def test_mm2_closed_form(rho: float) -> None:
    # M/M/2 has Lq = 2 rho^3 / (1 - rho^2) with rho = lambda / (2 mu).
    assert mmc_queue_length(2 * rho * 10.0, 10.0, 2) == pytest.approx(2 * rho**3 / (1 - rho**2), rel=1e-12)


def test_min_servers_meets_target() -> None:
    servers = min_servers_for_queue_length(164.0, MU_16 / 16, target_lq=2.0)
    assert mmc_queue_length(164.0, MU_16 / 16, servers) <= 2.0
    assert mmc_queue_length(164.0, MU_16 / 16, servers - 1) > 2.0


@pytest.mark.parametrize("arrival, service", [(167.0, 166.0), (-1.0, 10.0), (1.0, 0.0), (float("nan"), 1.0)])
def test_mm1_rejects_invalid_rates(arrival: float, service: float) -> None:
    with pytest.raises(TwinModelError):
        mm1_queue_length(arrival, service)
