"""``Client``: explicit calls on experiments and runs (MLflow's ``MlflowClient`` names)."""

from __future__ import annotations

import os
import platform
import random
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._errors import (
    ExperimentNotFoundError,
    InvalidNameError,
    InvalidValueError,
    ParamConflictError,
    RunNotFoundError,
    TagNotFoundError,
)
from ..store import artifacts as _artifacts
from ..store.events import now_ms
from . import context, pending, query
from . import validation as v
from .entities import Experiment, Metric, PagedList, Run, RunStatus, ViewType
from .history import MetricHistory
from .runops import RunOperations, ops_for
from .runstate import RunState, buffer_of, own, reload_params, remember, state_of
from .uri import get_store

if TYPE_CHECKING:
    import pandas as pd

_ADJECTIVES = ("amber", "bold", "brisk", "calm", "clever", "crisp", "eager", "gentle",
               "golden", "lucid", "merry", "nimble", "quiet", "rapid", "silver", "steady",
               "sunny", "swift", "tidy", "vivid", "wise", "witty", "zesty", "keen")
_NOUNS = ("otter", "falcon", "maple", "comet", "badger", "heron", "lynx", "cedar", "ember",
          "finch", "harbor", "koala", "lark", "meadow", "orca", "pine", "quartz", "raven",
          "sparrow", "tiger", "willow", "yak", "zebra", "fox")


def generate_run_name() -> str:
    return f"{random.choice(_ADJECTIVES)}-{random.choice(_NOUNS)}-{random.randint(1, 999)}"


def _pairs(items: Iterable[Any]) -> list[tuple[str, Any]]:
    out = []
    for item in items:
        if isinstance(item, tuple):
            out.append((item[0], item[1]))
        else:
            out.append((item.key, item.value))
    return out


