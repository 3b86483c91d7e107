"""``RegistryClientMixin``: MLflow's model registry methods for ``trackbook.Client``.

Mixed into the public ``trackbook.Client`` (``trackbook/client.py``), which supplies
``self._store`` and the tracking methods (``get_run`` for lineage).
"""

from __future__ import annotations

from typing import Any, TypeVar

from ..tracking.entities import PagedList
from . import _names as n
from ._registry import Registry, registry_for
from .entities import STAGES, ModelVersion, PromotionEntry, RegisteredModel
from .errors import InvalidRegistryNameError
from .search import MODEL_KEYS, VERSION_KEYS, compile_filter

T = TypeVar("T")


def run_id_of(model_uri: str) -> str | None:
    """The run id inside a ``runs:/<run_id>/<path>`` URI, else None."""
    if not model_uri.startswith("runs:"):
        return None
    return model_uri[len("runs:"):].lstrip("/").partition("/")[0] or None


class RegistryClientMixin:
    """Registered models, versions, stages, aliases, the promotion log and rollback."""

    _store: Any

    @property
    def _registry(self) -> Registry:
        return registry_for(self._store.root)

    # -- registered models ---------------------------------------------------------------

    def create_registered_model(self, name: str, tags: dict[str, Any] | None = None,
                                description: str | None = None,
                                deployment_job_id: str | None = None) -> RegisteredModel:
        """Register a new model name; raise ``RegisteredModelExistsError`` if taken."""
        _no_deployment_job(deployment_job_id)
        return self._registry.create_model(name, description, tags)

    def get_registered_model(self, name: str) -> RegisteredModel:
        """The registered model with its latest version per stage and its aliases."""
        return self._registry.model(name)

    def search_registered_models(self, filter_string: str | None = None,
                                 max_results: int | None = None,
                                 order_by: list[str] | None = None,
                                 page_token: str | None = None) -> PagedList[RegisteredModel]:
        """Registered models matching e.g. ``"name LIKE 'churn%'"`` or ``"tags.team = 'x'"``,
        by name (``order_by=["name DESC"]`` or ``["last_updated_timestamp DESC"]``).

        With ``max_results``, the result's ``.token`` is the ``page_token`` of the next page
        (None on the last one), as in MLflow."""
        pred = compile_filter(filter_string, MODEL_KEYS)
        models = [m for m in self._registry.models() if pred({"name": m.name, "tags": m.tags})]
        return _page(_order(models, order_by, "name"), max_results, page_token)

    def rename_registered_model(self, name: str, new_name: str) -> RegisteredModel:
        """Rename a registered model (MLflow semantics): its versions, aliases, tags and
        promotion log move with it; the log gets a ``rename`` entry, and ``models:/<name>/...``
        then fails with an error naming ``new_name``.

        A name that a model had, or that a deleted model had, is not given to another model
        (its history keeps it): renaming back is fine, reusing it elsewhere is refused.

        Examples
        --------
        >>> c.rename_registered_model("churn", "churn-model")                 # doctest: +SKIP
        >>> c.get_model_version_history("churn-model")[-1].action
        'rename'
        """
        return self._registry.rename_model(name, new_name)

    def update_registered_model(self, name: str, description: str | None = None,
                                deployment_job_id: str | None = None) -> RegisteredModel:
        """Set the model's description."""
        _no_deployment_job(deployment_job_id)
        return self._registry.update_model(name, description)

    def delete_registered_model(self, name: str, force: bool = False) -> None:
        """Delete a model and its versions; refused while an alias or Staging/Production
        points at one of them, unless ``force``."""
        self._registry.delete_model(name, force=force)

    def set_registered_model_tag(self, name: str, key: str, value: Any) -> None:
        self._registry.set_model_tag(name, key, value)

    def delete_registered_model_tag(self, name: str, key: str) -> None:
        self._registry.delete_model_tag(name, key)

    # -- versions ------------------------------------------------------------------------

    def create_model_version(self, name: str, source: str, run_id: str | None = None,
                             tags: dict[str, Any] | None = None, run_link: str | None = None,
                             description: str | None = None,
                             await_creation_for: int | None = None,
                             model_id: str | None = None) -> ModelVersion:
        """Add a version of an existing registered model (distinct, consecutive numbers
        even when several processes register at once). ``await_creation_for`` is accepted
        for MLflow compatibility: creation is immediate.

        ``model_id`` (MLflow 3) records the logged model the version comes from
        (``ModelVersion.model_id``); as in MLflow, the run defaults to that model's source
        run, or for a ``models:/m-<id>`` source to that model's.

        Raises
        ------
        LoggedModelNotFoundError
            If ``model_id``, or the model a ``models:/m-<id>`` source names, does not exist.
        """
        del await_creation_for
        if not isinstance(source, str) or not source:
            raise InvalidRegistryNameError(f"source must be a model URI or path, got {source!r}")
        run_id = run_id or run_id_of(source)
        if model_id is not None or source.startswith("models:"):
            from ..models import logged

            ref = source[len("models:"):].lstrip("/")
            if logged.MODEL_ID_RE.fullmatch(ref):
                run_id = run_id or logged.get(self._store, ref).source_run_id
            if model_id is not None:
                run_id = run_id or logged.get(
                    self._store, logged.check_model_id(model_id)).source_run_id
        return self._registry.create_version(name, source, run_id, tags, description, run_link,
                                             model_id=model_id)

    def get_model_version(self, name: str, version: Any) -> ModelVersion:
        """One version; ``.run_id`` is its source run, ``.aliases`` the aliases on it."""
        return self._registry.version(name, version)

    def get_model_version_download_uri(self, name: str, version: Any) -> str:
        """Where the version's files are: for a ``runs:/`` source, the run's artifact folder
        as a ``file://`` URI; a ``models:/`` source is followed first; other sources are
        returned as they are."""
        from .uri import resolve_model_uri

        source = self._registry.version(name, version).source
        if source.startswith("models:"):
            source = resolve_model_uri(source, self._store.root.as_uri())
        run_id = run_id_of(source)
        if run_id is None:
            return source
        from ..store import artifacts

        path = source[len("runs:"):].lstrip("/").partition("/")[2].strip("/")
        return artifacts.resolve(self._store.artifact_root(run_id), path).resolve().as_uri()

    def copy_model_version(self, src_model_uri: str, dst_name: str) -> ModelVersion:
        """Copy the version ``src_model_uri`` (``models:/name/3``, ``models:/name@alias``,
        ...) to a new version of ``dst_name`` (created if needed), with its source run,
        description and tags. The copy points at the same files as the original (its
        ``source`` is the original's source, not a ``models:/`` URI, so renaming or deleting
        the original never breaks it)."""
        from .uri import resolve_version

        src = resolve_version(src_model_uri, self._store.root.as_uri())
        self._registry.create_model(dst_name, exist_ok=True)
        return self._registry.create_version(dst_name, src.source, src.run_id, src.tags,
                                             src.description, src.run_link)

    def get_model_version_stages(self, name: str, version: Any) -> list[str]:
        """The stages a version can be moved to (all four, as in MLflow)."""
        self._registry.version(name, version)
        return list(STAGES)

    def search_model_versions(self, filter_string: str | None = None,
                              max_results: int | None = None,
                              order_by: list[str] | None = None,
                              page_token: str | None = None) -> PagedList[ModelVersion]:
        """Versions matching e.g. ``"name = 'churn'"``, ``"run_id = '...'"`` or
        ``"tags.validated = 'yes'"``; by name, newest first unless ``order_by`` says
        otherwise (e.g. ``["creation_timestamp DESC"]``). Pages as in
        :meth:`search_registered_models`."""
        pred = compile_filter(filter_string, VERSION_KEYS)
        out = [mv for mv in self._registry.all_versions()
               if pred({"name": mv.name, "run_id": mv.run_id, "source": mv.source,
                        "version": mv.version, "current_stage": mv.current_stage,
                        "tags": mv.tags})]
        if order_by:
            out = _order(out, order_by, "version")
        else:
            out.sort(key=lambda mv: (mv.name, -mv.version))
        return _page(out, max_results, page_token)

    def update_model_version(self, name: str, version: Any,
                             description: str | None = None) -> ModelVersion:
        return self._registry.update_version(name, version, description)

    def delete_model_version(self, name: str, version: Any, force: bool = False) -> None:
        """Delete a version (its number is never reused); refused while an alias or
        Staging/Production points at it, unless ``force`` (which also drops its aliases)."""
        self._registry.delete_version(name, version, force=force)

    def set_model_version_tag(self, name: str, version: Any = None, key: str | None = None,
                              value: Any = None, stage: str | None = None) -> None:
        """Set a tag of a version, given by number or (as in MLflow) by ``stage``: the
        newest version in that stage."""
        self._registry.set_version_tag(name, self._version_or_stage(name, version, stage),
                                       key, value)

    def delete_model_version_tag(self, name: str, version: Any = None, key: str | None = None,
                                 stage: str | None = None) -> None:
        """Delete a tag of a version (by number or ``stage``, as ``set_model_version_tag``)."""
        self._registry.delete_version_tag(name, self._version_or_stage(name, version, stage),
                                          key)

    def _version_or_stage(self, name: str, version: Any, stage: str | None) -> int:
        if (version is None) == (stage is None):
            raise InvalidRegistryNameError(
                f"give exactly one of version and stage, got version={version!r}, "
                f"stage={stage!r}")
        if version is not None:
            return n.check_version(version)
        return self._registry.latest(name, stage).version

    def get_latest_versions(self, name: str,
                            stages: list[str] | None = None) -> list[ModelVersion]:
        """The newest version in each of ``stages`` (default: every stage that has one)."""
        st = self._registry.state(name)
        wanted = [n.check_stage(s) for s in stages] if stages else list(STAGES)
        return [st.entity(v) for s in wanted if (v := st.latest_in(s)) is not None]

    # -- promotions ----------------------------------------------------------------------

    def transition_model_version_stage(self, name: str, version: Any, stage: str,
                                       archive_existing_versions: bool = False,
                                       comment: str | None = None) -> ModelVersion:
        """Move a version to None/Staging/Production/Archived (logged; see
        ``get_model_version_history``)."""
        return self._registry.transition_stage(name, version, stage,
                                               archive_existing_versions, comment)

    def set_registered_model_alias(self, name: str, alias: str, version: Any,
                                   comment: str | None = None) -> None:
        """Point ``alias`` at ``version``; an alias names one version at a time, so this
        moves it atomically from wherever it was."""
        self._registry.set_alias(name, alias, version, comment)

    def delete_registered_model_alias(self, name: str, alias: str,
                                      comment: str | None = None) -> None:
        self._registry.delete_alias(name, alias, comment)

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        return self._registry.by_alias(name, alias)

    def get_model_version_history(self, name: str) -> list[PromotionEntry]:
        """The promotion log of ``name``, oldest first: every stage change, alias move and
        rollback with user, timestamp, from -> to and comment."""
        return self._registry.history(name)

    def rollback(self, name: str, alias_or_stage: str,
                 comment: str | None = None) -> ModelVersion:
        """Return an alias (``"champion"``) or stage (``"Production"``) to its previous
        holder; returns the restored version."""
        return self._registry.rollback(name, alias_or_stage, comment)

    # -- lineage -------------------------------------------------------------------------

    def get_model_version_lineage(self, name: str, version: Any) -> dict[str, Any]:
        """Where a version came from: its source, run id, experiment, run name, params and
        latest metrics (run fields are None when it was not registered from a run)."""
        mv = self._registry.version(name, version)
        out: dict[str, Any] = {"name": mv.name, "version": mv.version, "source": mv.source,
                               "run_id": mv.run_id, "experiment_id": None, "run_name": None,
                               "params": {}, "metrics": {}}
        if mv.run_id:
            run = self.get_run(mv.run_id)  # type: ignore[attr-defined]
            out.update(experiment_id=run.info.experiment_id, run_name=run.info.run_name,
                       params=dict(run.data.params), metrics=dict(run.data.metrics))
        return out


