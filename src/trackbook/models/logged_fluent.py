"""MLflow 3's fluent logged-model functions: ``get_logged_model``, ``last_logged_model``,
``search_logged_models``, ``initialize_logged_model``, ``create_external_model``,
``finalize_logged_model``, tags and params of a model, and the active model."""

from __future__ import annotations

import logging
from typing import Any

from ..tracking import active_model
from . import logged
from ._errors import UnsupportedArgumentError
from .logged_model import LoggedModel, LoggedModelStatus

log = logging.getLogger(__name__)


def _store() -> Any:
    from ..tracking.uri import get_store

    return get_store()


def get_logged_model(model_id: str) -> LoggedModel:
    """The logged model ``model_id`` (e.g. ``ModelInfo.model_id``), with its metrics.

    Raises
    ------
    LoggedModelNotFoundError
        If the store has no such model.
    """
    return logged.get(_store(), model_id)


def last_logged_model() -> LoggedModel | None:
    """The model this thread logged (or initialized) last, or None."""
    model_id = active_model.last_logged_model_id()
    return get_logged_model(model_id) if model_id else None


def _where(source_run_id: str | None, experiment_id: str | None) -> tuple[str | None, str]:
    """MLflow's defaults: the active run's id and experiment, else the current one."""
    from ..tracking import fluent

    run = fluent.active_run()
    if source_run_id is None and run is not None:
        source_run_id = run.info.run_id
    if experiment_id is None:
        experiment_id = (run.info.experiment_id if run is not None
                         else fluent.current_experiment_id())
    return source_run_id, str(experiment_id)


def initialize_logged_model(name: str | None = None, source_run_id: str | None = None,
                            tags: dict[str, str] | None = None,
                            params: dict[str, str] | None = None,
                            model_type: str | None = None,
                            experiment_id: str | None = None) -> LoggedModel:
    """Create a PENDING logged model without files; ``log_model(..., model_id=...)`` or
    ``finalize_logged_model`` completes it."""
    run_id, exp_id = _where(source_run_id, experiment_id)
    model = logged.create(_store(), experiment_id=exp_id, name=name, source_run_id=run_id,
                          tags={**logged.context_tags(), **(tags or {})}, params=params,
                          model_type=model_type)
    active_model.set_last_logged_model_id(model.model_id)
    return model


def create_external_model(name: str | None = None, source_run_id: str | None = None,
                          tags: dict[str, str] | None = None,
                          params: dict[str, str] | None = None,
                          model_type: str | None = None,
                          experiment_id: str | None = None) -> LoggedModel:
    """A READY logged model whose files live outside the store (tagged
    ``mlflow.model.isExternal``); its artifacts hold only an MLmodel file, as in MLflow."""
    import tempfile
    from pathlib import Path

    from ..store.artifacts import put_dir
    from .model import Model

    run_id, exp_id = _where(source_run_id, experiment_id)
    store = _store()
    model = logged.create(store, experiment_id=exp_id, name=name, source_run_id=run_id,
                          tags={**logged.context_tags(), **(tags or {}),
                                logged.IS_EXTERNAL_TAG: "true"},
                          params=params, model_type=model_type)
    spec = Model(artifact_path=model.artifact_location, run_id=run_id,
                 model_uuid=model.model_id, model_id=model.model_id,
                 metadata={"mlflow_external_model": True})
    with tempfile.TemporaryDirectory(prefix="trackbook-model-") as tmp:
        spec.save(Path(tmp))
        put_dir(store.layout.logged_model_artifacts(model.model_id).parent, tmp, "artifacts")
    logged.finalize(store, model.model_id, LoggedModelStatus.READY)
    active_model.set_last_logged_model_id(model.model_id)
    model.status = LoggedModelStatus.READY
    return model


def finalize_logged_model(model_id: str, status: Any) -> LoggedModel:
    """Mark a logged model READY or FAILED; return it."""
    logged.finalize(_store(), model_id, status)
    return get_logged_model(model_id)


def set_logged_model_tags(model_id: str, tags: dict[str, Any]) -> None:
    logged.set_tags(_store(), model_id, tags)


def delete_logged_model_tag(model_id: str, key: str) -> None:
    logged.delete_tag(_store(), model_id, key)


