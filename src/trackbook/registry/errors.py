"""Errors and warnings of the model registry.

All derive from :class:`trackbook.TrackbookError` (warnings from ``TrackbookWarning``); each
message says what was given, what is allowed, and how to fix the call.
"""

from __future__ import annotations

from .._errors import InvalidNameError, TrackbookError, TrackbookWarning


class RegistryError(TrackbookError):
    """Base class of the model registry errors."""


class InvalidRegistryNameError(RegistryError, InvalidNameError):
    """A registered model name, alias or stage is not allowed."""


class RegisteredModelNotFoundError(RegistryError, LookupError):
    """No registered model has the given name (or it was deleted)."""


class RegisteredModelRenamedError(RegisteredModelNotFoundError):
    """The name belonged to a registered model that has been renamed; ``new_name`` is its
    current name."""

    def __init__(self, message: str, old_name: str, new_name: str) -> None:
        super().__init__(message)
        self.old_name = old_name
        self.new_name = new_name


class ModelVersionNotFoundError(RegistryError, LookupError):
    """The registered model has no such version, alias or stage holder."""


class RegisteredModelExistsError(RegistryError, ValueError):
    """``create_registered_model`` was called with a name that is already registered."""


class ProtectedVersionError(RegistryError, RuntimeError):
    """A delete would break ``models:/`` URIs in use (an alias or stage points at it)."""


class RollbackError(RegistryError, RuntimeError):
    """``rollback`` found no previous holder to return to."""


class RegistryConflictError(RegistryError, RuntimeError):
    """A write kept losing races with other writers and gave up."""


class RegistryHookWarning(TrackbookWarning):
    """A promotion hook (callable or shell command) failed; the promotion itself stands."""


class RegistryUriError(RegistryError, ValueError):
    """A registry URI other than the tracking store's: trackbook keeps the registry in the
    tracking store, so there is no separate registry to point at."""
