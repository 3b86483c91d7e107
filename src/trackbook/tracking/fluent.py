"""The fluent API: module-level functions on "the current run", as in MLflow.

Notebook-friendly: starting a run while another is active ends the old one instead
of failing, runs left open end at interpreter exit, and an exception inside
``with start_run():`` marks the run FAILED.
"""

from __future__ import annotations

import atexit
import logging
import os
import sys
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .._errors import ExperimentNotFoundError, InvalidValueError, RunStateError
from ..store.events import now_ms
from . import active_model as _active_model
from . import context, pending, query
from . import inputs as _inputs
from . import validation as v
from .client import Client
from .entities import Experiment, Metric, Run, RunStatus, ViewType
from .runstate import buffer_of, state_of
from .uri import get_store

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)
_valid_names = v._valid_names
_I64_MIN, _I64_MAX = v.INT64_MIN, v.INT64_MAX
_RUNNING = RunStatus.RUNNING
_time_ns = time.time_ns


class ActiveRun(Run):
    """The run returned by :func:`start_run`; use it as a context manager."""

    def __init__(self, run: Run) -> None:
        super().__init__(run.info, run.data)
        store = get_store()
        self._store = store
        self._state = state_of(store, run.info.run_id)
        self._buffer = buffer_of(store, self._state)
        self._items = self._buffer.items
        self._outputs = self._state.outputs  # step -> logged models (log_metric links)
        self._system_monitor: Any = None  # tracking/system_metrics.py, when enabled

    def __enter__(self) -> ActiveRun:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> bool:
        if exc_type is None:
            status = RunStatus.FINISHED
        elif issubclass(exc_type, KeyboardInterrupt):
            status = RunStatus.KILLED
        else:
            status = RunStatus.FAILED
        _end(self, status)
        return False

    def __repr__(self) -> str:
        return (f"<ActiveRun: run_id={self.info.run_id!r}, run_name={self.info.run_name!r}, "
                f"status={self._state.status!r}>")


_stack: list[ActiveRun] = []
_lock = threading.RLock()
_experiment_id: str | None = None
_last_run_id: str | None = None
_uncaught_exception = False


def _client() -> Client:
    return Client()


# -- experiments -----------------------------------------------------------------------------

def set_experiment(experiment_name: str | None = None, experiment_id: str | None = None,
                   trace_location: Any = None) -> Experiment:
    """Make an experiment current, creating it (by name) if it does not exist.

    ``trace_location`` (a Databricks Unity Catalog location for GenAI traces) is not
    supported and raises when given.
    """
    global _experiment_id
    _no_trace_location("set_experiment", trace_location)
    store = get_store()
    if (experiment_name is None) == (experiment_id is None):
        raise InvalidValueError("set_experiment needs exactly one of experiment_name or "
                                "experiment_id")
    if experiment_name is not None:
        v.check_experiment_name(experiment_name)
        record = store.experiment_by_name(experiment_name)
        if record is None:
            store.create_experiment(experiment_name)
            record = store.experiment_by_name(experiment_name)
    else:
        record = store.experiment_by_id(str(experiment_id))
        if record is None:
            raise ExperimentNotFoundError(f"no experiment with id {experiment_id!r}; create "
                                          "it with set_experiment(experiment_name=...)")
    assert record is not None
    _experiment_id = record["experiment_id"]
    return Experiment(record["experiment_id"], record["name"], record.get("artifact_location"),
                      creation_time=record.get("creation_time"))


def current_experiment_id() -> str:
    """The experiment new runs go to: set_experiment's, $TRACKBOOK_EXPERIMENT_NAME's
    (or $MLFLOW_EXPERIMENT_NAME's, then $MLFLOW_EXPERIMENT_ID's), or the Default experiment."""
    return _current_experiment_id()


def _current_experiment_id() -> str:
    if _experiment_id is not None:
        return _experiment_id
    name = os.environ.get("TRACKBOOK_EXPERIMENT_NAME") or os.environ.get("MLFLOW_EXPERIMENT_NAME")
    if name:
        return set_experiment(name).experiment_id
    experiment_id = os.environ.get("MLFLOW_EXPERIMENT_ID")
    if experiment_id:
        return set_experiment(experiment_id=experiment_id).experiment_id
    return get_store().ensure_default_experiment()