def log_model_params(params: dict[str, str], model_id: str | None = None) -> None:
    """Log params to a logged model (default: the active model)."""
    model_id = model_id or active_model.get_active_model_id()
    if model_id is None:
        raise UnsupportedArgumentError("log_model_params needs model_id=..., or an active "
                                       "model (set_active_model)")
    logged.log_params(_store(), model_id, params)


def search_logged_models(experiment_ids: list[str] | None = None,
                         filter_string: str | None = None,
                         datasets: list[dict[str, str]] | None = None,
                         max_results: int | None = None,
                         order_by: list[dict[str, Any]] | None = None,
                         output_format: str = "pandas") -> Any:
    """Search MLflow 3 logged models.

    Parameters
    ----------
    experiment_ids : list of str, optional
        Where to search (default, and for an empty list: the current experiment).
    filter_string : str, optional
        ``search_runs``' grammar over ``name``, ``model_id``, ``model_type``, ``status``
        (``'READY'`` or MLflow's number), ``source_run_id``, ``experiment_id``,
        ``creation_timestamp`` (``creation_time``), ``last_updated_timestamp``,
        ``metrics.<key>`` (any point of the model), ``params.<key>``, ``tags.<key>``.
    datasets : list of dict, optional
        ``[{"dataset_name": "eval", "dataset_digest": "..."}]`` (digest optional): metric
        comparisons count only points on these datasets; a model needs one such point.
    max_results : int, optional
        At most this many models (0: none).
    order_by : list of dict, optional
        ``[{"field_name": "metrics.acc", "ascending": False, "dataset_name": "eval"}]``
        (a metric sorts by the model's latest point) or attributes; then newest first.
    output_format : {"pandas", "list"}
        A DataFrame (MLflow's columns) or a list of :class:`LoggedModel`.

    Examples
    --------
    >>> best = tb.search_logged_models(filter_string="metrics.acc > 0.9",  # doctest: +SKIP
    ...     order_by=[{"field_name": "metrics.acc", "ascending": False}],
    ...     max_results=1, output_format="list")[0]
    """
    from . import logged_search

    if output_format not in ("pandas", "list"):
        raise UnsupportedArgumentError(f"output_format must be 'pandas' or 'list', got "
                                       f"{output_format!r}")
    if not experiment_ids:
        from ..tracking import fluent

        experiment_ids = [fluent.current_experiment_id()]
    elif isinstance(experiment_ids, str):
        experiment_ids = [experiment_ids]
    models = logged_search.search(_store(), [str(e) for e in experiment_ids], filter_string,
                                  datasets, max_results, order_by)
    if output_format == "list":
        return models
    return logged_search.to_frame(models)


class ActiveModel(LoggedModel):
    """What ``set_active_model`` returns: the model, usable as a ``with`` block that
    restores the previously active model on exit."""

    _previous: str | None = None

    def __enter__(self) -> ActiveModel:
        return self

    def __exit__(self, *exc: Any) -> None:
        active_model.set_active_model_id(self._previous)


def set_active_model(*, name: str | None = None, model_id: str | None = None) -> ActiveModel:
    """Make a logged model active: metrics logged without ``model_id`` link to it.

    By ``model_id`` (it must exist), or by ``name``: the newest model of that name in the
    current experiment, created as an external model when there is none (as MLflow does).
    """
    if name is None and model_id is None:
        raise UnsupportedArgumentError("set_active_model needs name= or model_id=")
    if model_id is not None:
        model = get_logged_model(model_id)
        if name is not None and model.name != name:
            raise UnsupportedArgumentError(
                f"logged model {model_id!r} is named {model.name!r}, not {name!r}")
    else:
        found = search_logged_models(filter_string=f"name = '{_quote(name)}'",
                                     max_results=2, output_format="list")
        if len(found) > 1:
            log.warning("several logged models are named %r: the newest is made active", name)
        model = found[0] if found else create_external_model(name=name)
    previous = active_model.get_active_model_id()
    active_model.set_active_model_id(model.model_id)
    out = ActiveModel(**{k: getattr(model, k) for k in LoggedModel.__dataclass_fields__})
    out._previous = previous
    return out


def _quote(name: Any) -> str:
    return str(name).replace("\\", "\\\\").replace("'", "\\'")


def get_active_model_id() -> str | None:
    """The active model's id (``set_active_model`` or ``$MLFLOW_ACTIVE_MODEL_ID``)."""
    return active_model.get_active_model_id()


def clear_active_model() -> None:
    """No model is active afterwards."""
    active_model.set_active_model_id(None)

