"""MLflow 3's logged models in a trackbook store: create, change, read and search them.

A logged model's files live in ``<store>/models/m-<id>/artifacts`` (MLflow's file store
keeps them in ``<experiment>/models/m-<id>/artifacts``); what it is (name, experiment,
source run, type, status, tags, params, metrics linked to it) is recorded as ``model_*``
records in the writer's own metadata log and folded into the catalog like run records
(:mod:`trackbook.store.fold_models`). So a training process never opens DuckDB, any number
of processes can log models at once, and a damaged log line loses one change of one model.
"""

from __future__ import annotations

import dataclasses
import os
import re
import uuid
import weakref
from collections.abc import Mapping
from typing import Any

from ..tracking import validation as v
from ._errors import LoggedModelNotFoundError, UnsupportedArgumentError
from .logged_model import LoggedModel, LoggedModelStatus

MODEL_ID_RE = re.compile(r"m-[0-9a-f]{32}")
IS_EXTERNAL_TAG = "mlflow.model.isExternal"  # MLflow's tag of a model kept outside MLflow


# The models this process created, per writer session, kept current by its own records:
# logging into one of them (autolog's model_id=) reads it from here, not from the catalog.
_mine: weakref.WeakKeyDictionary[Any, dict[str, LoggedModel]] = weakref.WeakKeyDictionary()


# model id -> (key, timestamp, step, run) of the points this process linked to its own models
_linked: weakref.WeakKeyDictionary[Any, dict[str, set[tuple[Any, ...]]]] = \
    weakref.WeakKeyDictionary()


def _own(store: Any, model_id: str) -> LoggedModel | None:
    return _mine.get(store.session, {}).get(model_id)


def note_linked(store: Any, model_id: str, run_id: str | None,
                points: list[tuple[Any, ...]]) -> None:
    """Remember points (key, value, step, timestamp, ...) just linked to ``model_id``, when
    this process created it (see :func:`linked_points`)."""
    if _own(store, model_id) is not None:
        seen = _linked.setdefault(store.session, {}).setdefault(model_id, set())
        seen.update((p[0], p[3], p[2], run_id) for p in points)


def linked_points(store: Any, model_id: str) -> set[tuple[Any, ...]]:
    """(key, timestamp, step, run) of every point linked to ``model_id``: from this
    process's own records when it created the model, else from the catalog."""
    if _own(store, check_model_id(model_id)) is not None:
        return set(_linked.get(store.session, {}).get(model_id, ()))
    return {(m.key, m.timestamp, m.step, m.run_id) for m in get(store, model_id).metrics or []}


def new_model_id() -> str:
    return f"m-{uuid.uuid4().hex}"


def check_model_id(model_id: Any) -> str:
    if not isinstance(model_id, str) or not MODEL_ID_RE.fullmatch(model_id):
        raise LoggedModelNotFoundError(
            f"no logged model with id {model_id!r}: a logged model id is 'm-' and 32 hex "
            "digits, e.g. ModelInfo.model_id from log_model")
    return model_id


def _strs(kind: str, d: Mapping[str, Any] | None) -> dict[str, str]:
    if d is None:
        return {}
    if not isinstance(d, Mapping):
        raise UnsupportedArgumentError(f"{kind} must be a dict of str to values, got "
                                       f"{type(d).__name__}")
    return {v.check_name(kind[:-1] if kind.endswith("s") else kind, k):
            v.tag_value(val, k) for k, val in d.items()}


def _status(status: Any) -> LoggedModelStatus:
    try:
        return LoggedModelStatus(status.value if isinstance(status, LoggedModelStatus)
                                 else str(status).upper())
    except ValueError:
        raise UnsupportedArgumentError(
            f"status must be 'READY' or 'FAILED' (or a LoggedModelStatus), got "
            f"{status!r}") from None