def create_experiment(name: str, artifact_location: str | None = None,
                      tags: dict[str, Any] | None = None, trace_location: Any = None) -> str:
    """Create an experiment; raise if the name is taken. Returns its id.

    ``trace_location`` (GenAI traces in Unity Catalog) is not supported and raises.
    """
    _no_trace_location("create_experiment", trace_location)
    return _client().create_experiment(name, artifact_location, tags)


def _no_trace_location(function: str, trace_location: Any) -> None:
    if trace_location is not None:
        from .._errors import UnsupportedFeatureError

        raise UnsupportedFeatureError(
            f"{function}(trace_location=...) is not supported by trackbook: GenAI trace "
            "locations (Databricks Unity Catalog) are out of scope")


def get_experiment(experiment_id: str) -> Experiment:
    return _client().get_experiment(experiment_id)


def get_experiment_by_name(name: str) -> Experiment | None:
    return _client().get_experiment_by_name(name)


def search_experiments(view_type: int = ViewType.ACTIVE_ONLY, max_results: int | None = None,
                       filter_string: str | None = None,
                       order_by: list[str] | None = None) -> list[Experiment]:
    return _client().search_experiments(view_type, max_results, filter_string, order_by)


def delete_experiment(experiment_id: str) -> None:
    _client().delete_experiment(experiment_id)


# -- runs ------------------------------------------------------------------------------------

def start_run(run_id: str | None = None, experiment_id: str | None = None,
              run_name: str | None = None, nested: bool = False,
              parent_run_id: str | None = None, tags: dict[str, Any] | None = None,
              description: str | None = None, log_system_metrics: bool | None = None
              ) -> ActiveRun:
    """Start a run (or resume ``run_id``) and make it current.

    If a run is already active and ``nested`` is false, that run is ended (FINISHED)
    first: re-running a notebook cell never fails with "run already active".
    Without ``run_id``, the first run of a process resumes ``$TRACKBOOK_RUN_ID`` (or
    ``$MLFLOW_RUN_ID``) when set: that is how launched projects log into their run.
    """
    global _last_run_id
    if "mlflow" in sys.modules:
        from ..as_mlflow import warn_if_real_mlflow

        warn_if_real_mlflow()
    with _lock:
        if run_id is None and not _stack and not nested:
            # A launcher (trackbook run, a sweep) hands its run to the code it starts.
            run_id = os.environ.get("TRACKBOOK_RUN_ID") or os.environ.get("MLFLOW_RUN_ID")
            if run_id and run_id == _last_run_id:
                run_id = None  # that run was already used and ended in this process
        if run_id is not None and _stack and _stack[-1].info.run_id == run_id:
            return _stack[-1]
        if run_id is not None:
            state_of(get_store(), run_id)  # a wrong id must fail before anything changes
        if _stack and not nested:
            log.info("ending run %s: a new run was started", _stack[-1].info.run_id)
            while _stack:
                _end(_stack[-1], RunStatus.FINISHED)
        client = _client()
        if nested and _stack and parent_run_id is None:
            parent_run_id = _stack[-1].info.run_id
        if run_id is not None:
            st = state_of(client.store, run_id)
            if experiment_id is not None and str(experiment_id) != st.experiment_id:
                raise InvalidValueError(f"run {run_id} belongs to experiment "
                                        f"{st.experiment_id}, not {experiment_id}")
            run = client.resume_run(run_id)
        else:
            tags = dict(tags or {})
            if description:
                tags["mlflow.note.content"] = description
            exp = str(experiment_id) if experiment_id is not None else _current_experiment_id()
            run = client._create_run(exp, None, tags, run_name, parent_run_id,
                                     context_tags=context.system_tags())
        active = ActiveRun(run)
        if log_system_metrics or (log_system_metrics is None
                                  and os.environ.get("MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING")):
            from . import system_metrics

            active._system_monitor = system_metrics.start_for(active, run_id is not None,
                                                              log_system_metrics)
        _stack.append(active)
        _last_run_id = run.info.run_id
        return active


