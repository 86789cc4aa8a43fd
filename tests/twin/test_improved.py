"""The improved twin: measured-Lq emissions, noise on log Lq, a likelihood floor and a minimum dwell time."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from jiriaf_fw.twin import EmissionModel, TwinFilter, default_model, improved_model
from jiriaf_fw.twin.paper import C16, C32, OBSERVED_LQ
from jiriaf_fw.twin.policy import DwellState, choose_control
from jiriaf_fw.twin.simulation import SimulationResult, run_scenario


def test_observed_table_linear_switches() -> None:
    """The Obs. Lq table as emission means (same sigma) switches at 5, 31, 45, 71."""
    base = default_model()
    model = dataclasses.replace(base, emission=EmissionModel(space="linear", mean=np.asarray(OBSERVED_LQ),
                                                             sigma=base.emission.sigma))
    assert run_scenario(model, "paper", 80).switch_steps == [5, 31, 45, 71]


def test_observed_table_log_switches() -> None:
    """Log-space emissions with sigma_log = 0.1 switch at 6, 31, 46, 71."""
    base = default_model()
    model = dataclasses.replace(base, emission=EmissionModel(space="log", mean=np.asarray(OBSERVED_LQ),
                                                             sigma=np.full((2, 5), 0.1)))
    assert run_scenario(model, "paper", 80).switch_steps == [6, 31, 46, 71]


def test_improved_model_switches(improved_run: SimulationResult) -> None:
    """The improved model adds no switch to the log-space ones: exactly four over 80 steps."""
    assert improved_run.switch_steps == [6, 31, 46, 71]


def test_improved_drain_lag_at_most_4(improved_run: SimulationResult, paper_run: SimulationResult) -> None:
    drains = [lag for lag in improved_run.lags if lag.ideal_control == C16]
    assert [lag.step for lag in drains] == [27, 67]
    assert all(lag.lag is not None and lag.lag <= 4 for lag in drains)
    original = [lag.lag for lag in paper_run.lags if lag.ideal_control == C16]
    assert original == [10, 10]


def test_improved_rise_lag_unchanged(improved_run: SimulationResult) -> None:
    rises = [lag.lag for lag in improved_run.lags if lag.ideal_control == C32]
    assert rises == [1, 1]


def test_improved_model_is_measured_log_table() -> None:
    model = improved_model()
    assert model.emission.space == "log"
    assert model.emission.mean.tolist() == [list(row) for row in OBSERVED_LQ]
    assert model.policy.min_dwell_steps >= 2


def test_dwell_holds_enacted_control() -> None:
    policy = improved_model().policy
    wants_32c = np.eye(5)[4]
    assert choose_control(wants_32c, policy, 2, DwellState(C16, 1)) == C16
    assert choose_control(wants_32c, policy, 2, DwellState(C16, policy.min_dwell_steps - 1)) == C16
    assert choose_control(wants_32c, policy, 2, DwellState(C16, policy.min_dwell_steps)) == C32


def test_dwell_does_not_apply_before_first_step() -> None:
    policy = improved_model().policy
    assert choose_control(np.eye(5)[4], policy, 2, DwellState(C16, 0)) == C32


def test_policy_tie_goes_to_32c() -> None:
    """The JLab argmax rule: P(state >= 40) = 0.5 exactly enacts 32c."""
    belief = np.array([0.25, 0.25, 0.25, 0.25, 0.0])
    assert choose_control(belief, default_model().policy, 2, DwellState(C16, 1)) == C32


def test_dwell_time_cuts_switches_on_noisy_queue() -> None:
    """On a noisy queue the dwell time removes flapping: no run of a control is shorter than the dwell."""
    model = improved_model()
    no_dwell = dataclasses.replace(model, policy=dataclasses.replace(model.policy, min_dwell_steps=1))
    noisy = {"scenario": "random-walk", "steps": 400, "seed": 11, "noise": 0.3}
    with_dwell = run_scenario(model, **noisy)
    without = run_scenario(no_dwell, **noisy)
    assert len(with_dwell.switch_steps) < len(without.switch_steps)
    gaps = np.diff(with_dwell.switch_steps)
    assert gaps.min() >= model.policy.min_dwell_steps


def _after_outlier(floor: float) -> np.ndarray:
    """Filter five 16c readings of state 0, one absurd reading, then three of state 0 again.

    The load is frozen (identity transitions) and the prior uniform, so only the likelihoods move the belief.
    """
    model = improved_model()
    frozen = dataclasses.replace(model, transition=np.stack([np.eye(5)] * 2), prior=np.full(5, 0.2),
                                 emission=dataclasses.replace(model.emission, likelihood_floor=floor))
    twin = TwinFilter(frozen)
    for observation in [32.0] * 5 + [1e6] + [32.0] * 3:
        belief = twin.step(observation, C16)
    return belief.filtered


def test_likelihood_floor_recovers_from_outlier() -> None:
    """With the floor one absurd reading costs a bounded penalty, so three good readings win the belief back."""
    assert _after_outlier(improved_model().emission.likelihood_floor)[0] == pytest.approx(1.0, abs=1e-6)
    assert _after_outlier(0.0)[0] < 1e-6
