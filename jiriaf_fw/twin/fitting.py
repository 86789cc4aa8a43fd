"""Fitting a twin model from a logged history: transition counts with a Dirichlet prior, Gaussian emissions.

With the true state in the history the fit counts transitions and averages observations per (control,
state). Without it, Baum-Welch (expectation maximisation) uses the same estimators with expected counts from
forward-backward smoothing, starting from the base model.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from dataclasses import dataclass

import numpy as np

from jiriaf_fw.twin.errors import TwinHistoryError, TwinModelError
from jiriaf_fw.twin.filtering import logsumexp
from jiriaf_fw.twin.model import EMISSION_SPACES, EmissionModel, TwinModel

logger = logging.getLogger(__name__)

# Fitted emission sigmas stay above 1 % of the queue length, so a history of identical readings (a noiseless
# simulation) does not yield a likelihood that rules out every other reading.
MIN_RELATIVE_SIGMA = 0.01


@dataclass(frozen=True)
class History:
    """A logged run: step numbers, enacted control indices, observed Lq, and the true state if known."""

    steps: np.ndarray
    controls: np.ndarray
    observations: np.ndarray
    states: np.ndarray | None = None
    source: str = "history"


@dataclass(frozen=True)
class FitResult:
    """The fitted model and the (expected) counts behind it."""

    model: TwinModel
    method: str
    transition_counts: np.ndarray
    emission_counts: np.ndarray
    iterations: int = 0
    log_likelihood: float | None = None


def validate_history(history: History, model: TwinModel) -> None:
    """Check a history against a model's controls and states, raising TwinHistoryError at the first bad row."""
    size = history.steps.size
    if size < 2:
        raise TwinHistoryError(f"{history.source}: {size} row(s), but a fit needs at least 2 consecutive steps")
    columns = {"control": history.controls, "observation": history.observations}
    if history.states is not None:
        columns["state"] = history.states
    for name, values in columns.items():
        if values.shape != (size,):
            raise TwinHistoryError(f"{history.source}: column {name} has {values.size} values for {size} steps")
    checks = [("observation", ~np.isfinite(history.observations), "is not a finite queue length"),
              ("control", (history.controls < 0) | (history.controls >= model.n_controls),
               f"is not a control index 0..{model.n_controls - 1}")]
    if history.states is not None:
        checks.append(("state", (history.states < 0) | (history.states >= model.n_states),
                       f"is not a state index 0..{model.n_states - 1}"))
    for name, bad, problem in checks:
        if np.any(bad):
            row = int(np.flatnonzero(bad)[0])
            value = columns[name][row].item()
            raise TwinHistoryError(f"{history.source}: step {history.steps[row]}: {name} {value!r} {problem}")


def _transformed(observations: np.ndarray, space: str, min_observation: float) -> np.ndarray:
    return np.log(np.maximum(observations, min_observation)) if space == "log" else observations


def _prior_sigma(base: TwinModel, space: str) -> np.ndarray:
    """Return the base model's emission sigma expressed in `space` (delta method: sigma_log = sigma / mean)."""
    emission = base.emission
    if emission.space == space:
        return emission.sigma
    if space == "log":
        return emission.sigma / np.abs(emission.mean)
    return emission.sigma * emission.mean


def _transition_from_counts(counts: np.ndarray, base: TwinModel, prior_count: float) -> np.ndarray:
    """Return the posterior mean transition table: (counts + prior_count x base row) / row total."""
    pseudo = counts + prior_count * base.transition
    totals = pseudo.sum(axis=-1, keepdims=True)
    return np.where(totals > 0, pseudo / np.where(totals > 0, totals, 1.0), base.transition)


