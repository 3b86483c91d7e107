"""``LoggedModelClientMixin``: MLflow 3's logged-model methods of ``MlflowClient``.

Mixed into the public ``trackbook.Client`` (``trackbook/client.py``), which supplies
``self._store``; ``trackbook.tracking`` stays free of model imports. As MLflow's client:
``create_logged_model`` adds only the tags it is given (the fluent
``initialize_logged_model`` adds the user and source tags), and methods that change a
model first check that it exists (a deleted model does not).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from ..tracking.entities import PagedList
from ._errors import UnsupportedArgumentError

if TYPE_CHECKING:
    from .logged_model import LoggedModel

#: MLflow's default page size of ``search_logged_models``.
SEARCH_MAX_RESULTS_DEFAULT = 100


def _logged() -> Any:
    from . import logged  # on first use: building a Client stays cheap

    return logged


def _check_id(model_id: Any) -> str:
    if not model_id:
        raise UnsupportedArgumentError(f"`model_id` must be a non-empty string, but got "
                                       f"{model_id!r}")
    return _logged().check_model_id(model_id)


class LoggedModelClientMixin:
    """Create, change, search and fill MLflow 3 logged models (``models:/m-<id>``)."""

    _store: Any

    def create_logged_model(self, experiment_id: str, name: str | None = None,
                            source_run_id: str | None = None,
                            tags: dict[str, str] | None = None,
                            params: dict[str, str] | None = None,
                            model_type: str | None = None) -> LoggedModel:
        """A new PENDING logged model in ``experiment_id`` (a random name when None);
        log files into it with :meth:`log_model_artifacts`, then
        :meth:`finalize_logged_model`."""
        from .._errors import ExperimentNotFoundError
        from ..tracking import query
        from ..tracking.runstate import state_of

        if query.experiment(self._store, experiment_id=str(experiment_id)) is None:
            raise ExperimentNotFoundError(f"no experiment with id {experiment_id!r}")
        if source_run_id is not None:
            state_of(self._store, source_run_id)  # raises RunNotFoundError
        return _logged().create(self._store, experiment_id=str(experiment_id), name=name,
                             source_run_id=source_run_id, tags=tags, params=params,
                             model_type=model_type)

    def get_logged_model(self, model_id: str) -> LoggedModel:
        """The logged model ``model_id`` with its tags, params and metrics.

        Raises
        ------
        LoggedModelNotFoundError
            If the store has no such model (or it was deleted).
        """
        return _logged().get(self._store, _check_id(model_id))

    def delete_logged_model(self, model_id: str) -> None:
        """Delete the logged model: ``get`` and ``search`` no longer see it."""
        self.get_logged_model(model_id)
        _logged().delete(self._store, model_id)

    def finalize_logged_model(self, model_id: str, status: Any) -> LoggedModel:
        """Set the model's status to READY or FAILED (str or ``LoggedModelStatus``)."""
        self.get_logged_model(model_id)
        _logged().finalize(self._store, model_id, status)
        return self.get_logged_model(model_id)

    def set_logged_model_tags(self, model_id: str, tags: dict[str, Any]) -> None:
        """Set tags on the model (values become strings)."""
        self.get_logged_model(model_id)
        _logged().set_tags(self._store, model_id, tags)

    def delete_logged_model_tag(self, model_id: str, key: str) -> None:
        self.get_logged_model(model_id)
        _logged().delete_tag(self._store, model_id, key)

    def log_model_params(self, model_id: str, params: dict[str, str]) -> None:
        """Log params to the model (a key keeps its first value, as run params do)."""
        self.get_logged_model(model_id)
        _logged().log_params(self._store, model_id, params)

    def search_logged_models(self, experiment_ids: list[str],
                             filter_string: str | None = None,
                             datasets: list[dict[str, Any]] | None = None,
                             max_results: int | None = None,
                             order_by: list[dict[str, Any]] | None = None,
                             page_token: str | None = None) -> PagedList[LoggedModel]:
        """A page (``max_results``, default 100, as is 0) of the logged models of ``experiment_ids``
        matching ``filter_string``, newest first unless ``order_by``; ``.token`` reads the
        next page."""
        from . import logged_search

        if not isinstance(experiment_ids, list) or not all(
                isinstance(e, str) for e in experiment_ids):
            raise UnsupportedArgumentError(f"experiment_ids must be a list of strings, got "
                                           f"{type(experiment_ids).__name__}")
        if max_results is not None and (isinstance(max_results, bool)
                                        or not isinstance(max_results, int) or max_results < 0):
            raise UnsupportedArgumentError(f"max_results must be a non-negative int, got "
                                           f"{max_results!r}")
        start = _offset(page_token)
        size = max_results or SEARCH_MAX_RESULTS_DEFAULT
        found = logged_search.search(self._store, experiment_ids, filter_string, datasets,
                                     start + size + 1, order_by)
        page = found[start:start + size]
        more = len(found) > start + size
        return PagedList(page, str(start + size) if more else None)

    # -- files ------------------------------------------------------------------------------

    def _model_root(self, model_id: str) -> Any:
        self.get_logged_model(model_id)
        return self._store.layout.logged_model_artifacts(model_id)

    def log_model_artifact(self, model_id: str, local_path: str | os.PathLike[str],
                           artifact_path: str | None = None) -> None:
        """Copy a local file into the model's artifacts (under ``artifact_path``)."""
        from ..store import artifacts

        artifacts.put_file(self._model_root(model_id), local_path, artifact_path)

    def log_model_artifacts(self, model_id: str, local_dir: str | os.PathLike[str],
                            artifact_path: str | None = None) -> None:
        """Copy a local folder's contents into the model's artifacts."""
        from ..store import artifacts

        artifacts.put_dir(self._model_root(model_id), local_dir, artifact_path)

    def list_logged_model_artifacts(self, model_id: str,
                                    path: str | None = None) -> list[Any]:
        """The model's files and folders directly under ``path`` (``FileInfo``; empty when
        ``path`` does not exist)."""
        from ..store import artifacts

        try:
            return artifacts.list_dir(self._model_root(model_id), path)
        except FileNotFoundError:
            return []


def _offset(page_token: str | None) -> int:
    if not page_token:
        return 0
    if not page_token.isdigit():
        raise UnsupportedArgumentError(
            f"page_token must be the .token of an earlier page, got {page_token!r}")
    return int(page_token)