def _no_deployment_job(job_id: str | None) -> None:
    if job_id is not None:
        raise InvalidRegistryNameError(
            f"deployment_job_id={job_id!r}: deployment jobs are a Databricks feature that "
            "trackbook does not have; leave it None")


def _page(items: list[T], max_results: int | None, page_token: str | None) -> PagedList[T]:
    start = 0
    if page_token:
        if not page_token.isdigit():
            raise InvalidRegistryNameError(
                f"page_token must be the .token of an earlier page, got {page_token!r}")
        start = int(page_token)
    if max_results is not None and (isinstance(max_results, bool)
                                    or not isinstance(max_results, int) or max_results < 1):
        raise InvalidRegistryNameError(
            f"max_results must be a positive integer or None, got {max_results!r}")
    end = len(items) if max_results is None else start + max_results
    return PagedList(items[start:end], str(end) if end < len(items) else None)


_ORDERABLE = ("name", "version", "creation_timestamp", "last_updated_timestamp")


def _order(items: list[Any], order_by: list[str] | None, default: str) -> list[Any]:
    items = sorted(items, key=lambda x: getattr(x, default))
    for clause in reversed(order_by or []):
        field, _, direction = clause.strip().partition(" ")
        field = {"version_number": "version", "timestamp": "last_updated_timestamp"}.get(
            field, field)
        direction = direction.strip().upper()
        if field not in _ORDERABLE or (items and not hasattr(items[0], field)) \
                or direction not in ("", "ASC", "DESC"):
            raise InvalidRegistryNameError(
                f"cannot order by {clause!r}; use name, version_number (versions only), "
                "creation_timestamp or last_updated_timestamp, then ASC or DESC")
        items.sort(key=lambda x: getattr(x, field), reverse=direction == "DESC")
    return items
