"""Errors of the MLflow importer."""

from __future__ import annotations

from .._errors import TrackbookError


class MlflowImportError(TrackbookError, ValueError):
    """The given path is not an MLflow store this trackbook can read."""


class UnknownSchemaError(MlflowImportError):
    """The SQLite database has an MLflow schema revision this trackbook does not know."""
