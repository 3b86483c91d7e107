"""Which logged model is active (``set_active_model``) and which was logged last, per
process: the state MLflow 3 keeps so that metrics link to a model without naming it."""

from __future__ import annotations

import itertools
import os
import re
import threading
import time
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
_ids = itertools.count()


def _record_id() -> str:
    """A writer-unique id that sorts in logging order: a model's points logged in one
    millisecond read back in the order they were logged, as in MLflow."""
    return f"{time.time_ns():020d}{next(_ids) % 1_000_000:06d}"


def check_model_id(model_id: Any) -> str:
    """``model_id`` if it is a logged model id ('m-' and 32 hex digits), else raise."""
    from .._errors import InvalidValueError

    if not isinstance(model_id, str) or not _MODEL_ID_RE.fullmatch(model_id):
        raise InvalidValueError(f"model_id must be a logged model id ('m-' and 32 hex "
                                f"digits, e.g. ModelInfo.model_id), got {model_id!r}")
    return model_id


def link_metrics(store: Any, model_id: str, run_id: str | None,
                 points: list[tuple[Any, ...]]) -> None:
    """Record metric points (key, value, step, timestamp[, dataset name, dataset digest])
    as the logged model's metrics (``log_metric(..., model_id=...)``); the caller logs
    them into the run too."""
    check_model_id(model_id)
    if not points:
        return
    from ..models import logged

    store.session.record("model_metrics", model=model_id, run=run_id,
                         id=_record_id(),
                         points=[[*p[:4], *[*p[4:6], None, None][:2]] for p in points])
    logged.note_linked(store, model_id, run_id, points)
