"""Closed-loop simulation: the twin recommends a control, the asset measures under it, the twin assimilates.

Produces one `StepRecord` per step, the smoothed beliefs over the run's window, the final closed-loop
prediction, and the reaction lags of the enacted control to changes of the true load.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from jiriaf_fw.twin.errors import TwinModelError
from jiriaf_fw.twin.model import TwinModel
from jiriaf_fw.twin.online import TwinFilter
from jiriaf_fw.twin.paper import CONTROL_LABELS, OBSERVED_LQ, STATE_LABELS
from jiriaf_fw.twin.policy import argmax_control, control_marginal
from jiriaf_fw.twin.scenario import SCENARIOS, QueueAsset, paper_true_states, random_walk_states


@dataclass(frozen=True)
class StepRecord:
    """One simulated step: the truth, the controls, the observation and the twin's beliefs."""

    step: int
    true_state: float
    recommended: int
    control: int
    observation: float
    predicted_control: np.ndarray
    predicted: np.ndarray
    filtered: np.ndarray
    smoothed: np.ndarray | None = None

    @property
    def state(self) -> int:
        """The true state rounded to the nearest index (halves round up), as a history file stores it."""
        return math.floor(self.true_state + 0.5)


@dataclass(frozen=True)
class ControlLag:
    """How many steps after the ideal control changed the enacted control followed (None: not within the run)."""

    step: int
    ideal_control: int
    lag: int | None


@dataclass(frozen=True)
class SimulationResult:
    """Everything a simulation run produced."""

    model: TwinModel
    records: list[StepRecord]
    prediction: np.ndarray
    predicted_controls: np.ndarray
    lags: list[ControlLag] = field(default_factory=list)

    @property
    def controls(self) -> np.ndarray:
        """Enacted control per step."""
        return np.array([record.control for record in self.records], dtype=int)

    @property
    def switch_steps(self) -> list[int]:
        """Steps at which the enacted control differs from the one before (the initial control before step 0)."""
        return switch_steps(self.controls, self.model.initial_control)


def switch_steps(controls: np.ndarray, initial_control: int) -> list[int]:
    """Return the steps whose control differs from the previous step's (or from `initial_control` at step 0)."""
    previous = np.concatenate(([initial_control], controls[:-1]))
    return [int(step) for step in np.flatnonzero(controls != previous)]


def ideal_controls(true_states: np.ndarray, state_control: np.ndarray) -> np.ndarray:
    """Return the policy applied to the truth: pi(floor(s_t)), the control a perfect twin would enact."""
    indices = np.clip(np.floor(true_states).astype(int), 0, state_control.size - 1)
    return state_control[indices]


def control_lags(true_states: np.ndarray, controls: np.ndarray, state_control: np.ndarray) -> list[ControlLag]:
    """Return, for every change of the ideal control, the steps until the enacted control matched it.

    With the JLab threshold policy a drain lag counts from the first step with s_t < 2 to the first step
    at 16 threads. The lag is None when the run ends, or the ideal changes again, before the match.
    """
    ideal = ideal_controls(true_states, state_control)
    changes = [int(step) for step in np.flatnonzero(ideal[1:] != ideal[:-1]) + 1]
    lags = []
    for index, start in enumerate(changes):
        end = changes[index + 1] if index + 1 < len(changes) else len(controls)
        matches = np.flatnonzero(controls[start:end] == ideal[start])
        lags.append(ControlLag(step=start, ideal_control=int(ideal[start]),
                               lag=int(matches[0]) if matches.size else None))
    return lags


def simulate(model: TwinModel, true_states: np.ndarray, asset: QueueAsset, *, explore: float = 0.0,
             rng: np.random.Generator | None = None, window: int | None = None) -> SimulationResult:
    """Run the closed loop for len(true_states) steps and return the records with smoothed beliefs.

    With `explore` > 0 each step enacts a uniformly random control with that probability instead of the
    recommendation (to log histories that cover every state and control). `window` bounds smoothing
    (default: the whole run).
    """
    if not 0.0 <= explore <= 1.0:
        raise TwinModelError(f"invalid exploration probability {explore!r}: expected a value in [0, 1]")
    if asset.table.shape != (model.n_controls, model.n_states):
        raise TwinModelError(f"asset table shape {asset.table.shape} does not fit the model's "
                             f"{model.n_controls} controls x {model.n_states} states")
    steps = len(true_states)
    generator = rng if rng is not None else np.random.default_rng()
    twin = TwinFilter(model, window=window or max(steps, 1))
    records = []
    for t in range(steps):
        predicted = twin.predicted
        marginal = control_marginal(predicted, model.policy.state_control, model.n_controls)
        recommended = twin.recommend()
        control = recommended
        if explore > 0 and generator.random() < explore:
            control = int(generator.integers(model.n_controls))
        observation = asset.measure(float(true_states[t]), control)
        belief = twin.step(observation, control)
        records.append(StepRecord(step=t, true_state=float(true_states[t]), recommended=recommended,
                                  control=control, observation=observation, predicted_control=marginal,
                                  predicted=predicted, filtered=belief.filtered))
    first, smoothed = twin.smoothed()
    for offset, belief in enumerate(smoothed):
        record = records[first + offset]
        records[first + offset] = replace(record, smoothed=belief)
    prediction, predicted_controls = twin.predict_with_controls()
    controls = np.array([record.control for record in records], dtype=int)
    return SimulationResult(model=model, records=records, prediction=prediction,
                            predicted_controls=predicted_controls,
                            lags=control_lags(true_states, controls, model.policy.state_control))


def estimated_control(record: StepRecord, model: TwinModel) -> int | None:
    """Return the "Estimated" control of the JLab Figure 9: the policy's argmax on the smoothed belief."""
    if record.smoothed is None:
        return None
    return argmax_control(record.smoothed, model.policy.state_control, model.n_controls)


def run_scenario(model: TwinModel, scenario: str, steps: int, *, seed: int | None = None, noise: float = 0.0,
                 explore: float = 0.0, move_probability: float = 0.3) -> SimulationResult:
    """Simulate `steps` steps of a named scenario against the JLab queue (Tables 8 and 9 measured Lq).

    "paper" is the JLab load schedule, and "random-walk" moves the load one state up or down with
    `move_probability`. `noise` is the asset's standard deviation of log Lq, `seed` seeds every draw.
    Raises TwinModelError when the model's states or controls do not match the simulated queue's.
    """
    if steps < 1:
        raise TwinModelError(f"invalid step count {steps!r}: expected at least 1")
    if model.control_labels != CONTROL_LABELS or model.n_states != len(STATE_LABELS):
        raise TwinModelError(f"model {model.name!r} has controls {list(model.control_labels)} and {model.n_states} "
                             f"states, but the simulated queue has controls {list(CONTROL_LABELS)} and "
                             f"{len(STATE_LABELS)} states")
    rng = np.random.default_rng(seed)
    if scenario == "paper":
        truth = paper_true_states(steps, model.n_states)
    elif scenario == "random-walk":
        truth = random_walk_states(steps, model.n_states, move_probability, rng)
    else:
        raise TwinModelError(f"unknown scenario {scenario!r}: expected one of {', '.join(SCENARIOS)}")
    return simulate(model, truth, QueueAsset(np.asarray(OBSERVED_LQ), noise, rng), explore=explore, rng=rng)
