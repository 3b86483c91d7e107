"""Writing to a run by id from scikit-learn autologging, even after that run has ended.

MLflow logs post-training metrics (``model.score(X_test, y_test)`` after the autologged fit)
into the fit's run although autolog already ended it; trackbook refuses writes to an ended
run, so such a run is reopened for the write and ended again with its status and end time.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any

MAX_PARAM_VALUE = 6000  # MLflow's autologging truncates longer values, ending them in "..."
MAX_KEY = 250
log = logging.getLogger("trackbook.autolog")


def client() -> Any:
    from ..tracking import fluent

    return fluent._client()


@contextlib.contextmanager
def writable(run_id: str) -> Iterator[None]:
    from ..tracking.entities import RunStatus
    from ..tracking.runstate import state_of

    c = client()
    status = state_of(c.store, run_id).status
    if status not in RunStatus.TERMINAL:
        yield
        return
    end_time = c.get_run(run_id).info.end_time
    c.resume_run(run_id)
    try:
        yield
    finally:
        c.set_terminated(run_id, status, end_time=end_time)


def _truncated(value: Any, limit: int) -> str:
    text = str(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def truncated_key(key: Any) -> str:
    return _truncated(key, MAX_KEY)


def truncated_params(params: dict[str, Any], key_limit: int = MAX_KEY,
                     value_limit: int | None = MAX_PARAM_VALUE) -> dict[str, Any]:
    """MLflow's ``_truncate_dict``: keys over ``key_limit`` and values over ``value_limit``
    characters are cut, ending in ``...``, each with a logged warning; keys that become
    equal keep the last value."""
    out: dict[str, Any] = {}
    for k, v in params.items():
        key = _truncated(k, key_limit)
        if key != str(k):
            log.warning("Truncated the key `%s`", key)
        if value_limit is not None and len(str(v)) > value_limit:
            v = _truncated(v, value_limit)
            log.warning("Truncated the value of the key `%s`. Truncated value: `%s`", key, v)
        out[key] = v
    return out


def log_params(run_id: str, params: dict[str, Any]) -> None:
    client().log_batch(run_id, params=[(k, str(v)) for k, v in truncated_params(params).items()])


def set_tags(run_id: str, tags: dict[str, Any]) -> None:
    client().log_batch(run_id, tags=list(tags.items()))


def log_metrics(run_id: str, metrics: dict[str, Any], *, model_id: str | None = None,
                step: int = 0, dataset: Any = None, timestamp: int | None = None) -> None:
    """Log ``metrics`` at ``step`` into ``run_id``, and into the logged model ``model_id``
    (MLflow names ``dataset``, the data they were computed on, in the model's metrics),
    stamped ``timestamp`` (default: now)."""
    from ..tracking import fluent
    from ..tracking.entities import Metric

    if not metrics:
        return
    values = {k: float(v) for k, v in truncated_params(metrics, value_limit=None).items()}
    with writable(run_id):
        ts = fluent.now_ms() if timestamp is None else timestamp
        # MLflow's autologging client: a log_batch naming the dataset in the model's
        # metrics, which (unlike fluent log_metrics) makes it no input of the run
        name = getattr(dataset, "name", None) if model_id is not None else None
        digest = getattr(dataset, "digest", None) if model_id is not None else None
        client().log_batch(run_id, metrics=[Metric(k, v, ts, step, name, digest, run_id,
                                                   model_id) for k, v in values.items()])


def dataset(X: Any, y: Any = None) -> Any:
    """MLflow's dataset for training/eval data (a numpy, pandas, sparse or polars ``X``),
    or None for other types (or while ``trackbook.data`` is not available)."""
    try:
        from ..data import from_numpy, from_pandas
        from ..data.dataset_source import code_source
    except ImportError:
        return None
    import numpy as np
    import pandas as pd

    source = code_source()
    if isinstance(X, pd.DataFrame):
        return from_pandas(df=X, source=source)
    if hasattr(X, "toarray") and hasattr(X, "nnz"):  # scipy sparse
        targets = y.toarray() if hasattr(y, "toarray") else y
        return from_numpy(features=X.toarray(), targets=targets, source=source)
    if isinstance(X, np.ndarray):
        return from_numpy(features=X, targets=y, source=source)
    if type(X).__module__.startswith("polars") and type(X).__name__ == "DataFrame":
        from ..data import from_polars

        return from_polars(df=X, source=source)
    return None


def log_dataset(run_id: str, ds: Any, context: str) -> None:
    if ds is None:
        return
    from ..tracking.entities import DATASET_CONTEXT_TAG, DatasetInput, InputTag

    di = DatasetInput(ds._to_mlflow_entity(), [InputTag(DATASET_CONTEXT_TAG, context)])
    with writable(run_id):
        client().log_inputs(run_id, [di])
