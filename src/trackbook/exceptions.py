"""MLflow's ``mlflow.exceptions`` names, so ``except MlflowException`` catches our errors."""

from __future__ import annotations

from ._errors import InvalidValueError, TrackbookError

MlflowException = TrackbookError
RestException = TrackbookError
InvalidUrlException = InvalidValueError

__all__ = ["InvalidUrlException", "MlflowException", "RestException"]
