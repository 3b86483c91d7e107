"""The errors of ``trackbook.models.evaluate``."""

from __future__ import annotations

from ..._errors import TrackbookError
from .._errors import ModelError


class EvaluationError(ModelError, ValueError):
    """``evaluate`` was given arguments it cannot evaluate (a missing target column, an
    unsupported model type, ...); the message names what was given and what is allowed."""


class ModelValidationFailedException(TrackbookError):
    """``validate_evaluation_results``: a metric missed its threshold."""
