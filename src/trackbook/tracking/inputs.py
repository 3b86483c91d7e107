"""A run's dataset inputs (MLflow's ``log_inputs``): checked and recorded, read back as
``run.inputs`` (the record and its fold: :mod:`trackbook.store.fold_inputs`); and its
logged-model outputs, read back as ``run.outputs``."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .._errors import InvalidValueError
from .._text import check_text
from .entities import (
    Dataset,
    DatasetInput,
    InputTag,
    LoggedModelInput,
    LoggedModelOutput,
    RunInputs,
    RunOutputs,
)

if TYPE_CHECKING:
    import duckdb

    from ..store.store import Store
    from .runstate import RunState

# MLflow's limits (mlflow/utils/validation.py), so what MLflow refuses trackbook refuses.
MAX_DATASETS_PER_BATCH = 1000
MAX_NAME = 500
MAX_DIGEST = 36
MAX_SOURCE = 65535
MAX_SCHEMA = 1048575
MAX_PROFILE = 16777215
MAX_TAG_KEY = 255
MAX_TAG_VALUE = 500


def _text(what: str, value: Any, limit: int, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise InvalidValueError(f"{what} must be a string, got {type(value).__name__} "
                                f"{value!r:.80}")
    return check_text(what, value, limit)


def dataset_record(di: Any) -> dict[str, Any]:
    if not isinstance(di, DatasetInput):
        raise InvalidValueError(
            f"log_inputs takes trackbook.entities.DatasetInput objects (dataset inputs), got "
            f"{type(di).__name__}; build one with DatasetInput(dataset._to_mlflow_entity(), "
            "tags=[...]) or call log_input(dataset, context=...)")
    ds = di.dataset
    if not isinstance(ds, Dataset):
        raise InvalidValueError(f"a DatasetInput needs a trackbook.entities.Dataset, got "
                                f"{type(ds).__name__}")
    name = ds.name
    out: dict[str, Any] = {
        "name": _text("dataset name", name, MAX_NAME),
        "digest": _text(f"digest of dataset {name!r}", ds.digest, MAX_DIGEST),
        "source_type": _text(f"source_type of dataset {name!r}", ds.source_type, MAX_SOURCE),
        "source": _text(f"source of dataset {name!r}", ds.source, MAX_SOURCE),
        "schema": _text(f"schema of dataset {name!r}", ds.schema, MAX_SCHEMA, optional=True),
        "profile": _text(f"profile of dataset {name!r}", ds.profile, MAX_PROFILE,
                         optional=True),
    }
    tags = []
    for tag in di.tags or []:
        if not isinstance(tag, InputTag):
            raise InvalidValueError(f"dataset input tags must be InputTag objects, got "
                                    f"{type(tag).__name__} {tag!r:.80}")
        tags.append([_text(f"input tag key of dataset {name!r}", tag.key, MAX_TAG_KEY),
                     _text(f"input tag {tag.key!r} of dataset {name!r}", tag.value,
                           MAX_TAG_VALUE)])
    out["tags"] = tags
    return out


def record(store: Store, st: RunState, datasets: Sequence[Any] | None,
           models: Sequence[Any] | None) -> None:
    """Check and append one ``inputs`` record for the run (nothing when both are empty).

    A batch logging the same ``(name, digest)`` twice keeps the first (MLflow's rule)."""
    datasets = list(datasets or [])
    if len(datasets) > MAX_DATASETS_PER_BATCH:
        raise InvalidValueError(f"log_inputs takes at most {MAX_DATASETS_PER_BATCH} datasets "
                                f"at once, got {len(datasets)}")
    records: dict[tuple[str, str], dict[str, Any]] = {}
    for di in datasets:
        if di is None:
            continue
        rec = dataset_record(di)
        records.setdefault((rec["name"], rec["digest"]), rec)
    model_ids = []
    for m in models or []:
        if m is None:
            continue
        model_id = getattr(m, "model_id", None)
        if not isinstance(model_id, str) or not model_id:
            raise InvalidValueError(f"model inputs must be LoggedModelInput objects with a "
                                    f"model_id, got {type(m).__name__} {m!r:.80}")
        model_ids.append(model_id)
    if not records and not model_ids:
        return
    store.session.record("inputs", run=st.run_id, exp=st.experiment_id,
                         datasets=list(records.values()), models=model_ids)
    if st.links is not None:
        st.links.update(("dataset", key) for key in records)
        st.links.update(("model", m) for m in model_ids)


def fetch(con: duckdb.DuckDBPyConnection, run_ids: Sequence[str] | None
          ) -> dict[str, RunInputs]:
    """The inputs of each of ``run_ids`` (in the order they were logged); None: of the
    runs a search put in the temp table ``_sel`` (see ``query.stage_search``)."""
    out: dict[str, RunInputs] = {}
    if run_ids is not None and not run_ids:
        return out
    where, params = (("list_contains(?, {})", [list(run_ids)]) if run_ids is not None
                     else ("{} IN (SELECT run_id FROM _sel)", []))
    where_i = where.format("i.run_id")
    sql = ("SELECT i.run_id, i.name, i.digest, d.source_type, d.source, d.schema, "  # noqa: S608
           "d.profile, i.tags FROM run_inputs i JOIN datasets d "
           "ON d.experiment_id = i.experiment_id AND d.name = i.name AND d.digest = i.digest "
           f"WHERE {where_i} "
           "ORDER BY i.t, i.seq")
    for run_id, name, digest, source_type, source, schema, profile, tags in con.execute(
            sql, params).fetchall():
        pairs = json.loads(tags) if tags else []
        out.setdefault(run_id, RunInputs()).dataset_inputs.append(DatasetInput(
            Dataset(name, digest, source_type, source, schema, profile),
            [InputTag(k, v) for k, v in pairs]))
    for run_id, model_id in con.execute(
            "SELECT run_id, model_id FROM run_model_inputs "  # noqa: S608
            f"WHERE {where.format('run_id')} ORDER BY model_id", params).fetchall():
        out.setdefault(run_id, RunInputs()).model_inputs.append(LoggedModelInput(model_id))
    return out


def fetch_outputs(con: duckdb.DuckDBPyConnection, run_ids: Sequence[str] | None
                  ) -> dict[str, RunOutputs]:
    """The MLflow 3 logged models each of ``run_ids`` produced (``run.outputs``), oldest
    first; None: of the runs in the temp table ``_sel``, as :func:`fetch`. A deleted
    model stays an output, as in MLflow."""
    out: dict[str, RunOutputs] = {}
    if run_ids is not None and not run_ids:
        return out
    where, params = (("list_contains(?, o.run_id)", [list(run_ids)]) if run_ids is not None
                     else ("o.run_id IN (SELECT run_id FROM _sel)", []))
    for run_id, model_id, step in con.execute(
            "SELECT o.run_id, o.model_id, o.step FROM run_model_outputs o "  # noqa: S608
            "LEFT JOIN logged_models lm USING (model_id) "
            f"WHERE {where} ORDER BY lm.creation_timestamp NULLS LAST, o.model_id",
            params).fetchall():
        out.setdefault(run_id, RunOutputs()).model_outputs.append(
            LoggedModelOutput(model_id, int(step)))
    return out


def metric_dataset(dataset: Any) -> DatasetInput | None:
    """The run input a metric's ``dataset=`` makes: a ``trackbook.data`` dataset (or an
    MLflow one) or a ``trackbook.entities.Dataset``; None for None."""
    if dataset is None:
        return None
    if isinstance(dataset, Dataset):
        return DatasetInput(dataset, [])
    to_entity = getattr(dataset, "_to_mlflow_entity", None)
    if to_entity is None:
        raise InvalidValueError(
            f"dataset= takes a dataset from trackbook.data (from_pandas, from_numpy, "
            f"from_polars) or a trackbook.entities.Dataset, got {type(dataset).__name__}")
    e = to_entity()
    entity = e if isinstance(e, Dataset) else Dataset(e.name, e.digest, e.source_type,
                                                      e.source, e.schema, e.profile)
    return DatasetInput(entity, [])


def link_metric_inputs(store: Store, st: RunState, model_ids: Sequence[str],
                       dataset: DatasetInput | None) -> None:
    """What MLflow 3 logs with a metric: a model the run neither used nor produced becomes
    a model input, a dataset the run has not used a dataset input (without tags)."""
    from .runstate import links_of

    links = links_of(store, st)
    models = [m for m in dict.fromkeys(model_ids) if ("model", m) not in links]
    datasets = []
    if dataset is not None:
        key = ("dataset", (dataset.dataset.name, dataset.dataset.digest))
        if key not in links:
            datasets.append(dataset)
    if models or datasets:
        record(store, st, datasets, [LoggedModelInput(m) for m in models])
        links.update(("model", m) for m in models)
        links.update(("dataset", (d.dataset.name, d.dataset.digest)) for d in datasets)
