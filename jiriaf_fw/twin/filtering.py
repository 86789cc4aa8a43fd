"""Inference on the twin's hidden Markov model: likelihoods, the log-space forward filter, prediction, smoothing.

All functions are pure. Beliefs are probability vectors over the N load states. Log beliefs may hold -inf
for impossible states. Step t assimilates observation o_t, made under the enacted control u_t, and u_t
also selects the transition table T[u_t] from D_t to D_{t+1}.
"""

from __future__ import annotations

import math

import numpy as np

from jiriaf_fw.twin.errors import TwinObservationError
from jiriaf_fw.twin.model import TwinModel
from jiriaf_fw.twin.policy import DwellState, choose_control

_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)


def logsumexp(values: np.ndarray, axis: int | None = None) -> np.ndarray:
    """Return log(sum(exp(values))) along `axis`, exact for large values and -inf for all -inf inputs."""
    peak = np.max(values, axis=axis, keepdims=True)
    peak = np.where(np.isfinite(peak), peak, 0.0)
    with np.errstate(divide="ignore"):
        total = np.log(np.sum(np.exp(values - peak), axis=axis, keepdims=True)) + peak
    return np.squeeze(total, axis=axis)


def _check_step_input(model: TwinModel, observation: float, control: int) -> None:
    if not math.isfinite(observation):
        raise TwinObservationError(f"invalid observation {observation!r}: expected a finite queue length")
    if not 0 <= control < model.n_controls:
        raise TwinObservationError(f"invalid control index {control!r}: the model {model.name!r} has controls "
                                   f"0..{model.n_controls - 1} ({', '.join(model.control_labels)})")


def log_likelihood(model: TwinModel, observation: float, control: int) -> np.ndarray:
    """Return log p(o | D = i, U = control) for every state i, shifted so the likelihoods sum to 1.

    Computed in log space, so it is finite for any finite observation (the linear JLab computation
    underflows to 0/0 = NaN when o is far from every mean). The model's likelihood floor is applied after
    normalisation. Raises TwinObservationError on a non-finite observation or an unknown control.
    """
    _check_step_input(model, observation, control)
    emission = model.emission
    mean, sigma = emission.mean[control], emission.sigma[control]
    if emission.space == "log":
        value = math.log(max(observation, emission.min_observation))
        mean = np.log(mean)
    else:
        value = observation
    log_density = -0.5 * ((value - mean) / sigma) ** 2 - np.log(sigma) - _HALF_LOG_2PI
    log_density = log_density - logsumexp(log_density)
    if emission.likelihood_floor > 0.0:
        log_density = np.maximum(log_density, np.max(log_density) + math.log(emission.likelihood_floor))
        log_density = log_density - logsumexp(log_density)
    return log_density


def jlab_likelihood(model: TwinModel, observation: float, control: int) -> np.ndarray:
    """Return the likelihood exactly as the JLab twin computes it, for comparison only.

    Normal densities in linear space, normalised to sum 1, then entries below machine epsilon set to 0
    without renormalising. Returns NaN entries when every density underflows (for example o = 183.4 under
    16c). Linear space only.
    """
    _check_step_input(model, observation, control)
    mean, sigma = model.emission.mean[control], model.emission.sigma[control]
    density = np.exp(-0.5 * ((observation - mean) / sigma) ** 2) / (sigma * math.sqrt(2.0 * math.pi))
    with np.errstate(invalid="ignore", divide="ignore"):
        normalised = density / np.sum(np.abs(density))
    normalised[normalised < np.finfo(float).eps] = 0.0
    return normalised


def predict_log_belief(log_belief: np.ndarray, model: TwinModel, control: int) -> np.ndarray:
    """Return log p(D_{t+1}) from log p(D_t) under the transition table of `control`."""
    return logsumexp(log_belief[:, None] + model.log_transition[control], axis=0)


def update_log_belief(log_predicted: np.ndarray, log_lik: np.ndarray) -> np.ndarray:
    """Return the normalised log posterior log p(D_t | o_t, ...) from the log prediction and log likelihood."""
    joint = log_predicted + log_lik
    return joint - logsumexp(joint)


def predict_closed_loop(predicted: np.ndarray, model: TwinModel, dwell: DwellState,
                        horizon: int) -> tuple[np.ndarray, np.ndarray]:
    """Unroll `horizon` future steps with no data, applying the policy to each predicted belief.

    `predicted` is the belief of the next step (the one the next recommendation uses) and `dwell` the
    enacted-control state after the last step. Returns the beliefs (horizon, N), whose first row is
    `predicted`, and the policy's control for each of those steps (horizon,). Each predicted control selects
    the transition to the following step, so predictions are closed-loop as in the JLab network.
    """
    beliefs = np.empty((horizon, model.n_states))
    controls = np.empty(horizon, dtype=int)
    belief = predicted
    for k in range(horizon):
        beliefs[k] = belief
        controls[k] = choose_control(belief, model.policy, model.n_controls, dwell)
        dwell = dwell.advance(int(controls[k]))
        belief = belief @ model.transition[controls[k]]
    return beliefs, controls


def smooth(filtered: np.ndarray, log_liks: np.ndarray, controls: np.ndarray, model: TwinModel) -> np.ndarray:
    """Return smoothed beliefs p(D_k | o_first..o_last) for the K steps of a window, shape (K, N).

    `filtered[k]` is the filtered belief at step k (conditioned on everything before the window too),
    `log_liks[k]` the log likelihood of o_k and `controls[k]` the control enacted at step k. The backward
    messages run in log space and are normalised each step. The result is exact for every step in the window.
    """
    steps = filtered.shape[0]
    log_beta = np.zeros(model.n_states)
    smoothed = np.empty_like(filtered)
    for k in range(steps - 1, -1, -1):
        if k < steps - 1:
            log_beta = logsumexp(model.log_transition[controls[k]] + (log_liks[k + 1] + log_beta)[None, :], axis=1)
            log_beta = log_beta - logsumexp(log_beta)
        weighted = filtered[k] * np.exp(log_beta - np.max(log_beta))
        smoothed[k] = weighted / weighted.sum()
    return smoothed


def forward_filter(model: TwinModel, observations: np.ndarray,
                   controls: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Filter a whole sequence offline.

    Returns the predicted beliefs before each observation (K, N), the filtered beliefs (K, N) and the log
    likelihoods (K, N). Raises TwinObservationError on an invalid observation or control.
    """
    steps = len(observations)
    predicted = np.empty((steps, model.n_states))
    filtered = np.empty_like(predicted)
    log_liks = np.empty_like(predicted)
    log_predicted = model.log_prior
    for t in range(steps):
        log_liks[t] = log_likelihood(model, float(observations[t]), int(controls[t]))
        log_filtered = update_log_belief(log_predicted, log_liks[t])
        predicted[t], filtered[t] = np.exp(log_predicted), np.exp(log_filtered)
        log_predicted = predict_log_belief(log_filtered, model, int(controls[t]))
    return predicted, filtered, log_liks
