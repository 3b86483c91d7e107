"""Errors and warnings of model packaging, loading and serving.

All derive from :class:`trackbook.TrackbookError` (warnings from ``TrackbookWarning``); each
message says what was found, what was expected, and how to fix it.
"""

from __future__ import annotations

from .._errors import TrackbookError, TrackbookWarning


class ModelError(TrackbookError):
    """Base class of the model errors."""


class SchemaEnforcementError(ModelError, ValueError):
    """Model input (or params) do not match the model's signature.

    ``column`` names the offending column or tensor when there is one.
    """

    def __init__(self, message: str, column: str | None = None) -> None:
        super().__init__(message)
        self.column = column


class ModelLoadError(ModelError, OSError):
    """A model directory or URI cannot be found or read."""


class UnsupportedModelError(ModelError, ValueError):
    """The object or flavor is not one trackbook can save or load."""


class UntrustedTypesError(ModelError, ValueError):
    """A skops model needs types that are not trusted (skops' defaults plus the ones the
    caller named in ``skops_trusted_types``); ``types`` lists them."""

    def __init__(self, message: str, types: list[str]) -> None:
        super().__init__(message)
        self.types = list(types)


class DependencyCaptureError(ModelError, RuntimeError):
    """The model's dependencies could not be captured so that it loads elsewhere."""


class PayloadError(ModelError, ValueError):
    """A scoring request body is not in one of the accepted formats."""


class EnvironmentBuildError(ModelError, RuntimeError):
    """``check`` could not build the model's environment or run the model inside it."""


class ModelRegistryUnavailableError(ModelError, LookupError):
    """A ``models:/`` URI was used, but no model registry is available to resolve it."""


class DependencyWarning(TrackbookWarning):
    """A captured requirement may not be installable where the model is loaded."""


class ModelWarning(TrackbookWarning):
    """Something about a saved model deserves attention (e.g. no signature could be inferred)."""


class LoggedModelNotFoundError(ModelError, LookupError):
    """No logged model (``models:/m-<id>``) with that id in the store."""


class UnsupportedArgumentError(ModelError, ValueError):
    """An argument MLflow accepts, with a value trackbook does not support (yet)."""
