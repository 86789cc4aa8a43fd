"""The twin model as data: states, controls, transition tables, emissions and policy, with validation.

A `TwinModel` is immutable and converts to and from a plain mapping (`model_to_dict`, `load_model`) that
stores as JSON or YAML. Array shapes use N for the number of load states and U for the number of controls:
`transition` is (U, N, N) with T[u][i, j] = p(D_t = j | D_{t-1} = i, U_{t-1} = u), and the emission
tables are (U, N), indexed by the control enacted when the observation was made.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import InitVar, dataclass, field
from typing import Any

import numpy as np

from jiriaf_fw.twin.errors import TwinModelError

MODEL_FORMAT = "jiriaf-twin-model/1"
EMISSION_SPACES = ("linear", "log")
# Rows of a probability table must sum to 1 within this tolerance (a model file stores rounded decimals).
_ROW_SUM_TOLERANCE = 1e-6


@dataclass(frozen=True)
class EmissionModel:
    """Gaussian emission p(o | D = i, U = u) of the queue length Lq.

    `mean` is in Lq units in both spaces. In the "log" space the density is over log(o) with mean
    log(mean), and `sigma` is in natural-log units. In the "linear" space `sigma` is in Lq units.
    `likelihood_floor` (0 disables it) bounds each state's likelihood below at that fraction of the best
    state's, so one outlier cannot rule a state out for good. In the log space an observation below
    `min_observation` is raised to it, because an empty queue (Lq = 0) has no logarithm.
    """

    space: str
    mean: np.ndarray
    sigma: np.ndarray
    likelihood_floor: float = 0.0
    min_observation: float = 1e-3


@dataclass(frozen=True)
class PolicySpec:
    """Deterministic policy pi(i) over load states, applied to a predicted belief, plus a dwell time.

    The control with the largest predicted probability mass sum_i P(D = i) [pi(i) = u] is chosen, ties
    going to the lowest control index. A switch away from the enacted control is allowed only after it was
    enacted for `min_dwell_steps` consecutive steps (0 or 1: no restriction).
    """

    state_control: np.ndarray
    min_dwell_steps: int = 1


@dataclass(frozen=True)
class TwinModel:
    """A dynamic Bayesian network of a stream queue with discrete load states and discrete controls."""

    name: str
    state_labels: tuple[str, ...]
    arrival_hz: np.ndarray
    control_labels: tuple[str, ...]
    threads: tuple[int, ...]
    service_hz: np.ndarray
    prior: np.ndarray
    transition: np.ndarray
    emission: EmissionModel
    policy: PolicySpec
    initial_control: int
    horizon: int = 11
    source: InitVar[str] = "model"
    log_prior: np.ndarray = field(init=False, repr=False, compare=False)
    log_transition: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self, source: str) -> None:
        _validate(self, source)
        with np.errstate(divide="ignore"):
            object.__setattr__(self, "log_prior", np.log(self.prior))
            object.__setattr__(self, "log_transition", np.log(self.transition))

    @property
    def n_states(self) -> int:
        """Number of load states N."""
        return len(self.state_labels)

    @property
    def n_controls(self) -> int:
        """Number of controls U."""
        return len(self.control_labels)


def _fail(source: str, key: str, problem: str) -> TwinModelError:
    return TwinModelError(f"{source}: {key}: {problem}")


def _check_probabilities(values: np.ndarray, source: str, key: str) -> None:
    if np.any(values < 0) or not np.all(np.isfinite(values)):
        raise _fail(source, key, "probabilities must be finite and >= 0")
    sums = values.sum(axis=-1)
    bad = np.flatnonzero(np.abs(sums - 1.0) > _ROW_SUM_TOLERANCE)
    if bad.size:
        raise _fail(source, key, f"a row sums to {sums.flat[bad[0]]:.9g}, expected 1")


def _validate(model: TwinModel, source: str) -> None:
    """Check shapes and values of a model, raising TwinModelError at the first bad field."""
    n, u = len(model.state_labels), len(model.control_labels)
    if n < 2 or u < 1:
        raise _fail(source, "states.labels", f"need at least 2 states and 1 control, got {n} and {u}")
    expected = {"states.arrival_hz": (model.arrival_hz, (n,)), "controls.service_hz": (model.service_hz, (u,)),
                "prior": (model.prior, (n,)), "transition": (model.transition, (u, n, n)),
                "emission.mean": (model.emission.mean, (u, n)), "emission.sigma": (model.emission.sigma, (u, n)),
                "policy.state_control": (model.policy.state_control, (n,))}
    for key, (array, shape) in expected.items():
        if array.shape != shape:
            raise _fail(source, key, f"shape {array.shape}, expected {shape}")
    if len(model.threads) != u or any(threads < 1 for threads in model.threads):
        raise _fail(source, "controls.threads", f"{list(model.threads)}: expected {u} counts >= 1")
    for key, rates in (("states.arrival_hz", model.arrival_hz), ("controls.service_hz", model.service_hz)):
        if not (np.all(np.isfinite(rates)) and np.all(rates > 0)):
            raise _fail(source, key, "rates must be finite and > 0")
    _check_probabilities(model.prior, source, "prior")
    _check_probabilities(model.transition, source, "transition")
    _validate_emission(model.emission, source)
    controls = model.policy.state_control
    if np.any(controls < 0) or np.any(controls >= u):
        raise _fail(source, "policy.state_control", f"control indices must be in 0..{u - 1}")
    if model.policy.min_dwell_steps < 0:
        raise _fail(source, "policy.min_dwell_steps", f"{model.policy.min_dwell_steps} is negative")
    if not 0 <= model.initial_control < u:
        raise _fail(source, "initial_control", f"{model.initial_control} is not a control index 0..{u - 1}")
    if model.horizon < 1:
        raise _fail(source, "horizon", f"{model.horizon} steps, expected >= 1")


def _validate_emission(emission: EmissionModel, source: str) -> None:
    if emission.space not in EMISSION_SPACES:
        raise _fail(source, "emission.space", f"{emission.space!r} is not one of {', '.join(EMISSION_SPACES)}")
    if not np.all(np.isfinite(emission.mean)):
        raise _fail(source, "emission.mean", "values must be finite")
    if emission.space == "log" and np.any(emission.mean <= 0):
        raise _fail(source, "emission.mean", "log-space means are queue lengths and must be > 0")
    if not (np.all(np.isfinite(emission.sigma)) and np.all(emission.sigma > 0)):
        raise _fail(source, "emission.sigma", "values must be finite and > 0")
    if not 0.0 <= emission.likelihood_floor < 1.0:
        raise _fail(source, "emission.likelihood_floor", f"{emission.likelihood_floor} is not in [0, 1)")
    if not (math.isfinite(emission.min_observation) and emission.min_observation > 0):
        raise _fail(source, "emission.min_observation", f"{emission.min_observation} is not > 0")


def model_to_dict(model: TwinModel) -> dict[str, Any]:
    """Return the model as a plain mapping of lists and numbers, ready for JSON or YAML."""
    return {
        "format": MODEL_FORMAT,
        "name": model.name,
        "states": {"labels": list(model.state_labels), "arrival_hz": model.arrival_hz.tolist()},
        "controls": {"labels": list(model.control_labels), "threads": list(model.threads),
                     "service_hz": model.service_hz.tolist()},
        "initial_control": model.initial_control,
        "horizon": model.horizon,
        "prior": model.prior.tolist(),
        "transition": model.transition.tolist(),
        "emission": {"space": model.emission.space, "mean": model.emission.mean.tolist(),
                     "sigma": model.emission.sigma.tolist(),
                     "likelihood_floor": model.emission.likelihood_floor,
                     "min_observation": model.emission.min_observation},
        "policy": {"state_control": model.policy.state_control.tolist(),
                   "min_dwell_steps": model.policy.min_dwell_steps},
    }


class _Reader:
    """Typed access to a nested mapping that names the dotted key and the source in every error."""

    def __init__(self, mapping: Any, source: str, prefix: str = "") -> None:
        if not isinstance(mapping, Mapping):
            raise _fail(source, prefix.rstrip(".") or "top level", f"expected a mapping, got {type(mapping).__name__}")
        self.mapping, self.source, self.prefix = mapping, source, prefix

    def key(self, name: str) -> str:
        return f"{self.prefix}{name}"

    def reject_unknown(self, allowed: set[str]) -> None:
        unknown = sorted(str(name) for name in set(self.mapping) - allowed)
        if unknown:
            raise _fail(self.source, self.key(unknown[0]), f"unknown field (allowed: {', '.join(sorted(allowed))})")

    def get(self, name: str, default: Any = ...) -> Any:
        if name not in self.mapping:
            if default is ...:
                raise _fail(self.source, self.key(name), "missing")
            return default
        return self.mapping[name]

    def section(self, name: str) -> _Reader:
        return _Reader(self.get(name), self.source, self.key(name) + ".")

    def array(self, name: str, default: Any = ..., dtype: type = float) -> np.ndarray:
        value = self.get(name, default)
        try:
            array = np.asarray(value, dtype=dtype)
        except (TypeError, ValueError) as error:
            raise _fail(self.source, self.key(name), f"not a numeric array: {str(value)[:60]!r}") from error
        if dtype is int and not np.array_equal(array, np.asarray(value, dtype=float)):
            raise _fail(self.source, self.key(name), "expected whole numbers")
        return array

    def number(self, name: str, default: Any = ..., kind: type = float) -> Any:
        value = self.get(name, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or (kind is int and value != int(value)):
            raise _fail(self.source, self.key(name), f"expected {'an integer' if kind is int else 'a number'}, "
                        f"got {value!r}")
        return kind(value)

    def labels(self, name: str) -> tuple[str, ...]:
        value = self.get(name)
        if not isinstance(value, list) or not all(isinstance(item, str | int) for item in value):
            raise _fail(self.source, self.key(name), f"expected a list of names, got {str(value)[:60]!r}")
        if len(set(map(str, value))) != len(value):
            raise _fail(self.source, self.key(name), "names must be unique")
        return tuple(str(item) for item in value)


def _broadcast(reader: _Reader, name: str, shape: tuple[int, ...]) -> np.ndarray:
    array = reader.array(name)
    try:
        return np.broadcast_to(array, shape).copy()
    except ValueError as error:
        raise _fail(reader.source, reader.key(name), f"shape {array.shape} does not fit {shape}") from error


def load_model(mapping: Any, source: str = "model") -> TwinModel:
    """Build and validate a model from a mapping as written by `model_to_dict`.

    `emission.sigma` may be one number for every cell. `source` (a file name) starts every error message.
    Raises TwinModelError with one line naming the field on any missing, unknown or invalid value.
    """
    top = _Reader(mapping, source)
    top.reject_unknown({"format", "name", "states", "controls", "initial_control", "horizon", "prior",
                        "transition", "emission", "policy"})
    if top.get("format", MODEL_FORMAT) != MODEL_FORMAT:
        raise _fail(source, "format", f"{top.get('format')!r} is not supported, expected {MODEL_FORMAT!r}")
    states, controls = top.section("states"), top.section("controls")
    states.reject_unknown({"labels", "arrival_hz"})
    controls.reject_unknown({"labels", "threads", "service_hz"})
    state_labels, control_labels = states.labels("labels"), controls.labels("labels")
    shape = (len(control_labels), len(state_labels))
    emission_reader, policy_reader = top.section("emission"), top.section("policy")
    emission_reader.reject_unknown({"space", "mean", "sigma", "likelihood_floor", "min_observation"})
    policy_reader.reject_unknown({"state_control", "min_dwell_steps"})
    emission = EmissionModel(space=str(emission_reader.get("space")), mean=_broadcast(emission_reader, "mean", shape),
                             sigma=_broadcast(emission_reader, "sigma", shape),
                             likelihood_floor=emission_reader.number("likelihood_floor", 0.0),
                             min_observation=emission_reader.number("min_observation", 1e-3))
    policy = PolicySpec(state_control=policy_reader.array("state_control", dtype=int),
                        min_dwell_steps=policy_reader.number("min_dwell_steps", 1, kind=int))
    return TwinModel(
        name=str(top.get("name", "unnamed")), state_labels=state_labels, arrival_hz=states.array("arrival_hz"),
        control_labels=control_labels,
        threads=tuple(int(value) for value in controls.array("threads", dtype=int).reshape(-1)),
        service_hz=controls.array("service_hz"), prior=top.array("prior"), transition=top.array("transition"),
        emission=emission, policy=policy, initial_control=top.number("initial_control", kind=int),
        horizon=top.number("horizon", 11, kind=int), source=source)