def context_tags() -> dict[str, str]:
    """The tags MLflow puts on a new logged model: user, source and its git state."""
    from ..tracking import context

    tags = {"mlflow.user": context.user_name(), **context.source_info()}
    source = tags.get("mlflow.source.name", "")
    if os.path.isabs(source):
        tags.update((k, v) for k, v in context.git_info(os.path.dirname(source)).items()
                    if k.startswith("mlflow.source.git."))
    return tags


def create(store: Any, *, experiment_id: str, name: str | None = None,
           source_run_id: str | None = None, tags: Mapping[str, Any] | None = None,
           params: Mapping[str, Any] | None = None, model_type: str | None = None,
           status: LoggedModelStatus = LoggedModelStatus.PENDING) -> LoggedModel:
    """Record a new logged model in ``store``; return it (status PENDING unless told)."""
    from ..store.events import now_ms

    if name is None:
        from ..tracking.client import generate_run_name

        name = generate_run_name()
    name = v.check_name("model", name)
    if model_type is not None and not isinstance(model_type, str):
        raise UnsupportedArgumentError(f"model_type must be a str, got "
                                       f"{type(model_type).__name__}")
    tag_d, param_d = _strs("tags", tags), _strs("params", params)
    model_id = new_model_id()
    location = str(store.layout.logged_model_artifacts(model_id))
    t = now_ms()
    store.session.record("model_create", model=model_id, exp=str(experiment_id), name=name,
                         source_run=source_run_id, model_type=model_type,
                         artifact_location=location, status=status.value, tags=tag_d,
                         params=param_d, t=t)
    model = LoggedModel(experiment_id=str(experiment_id), model_id=model_id, name=name,
                        artifact_location=location, creation_timestamp=t,
                        last_updated_timestamp=t, model_type=model_type,
                        source_run_id=source_run_id, status=status, tags=tag_d,
                        params=param_d, metrics=[])
    _mine.setdefault(store.session, {})[model_id] = dataclasses.replace(
        model, tags=dict(tag_d), params=dict(param_d))
    return model


def finalize(store: Any, model_id: str, status: Any, message: str | None = None) -> None:
    st = _status(status)
    if st not in (LoggedModelStatus.READY, LoggedModelStatus.FAILED):
        raise UnsupportedArgumentError(f"a logged model is finalized as READY or FAILED, "
                                       f"got {st.value}")
    store.session.record("model_status", model=check_model_id(model_id), status=st.value,
                         message=message)
    if (own := _own(store, model_id)) is not None:
        own.status, own.status_message = st, message


def set_tags(store: Any, model_id: str, tags: Mapping[str, Any]) -> None:
    data = _strs("tags", tags)
    store.session.record("model_tags", model=check_model_id(model_id), data=data)
    if (own := _own(store, model_id)) is not None:
        own.tags.update(data)


def delete_tag(store: Any, model_id: str, key: str) -> None:
    key = v.check_name("tag", key)
    store.session.record("model_del_tag", model=check_model_id(model_id), key=key)
    if (own := _own(store, model_id)) is not None:
        own.tags.pop(key, None)


def log_params(store: Any, model_id: str, params: Mapping[str, Any]) -> None:
    data = _strs("params", params)
    store.session.record("model_params", model=check_model_id(model_id), data=data)
    if (own := _own(store, model_id)) is not None:
        own.params.update(data)


def delete(store: Any, model_id: str) -> None:
    store.session.record("model_delete", model=check_model_id(model_id))
    _mine.get(store.session, {}).pop(model_id, None)
    _linked.get(store.session, {}).pop(model_id, None)


def log_output(store: Any, run_id: str, model_id: str, step: int) -> None:
    """Record ``model_id`` as an output of ``run_id`` at ``step`` (``run.outputs``); the
    run's metrics logged at ``step`` from now on link to it (as MLflow 3's fluent API)."""
    from ..tracking.runstate import state_of

    store.session.record("model_output", run=run_id, model=model_id, step=step)
    st = state_of(store, run_id)
    at = st.outputs.setdefault(step, [])
    if model_id not in at:
        at.append(model_id)
    if st.links is not None:
        st.links.add(("model", model_id))


