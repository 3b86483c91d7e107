"""Errors of :mod:`trackbook.data`."""

from __future__ import annotations

from .._errors import TrackbookError


class DatasetError(TrackbookError, ValueError):
    """A dataset cannot be built from what was given (a missing targets column, say)."""


class UnsupportedDatasetSourceError(DatasetError):
    """A dataset source trackbook does not handle (Delta tables, Unity Catalog, ``dbfs:``,
    Hugging Face Hub, Spark...)."""
