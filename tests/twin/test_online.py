"""The online filter API the live loop uses: step, recommend, predict, smoothing window, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from jiriaf_fw.twin import TwinFilter, TwinModelError, TwinObservationError, default_model, improved_model
from jiriaf_fw.twin.filtering import forward_filter, smooth
from jiriaf_fw.twin.paper import C16, C32
from jiriaf_fw.twin.simulation import SimulationResult


def _observations(run: SimulationResult) -> tuple[np.ndarray, np.ndarray]:
    return (np.array([record.observation for record in run.records]),
            np.array([record.control for record in run.records]))


def test_fresh_filter_holds_prior() -> None:
    twin = TwinFilter(default_model())
    assert twin.belief.tolist() == [1, 0, 0, 0, 0]
    assert twin.steps == 0
    assert twin.recommend() == C16
    assert twin.smoothed()[1].shape == (0, 5)


def test_step_returns_filtered_belief() -> None:
    twin = TwinFilter(default_model())
    twin.step(32.0, C16)
    belief = twin.step(39.2, C16)
    assert belief.step == 1
    assert belief.filtered == pytest.approx(np.eye(5)[1], abs=1e-6)
    assert belief.mode == 1
    assert belief.mean == pytest.approx(1.0, abs=1e-6)
    assert twin.belief == pytest.approx(belief.filtered, abs=0)
    assert twin.steps == 2


def test_step_far_observation_stays_finite() -> None:
    """At o = 183.4 under 16c the JLab code returns NaN, but here the belief stays a distribution."""
    twin = TwinFilter(default_model())
    belief = twin.step(183.4, C16)
    assert np.all(np.isfinite(belief.filtered))
    assert belief.filtered.sum() == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("observation, control, message", [
    (float("nan"), C16, "invalid observation nan"),
    (float("inf"), C16, "invalid observation inf"),
    (32.0, 2, "invalid control index 2"),
    (32.0, -1, "invalid control index -1"),
])
def test_invalid_step_leaves_filter_unchanged(observation: float, control: int, message: str) -> None:
    twin = TwinFilter(default_model())
    twin.step(39.2, C16)
    before = twin.belief.copy()
    with pytest.raises(TwinObservationError, match=message):
        twin.step(observation, control)
    assert np.array_equal(twin.belief, before)
    assert twin.steps == 1


def test_predict_shape_and_first_row() -> None:
    twin = TwinFilter(default_model())
    twin.step(58.0, C16)
    predicted = twin.predict(11)
    assert predicted.shape == (11, 5)
    assert predicted[0] == pytest.approx(twin.predicted, abs=1e-15)
    assert predicted.sum(axis=1) == pytest.approx(np.ones(11), abs=1e-12)
    assert twin.predict().shape == (default_model().horizon, 5)
    with pytest.raises(TwinModelError):
        twin.predict(0)


def test_recommend_follows_prediction() -> None:
    """The first six JLab readings at 16 threads end on state 2, so the twin recommends 32 threads."""
    twin = TwinFilter(default_model())
    for observation in (32.0, 35.6, 39.2, 44.4, 51.2):
        twin.step(observation, C16)
        assert twin.recommend() == C16
    twin.step(58.0, C16)
    assert twin.recommend() == C32


def test_window_memory_is_bounded(paper_run: SimulationResult) -> None:
    observations, controls = _observations(paper_run)
    twin = TwinFilter(default_model(), window=10)
    for observation, control in zip(observations, controls, strict=True):
        twin.step(float(observation), int(control))
    first, smoothed = twin.smoothed()
    assert (first, smoothed.shape) == (70, (10, 5))
    assert len(twin._window) == 10


def test_window_smoothing_is_exact(paper_run: SimulationResult) -> None:
    """Smoothing over the last 10 steps equals full smoothing restricted to them."""
    model = default_model()
    observations, controls = _observations(paper_run)
    _, filtered, log_liks = forward_filter(model, observations, controls)
    full = smooth(filtered, log_liks, controls, model)
    twin = TwinFilter(model, window=10)
    for observation, control in zip(observations, controls, strict=True):
        twin.step(float(observation), int(control))
    first, smoothed = twin.smoothed()
    assert smoothed == pytest.approx(full[first:], abs=1e-12)
    assert smoothed[-1] == pytest.approx(filtered[-1], abs=1e-12)


def test_online_equals_offline_filter(improved_run: SimulationResult) -> None:
    model = improved_model()
    observations, controls = _observations(improved_run)
    predicted, filtered, _ = forward_filter(model, observations, controls)
    assert np.array([record.filtered for record in improved_run.records]) == pytest.approx(filtered, abs=1e-12)
    assert np.array([record.predicted for record in improved_run.records]) == pytest.approx(predicted, abs=1e-12)


def test_invalid_window_rejected() -> None:
    with pytest.raises(TwinModelError, match="invalid smoothing window 0"):
        TwinFilter(default_model(), window=0)
