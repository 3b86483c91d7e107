"""Which logged model is active (``set_active_model``) and which was logged last, per
process: the state MLflow 3 keeps so that metrics link to a model without naming it."""

from __future__ import annotations

import os
import re
import threading
import uuid
from typing import Any

#: MLflow's variable: a subprocess inherits its parent's active model through it.
ACTIVE_MODEL_ENV = "MLFLOW_ACTIVE_MODEL_ID"

# read once: log_metric checks this on its fast path
_active: list[str | None] = [os.environ.get(ACTIVE_MODEL_ENV) or None]
_last = threading.local()


def get_active_model_id() -> str | None:
    """The active model's id: ``set_active_model``'s, else ``$MLFLOW_ACTIVE_MODEL_ID``."""
    return _active[0]


def set_active_model_id(model_id: str | None) -> None:
    _active[0] = model_id


def last_logged_model_id() -> str | None:
    """The id of the model this thread logged (or initialized) last."""
    return getattr(_last, "model_id", None)


def set_last_logged_model_id(model_id: str | None) -> None:
    _last.model_id = model_id


_MODEL_ID_RE = re.compile(r"m-[0-9a-f]{32}")


def link_metrics(store: Any, model_id: str, run_id: str | None,
                 points: list[tuple[str, float, int, int]], dataset_name: str | None = None,
                 dataset_digest: str | None = None) -> None:
    """Record metric points (key, value, step, timestamp) as the logged model's metrics
    (``log_metric(..., model_id=...)``), on the dataset named when given; the caller logs
    them into the run too."""
    from .._errors import InvalidValueError

    if not isinstance(model_id, str) or not _MODEL_ID_RE.fullmatch(model_id):
        raise InvalidValueError(f"model_id must be a logged model id ('m-' and 32 hex "
                                f"digits, e.g. ModelInfo.model_id), got {model_id!r}")
    store.session.record("model_metrics", model=model_id, run=run_id,
                         id=uuid.uuid4().hex[:12],
                         points=[[k, val, st, ts, dataset_name, dataset_digest]
                                 for k, val, st, ts in points])
