"""The digital twin of a stream queue: a dynamic Bayesian network over discrete load states, in numpy.

Everything here is pure: models are data (arrays loaded from files by the caller), and the filter,
predictor, smoother and policies are functions over arrays. No I/O, no plotting, no clock.
"""

from jiriaf_fw.twin.errors import (
    TwinError,
    TwinHistoryError,
    TwinModelError,
    TwinObservationError,
    TwinOutputError,
)
from jiriaf_fw.twin.model import EmissionModel, PolicySpec, TwinModel, load_model, model_to_dict
from jiriaf_fw.twin.online import Belief, TwinFilter
from jiriaf_fw.twin.paper import default_model, improved_model

__all__ = [
    "Belief",
    "EmissionModel",
    "PolicySpec",
    "TwinError",
    "TwinFilter",
    "TwinHistoryError",
    "TwinModel",
    "TwinModelError",
    "TwinObservationError",
    "TwinOutputError",
    "default_model",
    "improved_model",
    "load_model",
    "model_to_dict",
]
