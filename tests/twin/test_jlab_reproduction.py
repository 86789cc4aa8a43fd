"""The JLab twin reproduced: transition table, likelihoods, the trace of its recorded run, and the 80-step run.

The expected values are those that the JIRIAF digital-twin specification states for the JLab twin's 42-step
recorded run and for its 80-step load schedule. The tolerance is 1e-6, or half a unit of the last printed
digit where a value is printed with fewer digits.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pytest

from jiriaf_fw.twin import TwinFilter, default_model
from jiriaf_fw.twin.filtering import jlab_likelihood, log_likelihood, predict_closed_loop
from jiriaf_fw.twin.paper import C16, C32
from jiriaf_fw.twin.policy import DwellState, control_marginal
from jiriaf_fw.twin.simulation import SimulationResult, estimated_control, switch_steps

STATES = np.arange(5)

# Source of every table below: the JIRIAF digital-twin specification (values of the JLab twin's logged run).

# The JLab transition table p(D_t = j | D_{t-1} = i), printed with 8 decimals. Both controls share it.
SPEC_TRANSITION = np.array([
    [0.99312242, 0.00275103, 0.00137552, 0.00137552, 0.00137552],
    [0.00274725, 0.99175824, 0.00274725, 0.00137363, 0.00137363],
    [0.00137363, 0.00274725, 0.99175824, 0.00274725, 0.00137363],
    [0.00137363, 0.00137363, 0.00274725, 0.99175824, 0.00274725],
    [0.00124224, 0.00124224, 0.00124224, 0.00248447, 0.99378882],
])

# Half a unit of the last printed digit of P(32c) printed with 7 and with 5 decimals.
ABS_7 = 5e-8
ABS_5 = 5e-6


class TraceRow(NamedTuple):
    """One step of the recorded run: truth, enacted control, observed Lq, predicted P(32c), filtered mode."""

    step: int
    true_state: float
    control: int
    observation: float
    p32: float | None
    p32_abs: float
    mode: int | None


def _drain_rows() -> list[TraceRow]:
    """Rows 22..30: the truth falls by 0.4 per step, P(32c) falls from 0.99751 to 0.99647, the mode stays 4."""
    states = [3.6, 3.2, 2.8, 2.4, 2.0, 1.6, 1.2, 0.8, 0.4]
    observations = [3.536, 3.512, 3.312, 2.936, 2.56, 2.536, 2.512, 2.312, 1.936]
    p32: list[float | None] = [0.99751] + [None] * 7 + [0.99647]
    return [TraceRow(22 + k, states[k], C32, observations[k], p32[k], ABS_5, 4) for k in range(9)]


# Steps 0..37. The table has no row for t = 9, so its truth 3.6 follows from the +0.4 steps before t = 10,
# its control from the switch list, and its observation from the series o_0..o_11. P(32c) and the mode are
# not stated there (None). The table prints P(32c) at steps 10..21 as "about 0.99751".
TRACE: tuple[TraceRow, ...] = (
    TraceRow(0, 0.0, C16, 32.0, 0.0, 1e-6, 0),
    TraceRow(1, 0.4, C16, 35.6, 0.0041265, ABS_7, 0),
    TraceRow(2, 0.8, C16, 39.2, 0.0041265, ABS_7, 1),
    TraceRow(3, 1.2, C16, 44.4, 0.0054945, ABS_7, 1),
    TraceRow(4, 1.6, C16, 51.2, 0.0054945, ABS_7, 1),
    TraceRow(5, 2.0, C16, 58.0, 0.0054945, ABS_7, 2),
    TraceRow(6, 2.4, C32, 2.936, 0.9958791, ABS_7, 2),
    TraceRow(7, 2.8, C32, 3.312, 0.9949723, ABS_7, 2),
    TraceRow(8, 3.2, C32, 3.512, 0.9959277, ABS_7, 4),
    TraceRow(9, 3.6, C32, 3.536, None, 0.0, None),
    *(TraceRow(step, 4.0, C32, 3.56, 0.99751, ABS_5, 4) for step in range(10, 22)),
    *_drain_rows(),
    TraceRow(31, 0.4, C32, 1.936, 0.98985, ABS_5, 4),
    TraceRow(32, 0.4, C32, 1.936, 0.97575, ABS_5, 4),
    TraceRow(33, 0.4, C32, 1.936, 0.94671, ABS_5, 4),
    TraceRow(34, 0.4, C32, 1.936, 0.89056, ABS_5, 4),
    TraceRow(35, 0.4, C32, 1.936, 0.79361, ABS_5, 4),
    TraceRow(36, 0.4, C32, 1.936, 0.65340, ABS_5, 4),
    TraceRow(37, 0.4, C16, 35.6, 0.4927372, ABS_7, 0),
)
STATED_P32 = [row for row in TRACE if row.p32 is not None]
STATED_MODE = [row for row in TRACE if row.mode is not None]

# Observation series o_0..o_11.
OBSERVATIONS_0_11 = [32, 35.6, 39.2, 44.4, 51.2, 58, 2.936, 3.312, 3.512, 3.536, 3.56, 3.56]


def _mean(belief: np.ndarray) -> float:
    return float(STATES @ belief)


def _controls_from_switches(switches: list[int], steps: int) -> list[int]:
    """Return the enacted control per step, starting at 16c and toggling at each step in `switches`."""
    controls = []
    control = C16
    for step in range(steps):
        if step in switches:
            control = C32 if control == C16 else C16
        controls.append(control)
    return controls


def test_transition_table() -> None:
    """The JLab table: rows sum to 1, the printed values, the same table for both controls."""
    transition = default_model().transition
    assert transition.shape == (2, 5, 5)
    assert transition.sum(axis=2) == pytest.approx(np.ones((2, 5)), abs=1e-12)
    assert transition[0][0, 0] == pytest.approx(0.99312242, abs=1e-6)
    assert transition[0][2, 2] == pytest.approx(0.99175824, abs=1e-6)
    assert transition[0][4, 4] == pytest.approx(0.99378882, abs=1e-6)
    assert transition[0] == pytest.approx(SPEC_TRANSITION, abs=5e-9)
    assert np.array_equal(transition[C32], transition[C16])


def test_likelihood_one_hot_under_16c() -> None:
    """39.2 is nearer to 43.48 than to 33.74, so all mass goes to state 1."""
    likelihood = np.exp(log_likelihood(default_model(), 39.2, C16))
    assert likelihood == pytest.approx(np.eye(5)[1], abs=1e-6)


@pytest.mark.parametrize("observation, expected", [
    (2.936, [0.0061, 0.0216, 0.0703, 0.2114, 0.6906]),
    (1.936, [0.2631, 0.2448, 0.2103, 0.1668, 0.1150]),
])
def test_likelihood_under_32c(observation: float, expected: list[float]) -> None:
    """The 32c likelihoods, in log space and as the JLab code computes them."""
    model = default_model()
    assert np.exp(log_likelihood(model, observation, C32)) == pytest.approx(expected, abs=1e-4)
    assert jlab_likelihood(model, observation, C32) == pytest.approx(expected, abs=1e-4)


def test_likelihood_finite_where_jlab_is_nan() -> None:
    """At o = 183.4 under 16c every JLab density underflows, giving 0/0."""
    model = default_model()
    assert np.all(np.isnan(jlab_likelihood(model, 183.4, C16)))
    likelihood = np.exp(log_likelihood(model, 183.4, C16))
    assert np.all(np.isfinite(likelihood))
    assert likelihood.sum() == pytest.approx(1.0, abs=1e-12)
    assert int(np.argmax(likelihood)) == 4


@pytest.mark.parametrize("step, expected", [
    (1, 0.0041265474553), (6, 0.9958791208791), (7, 0.9949723307120), (37, 0.4927371704455)])
def test_predicted_p32_listed_steps(paper_run: SimulationResult, step: int, expected: float) -> None:
    """P(32c) before the observation at the steps printed with full digits."""
    assert paper_run.records[step].predicted_control[C32] == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize("row", STATED_P32, ids=lambda row: f"t{row.step}")
def test_predicted_p32_trace_table(paper_run_42: SimulationResult, row: TraceRow) -> None:
    """P(32c) before the observation and the enacted control at each step of the trace table."""
    record = paper_run_42.records[row.step]
    assert record.predicted_control[C32] == pytest.approx(row.p32, abs=row.p32_abs)
    assert record.control == row.control


def test_predicted_p32_falls_on_drain(paper_run_42: SimulationResult) -> None:
    """Between t = 22 and t = 30 P(32c) stays within the printed range 0.99751 -> 0.99647."""
    for step in range(23, 30):
        p32 = paper_run_42.records[step].predicted_control[C32]
        assert 0.99647 - ABS_5 <= p32 <= 0.99751 + ABS_5, f"P(32c) = {p32!r} at t = {step}"


def test_enacted_controls_42_steps(paper_run_42: SimulationResult) -> None:
    """The 42-step run switches to 32c at t = 6 and back to 16c at t = 37, as the 80-step run does."""
    assert paper_run_42.controls.tolist() == _controls_from_switches([6, 37], 42)


def test_switches_to_32_threads_at_step_6(paper_run: SimulationResult) -> None:
    """Truth reaches index 2.0 at t = 5, the twin enacts 32c at t = 6."""
    records = paper_run.records
    assert records[5].true_state == 2.0
    assert [record.control for record in records[:7]] == [C16] * 6 + [C32]


def test_switch_list_over_80_steps(paper_run: SimulationResult) -> None:
    """The enacted control switches at steps 6, 37, 46 and 77 over 80 steps."""
    assert paper_run.switch_steps == [6, 37, 46, 77]
    assert paper_run.controls.tolist() == _controls_from_switches([6, 37, 46, 77], 80)


def test_filtered_rise(paper_run: SimulationResult) -> None:
    """The filtered belief follows the rise: one-hot on state 2 at t = 5, mode 4 from t = 8."""
    records = paper_run.records
    assert records[10].filtered.argmax() == 4
    assert _mean(records[10].filtered) >= 3.99
    assert records[5].filtered == pytest.approx(np.eye(5)[2], abs=1e-6)
    assert records[8].filtered.argmax() == 4


def test_filtered_lags_on_drain(paper_run: SimulationResult) -> None:
    """The queue drains from t = 22, yet the belief stays on state 4 for long."""
    records = paper_run.records
    assert records[30].true_state == pytest.approx(0.4)
    assert records[30].filtered.argmax() == 4
    assert _mean(records[30].filtered) == pytest.approx(3.955, abs=5e-4)
    assert _mean(records[33].filtered) == pytest.approx(3.512, abs=5e-4)
    assert _mean(records[36].filtered) == pytest.approx(1.932, abs=5e-4)


def test_drain_lag_is_ten_steps(paper_run: SimulationResult) -> None:
    """The truth falls below index 2 at t = 27, but 16c comes only at t = 37."""
    states = [record.true_state for record in paper_run.records]
    first_below = next(t for t in range(22, 80) if states[t] < 2)
    first_16c = next(t for t in range(first_below, 80) if paper_run.records[t].control == C16)
    assert (first_below, first_16c) == (27, 37)
    assert paper_run.lags[1].lag == 10


@pytest.mark.parametrize("row", STATED_MODE, ids=lambda row: f"t{row.step}")
def test_filtered_modes_trace_table(paper_run_42: SimulationResult, row: TraceRow) -> None:
    """The mode of the filtered belief at each step of the trace table."""
    assert int(paper_run_42.records[row.step].filtered.argmax()) == row.mode


def test_smoothed_listed_steps(paper_run_42: SimulationResult) -> None:
    """Smoothed beliefs at t = 30 and t = 6 given exactly o_0..o_41."""
    records = paper_run_42.records
    assert records[30].smoothed == pytest.approx([0.6129, 0.0105, 0.0040, 0.0060, 0.3666], abs=1e-4)
    assert records[6].smoothed == pytest.approx([0.0000, 0.0001, 0.0950, 0.0018, 0.9031], abs=1e-4)


def test_estimated_control_flips_early(paper_run_42: SimulationResult) -> None:
    """The smoothed ("Estimated") control flips at t = 5 and t = 30, not at 6 and 37."""
    model = paper_run_42.model
    estimated = np.array([estimated_control(record, model) for record in paper_run_42.records])
    assert switch_steps(estimated, model.initial_control) == [5, 30]
    assert estimated.tolist() == _controls_from_switches([5, 30], 42)


def test_observation_series(paper_run: SimulationResult) -> None:
    """The asset interpolates the measured table: 32..58 under 16c, 1.936..3.56 under 32c."""
    observations = [record.observation for record in paper_run.records]
    assert observations[:12] == pytest.approx(OBSERVATIONS_0_11, abs=1e-9)
    assert min(observations) == pytest.approx(1.936, abs=1e-9)
    assert max(observations) == pytest.approx(58, abs=1e-9)


@pytest.mark.parametrize("row", TRACE, ids=lambda row: f"t{row.step}")
def test_asset_trace_table(paper_run_42: SimulationResult, row: TraceRow) -> None:
    """The true state and the observed Lq at each step of the trace table."""
    record = paper_run_42.records[row.step]
    assert record.true_state == pytest.approx(row.true_state, abs=1e-9)
    assert record.observation == pytest.approx(row.observation, abs=1e-9)


def test_observations_after_trace_table(paper_run_42: SimulationResult) -> None:
    """Steps 38..41 repeat step 37, because the truth stays 0.4 until t = 41 and 16c stays enacted until t = 46."""
    for record in paper_run_42.records[38:]:
        assert record.true_state == pytest.approx(0.4, abs=1e-9)
        assert record.control == C16
        assert record.observation == pytest.approx(35.6, abs=1e-9)


def test_prediction_from_state_4_stays_32c() -> None:
    """From a one-hot filtered belief on state 4, all 11 predicted controls are 32c."""
    model = default_model()
    filtered = np.eye(5)[4]
    beliefs, controls = predict_closed_loop(filtered @ model.transition[C32], model, DwellState(C32, 5), 11)
    p_high = beliefs[:, 2:].sum(axis=1)
    assert np.all(p_high > 0.5)
    assert p_high[10] == pytest.approx(0.9735, abs=5e-5)
    # The printed table has 8 decimals, so 11 steps of it are within about 3e-7 of the exact prediction.
    assert p_high[10] == pytest.approx((filtered @ np.linalg.matrix_power(SPEC_TRANSITION, 11))[2:].sum(), abs=1e-6)
    assert controls.tolist() == [C32] * 11


def test_online_filter_trace_table() -> None:
    """TwinFilter fed the table's observations and controls recommends them and reproduces P(32c) and modes."""
    model = default_model()
    twin = TwinFilter(model, window=42)
    for row in TRACE:
        assert twin.steps == row.step
        assert twin.recommend() == row.control, f"recommendation at t = {row.step}"
        belief = twin.step(row.observation, row.control)
        p32 = control_marginal(belief.predicted, model.policy.state_control, model.n_controls)[C32]
        if row.p32 is not None:
            assert p32 == pytest.approx(row.p32, abs=row.p32_abs), f"P(32c) at t = {row.step}"
        if row.mode is not None:
            assert belief.mode == row.mode, f"mode at t = {row.step}"
