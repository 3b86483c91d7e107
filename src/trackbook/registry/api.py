"""``register_model``: the fluent entry point of the registry."""

from __future__ import annotations

import json
import logging
from typing import Any

from ..tracking.uri import get_store
from ._registry import registry_for
from .client import run_id_of
from .entities import ModelVersion
from .errors import InvalidRegistryNameError

log = logging.getLogger(__name__)


def register_model(model_uri: str, name: str, await_registration_for: int = 300, *,
                   tags: dict[str, Any] | None = None, description: str | None = None,
                   env_pack: Any = None) -> ModelVersion:
    """Register the model at ``model_uri`` as a new version of ``name`` (created if needed).

    Parameters
    ----------
    model_uri
        ``runs:/<run_id>/<path>`` (the run becomes the version's lineage), ``models:/...``, a
        ``file://`` URI or a path.
    name
        The registered model name (no ``/`` or ``@``).
    await_registration_for
        Seconds MLflow waits for the version to be READY; registration here is
        immediate, so there is nothing to wait for.
    tags
        Tags of the new version.
    description
        Description of the new version.
    env_pack
        Databricks Model Serving packing: not supported, raises when given.

    Returns
    -------
    ModelVersion
        The new version; numbers are distinct and consecutive across processes.

    Examples
    --------
    >>> mv = tb.register_model(f"runs:/{run_id}/model", "churn-model")   # doctest: +SKIP
    >>> mv.version
    1
    """
    del await_registration_for
    if env_pack is not None:
        from .._errors import UnsupportedFeatureError

        raise UnsupportedFeatureError("register_model(env_pack=...) is not supported by "
                                      "trackbook: it packs for Databricks Model Serving")
    return register_model_in_store(get_store(), model_uri, name, tags, description=description)


def register_model_in_store(store: Any, model_uri: str, name: str,
                            tags: dict[str, Any] | None = None, *,
                            description: str | None = None) -> ModelVersion:
    """:func:`register_model` into the registry of ``store`` (a ``trackbook`` store object,
    e.g. the one a run table shows) rather than the current tracking URI's.

    A ``models:/m-<id>`` URI (an MLflow 3 logged model) records the model's id and its
    source run on the version, and the version in the logged model's
    ``mlflow.modelVersions`` tag, as MLflow does."""
    if not isinstance(model_uri, str) or not model_uri:
        raise InvalidRegistryNameError(f"model_uri must be a non-empty string, got {model_uri!r}")
    run_id = run_id_of(model_uri)
    model_id, lm = None, None
    if run_id is not None:
        model_id = _check_run_source(store, model_uri, run_id)
        if model_id is not None:  # MLflow 3 registers the logged model's URI instead
            path = model_uri[len("runs:"):].lstrip("/").partition("/")[2].strip("/")
            log.warning("Run with id %s has no artifacts at artifact path %r, registering "
                        "model based on models:/%s instead", run_id, path, model_id)
            model_uri = f"models:/{model_id}"
    elif (lm := _logged_model_of(store, model_uri)) is not None:
        model_id, run_id = lm.model_id, lm.source_run_id
    reg = registry_for(store.root)
    reg.create_model(name, exist_ok=True)
    mv = reg.create_version(name, model_uri, run_id, tags, description, model_id=model_id)
    if model_id is not None:
        from ..models import logged

        lm = lm if lm is not None else logged.get(store, model_id)
        tag_model_versions(store, model_id, lm.tags.get(MODEL_VERSIONS_TAG), mv)
    return mv


#: MLflow's tag on a logged model: the registered versions made from it, as JSON
MODEL_VERSIONS_TAG = "mlflow.modelVersions"


def tag_model_versions(store: Any, model_id: str, existing: str | None,
                       mv: ModelVersion) -> None:
    """Append ``mv`` to logged model ``model_id``'s ``mlflow.modelVersions`` tag (its value
    ``existing`` so far), as MLflow's ``register_model`` does: a JSON list of
    ``{"name": ..., "version": <int>}``, one entry per registration."""
    from ..models import logged

    value = json.loads(existing) if existing else []
    value.append({"name": mv.name, "version": int(mv.version)})
    logged.set_tags(store, model_id, {MODEL_VERSIONS_TAG: json.dumps(value)})


def _logged_model_of(store: Any, model_uri: str) -> Any:
    """The logged model a ``models:/m-<id>`` URI names (None for other URIs)."""
    from ..models import logged

    rest = model_uri[len("models:"):].lstrip("/") if model_uri.startswith("models:") else ""
    if not logged.MODEL_ID_RE.fullmatch(rest):
        return None
    return logged.get(store, rest)


def _check_run_source(store: Any, model_uri: str, run_id: str) -> str | None:
    """A ``runs:/`` source must name an existing run and artifact: a typo would otherwise
    only show up when someone loads the version. Returns the id of the MLflow 3 logged
    model it names when it names no artifact (MLflow records it on the version)."""
    from ..store import artifacts
    from ..tracking.runstate import state_of

    path = model_uri[len("runs:"):].lstrip("/").partition("/")[2].strip("/")
    if not store.layout.run_dir(run_id).is_dir():
        state_of(store, run_id)  # raises RunNotFoundError
    if not path or artifacts.resolve(store.artifact_root(run_id), path).exists():
        return None
    model_id = _run_logged_model_id(store, run_id, path)
    if model_id is None:
        raise InvalidRegistryNameError(
            f"cannot register {model_uri!r}: run {run_id} has no artifact {path!r}")
    return model_id


def _run_logged_model_id(store: Any, run_id: str, name: str) -> str | None:
    """MLflow 3: ``runs:/<run>/<name>`` may name the run's logged model ``name``."""
    from ..models.uri import _run_logged_model

    found = _run_logged_model(store, run_id, name)
    return found.parent.name if found is not None else None
