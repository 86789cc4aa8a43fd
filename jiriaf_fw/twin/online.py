"""The online twin: a constant-memory filter that assimilates one observation per step and recommends a control."""

from __future__ import annotations

import collections
from dataclasses import dataclass

import numpy as np

from jiriaf_fw.twin.errors import TwinModelError
from jiriaf_fw.twin.filtering import (
    log_likelihood,
    predict_closed_loop,
    predict_log_belief,
    smooth,
    update_log_belief,
)
from jiriaf_fw.twin.model import TwinModel
from jiriaf_fw.twin.policy import DwellState, choose_control

DEFAULT_SMOOTHING_WINDOW = 64


@dataclass(frozen=True)
class Belief:
    """The result of assimilating one observation: beliefs over the load states at that step."""

    step: int
    control: int
    observation: float
    predicted: np.ndarray
    likelihood: np.ndarray
    filtered: np.ndarray

    @property
    def mean(self) -> float:
        """Expected state index E[i] under the filtered belief."""
        return float(np.arange(self.filtered.size) @ self.filtered)

    @property
    def mode(self) -> int:
        """Most probable state index under the filtered belief (the lowest index on a tie)."""
        return int(np.argmax(self.filtered))


class TwinFilter:
    """A forward filter over a `TwinModel` that keeps O(1) state plus a fixed window for smoothing.

    Per step the caller enacts a control (usually `recommend()`), observes the queue length under it, and
    passes both to `step()`. The filter stores the filtered belief, the dwell state of the enacted control,
    and the last `window` steps' filtered beliefs and likelihoods, so `smoothed()` can revise them.
    """

    def __init__(self, model: TwinModel, window: int = DEFAULT_SMOOTHING_WINDOW) -> None:
        if window < 1:
            raise TwinModelError(f"invalid smoothing window {window!r}: expected at least 1 step")
        self.model = model
        self._log_filtered = model.log_prior
        self._log_predicted = model.log_prior
        self._dwell = DwellState(control=model.initial_control)
        self._steps = 0
        self._window: collections.deque[tuple[np.ndarray, np.ndarray, int]] = collections.deque(maxlen=window)

    @property
    def steps(self) -> int:
        """Number of observations assimilated so far, which is also the number of the next step."""
        return self._steps

    @property
    def belief(self) -> np.ndarray:
        """Filtered belief over the states after the last step (the prior before the first step)."""
        return np.exp(self._log_filtered)

    @property
    def predicted(self) -> np.ndarray:
        """Predicted belief of the next step, before its observation."""
        return np.exp(self._log_predicted)

    @property
    def dwell(self) -> DwellState:
        """The enacted control and for how many consecutive steps it has been enacted."""
        return self._dwell

    def step(self, observation: float, control: int) -> Belief:
        """Assimilate `observation`, measured while `control` was enacted, and return the beliefs at this step.

        Raises TwinObservationError (leaving the filter unchanged) on a non-finite observation or an
        unknown control index.
        """
        log_lik = log_likelihood(self.model, observation, control)
        log_predicted = self._log_predicted
        self._log_filtered = update_log_belief(log_predicted, log_lik)
        self._log_predicted = predict_log_belief(self._log_filtered, self.model, control)
        self._dwell = self._dwell.advance(control)
        filtered = np.exp(self._log_filtered)
        self._window.append((filtered, log_lik, control))
        belief = Belief(step=self._steps, control=control, observation=observation,
                        predicted=np.exp(log_predicted), likelihood=np.exp(log_lik), filtered=filtered)
        self._steps += 1
        return belief

    def recommend(self) -> int:
        """Return the control index for the next step: the policy on the predicted belief, within the dwell time."""
        return choose_control(self.predicted, self.model.policy, self.model.n_controls, self._dwell)

    def predict(self, horizon: int | None = None) -> np.ndarray:
        """Return the closed-loop predicted beliefs of the next `horizon` steps (model horizon by default), (h, N)."""
        return self.predict_with_controls(horizon)[0]

    def predict_with_controls(self, horizon: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Return the predicted beliefs (h, N) and the policy's control for each predicted step (h,)."""
        steps = self.model.horizon if horizon is None else horizon
        if steps < 1:
            raise TwinModelError(f"invalid prediction horizon {steps!r}: expected at least 1 step")
        return predict_closed_loop(self.predicted, self.model, self._dwell, steps)

    def smoothed(self) -> tuple[int, np.ndarray]:
        """Return the first step number of the window and the smoothed beliefs of its steps, (K, N).

        Every belief in the window is conditioned on all observations up to the last step.
        """
        if not self._window:
            return self._steps, np.empty((0, self.model.n_states))
        filtered = np.array([entry[0] for entry in self._window])
        log_liks = np.array([entry[1] for entry in self._window])
        controls = np.array([entry[2] for entry in self._window])
        return self._steps - len(self._window), smooth(filtered, log_liks, controls, self.model)
