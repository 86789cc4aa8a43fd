"""Ground truth for simulations: the JLab load schedule, a random-walk load, and the simulated queue asset.

The JLab schedule (used for the run in section 6 of the JIRIAF paper, arXiv:2502.18596) changes the true state index s by +-0.4 per step. It is computed in integer tenths,
so s takes exact values (the JLab asset accumulated floats and relied on 10 x 0.4 < 4.0 to keep running).
"""

from __future__ import annotations

import math

import numpy as np

from jiriaf_fw.twin.errors import TwinModelError

# (first step, last step, change in tenths of a state index per step) of the JLab asset's schedule "j":
# +0.4 while t < 10, -0.4 while 20 < t < 30, +0.4 while 40 < t < 50, and so on. No change elsewhere.
PAPER_SCHEDULE_TENTHS = ((0, 9, 4), (21, 29, -4), (41, 49, 4), (61, 69, -4), (81, 89, 4), (101, 109, -4))
SCENARIOS = ("paper", "random-walk")


def paper_state_tenths(steps: int, n_states: int = 5) -> np.ndarray:
    """Return the true state index in tenths at steps 0..steps-1: s_0 = 0, clamped to [0, n_states - 1]."""
    top = 10 * (n_states - 1)
    tenths = np.zeros(steps, dtype=int)
    for t in range(1, steps):
        change = sum(delta for first, last, delta in PAPER_SCHEDULE_TENTHS if first <= t - 1 <= last)
        tenths[t] = min(max(tenths[t - 1] + change, 0), top)
    return tenths


def paper_true_states(steps: int, n_states: int = 5) -> np.ndarray:
    """Return the JLab schedule's true state index s_t (0.0 .. n_states - 1) for steps 0..steps-1."""
    return paper_state_tenths(steps, n_states) / 10.0


def random_walk_states(steps: int, n_states: int, move_probability: float,
                       rng: np.random.Generator, start: int = 0) -> np.ndarray:
    """Return integer true states of a lazy random walk: one state up or down with `move_probability` / 2 each.

    A move past either end keeps the state. Used to generate histories in which every state is visited.
    """
    if not 0.0 <= move_probability <= 1.0:
        raise TwinModelError(f"invalid move probability {move_probability!r}: expected a value in [0, 1]")
    draws = rng.random(steps)
    states = np.empty(steps)
    state = start
    for t in range(steps):
        states[t] = state
        if draws[t] < move_probability / 2:
            state = max(state - 1, 0)
        elif draws[t] < move_probability:
            state = min(state + 1, n_states - 1)
    return states


class QueueAsset:
    """Simulated stream queue: the measured Lq table interpolated over the state index, times noise.

    `table` is (U, N): the mean queue length per control and integer state. The measurement at a
    fractional state s is linear interpolation between the neighbouring states, as the JLab asset does.
    With `log_noise` > 0 it is multiplied by exp(log_noise * z), z standard normal from `rng`.
    """

    def __init__(self, table: np.ndarray, log_noise: float = 0.0, rng: np.random.Generator | None = None) -> None:
        if not (math.isfinite(log_noise) and log_noise >= 0):
            raise TwinModelError(f"invalid asset noise {log_noise!r}: expected a standard deviation of log Lq >= 0")
        self.table = np.asarray(table, dtype=float)
        self.log_noise = log_noise
        self.rng = rng if rng is not None else np.random.default_rng()

    def measure(self, state: float, control: int) -> float:
        """Return the queue length observed at true state index `state` under `control`."""
        row = self.table[control]
        value = float(np.interp(state, np.arange(row.size), row))
        if self.log_noise > 0:
            value *= math.exp(self.log_noise * self.rng.standard_normal())
        return value