def _emission_from_weights(weights: np.ndarray, controls: np.ndarray, values: np.ndarray, base: TwinModel,
                           space: str, prior_count: float) -> tuple[EmissionModel, np.ndarray]:
    """Return Gaussian emissions from per-row state weights (K, N), and the weight total per (control, state).

    A cell without data keeps the base mean. Sigma pools the cell's scatter with prior_count pseudo
    observations at the base sigma.
    """
    counts = np.zeros((base.n_controls, base.n_states))
    sums = np.zeros_like(counts)
    for u in range(base.n_controls):
        rows = controls == u
        counts[u] = weights[rows].sum(axis=0)
        sums[u] = weights[rows].T @ values[rows]
    base_mean = _transformed(base.emission.mean, space, base.emission.min_observation)
    mean = np.where(counts > 0, sums / np.where(counts > 0, counts, 1.0), base_mean)
    scatter = np.zeros_like(counts)
    for u in range(base.n_controls):
        rows = controls == u
        scatter[u] = (weights[rows] * (values[rows, None] - mean[u][None, :]) ** 2).sum(axis=0)
    sigma0 = _prior_sigma(base, space)
    dof = np.maximum(counts - 1.0, 0.0) + prior_count
    sigma = np.where(dof > 0, np.sqrt((scatter + prior_count * sigma0**2) / np.where(dof > 0, dof, 1.0)), sigma0)
    mean_lq = np.exp(mean) if space == "log" else mean
    minimum = MIN_RELATIVE_SIGMA if space == "log" else MIN_RELATIVE_SIGMA * np.abs(mean_lq)
    emission = EmissionModel(space=space, mean=mean_lq, sigma=np.maximum(sigma, minimum),
                             likelihood_floor=base.emission.likelihood_floor,
                             min_observation=base.emission.min_observation)
    return emission, counts


def _consecutive(history: History) -> np.ndarray:
    """Return a mask over rows 0..K-2: True where the next row is the next step (transitions are counted)."""
    return np.diff(history.steps) == 1


def _fitted_model(base: TwinModel, name: str, transition: np.ndarray, emission: EmissionModel) -> TwinModel:
    return dataclasses.replace(base, name=name, transition=transition, emission=emission)


def fit_supervised(history: History, base: TwinModel, space: str, prior_count: float, name: str) -> FitResult:
    """Fit from a history with the true state: transition counts and per-cell emission statistics."""
    if history.states is None:
        raise TwinHistoryError(f"{history.source}: no state column, so transitions cannot be counted")
    states, controls = history.states.astype(int), history.controls.astype(int)
    counts = np.zeros_like(base.transition)
    pairs = _consecutive(history)
    np.add.at(counts, (controls[:-1][pairs], states[:-1][pairs], states[1:][pairs]), 1.0)
    values = _transformed(history.observations, space, base.emission.min_observation)
    weights = np.eye(base.n_states)[states]
    emission, emission_counts = _emission_from_weights(weights, controls, values, base, space, prior_count)
    model = _fitted_model(base, name, _transition_from_counts(counts, base, prior_count), emission)
    return FitResult(model=model, method="counts", transition_counts=counts, emission_counts=emission_counts)


def _log_densities(model: TwinModel, observations: np.ndarray, controls: np.ndarray) -> np.ndarray:
    emission = model.emission
    values = _transformed(observations, emission.space, emission.min_observation)
    mean = _transformed(emission.mean, emission.space, emission.min_observation)[controls]
    sigma = emission.sigma[controls]
    return -0.5 * ((values[:, None] - mean) / sigma) ** 2 - np.log(sigma) - 0.5 * math.log(2 * math.pi)


