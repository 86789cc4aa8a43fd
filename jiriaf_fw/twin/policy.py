"""Control policies applied to a predicted belief: the JLab argmax rule and a minimum dwell time."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from jiriaf_fw.twin.model import PolicySpec


@dataclass(frozen=True)
class DwellState:
    """The enacted control and for how many consecutive steps it has been enacted (0 before any step)."""

    control: int
    steps: int = 0

    def advance(self, enacted: int) -> DwellState:
        """Return the dwell state after one more step under `enacted`."""
        if enacted == self.control:
            return DwellState(control=enacted, steps=self.steps + 1)
        return DwellState(control=enacted, steps=1)


def threshold_state_control(n_states: int, threshold_state: int, high: int, low: int) -> np.ndarray:
    """Return pi(i) as an array: control `high` for states from `threshold_state` up, `low` below it."""
    return np.where(np.arange(n_states) >= threshold_state, high, low)


def control_marginal(belief: np.ndarray, state_control: np.ndarray, n_controls: int) -> np.ndarray:
    """Return P(U^P = u) = sum_i belief[i] [pi(i) = u] for each control u: the policy node's marginal."""
    return np.bincount(state_control, weights=belief, minlength=n_controls)


def argmax_control(belief: np.ndarray, state_control: np.ndarray, n_controls: int) -> int:
    """Return the control of largest policy marginal, ties going to the lowest index (JLab's argmax rule).

    With the JLab threshold policy this is 32c exactly when P(state >= 40) >= 0.5.
    """
    return int(np.argmax(control_marginal(belief, state_control, n_controls)))


def choose_control(predicted: np.ndarray, policy: PolicySpec, n_controls: int, dwell: DwellState) -> int:
    """Return the control for the next step from its predicted belief, holding the enacted one during its dwell.

    Before any step (`dwell.steps == 0`) no dwell time applies.
    """
    wanted = argmax_control(predicted, policy.state_control, n_controls)
    if wanted != dwell.control and 0 < dwell.steps < policy.min_dwell_steps:
        return dwell.control
    return wanted