class Client:
    """Explicit access to a store: experiments, runs, metrics, artifacts.

    Parameters
    ----------
    tracking_uri
        A store folder or ``file://`` URI; default: the current tracking URI.
    """

    def __init__(self, tracking_uri: str | None = None) -> None:
        self._store = get_store(tracking_uri)
        self._tracking_uri = tracking_uri

    @property
    def tracking_uri(self) -> str:
        """The store this client reads and writes, as given, else the current tracking URI
        (MLflow's ``MlflowClient.tracking_uri``)."""
        if self._tracking_uri is not None:
            return str(self._tracking_uri)
        from .uri import get_tracking_uri

        return get_tracking_uri()

    @property
    def store(self) -> Any:
        return self._store

    # -- experiments -----------------------------------------------------------------------

    def create_experiment(self, name: str, artifact_location: str | None = None,
                          tags: dict[str, Any] | None = None) -> str:
        """Create an experiment; raise if the name is taken. Returns its id."""
        v.check_experiment_name(name)
        if artifact_location is not None:
            v.check_text("artifact_location", str(artifact_location))
        exp_id, created = self._store.create_experiment(name, artifact_location)
        if not created:
            raise InvalidNameError(f"an experiment named {name!r} already exists "
                                   f"(id {exp_id}); use set_experiment to reuse it")
        if tags:
            for k, val in tags.items():
                self.set_experiment_tag(exp_id, k, val)
        return exp_id

    def get_experiment(self, experiment_id: str) -> Experiment:
        exp = query.experiment(self._store, experiment_id=str(experiment_id))
        if exp is None:
            raise ExperimentNotFoundError(f"no experiment with id {experiment_id!r}")
        return exp

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        return query.experiment(self._store, name=name)

    def search_experiments(self, view_type: int = ViewType.ACTIVE_ONLY,
                           max_results: int | None = None,
                           filter_string: str | None = None,
                           order_by: list[str] | None = None,
                           page_token: str | None = None) -> PagedList[Experiment]:
        """Experiments, newest first unless ``order_by`` (``name``, ``experiment_id``,
        ``creation_time``, ``last_update_time``, each optionally ``ASC``/``DESC``);
        ``filter_string`` may be ``name = '...'`` or ``name LIKE '...'``. With
        ``max_results``, ``.token`` of the result is the ``page_token`` of the next page."""
        start = _page_start(page_token)
        limit = None if max_results is None else _page_size(max_results) + 1
        found = query.experiments(self._store, view_type, limit, filter_string, order_by,
                                  offset=start)
        return _paged(found, start, max_results)

    def set_experiment_tag(self, experiment_id: str, key: str, value: Any) -> None:
        v.check_name("tag", key)
        self._store.session.record("experiment_tags", exp=str(experiment_id),
                                   data={key: v.experiment_tag_value(value, key)})

    def delete_experiment(self, experiment_id: str) -> None:
        self.get_experiment(experiment_id)
        self._store.session.record("experiment_update", exp=str(experiment_id),
                                   fields={"lifecycle_stage": "deleted",
                                           "last_update_time": now_ms()})

    def restore_experiment(self, experiment_id: str) -> None:
        """Undo :meth:`delete_experiment`; an experiment that is not deleted raises, as in
        MLflow."""
        exp = self.get_experiment(experiment_id)
        if exp.lifecycle_stage != "deleted":
            raise InvalidValueError(f"experiment {experiment_id!r} ({exp.name!r}) is not "
                                    "deleted; only a deleted experiment can be restored")
        self._store.session.record("experiment_update", exp=str(experiment_id),
                                   fields={"lifecycle_stage": "active",
                                           "last_update_time": now_ms()})

    def rename_experiment(self, experiment_id: str, new_name: str) -> None:
        v.check_experiment_name(new_name)
        self._store.rename_experiment(str(experiment_id), new_name)

    # -- runs ------------------------------------------------------------------------------

    def create_run(self, experiment_id: str, start_time: int | None = None,
                   tags: dict[str, Any] | None = None, run_name: str | None = None,
                   parent_run_id: str | None = None) -> Run:
        """Start a new RUNNING run in ``experiment_id`` and return it.

        As in MLflow, the client sets no ``mlflow.user``/``mlflow.source.*`` tags (``start_run``
        does); trackbook's own ``trackbook.python`` and ``trackbook.packages`` are added.
        """
        return self._create_run(experiment_id, start_time, tags, run_name, parent_run_id,
                                context_tags={"trackbook.python": platform.python_version()})

    def _create_run(self, experiment_id: str, start_time: int | None,
                    tags: dict[str, Any] | None, run_name: str | None,
                    parent_run_id: str | None, *, context_tags: dict[str, str]) -> Run:
        """create_run with ``context_tags`` gathered from the environment (never refused,
        made storable) under the caller's ``tags``."""
        experiment_id = str(experiment_id)
        if self._store.experiment_by_id(experiment_id) is None:
            if experiment_id == "0":
                self._store.ensure_default_experiment()
            else:
                raise ExperimentNotFoundError(f"no experiment with id {experiment_id!r}")
        for k in tags or {}:
            v.check_name("tag", k)
        tags = {k: v.tag_value(val, k) for k, val in (tags or {}).items()}
        run_name = run_name or tags.get("mlflow.runName") or generate_run_name()
        v.check_run_name(run_name)
        start = start_time or now_ms()
        # Gathered from the environment (argv, user, git): never refused, made storable.
        all_tags = {k: v.storable(val) for k, val in context_tags.items()}
        env_hash = self._store.write_env_snapshot(context.installed_packages())
        all_tags["trackbook.packages"] = f"envs/{env_hash}.txt"
        if parent_run_id:
            all_tags["mlflow.parentRunId"] = parent_run_id
        all_tags.update(tags)
        all_tags["mlflow.runName"] = run_name
        user = all_tags.get("mlflow.user", "unknown")
        run_id = self._store.start_run(experiment_id, run_name, start, user, parent_run_id)
        self._store.session.record("tags", run=run_id, data=all_tags)
        # a new run's links are all logged by this process: none to read from the catalog
        remember(self._store, RunState(run_id, experiment_id, RunStatus.RUNNING, links=set()))
        cells = context.executed_cells()
        if cells:
            self.log_text(run_id, cells, "notebook/cells.py")
        return query.make_run(
            {"run_id": run_id, "experiment_id": experiment_id, "run_name": run_name,
             "user_id": user, "status": RunStatus.RUNNING, "start_time": start,
             "end_time": None, "artifact_uri": str(self._store.artifact_root(run_id)),
             "lifecycle_stage": "active"}, {}, all_tags, {})

    def resume_run(self, run_id: str) -> Run:
        """Mark a finished run RUNNING again so this process can log to it."""
        st = state_of(self._store, run_id)
        owners = self._store.session.owners
        if not owners.owns(run_id):
            owners.claim(run_id)  # RunInUseError while another live process writes it
            reload_params(self._store, st)
        self._store.session.record("resume", run=run_id)
        st.status = RunStatus.RUNNING
        return self.get_run(run_id)

    def get_run(self, run_id: str) -> Run:
        """The run with its latest metrics, params and tags."""
        self._store.session.flush_all()
        run = query.get_run(self._store, run_id)
        if run is None:
            raise RunNotFoundError(f"no run with id {run_id!r} in store {self._store.root}")
        return run

    def get_parent_run(self, run_id: str) -> Run | None:
        parent = self.get_run(run_id).data.tags.get("mlflow.parentRunId")
        return self.get_run(parent) if parent else None

    def set_terminated(self, run_id: str, status: str = RunStatus.FINISHED,
                       end_time: int | None = None) -> None:
        """End a run: flush and compact its metrics, record the final status."""
        if status not in RunStatus.ALL:
            raise InvalidValueError(f"status must be one of {RunStatus.ALL}, got {status!r}")
        st = state_of(self._store, run_id)
        if st.status == RunStatus.RUNNING:
            pending.finish(run_id)  # artifacts still being written in the background
        owners = self._store.session.owners
        if not owners.owns(run_id):
            owners.claim(run_id)  # only the run's one writer may end it
        self._store.session.close_run(run_id)
        st.buffer = None
        cells = context.executed_cells()
        if cells and st.status == RunStatus.RUNNING:
            self.log_text(run_id, cells, "notebook/cells.py")
        self._store.session.commit("status", run=run_id, status=status,
                                   end=end_time or now_ms())
        st.status = status
        owners.release(run_id)

    def update_run(self, run_id: str, status: str | None = None,
                   name: str | None = None) -> None:
        if name is not None:
            v.check_run_name(name)
            self._store.session.record("tags", run=run_id, data={"mlflow.runName": name})
        if status is not None:
            if status in RunStatus.TERMINAL:
                self.set_terminated(run_id, status)
            else:
                self._store.session.record("status", run=run_id, status=status)

    def delete_run(self, run_id: str) -> None:
        """Mark a run deleted (hidden from searches; ``trackbook gc`` removes its files)."""
        state_of(self._store, run_id)
        self._store.session.record("lifecycle", run=run_id, stage="deleted")

    def restore_run(self, run_id: str) -> None:
        state_of(self._store, run_id)
        self._store.session.record("lifecycle", run=run_id, stage="active")

    # -- logging ---------------------------------------------------------------------------

    def log_metric(self, run_id: str, key: str, value: float, timestamp: int | None = None,
                   step: int | None = None, synchronous: bool | None = None,
                   dataset_name: str | None = None, dataset_digest: str | None = None,
                   model_id: str | None = None) -> RunOperations | None:
        """Buffer one metric point (flushed in the background); with ``model_id`` (default:
        the active model, :func:`~trackbook.set_active_model`) it is that MLflow 3 logged
        model's metric too, on the dataset ``dataset_name`` / ``dataset_digest`` (as
        MLflow's client: no run input is logged)."""
        from . import active_model

        return self._log_metric(run_id, key, value, timestamp, step, synchronous,
                                dataset_name, dataset_digest,
                                model_id or active_model.get_active_model_id())

    def _log_metric(self, run_id: str, key: str, value: float, timestamp: int | None,
                    step: int | None, synchronous: bool | None, dataset_name: str | None,
                    dataset_digest: str | None, model_id: str | None
                    ) -> RunOperations | None:
        from . import active_model

        st = state_of(self._store, run_id)
        st.check_writable("metrics")
        v.check_name("metric", key)
        val = v.metric_value(key, value)
        if model_id is not None:
            active_model.check_model_id(model_id)
        step_, ts = v.step_value(step), (now_ms() if timestamp is None
                                        else v.timestamp_value(timestamp))
        buffer_of(self._store, st).add(key, val, step_, ts)
        if model_id is not None:
            active_model.link_metrics(self._store, model_id, run_id,
                                      [(key, val, step_, ts, dataset_name, dataset_digest)])
        return ops_for(self._store, synchronous)

    def log_param(self, run_id: str, key: str, value: Any,
                  synchronous: bool | None = None) -> Any:
        self.log_batch(run_id, params=[(key, value)])
        return value

    def set_tag(self, run_id: str, key: str, value: Any,
                synchronous: bool | None = None) -> RunOperations | None:
        return self.log_batch(run_id, tags=[(key, value)], synchronous=synchronous)

    def delete_tag(self, run_id: str, key: str) -> None:
        state_of(self._store, run_id)
        v.check_name("tag", key)
        self._store.session.record("del_tag", run=run_id, key=key)

    def log_batch(self, run_id: str, metrics: Sequence[Any] = (), params: Sequence[Any] = (),
                  tags: Sequence[Any] = (), synchronous: bool | None = None
                  ) -> RunOperations | None:
        """Log many metrics (``Metric``), params and tags (objects with key/value, or
        tuples) at once. Everything is validated before anything is written.

        With ``synchronous=False`` returns a ``RunOperations`` (``.wait()``), as MLflow;
        ``True`` writes the metric points before returning. A ``Metric`` without a
        ``model_id`` is the active model's metric too (:func:`~trackbook.set_active_model`),
        as in MLflow 3."""
        from . import active_model

        return self._log_batch(run_id, metrics, params, tags, synchronous,
                               active_model.get_active_model_id())

    def _log_batch(self, run_id: str, metrics: Sequence[Any], params: Sequence[Any],
                   tags: Sequence[Any], synchronous: bool | None,
                   default_model: str | None = None) -> RunOperations | None:
        st = state_of(self._store, run_id)
        points = []
        by_model: dict[str, list[tuple[int, str | None, str | None]]] = {}
        for m in metrics:
            if isinstance(m, tuple) and not isinstance(m, Metric):
                key, value, *rest = m
                ts, step = ([*rest, None, None])[:2]
            else:
                key, value, ts, step = m.key, m.value, m.timestamp, m.step
                model_id = getattr(m, "model_id", None) or default_model
                if model_id is not None:  # MLflow 3: a logged model's metric too
                    from . import active_model

                    by_model.setdefault(active_model.check_model_id(model_id), []).append(
                        (len(points), getattr(m, "dataset_name", None),
                         getattr(m, "dataset_digest", None)))
            v.check_name("metric", key)
            points.append((key, v.metric_value(key, value), v.step_value(step),
                           v.timestamp_value(ts) if ts is not None else now_ms()))
        new_params: dict[str, str] = {}
        for key, value in _pairs(params):
            v.check_name("param", key)
            val = v.param_value(value, key)
            old = st.params.get(key, new_params.get(key))
            if old is not None and old != val:
                raise ParamConflictError(
                    f"param {key!r} of run {run_id} is already {old!r}; cannot change it to "
                    f"{val!r}. Params are immutable: start a new run, or record changing "
                    "values as tags or metrics")
            if old is None:
                new_params[key] = val
        new_tags = {}
        for key, value in _pairs(tags):
            v.check_name("tag", key)
            new_tags[key] = v.tag_value(value, key)
        if points or new_params:
            st.check_writable("metrics" if points else "params")
        if new_params and not self._store.session.owners.owns(run_id):
            own(self._store, st)  # the previous writer's params count too
            return self._log_batch(run_id, metrics, params, tags, synchronous, default_model)
        if new_params:
            self._store.session.record("params", run=run_id, data=new_params)
            st.params.update(new_params)
        if new_tags:
            self._store.session.record("tags", run=run_id, data=new_tags)
        if points:
            buffer_of(self._store, st).extend(points)
        if by_model:
            from . import active_model

            for model_id, refs in by_model.items():
                active_model.link_metrics(self._store, model_id, run_id,
                                          [(*points[i], dn, dd) for i, dn, dd in refs])
        return ops_for(self._store, synchronous)

    def log_inputs(self, run_id: str, datasets: Sequence[Any] | None = None,
                   models: Sequence[Any] | None = None) -> None:
        """Record datasets (``DatasetInput``) and logged models (``LoggedModelInput``) the
        run used; a dataset the run already has (same name and digest) keeps its first
        tags, as in MLflow."""
        from . import inputs

        inputs.record(self._store, state_of(self._store, run_id), datasets, models)

    def get_metric_history(self, run_id: str, key: str) -> MetricHistory:
        """Every point of one metric, ordered by step then timestamp.

        Returns a sequence of ``Metric`` (like MLflow's list) that keeps the points as
        arrays: ``.values``, ``.steps``, ``.timestamps`` and ``.to_pandas()`` are free.
        """
        self._check_run_exists(run_id)
        self._store.session.flush_all()
        return MetricHistory.from_arrow(key, self._store.metric_history(run_id, [key]))

    def _check_run_exists(self, run_id: str) -> None:
        """Cheap: a run folder proves the run exists; only without one ask the catalog."""
        if not (isinstance(run_id, str) and run_id.isalnum()
                and self._store.layout.run_dir(run_id).is_dir()):
            state_of(self._store, run_id)

    def get_metric_history_df(self, run_id: str, keys: Sequence[str] | None = None
                              ) -> pd.DataFrame:
        """Metric history as a DataFrame (key, value, step, timestamp): fast for big runs."""
        self._check_run_exists(run_id)
        self._store.session.flush_all()
        return self._store.metric_history(run_id, list(keys) if keys else None).to_pandas()

    # -- search ----------------------------------------------------------------------------

    def search_runs(self, experiment_ids: Sequence[str] | str, filter_string: str = "",
                    run_view_type: int = ViewType.ACTIVE_ONLY,
                    max_results: int | None = None, order_by: list[str] | None = None,
                    page_token: str | None = None) -> PagedList[Run]:
        """Runs matching the filter, as ``Run`` objects (no cap unless ``max_results``;
        then ``.token`` of the result is the ``page_token`` of the next page)."""
        self._store.session.flush_all()
        ids = [experiment_ids] if isinstance(experiment_ids, str) else list(experiment_ids)
        start = _page_start(page_token)
        limit = None if max_results is None else start + _page_size(max_results) + 1
        found = query.search_run_objects(self._store, ids, filter_string, run_view_type,
                                         limit, order_by)
        return _paged(found[start:], start, max_results)

    # -- artifacts -------------------------------------------------------------------------

    def _artifact_root(self, run_id: str) -> Path:
        state_of(self._store, run_id)
        return self._store.artifact_root(run_id)

    def log_artifact(self, run_id: str, local_path: str | os.PathLike[str],
                     artifact_path: str | None = None) -> None:
        _artifacts.put_file(self._artifact_root(run_id), local_path, artifact_path)

    def log_artifacts(self, run_id: str, local_dir: str | os.PathLike[str],
                      artifact_path: str | None = None) -> None:
        _artifacts.put_dir(self._artifact_root(run_id), local_dir, artifact_path)

    def log_text(self, run_id: str, text: str, artifact_file: str) -> None:
        _artifacts.put_bytes(self._artifact_root(run_id), artifact_file, text.encode("utf-8"))

    def log_dict(self, run_id: str, dictionary: dict[str, Any], artifact_file: str) -> None:
        """Save a dict as JSON, or as YAML when ``artifact_file`` ends in .yaml/.yml."""
        from .artifact_formats import dict_bytes

        _artifacts.put_bytes(self._artifact_root(run_id), artifact_file,
                             dict_bytes(dictionary, artifact_file))

    def log_figure(self, run_id: str, figure: Any, artifact_file: str, *,
                   save_kwargs: dict[str, Any] | None = None) -> None:
        """Save a matplotlib or plotly figure (format from the file extension).

        ``save_kwargs`` go to ``savefig`` (matplotlib) or ``to_image``/``to_html`` (plotly).
        """
        from .artifact_formats import figure_bytes

        _artifacts.put_bytes(self._artifact_root(run_id), artifact_file,
                             figure_bytes(figure, artifact_file, save_kwargs or {}))

    def log_image(self, run_id: str, image: Any, artifact_file: str | None = None,
                  key: str | None = None, step: int | None = None,
                  timestamp: int | None = None, synchronous: bool | None = None) -> None:
        """Save a numpy array or PIL image: as ``artifact_file`` (PNG, or the file's
        extension), or, with ``key`` (and ``step``, ``timestamp``), as MLflow 3's image
        series under ``images/`` (see :mod:`trackbook.tracking.images`)."""
        from . import images
        from .artifact_formats import image_bytes

        images.check_arguments(artifact_file, key, step, timestamp)
        root = self._artifact_root(run_id)
        if artifact_file is not None:
            _artifacts.put_bytes(root, artifact_file, image_bytes(image, artifact_file))
            return
        assert key is not None
        png_path, thumb_path = images.keyed_paths(
            key, v.step_value(step), now_ms() if not timestamp else v.timestamp_value(timestamp))
        png = images.image_png(image)
        _artifacts.put_bytes(root, png_path, png)
        thumb = images.thumbnail_bytes(png)
        if thumb is not None:
            _artifacts.put_bytes(root, thumb_path, thumb)
        self.set_tag(run_id, images.LOGGED_IMAGES_TAG, True)

    def list_artifacts(self, run_id: str, path: str | None = None) -> list[Any]:
        return _artifacts.list_dir(self._artifact_root(run_id), path)

    def download_artifacts(self, run_id: str, path: str = "",
                           dst_path: str | None = None) -> str:
        """Local path of an artifact (copied to ``dst_path`` when given)."""
        import shutil

        src = _artifacts.resolve(self._artifact_root(run_id), path)
        if not src.exists():
            raise FileNotFoundError(f"run {run_id} has no artifact {path!r}")
        if dst_path is None:
            return str(src)
        # As MLflow: the whole run's artifacts land in dst_path itself, a sub-path in
        # dst_path/<its last part>.
        dest = Path(dst_path) / src.name if path.strip("/") else Path(dst_path)
        if src.is_dir():
            shutil.copytree(src, dest, dirs_exist_ok=True)
        else:
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest)
        return str(dest)

    # -- the rest of MLflow's MlflowClient surface (issue 14) ------------------------------

    def set_experiment_tags(self, experiment_id: str, tags: dict[str, Any]) -> None:
        """Set several tags of an experiment at once (values stored as strings)."""
        self.get_experiment(experiment_id)
        data = {}
        for k, val in tags.items():
            v.check_name("tag", k)
            data[k] = v.experiment_tag_value(val, k)
        if data:
            self._store.session.record("experiment_tags", exp=str(experiment_id), data=data)

    def delete_experiment_tag(self, experiment_id: str, key: str) -> None:
        """Delete a tag of an experiment.

        Raises
        ------
        ExperimentNotFoundError
            No experiment has this id.
        TagNotFoundError
            The experiment has no tag ``key`` (as MLflow, which raises
            "No tag with name: ... in experiment with id ...").
        """
        exp = self.get_experiment(experiment_id)
        if key not in exp.tags:
            raise TagNotFoundError(f"no tag named {key!r} in experiment {experiment_id!r} "
                                   f"(its tags: {sorted(exp.tags)})")
        self._store.session.record("experiment_tags", exp=str(experiment_id),
                                   data={key: None})  # None deletes (store/fold.py)

    def log_stream(self, run_id: str, stream: Any, artifact_file: str) -> None:
        """Save the bytes read from a binary file-like ``stream`` as ``artifact_file``."""
        data = stream.read()
        if isinstance(data, str):
            raise InvalidValueError(f"log_stream needs a binary stream (open(..., 'rb'), "
                                    f"io.BytesIO), got a text stream {type(stream).__name__}")
        _artifacts.put_bytes(self._artifact_root(run_id), artifact_file, bytes(data))
    def log_table(self, run_id: str, data: Any, artifact_file: str) -> None:
        """Save a DataFrame or dict as a table artifact (``.json`` or ``.parquet``), as
        MLflow: logging again to the same file appends rows; the run's tag
        ``mlflow.loggedArtifacts`` lists its tables."""
        from . import tables

        tables.log_table(self, run_id, data, artifact_file)

    def load_table(self, experiment_id: str, artifact_file: str,
                   run_ids: list[str] | None = None,
                   extra_columns: list[str] | None = None) -> pd.DataFrame:
        """The table ``artifact_file`` of every run of ``experiment_id`` that logged it
        (or of ``run_ids``), newest run first; ``extra_columns`` adds search_runs columns
        (e.g. ``"run_id"``) to each run's rows. Raises ``RunNotFoundError`` when no run
        has the table."""
        from . import tables

        return tables.load_table(self, experiment_id, artifact_file, run_ids, extra_columns)



def _page_start(page_token: str | None) -> int:
    if not page_token:
        return 0
    if not (isinstance(page_token, str) and page_token.isdigit()):
        raise InvalidValueError(f"page_token must be the .token of an earlier page, got "
                                f"{page_token!r}")
    return int(page_token)


def _page_size(max_results: Any) -> int:
    if isinstance(max_results, bool) or not isinstance(max_results, int) or max_results < 1:
        raise InvalidValueError(f"max_results must be a positive integer or None, got "
                                f"{max_results!r}")
    return max_results


def _paged(items: list[Any], start: int, max_results: int | None) -> PagedList[Any]:
    """The page of ``items`` (fetched one past the page: that one proves a next page)."""
    if max_results is None or len(items) <= max_results:
        return PagedList(items, None)
    return PagedList(items[:max_results], str(start + max_results))


def __getattr__(name: str) -> Any:
    # `from mlflow.tracking.client import MlflowClient`: the full client, found on first use
    if name == "MlflowClient":
        from ..client import Client

        return Client
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
