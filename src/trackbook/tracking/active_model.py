"""Which logged model is active (``set_active_model``) and which was logged last, per
process: the state MLflow 3 keeps so that metrics link to a model without naming it."""

from __future__ import annotations

import os
import threading

#: MLflow's variable: a subprocess inherits its parent's active model through it.
ACTIVE_MODEL_ENV = "MLFLOW_ACTIVE_MODEL_ID"

_active: list[str | None] = [None]
_last = threading.local()


def get_active_model_id() -> str | None:
    """The active model's id: ``set_active_model``'s, else ``$MLFLOW_ACTIVE_MODEL_ID``."""
    return _active[0] or os.environ.get(ACTIVE_MODEL_ENV) or None


def set_active_model_id(model_id: str | None) -> None:
    _active[0] = model_id


def last_logged_model_id() -> str | None:
    """The id of the model this thread logged (or initialized) last."""
    return getattr(_last, "model_id", None)


def set_last_logged_model_id(model_id: str | None) -> None:
    _last.model_id = model_id
