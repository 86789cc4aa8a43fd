"""The model as data: round trip through a plain mapping, and one-line errors for invalid mappings."""

from __future__ import annotations

import copy
import json
from typing import Any

import numpy as np
import pytest

from jiriaf_fw.twin import TwinModelError, default_model, improved_model, load_model, model_to_dict


@pytest.mark.parametrize("factory", [default_model, improved_model])
def test_model_round_trip_through_json(factory: Any) -> None:
    model = factory()
    loaded = load_model(json.loads(json.dumps(model_to_dict(model))))
    assert loaded.name == model.name
    assert loaded.state_labels == model.state_labels
    assert loaded.control_labels == model.control_labels
    assert loaded.threads == model.threads
    assert np.array_equal(loaded.transition, model.transition)
    assert np.array_equal(loaded.emission.mean, model.emission.mean)
    assert np.array_equal(loaded.emission.sigma, model.emission.sigma)
    assert loaded.emission.space == model.emission.space
    assert loaded.emission.likelihood_floor == model.emission.likelihood_floor
    assert np.array_equal(loaded.policy.state_control, model.policy.state_control)
    assert loaded.policy.min_dwell_steps == model.policy.min_dwell_steps
    assert loaded.initial_control == model.initial_control
    assert loaded.horizon == model.horizon


def test_default_model_is_jlab_configuration() -> None:
    model = default_model()
    assert model.state_labels == ("0", "20", "40", "60", "80")
    assert model.control_labels == ("32c", "16c")
    assert model.initial_control == 1
    assert model.prior.tolist() == [1, 0, 0, 0, 0]
    assert model.emission.space == "linear"
    assert model.emission.sigma == pytest.approx(np.full((2, 5), 0.212132), abs=1e-6)
    assert model.policy.state_control.tolist() == [1, 1, 0, 0, 0]
    assert model.horizon == 11


def test_scalar_sigma_is_broadcast() -> None:
    data = model_to_dict(default_model())
    data["emission"]["sigma"] = 0.5
    assert load_model(data).emission.sigma.tolist() == [[0.5] * 5] * 2


def _mutated(path: list[str], value: Any) -> dict[str, Any]:
    data = copy.deepcopy(model_to_dict(default_model()))
    target = data
    for key in path[:-1]:
        target = target[key]
    if value is _DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return data


_DELETE = object()


@pytest.mark.parametrize("path, value, message", [
    (["prior"], [0.5, 0.5, 0.5, 0, 0], "models.json: prior: a row sums to 1.5, expected 1"),
    (["transition"], [[[1, 0], [0, 1]]] * 2, "models.json: transition: shape (2, 2, 2), expected (2, 5, 5)"),
    (["emission", "space"], "cubic", "models.json: emission.space: 'cubic' is not one of linear, log"),
    (["emission", "sigma"], [[0.1] * 5, [0.1, 0.1, 0.0, 0.1, 0.1]],
     "models.json: emission.sigma: values must be finite and > 0"),
    (["emission", "mean"], "high", "models.json: emission.mean: not a numeric array: 'high'"),
    (["policy", "state_control"], [0, 1, 2, 0, 0],
     "models.json: policy.state_control: control indices must be in 0..1"),
    (["initial_control"], 3, "models.json: initial_control: 3 is not a control index 0..1"),
    (["initial_control"], "16c", "models.json: initial_control: expected an integer, got '16c'"),
    (["prior"], _DELETE, "models.json: prior: missing"),
    (["colour"], "blue", "models.json: colour: unknown field (allowed:"),
    (["format"], "other/2", "models.json: format: 'other/2' is not supported"),
    (["states"], [1, 2], "models.json: states: expected a mapping, got list"),
    (["states", "labels"], ["a", "a", "b", "c", "d"], "models.json: states.labels: names must be unique"),
    (["controls", "threads"], [32, 0], "models.json: controls.threads: [32, 0]: expected 2 counts >= 1"),
])
def test_invalid_model_one_line_error(path: list[str], value: Any, message: str) -> None:
    with pytest.raises(TwinModelError) as caught:
        load_model(_mutated(path, value), source="models.json")
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)


def test_log_space_needs_positive_means() -> None:
    data = model_to_dict(improved_model())
    data["emission"]["mean"][0][0] = 0.0
    with pytest.raises(TwinModelError, match=r"^model: emission.mean: log-space means"):
        load_model(data)


def test_top_level_must_be_mapping() -> None:
    with pytest.raises(TwinModelError, match=r"^m.yaml: top level: expected a mapping, got list$"):
        load_model([1, 2], source="m.yaml")
