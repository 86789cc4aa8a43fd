"""The JLab twin of the JIRIAF paper (arXiv:2502.18596, section 6) as model data, and an improved model.

Sources: Tables 8 and 9 of that paper (arrival rates 162..166 Hz, measured "Obs. Lq" at 16 and 32 threads)
and the configuration of JeffersonLab/jiriaf-digital-twin (commit c9d79f1): five load states labelled
0..80, controls "32c" and "16c", a stay probability built from p = 0.05, emission sigma 1.5/sqrt(50), and the
threshold policy "32c from state 40 up".
"""

from __future__ import annotations

import math

import numpy as np

from jiriaf_fw.twin.model import EmissionModel, PolicySpec, TwinModel
from jiriaf_fw.twin.policy import threshold_state_control
from jiriaf_fw.twin.queueing import calc_lq

STATE_LABELS = ("0", "20", "40", "60", "80")
ARRIVAL_HZ = (162.0, 163.0, 164.0, 165.0, 166.0)
CONTROL_LABELS = ("32c", "16c")
THREADS = (32, 16)
C32, C16 = 0, 1
# The tables print mu as 222 and 167 Hz, but their Calc. Lq column follows from service times of 4.5 ms and
# 6 ms per event (mu = 222.22 and 166.67 Hz). mu = 167 would give Lq = 31.43 at 162 Hz instead of 33.74.
SERVICE_TIME_S = (0.0045, 0.006)
# Measured mean queue length per control (rows: 32c, 16c) and load state: "Obs. Lq" of Tables 9 and 8.
OBSERVED_LQ = ((1.56, 2.5, 2.56, 3.5, 3.56), (32.0, 41.0, 58.0, 97.0, 241.0))
# The JLab twin scores observations with sigma / sqrt(scalefactor) = 1.5 / sqrt(50) for both controls.
JLAB_SIGMA = 1.5 / math.sqrt(50.0)
JLAB_STEP_PROBABILITY = 0.05
# From state 40 (index 2) up the JLab default policy enacts 32 threads.
JLAB_THRESHOLD_STATE = 2
JLAB_HORIZON = 11
# Noise of log Lq in the improved model: about 10 % relative error per measurement.
IMPROVED_LOG_SIGMA = 0.1
IMPROVED_MIN_DWELL_STEPS = 3
IMPROVED_LIKELIHOOD_FLOOR = 1e-9


def service_hz() -> np.ndarray:
    """Return mu per control (32c, 16c) in Hz: the reciprocal of the measured service time."""
    return 1.0 / np.asarray(SERVICE_TIME_S)


def calculated_lq() -> np.ndarray:
    """Return the "Calc. Lq" table (U, N): M/M/1 Lq per control and arrival rate, rounded to 2 decimals."""
    return np.array([[calc_lq(arrival, mu) for arrival in ARRIVAL_HZ] for mu in service_hz()])


def jlab_transition(n_states: int = len(STATE_LABELS), step_probability: float = JLAB_STEP_PROBABILITY) -> np.ndarray:
    """Return the JLab transition matrix (N, N), the same for every control.

    Unnormalised weights with p = `step_probability`: (1-p)^2 to stay, p^2 to move one state, p^2/2 to jump
    further, and 1 to stay in the last state (a rule kept from the UAV twin the code was forked from). Each
    row is then normalised.
    """
    index = np.arange(n_states)
    distance = np.abs(index[None, :] - index[:, None])
    weights = np.where(distance == 0, (1 - step_probability) ** 2,
                       np.where(distance == 1, step_probability**2, step_probability**2 / 2))
    weights[-1, -1] = 1.0
    return weights / weights.sum(axis=1, keepdims=True)


def default_model() -> TwinModel:
    """Return the JLab twin exactly: Calc. Lq emission means in linear space, sigma 0.2121, no dwell time."""
    n_states, n_controls = len(STATE_LABELS), len(CONTROL_LABELS)
    transition = jlab_transition()
    return TwinModel(
        name="jlab-paper",
        state_labels=STATE_LABELS, arrival_hz=np.asarray(ARRIVAL_HZ), control_labels=CONTROL_LABELS,
        threads=THREADS, service_hz=service_hz(),
        prior=np.eye(n_states)[0],
        transition=np.stack([transition] * n_controls),
        emission=EmissionModel(space="linear", mean=calculated_lq(),
                               sigma=np.full((n_controls, n_states), JLAB_SIGMA)),
        policy=PolicySpec(state_control=threshold_state_control(n_states, JLAB_THRESHOLD_STATE, high=C32, low=C16),
                          min_dwell_steps=1),
        initial_control=C16, horizon=JLAB_HORIZON)


def improved_model() -> TwinModel:
    """Return the improved twin: measured-table emission means, noise on log Lq, a likelihood floor, dwell time.

    Transitions, prior and the threshold states stay those of the JLab model, so the gain comes from the
    emissions alone. Under 32 threads the measured Lq (1.56..3.56) separates the load states. The M/M/1
    values (1.96..2.21) lie within about one sigma of each other.
    """
    base = default_model()
    emission = EmissionModel(space="log", mean=np.asarray(OBSERVED_LQ),
                             sigma=np.full(base.emission.sigma.shape, IMPROVED_LOG_SIGMA),
                             likelihood_floor=IMPROVED_LIKELIHOOD_FLOOR)
    policy = PolicySpec(state_control=base.policy.state_control, min_dwell_steps=IMPROVED_MIN_DWELL_STEPS)
    return TwinModel(
        name="improved", state_labels=base.state_labels, arrival_hz=base.arrival_hz,
        control_labels=base.control_labels, threads=base.threads, service_hz=base.service_hz, prior=base.prior,
        transition=base.transition, emission=emission, policy=policy, initial_control=base.initial_control,
        horizon=base.horizon)