def _end(run: ActiveRun, status: str) -> None:
    with _lock:
        if run in _stack:
            # Ending a parent ends its open children first.
            while _stack and _stack[-1] is not run:
                _end(_stack[-1], status)
        if run._system_monitor is not None:
            run._system_monitor.stop()
            run._system_monitor = None
        if run._state.status == RunStatus.RUNNING:
            # Raises DiskWriteError on a full disk: the run stays current (its points stay
            # buffered), so end_run() once space is free ends it with nothing lost.
            _client().set_terminated(run.info.run_id, status)
        if run in _stack:
            _stack.remove(run)
        run.info.status = run._state.status
        run.info.end_time = run.info.end_time or now_ms()


def end_run(status: str = RunStatus.FINISHED) -> None:
    """End the current run (no-op without one)."""
    if status not in RunStatus.ALL:
        raise InvalidValueError(f"status must be one of {RunStatus.ALL}, got {status!r}")
    with _lock:
        if _stack:
            _end(_stack[-1], status)


def active_run() -> ActiveRun | None:
    return _stack[-1] if _stack else None


def last_active_run() -> Run | None:
    if _stack:
        return get_run(_stack[-1].info.run_id)
    return get_run(_last_run_id) if _last_run_id else None


def get_run(run_id: str) -> Run:
    return _client().get_run(run_id)


def get_parent_run(run_id: str) -> Run | None:
    return _client().get_parent_run(run_id)


def delete_run(run_id: str) -> None:
    _client().delete_run(run_id)


def _current() -> ActiveRun:
    if _stack:
        return _stack[-1]
    return start_run()  # MLflow starts a run implicitly on the first log call


# -- logging ---------------------------------------------------------------------------------