# -- reading ------------------------------------------------------------------------------

_COLS = ("model_id, experiment_id, name, source_run_id, artifact_location, model_type, "
         "status, status_message, creation_timestamp, last_updated_timestamp")


def current(store: Any, model_id: str) -> LoggedModel:
    """Logged model ``model_id`` without its metrics: from this process's own records when
    it created the model (a training process never opens the catalog), else :func:`get`."""
    own = _own(store, check_model_id(model_id))
    if own is None:
        return get(store, model_id)
    return dataclasses.replace(own, tags=dict(own.tags), params=dict(own.params), metrics=[])


def get(store: Any, model_id: str) -> LoggedModel:
    """The logged model ``model_id`` of ``store``, with its tags, params and metrics."""
    check_model_id(model_id)
    with store.connect() as con:
        found = _read(con, [model_id], deleted=False)
    if not found:
        raise LoggedModelNotFoundError(f"no logged model with id {model_id!r} in store "
                                       f"{store.root}")
    return found[0]


def _read(con: Any, model_ids: list[str] | None, deleted: bool = False,
          where: str = "TRUE", params: list[object] | None = None,
          order: str = "lm.creation_timestamp DESC, lm.model_id",
          order_params: list[object] | None = None,
          limit: int | None = None) -> list[LoggedModel]:
    """Logged models (all, or ``model_ids``) with their tags, params and metrics; the
    first ``limit`` by ``order`` (SQL fragments built by the callers, values in
    ``params`` and ``order_params``)."""
    sql = (f"SELECT {_COLS} FROM logged_models lm WHERE lm.deleted = ? "  # noqa: S608
           f"AND ({where})")
    args: list[object] = [1 if deleted else 0, *(params or [])]
    if model_ids is not None:
        sql += " AND list_contains(?, lm.model_id)"
        args.append(list(model_ids))
    sql += f" ORDER BY {order}"
    args += order_params or []
    if limit is not None:
        sql += " LIMIT ?"
        args.append(limit)
    rows = con.execute(sql, args).fetchall()
    if not rows:
        return []
    ids = [r[0] for r in rows]
    tags = _pairs(con, "logged_model_tags", ids)
    params_ = _pairs(con, "logged_model_params", ids)
    metrics = model_metrics(con, ids)
    return [LoggedModel(model_id=r[0], experiment_id=r[1], name=r[2], source_run_id=r[3],
                        artifact_location=r[4], model_type=r[5],
                        status=LoggedModelStatus(r[6]), status_message=r[7],
                        creation_timestamp=r[8], last_updated_timestamp=r[9],
                        tags=tags.get(r[0], {}), params=params_.get(r[0], {}),
                        metrics=metrics.get(r[0]) or None) for r in rows]


def _pairs(con: Any, table: str, ids: list[str]) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for mid, k, val in con.execute(
            f"SELECT model_id, key, value FROM {table} "  # noqa: S608 - a constant table
            "WHERE list_contains(?, model_id) ORDER BY key", [ids]).fetchall():
        out.setdefault(mid, {})[k] = val
    return out


def model_metrics(con: Any, ids: list[str]) -> dict[str, list[Any]]:
    """Each model's metrics: points logged with its ``model_id``, then its source runs'
    points at the step the model was output at (as MLflow links them), oldest first."""
    from ..tracking.entities import Metric

    out: dict[str, list[Any]] = {}
    for mid, key, val, step, ts, run_id, dsn, dsd in con.execute(
            "SELECT model_id, key, value, step, timestamp, run_id, dataset_name, "
            "dataset_digest FROM logged_model_metrics WHERE list_contains(?, model_id) "
            "ORDER BY timestamp, seq", [ids]).fetchall():
        out.setdefault(mid, []).append(Metric(key, val, ts, step, dsn, dsd, run_id, mid))
    return out
