"""Errors of the digital twin: invalid models, histories and observations."""

from __future__ import annotations

from jiriaf_fw.core.errors import JiriafError


class TwinError(JiriafError):
    """A digital-twin operation failed on a value the user supplied."""


class TwinModelError(TwinError):
    """A twin model (a mapping or a model file) is invalid. The message names the field and the value."""

    exit_code = 2


class TwinHistoryError(TwinError):
    """A history of observations is invalid or too short to fit a model from. The message names the row."""

    exit_code = 2


class TwinObservationError(TwinError):
    """An observation or a control index given to the filter is invalid (not finite, out of range)."""


class TwinOutputError(TwinError):
    """A model file or a simulation report cannot be written."""