def _forward_backward(model: TwinModel, history: History) -> tuple[np.ndarray, np.ndarray, float]:
    """Return the smoothed state weights (K, N), expected transition counts (U, N, N) and the log likelihood.

    Each run of consecutive steps starts from a uniform belief, because a logged history may begin in any
    state. Recursions are in log space.
    """
    controls = history.controls.astype(int)
    log_density = _log_densities(model, history.observations, controls)
    linked = np.concatenate(([False], _consecutive(history)))
    steps = log_density.shape[0]
    log_alpha = np.empty_like(log_density)
    uniform = np.full(model.n_states, -math.log(model.n_states))
    for t in range(steps):
        predicted = uniform
        if linked[t]:
            predicted = logsumexp(log_alpha[t - 1][:, None] + model.log_transition[controls[t - 1]], axis=0)
        log_alpha[t] = predicted + log_density[t]
    log_beta = np.zeros_like(log_density)
    for t in range(steps - 2, -1, -1):
        if linked[t + 1]:
            log_beta[t] = logsumexp(model.log_transition[controls[t]] + (log_density[t + 1] + log_beta[t + 1])[None, :],
                                    axis=1)
    segment_ends = np.flatnonzero(np.concatenate((~linked[1:], [True])))
    total = float(sum(logsumexp(log_alpha[end]) for end in segment_ends))
    log_gamma = log_alpha + log_beta
    gamma = np.exp(log_gamma - logsumexp(log_gamma, axis=1)[:, None])
    expected = np.zeros_like(model.transition)
    for t in np.flatnonzero(linked) - 1:
        log_xi = (log_alpha[t][:, None] + model.log_transition[controls[t]]
                  + (log_density[t + 1] + log_beta[t + 1])[None, :])
        expected[controls[t]] += np.exp(log_xi - logsumexp(log_xi))
    return gamma, expected, total


def fit_unsupervised(history: History, base: TwinModel, space: str, prior_count: float, name: str,
                     max_iterations: int, tolerance: float) -> FitResult:
    """Fit by Baum-Welch from a history without states, starting from `base` with its emissions in `space`."""
    values = _transformed(history.observations, space, base.emission.min_observation)
    start_emission = dataclasses.replace(base.emission, space=space, sigma=_prior_sigma(base, space))
    model = _fitted_model(base, name, base.transition, start_emission)
    previous = -math.inf
    controls = history.controls.astype(int)
    for iteration in range(1, max_iterations + 1):
        gamma, expected, log_likelihood = _forward_backward(model, history)
        emission, emission_counts = _emission_from_weights(gamma, controls, values, base, space, prior_count)
        model = _fitted_model(base, name, _transition_from_counts(expected, base, prior_count), emission)
        logger.debug("Baum-Welch iteration %d: log likelihood %.6f", iteration, log_likelihood)
        if log_likelihood - previous < tolerance:
            break
        previous = log_likelihood
    return FitResult(model=model, method="baum-welch", transition_counts=expected, emission_counts=emission_counts,
                     iterations=iteration, log_likelihood=log_likelihood)


def fit_model(history: History, base: TwinModel, *, space: str = "log", prior_count: float = 1.0,
              name: str = "fitted", max_iterations: int = 100, tolerance: float = 1e-6) -> FitResult:
    """Fit transition tables and emissions from `history`. Labels, rates, prior and policy come from `base`.

    Uses counts when the history has true states, Baum-Welch otherwise. `prior_count` is the Dirichlet
    pseudo-count per transition row (spread as the base row) and the pseudo-observation weight of the base
    emission sigma. Raises TwinHistoryError for an unusable history, TwinModelError for invalid options.
    """
    if space not in EMISSION_SPACES:
        raise TwinModelError(f"invalid emission space {space!r}: expected one of {', '.join(EMISSION_SPACES)}")
    if not (math.isfinite(prior_count) and prior_count >= 0):
        raise TwinModelError(f"invalid prior count {prior_count!r}: expected a finite number >= 0")
    if max_iterations < 1:
        raise TwinModelError(f"invalid iteration limit {max_iterations!r}: expected at least 1")
    validate_history(history, base)
    if not np.any(_consecutive(history)):
        raise TwinHistoryError(f"{history.source}: no two rows have consecutive step numbers, so no transition "
                               "can be counted")
    if history.states is not None:
        return fit_supervised(history, base, space, prior_count, name)
    return fit_unsupervised(history, base, space, prior_count, name, max_iterations, tolerance)
