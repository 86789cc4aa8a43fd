"""Fitting a model from a history: counts with a Dirichlet prior, emissions, and Baum-Welch without states."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from jiriaf_fw.twin import TwinHistoryError, TwinModelError, default_model, improved_model
from jiriaf_fw.twin.fitting import History, fit_model
from jiriaf_fw.twin.paper import OBSERVED_LQ
from jiriaf_fw.twin.simulation import SimulationResult, run_scenario

MOVE_PROBABILITY = 0.3


def _history(run: SimulationResult, with_states: bool = True) -> History:
    return History(steps=np.array([record.step for record in run.records]), controls=run.controls,
                   observations=np.array([record.observation for record in run.records]),
                   states=np.array([record.state for record in run.records]) if with_states else None)


@pytest.fixture(scope="module")
def random_walk_run() -> SimulationResult:
    return run_scenario(improved_model(), "random-walk", 1500, seed=5, noise=0.05, explore=0.5,
                        move_probability=MOVE_PROBABILITY)


def _random_walk_matrix() -> np.ndarray:
    matrix = np.zeros((5, 5))
    for i in range(5):
        matrix[i, max(i - 1, 0)] += MOVE_PROBABILITY / 2
        matrix[i, min(i + 1, 4)] += MOVE_PROBABILITY / 2
        matrix[i, i] += 1 - MOVE_PROBABILITY
    return matrix


def test_counts_recover_emission_means(random_walk_run: SimulationResult) -> None:
    fit = fit_model(_history(random_walk_run), improved_model())
    assert fit.method == "counts"
    assert fit.model.emission.mean == pytest.approx(np.asarray(OBSERVED_LQ), rel=0.03)
    assert fit.model.emission.sigma == pytest.approx(np.full((2, 5), 0.05), abs=0.015)


def test_counts_recover_transitions(random_walk_run: SimulationResult) -> None:
    fit = fit_model(_history(random_walk_run), improved_model())
    assert fit.model.transition.sum(axis=2) == pytest.approx(np.ones((2, 5)), abs=1e-12)
    for control in range(2):
        assert fit.model.transition[control] == pytest.approx(_random_walk_matrix(), abs=0.1)
    assert fit.transition_counts.sum() == 1499


def test_baum_welch_recovers_emission_means(random_walk_run: SimulationResult) -> None:
    fit = fit_model(_history(random_walk_run, with_states=False), improved_model(), max_iterations=30)
    assert fit.method == "baum-welch"
    assert fit.iterations >= 1
    assert fit.model.emission.mean == pytest.approx(np.asarray(OBSERVED_LQ), rel=0.05)
    assert fit.model.transition.sum(axis=2) == pytest.approx(np.ones((2, 5)), abs=1e-12)
    assert fit.model.transition[0] == pytest.approx(_random_walk_matrix(), abs=0.15)


def test_baum_welch_likelihood_does_not_decrease(random_walk_run: SimulationResult) -> None:
    history = _history(random_walk_run, with_states=False)
    short = fit_model(history, improved_model(), max_iterations=2, tolerance=-np.inf)
    longer = fit_model(history, improved_model(), max_iterations=6, tolerance=-np.inf)
    assert longer.log_likelihood is not None and short.log_likelihood is not None
    assert longer.log_likelihood >= short.log_likelihood - 1e-6


def test_unseen_cells_keep_base_values() -> None:
    """A history that never leaves state 0 under 16c: other cells keep the base mean and transition rows."""
    base = improved_model()
    history = History(steps=np.arange(6), controls=np.ones(6, dtype=int), observations=np.full(6, 30.0),
                      states=np.zeros(6, dtype=int))
    fit = fit_model(history, base)
    assert fit.model.emission.mean[1, 0] == pytest.approx(30.0)
    assert fit.model.emission.mean[0] == pytest.approx(base.emission.mean[0])
    assert fit.model.emission.mean[1, 1:] == pytest.approx(base.emission.mean[1, 1:])
    assert fit.model.transition[0] == pytest.approx(base.transition[0])
    # Five 0 -> 0 counts plus one pseudo-count spread as the base row.
    assert fit.model.transition[1, 0, 0] == pytest.approx((5 + base.transition[1, 0, 0]) / 6)


def test_transitions_counted_only_between_consecutive_steps() -> None:
    history = History(steps=np.array([0, 1, 5, 6]), controls=np.ones(4, dtype=int),
                      observations=np.array([32.0, 41.0, 97.0, 241.0]), states=np.array([0, 1, 3, 4]))
    counts = fit_model(history, improved_model()).transition_counts
    assert counts[1, 0, 1] == 1
    assert counts[1, 3, 4] == 1
    assert counts[1, 1, 3] == 0
    assert counts.sum() == 2


def test_linear_space_fit_from_log_base() -> None:
    base = improved_model()
    history = History(steps=np.arange(4), controls=np.ones(4, dtype=int), observations=np.array([30, 34, 30, 34.0]),
                      states=np.zeros(4, dtype=int))
    fit = fit_model(history, base, space="linear")
    assert fit.model.emission.space == "linear"
    assert fit.model.emission.mean[1, 0] == pytest.approx(32.0)
    # Base sigma 0.1 in log units becomes 0.1 x 241 in Lq units for an unseen cell.
    assert fit.model.emission.sigma[1, 4] == pytest.approx(0.1 * 241.0)


@pytest.mark.parametrize("history, message", [
    (History(steps=np.arange(1), controls=np.ones(1, dtype=int), observations=np.ones(1)), "1 row(s), but a fit needs"),
    (History(steps=np.array([0, 2]), controls=np.ones(2, dtype=int), observations=np.ones(2)),
     "no two rows have consecutive step numbers"),
    (History(steps=np.arange(3), controls=np.array([1, 2, 1]), observations=np.ones(3)),
     "step 1: control 2 is not a control index 0..1"),
    (History(steps=np.arange(3), controls=np.ones(3, dtype=int), observations=np.array([1, np.nan, 1])),
     "step 1: observation nan is not a finite queue length"),
    (History(steps=np.arange(3), controls=np.ones(3, dtype=int), observations=np.ones(3), states=np.array([0, 5, 0])),
     "step 1: state 5 is not a state index 0..4"),
])
def test_invalid_history_rejected(history: History, message: str) -> None:
    with pytest.raises(TwinHistoryError, match=message.replace("(", r"\(").replace(")", r"\)")):
        fit_model(history, improved_model())


@pytest.mark.parametrize("options, message", [
    ({"space": "cubic"}, "invalid emission space 'cubic'"),
    ({"prior_count": -1.0}, "invalid prior count -1.0"),
])
def test_invalid_fit_options_rejected(options: dict[str, object], message: str) -> None:
    history = History(steps=np.arange(3), controls=np.ones(3, dtype=int), observations=np.ones(3))
    with pytest.raises(TwinModelError, match=message):
        fit_model(history, improved_model(), **options)  # type: ignore[arg-type]


def test_model_fitted_on_paper_history_tracks_drain() -> None:
    """Transitions learnt from the JLab run itself (the JLab tables are far too sticky) cut the drain lag to 1."""
    history = _history(run_scenario(default_model(), "paper", 80))
    fitted = fit_model(history, improved_model()).model
    run = run_scenario(dataclasses.replace(fitted, name="fitted-paper"), "paper", 80)
    drains = [lag.lag for lag in run.lags if lag.ideal_control == 1]
    assert drains == [1, 1]
    assert len(run.switch_steps) == 4
