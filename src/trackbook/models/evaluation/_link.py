"""What ``evaluate`` links its results to, as MLflow 3.17 does: the logged model being
evaluated (its id from the URI, the loaded model or the active model), the run's
``mlflow.datasets`` tag, and the metric points of both."""

from __future__ import annotations

import contextlib
import importlib
import json
from collections.abc import Iterator
from typing import Any

from ._errors import EvaluationError

DATASETS_TAG = "mlflow.datasets"  # MLflow's run tag: [{"name", "hash", "model"}, ...]


def model_id_of(model: Any, model_id: str | None) -> str | None:
    """The logged model ``evaluate`` links to: the one a ``models:/`` URI names (a
    registered version by number: its logged model) or a loaded model's, which must agree
    with ``model_id`` when both are known; else ``model_id``; else the active model."""
    from ...tracking import active_model

    found = None
    if isinstance(model, str):
        found = _uri_model_id(model)
    elif hasattr(model, "metadata") and hasattr(model, "predict"):
        found = getattr(model.metadata, "model_id", None)
    if model_id is not None and found is not None and model_id != found:
        raise EvaluationError(
            f"The specified value of the 'model_id' parameter '{model_id}' contradicts the "
            f"model_id '{found}' associated with the model. Please ensure they match or omit "
            "the 'model_id' parameter.")
    return model_id or found or active_model.get_active_model_id()


def _uri_model_id(uri: str) -> str | None:
    from .. import logged

    if not uri.startswith("models:"):
        return None
    rest = uri[len("models:"):].lstrip("/")
    if logged.MODEL_ID_RE.fullmatch(rest):
        return rest
    registry = importlib.import_module("trackbook.registry.uri")
    parsed = registry.parse_models_uri(uri)
    if parsed.version is None:  # MLflow: only models:/<name>/<version> names one
        return None
    return registry.resolve_version(uri).model_id


@contextlib.contextmanager
def active(model_id: str | None) -> Iterator[None]:
    """``model_id`` is the active model while the evaluation runs (as MLflow sets it)."""
    from ...tracking import active_model

    if model_id is None:
        yield
        return
    before = active_model.get_active_model_id()
    active_model.set_active_model_id(model_id)
    try:
        yield
    finally:
        active_model.set_active_model_id(before)


def tag_dataset(run_id: str, name: str, data_hash: str, model_uuid: str,
                path: str | None) -> None:
    """Add the evaluation data to the run's ``mlflow.datasets`` tag (once per dataset name,
    hash and model), as MLflow does for a loaded MLflow model."""
    from ...tracking.client import Client

    client = Client()
    found = json.loads(client.get_run(run_id).data.tags.get(DATASETS_TAG, "[]"))
    entry: dict[str, Any] = {"name": name, "hash": data_hash}
    if path is not None:
        entry["path"] = path
    if not any(d.get("hash") == data_hash and d.get("name") == name
               and d.get("model") == model_uuid for d in found):
        found.append({**entry, "model": model_uuid})
    client.set_tag(run_id, DATASETS_TAG, json.dumps(found, separators=(",", ":")))


def log_batch(run_id: str, metrics: dict[str, float], model_id: str | None,
              dataset: Any) -> None:
    """The evaluator's write of the results (MLflow's ``log_batch``): one point each at
    step 0, a metric of ``model_id`` too when there is one, with the dataset's name and
    digest; not linked to the run's models by step (``evaluate`` then logs them once
    more with ``log_metrics`` when there is a model)."""
    from ...store.events import now_ms
    from ...tracking.client import Client
    from ...tracking.entities import Metric

    name = getattr(dataset, "name", None)
    digest = getattr(dataset, "digest", None)
    ts = now_ms()
    Client().log_batch(run_id, metrics=[
        Metric(k, val, ts, 0, name, digest, run_id, model_id) for k, val in metrics.items()])