def log_metric(key: str, value: float, step: int | None = None,
               synchronous: bool | None = None, timestamp: int | None = None,
               run_id: str | None = None, model_id: str | None = None,
               dataset: Any = None) -> None:
    """Log one metric point to the current run (buffered; about a microsecond).

    ``step`` defaults to 0 and ``timestamp`` to now (ms), as in MLflow. NaN and inf are
    accepted. Points are written to disk in the background, at ``end_run`` and at exit.

    As MLflow 3: the point is also a metric of the logged model ``model_id`` (default: the
    active model, :func:`set_active_model`; else every model the run logged at this
    ``step``), recorded with ``dataset``'s name and digest; a model the run did not
    produce becomes a run input (``run.inputs.model_inputs``), and ``dataset`` a dataset
    input if the run has not used it yet.
    """
    if (run_id is model_id is dataset is None and _stack
            and _active_model._active[0] is None):
        run = _stack[-1]
        outs = run._outputs
        if (run._state.status is _RUNNING and type(key) is str and key in _valid_names
                and type(value) is float
                and (step is None or (type(step) is int and _I64_MIN <= step <= _I64_MAX))
                and (timestamp is None
                     or (type(timestamp) is int and 0 <= timestamp <= _I64_MAX))
                and (not outs or (step or 0) not in outs)):
            items = run._items
            items.append((key, value, step or 0,
                          _time_ns() // 1_000_000 if timestamp is None else timestamp))
            if len(items) >= run._buffer.limit:
                run._buffer.full()
            return
    model_id = model_id or _active_model._active[0]
    if model_id is not None:
        _active_model.check_model_id(model_id)
    ds = _inputs.metric_dataset(dataset)
    if timestamp is None:
        timestamp = _time_ns() // 1_000_000  # the run's point and the model's are one
    _log_metric_checked(key, value, step, timestamp, run_id)
    _link_to_models(run_id, model_id, ds, [(key, v.metric_value(key, value),
                                            v.step_value(step), timestamp)])


def _link_to_models(run_id: str | None, model_id: str | None, ds: Any,
                    points: list[tuple[str, float, int, int]]) -> None:
    """MLflow 3: points logged with ``model_id`` (or while a model is active), else at a
    step the run logged models at, are those logged models' metrics too, with the
    dataset's name and digest; the model and the dataset become run inputs if new."""
    store = get_store()
    st = state_of(store, run_id) if run_id is not None else _current()._state
    explicit = [model_id] if model_id is not None else []
    if explicit or ds is not None:
        _inputs.link_metric_inputs(store, st, explicit, ds)
    name, digest = (ds.dataset.name, ds.dataset.digest) if ds is not None else (None, None)
    by_model: dict[str, list[tuple[Any, ...]]] = {}
    for p in points:
        for mid in explicit or st.outputs.get(p[2], ()):
            by_model.setdefault(mid, []).append((*p, name, digest))
    for mid, pts in by_model.items():
        _active_model.link_metrics(store, mid, st.run_id, pts)


def _log_metric_checked(key: str, value: Any, step: Any, timestamp: int | None,
                        run_id: str | None) -> None:
    """The general path: validates everything, may start a run, may target any run."""
    if run_id is not None:
        # no model here: the caller links the point (to the active model too)
        _client()._log_metric(run_id, key, value, timestamp, step, None, None, None, None)
        return
    run = _current()
    run._state.check_writable("metrics")
    v.check_name("metric", key)
    run._buffer.add(key, v.metric_value(key, value), v.step_value(step),
                    now_ms() if timestamp is None else v.timestamp_value(timestamp))


def log_metrics(metrics: dict[str, float], step: int | None = None,
                synchronous: bool | None = None, run_id: str | None = None,
                timestamp: int | None = None, model_id: str | None = None,
                dataset: Any = None) -> None:
    """Log several metrics at one step (all share the timestamp); ``model_id`` and
    ``dataset`` link them to logged models as in :func:`log_metric`."""
    if not isinstance(metrics, dict):
        raise InvalidValueError(f"log_metrics needs a dict, got {type(metrics).__name__}")
    ts = _time_ns() // 1_000_000 if timestamp is None else v.timestamp_value(timestamp)
    st = v.step_value(step)
    model_id = model_id or _active_model._active[0]
    if model_id is not None or dataset is not None or run_id is not None:
        _log_metrics_linked(metrics, st, ts, run_id, model_id, dataset)
        return
    run = _current()
    if run._outputs and st in run._outputs:
        _log_metrics_linked(metrics, st, ts, run.info.run_id, None, None)
        return
    if run._state.status is not _RUNNING:
        run._state.check_writable("metrics")
    names = _valid_names
    points = [(k if type(k) is str and k in names else v.check_name("metric", k),
               val if type(val) is float else v.metric_value(k, val), st, ts)
              for k, val in metrics.items()]
    items = run._items
    items.extend(points)
    if len(items) >= run._buffer.limit:
        run._buffer.full()


def _log_metrics_linked(metrics: dict[str, Any], st: int, ts: int, run_id: str | None,
                        model_id: str | None, dataset: Any) -> None:
    if model_id is not None:
        _active_model.check_model_id(model_id)
    ds = _inputs.metric_dataset(dataset)
    run_id = run_id or _current().info.run_id
    points = [Metric(v.check_name("metric", k), v.metric_value(k, val), ts, st)
              for k, val in metrics.items()]
    _client()._log_batch(run_id, points, (), (), None)  # linked below, once
    _link_to_models(run_id, model_id, ds, [(p.key, p.value, p.step, p.timestamp)
                                           for p in points])


def log_param(key: str, value: Any, synchronous: bool | None = None) -> Any:
    _client().log_param(_current().info.run_id, key, value)
    return value


def log_params(params: dict[str, Any], synchronous: bool | None = None,
               run_id: str | None = None) -> None:
    _client().log_batch(run_id or _current().info.run_id, params=list(params.items()))


def set_tag(key: str, value: Any, synchronous: bool | None = None) -> None:
    _client().set_tag(_current().info.run_id, key, value)


def set_tags(tags: dict[str, Any], synchronous: bool | None = None) -> None:
    _client().log_batch(_current().info.run_id, tags=list(tags.items()))


def delete_tag(key: str) -> None:
    _client().delete_tag(_current().info.run_id, key)


def log_artifact(local_path: str, artifact_path: str | None = None,
                 run_id: str | None = None) -> None:
    _client().log_artifact(run_id or _current().info.run_id, local_path, artifact_path)


def log_artifacts(local_dir: str, artifact_path: str | None = None,
                  run_id: str | None = None) -> None:
    _client().log_artifacts(run_id or _current().info.run_id, local_dir, artifact_path)


def log_text(text: str, artifact_file: str, run_id: str | None = None) -> None:
    _client().log_text(run_id or _current().info.run_id, text, artifact_file)


def log_dict(dictionary: dict[str, Any], artifact_file: str, run_id: str | None = None) -> None:
    _client().log_dict(run_id or _current().info.run_id, dictionary, artifact_file)


def log_figure(figure: Any, artifact_file: str, *, save_kwargs: dict[str, Any] | None = None,
               run_id: str | None = None) -> None:
    _client().log_figure(run_id or _current().info.run_id, figure, artifact_file,
                         save_kwargs=save_kwargs)


def log_image(image: Any, artifact_file: str | None = None, key: str | None = None,
              step: int | None = None, timestamp: int | None = None,
              synchronous: bool | None = False, run_id: str | None = None) -> None:
    """Log an image (numpy array or PIL image) to the current run.

    Either as one file, ``artifact_file`` (e.g. ``"plots/cm.png"``), or as a series under
    ``key`` with ``step`` (default 0) and ``timestamp`` (default now), stored as MLflow 3
    stores it (``images/<key>+step+<step>+timestamp+<ms>+<uuid>.png`` plus a 256-pixel
    ``.webp`` thumbnail; tag ``mlflow.loggedImages``).
    :func:`trackbook.tracking.images.list_images` lists a run's series by key and step.
    """
    _client().log_image(run_id or _current().info.run_id, image, artifact_file, key, step,
                        timestamp, synchronous)


def get_artifact_uri(artifact_path: str | None = None) -> str:
    from ..store.artifacts import resolve

    root = get_store().artifact_root(_current().info.run_id)
    return resolve(root, artifact_path).as_uri()


def flush() -> None:
    """Write all buffered metric points now (normally done in the background).

    Raises :class:`~trackbook.store.durable.DiskWriteError` when the disk refuses them;
    the points stay buffered and the next flush retries them. Artifacts still being
    written in the background (autologging's plots) are finished first.
    """
    pending.finish(None)
    get_store().session.flush_all(strict=True)


# -- queries ---------------------------------------------------------------------------------

def search_runs(experiment_ids: Sequence[str] | None = None, filter_string: str = "",
                run_view_type: int = ViewType.ACTIVE_ONLY, max_results: int | None = None,
                order_by: list[str] | None = None, output_format: str = "pandas",
                search_all_experiments: bool = False,
                experiment_names: Sequence[str] | None = None) -> pd.DataFrame | list[Run]:
    """Runs matching a filter, as a pandas DataFrame (MLflow's columns) or a list.

    Without experiment ids or names, searches the current experiment (or all with
    ``search_all_experiments=True``). No cap unless ``max_results`` is given.
    """
    store = get_store()
    store.session.flush_all()
    ids: list[str] | None
    if experiment_ids and experiment_names:
        raise InvalidValueError("search_runs takes experiment_ids or experiment_names, not "
                                f"both (got {experiment_ids!r} and {experiment_names!r})")
    if experiment_names:
        ids = []
        for name in experiment_names:
            rec = store.experiment_by_name(name)
            if rec is None:
                # As MLflow: a name that does not exist (yet) warns and matches nothing, so
                # a notebook polling a sweep that has not started sees an empty result.
                log.warning("Cannot retrieve experiment by name %s", name)
                continue
            ids.append(rec["experiment_id"])
    elif experiment_ids is not None:
        ids = [experiment_ids] if isinstance(experiment_ids, str) else list(experiment_ids)
    elif search_all_experiments:
        ids = None
    else:
        ids = [_current_experiment_id()]
    if output_format == "list":
        if ids == []:
            return []
        return query.search_run_objects(store, ids, filter_string, run_view_type,
                                        max_results, order_by)
    if output_format != "pandas":
        raise InvalidValueError(f"output_format must be 'pandas' or 'list', got "
                                f"{output_format!r}")
    if ids == []:
        return _empty_runs_frame()
    return query.search_frame(store, ids, filter_string, run_view_type, max_results, order_by)


def sql(text: str, params: Sequence[Any] | None = None, *,
        unsafe: bool = False) -> pd.DataFrame:
    """DuckDB SQL over the store: tables runs, params, tags, latest_metrics, experiments
    (a snapshot) and view metrics with every point. Use ``?`` placeholders with ``params``.

    Read-only by default: statements that change anything (COPY, ATTACH, SET, PRAGMA,
    INSTALL/LOAD, CREATE, INSERT, ...) and files outside the store raise
    ``SqlNotAllowedError``. ``unsafe=True`` runs the text with full DuckDB (files,
    network, extensions, settings) on a connection made for this call alone; the catalog
    tables it sees are still copies, so writing to them changes nothing.
    """
    store = get_store()
    store.session.flush_all()
    return query.sql(store, text, params, unsafe=unsafe)


def _empty_runs_frame() -> pd.DataFrame:
    """What MLflow's search_runs returns when no experiment matched: no rows, its six
    run columns."""
    import pandas as pd

    return pd.DataFrame(columns=["run_id", "experiment_id", "status", "artifact_uri",
                                 "start_time", "end_time"])


# -- the rest of MLflow's fluent surface (issue 14) ------------------------------------------

def set_experiment_tag(key: str, value: Any) -> None:
    """Set a tag on the current experiment (see :func:`current_experiment_id`).

    Examples
    --------
    >>> tb.set_experiment("churn")                                          # doctest: +SKIP
    >>> tb.set_experiment_tag("team", "growth")
    """
    _client().set_experiment_tag(_current_experiment_id(), key, value)


def set_experiment_tags(tags: dict[str, Any]) -> None:
    """Set several tags on the current experiment (values are stored as strings)."""
    _client().set_experiment_tags(_current_experiment_id(), tags)


def delete_experiment_tag(key: str) -> None:
    """Delete a tag of the current experiment; raises ``TagNotFoundError`` if it has none
    named ``key`` (as MLflow)."""
    _client().delete_experiment_tag(_current_experiment_id(), key)


def restore_run(run_id: str) -> None:
    """Undo :func:`delete_run`: the run shows in searches again."""
    _client().restore_run(run_id)


def restore_experiment(experiment_id: str) -> None:
    """Undo :func:`delete_experiment`; an experiment that is not deleted raises."""
    _client().restore_experiment(experiment_id)


def flush_async_logging() -> None:
    """Write every buffered metric point now (MLflow's name for :func:`flush`)."""
    flush()


def flush_artifact_async_logging() -> None:
    """Artifacts are written when logged, so there is nothing to wait for; kept so MLflow
    code runs. Buffered metric points are written too."""
    flush()


def log_stream(stream: Any, artifact_file: str, run_id: str | None = None) -> None:
    """Save the bytes of a binary stream (``open(..., "rb")``, ``io.BytesIO``) as an
    artifact of the current run (or of ``run_id``)."""
    _client().log_stream(run_id or _current().info.run_id, stream, artifact_file)


def log_table(data: Any, artifact_file: str, run_id: str | None = None) -> None:
    """Save a DataFrame or dict as a table artifact of the current run (or ``run_id``).

    ``artifact_file`` ends in ``.json`` (MLflow's ``{"columns": [...], "data": [...]}``) or
    ``.parquet``; logging to it again appends rows.

    Examples
    --------
    >>> tb.log_table({"input": ["a", "b"], "score": [0.1, 0.9]}, "eval.json")  # doctest: +SKIP
    """
    _client().log_table(run_id or _current().info.run_id, data, artifact_file)


def load_table(artifact_file: str, run_ids: list[str] | None = None,
               extra_columns: list[str] | None = None) -> pd.DataFrame:
    """The table ``artifact_file`` of every run of the current experiment that logged it
    (or of ``run_ids``), concatenated; ``extra_columns=["run_id"]`` says which run each
    row came from."""
    return _client().load_table(_current_experiment_id(), artifact_file, run_ids,
                                extra_columns)


# -- datasets (MLflow's log_input / log_inputs) ---------------------------------------------

def _dataset_input(dataset: Any, context: str | None, tags: dict[str, Any] | None) -> Any:
    from .entities import DATASET_CONTEXT_TAG, DatasetInput, InputTag
    from .entities import Dataset as DatasetEntity

    if dataset is None:
        if context or tags:
            raise InvalidValueError("`dataset` must be given when `context` or `tags` is: "
                                    f"got context={context!r}, tags={tags!r}")
        return None
    to_entity = getattr(dataset, "_to_mlflow_entity", None)
    if to_entity is None:
        raise InvalidValueError(
            f"log_input takes a dataset from trackbook.data (from_pandas, from_numpy, "
            f"from_polars), got {type(dataset).__name__}")
    e = to_entity()  # an MLflow dataset's entity works too: its fields are read by name
    entity = e if isinstance(e, DatasetEntity) else DatasetEntity(
        e.name, e.digest, e.source_type, e.source, e.schema, e.profile)
    input_tags = [InputTag(str(k), v) for k, v in (tags or {}).items()]
    if context:
        input_tags.append(InputTag(DATASET_CONTEXT_TAG, context))
    return DatasetInput(entity, input_tags)


def log_input(dataset: Any = None, context: str | None = None,
              tags: dict[str, str] | None = None, model: Any = None) -> None:
    """Record a dataset the current run uses (``context``: "training", "testing"...,
    stored as the input tag ``mlflow.data.context``) and/or a ``LoggedModelInput``."""
    run_id = _current().info.run_id
    di = _dataset_input(dataset, context, tags)
    _client().log_inputs(run_id, [di] if di is not None else None,
                         [model] if model is not None else None)


def log_inputs(datasets: list[Any] | None = None, contexts: list[str | None] | None = None,
               tags_list: list[dict[str, str] | None] | None = None,
               models: list[Any] | None = None) -> None:
    """Record several datasets at once; ``datasets``, ``contexts`` and ``tags_list`` have
    one entry each (None for none). ``models`` is refused, as MLflow refuses it outside
    Databricks: use ``log_input(model=...)``."""
    run_id = _current().info.run_id
    datasets, contexts, tags_list = datasets or [], contexts or [], tags_list or []
    if not len(datasets) == len(contexts) == len(tags_list):
        raise InvalidValueError(
            "log_inputs needs `datasets`, `contexts` and `tags_list` of the same length, got "
            f"{len(datasets)}, {len(contexts)} and {len(tags_list)}")
    if models:
        raise InvalidValueError("log_inputs(models=...) is refused, as in MLflow outside "
                                "Databricks; log each model with log_input(model=...)")
    _client().log_inputs(run_id, [_dataset_input(d, c, t)
                                  for d, c, t in zip(datasets, contexts, tags_list,
                                                     strict=True)])


# -- process exit ----------------------------------------------------------------------------

def _end_all_at_exit() -> None:
    status = RunStatus.FAILED if _uncaught_exception else RunStatus.FINISHED
    pending.finish(None)  # also those of runs that are not on the stack
    while _stack:
        try:
            _end(_stack[-1], status)
        except RunStateError:
            _stack.pop()
        except Exception as exc:
            log.error("could not end run at exit: %s", exc)
            _stack.pop()


_previous_excepthook = sys.excepthook


def _excepthook(exc_type: Any, exc: Any, tb: Any) -> None:
    global _uncaught_exception
    _uncaught_exception = True
    _previous_excepthook(exc_type, exc, tb)


sys.excepthook = _excepthook
atexit.register(_end_all_at_exit)
