"""``search_logged_models``: MLflow's filter grammar (``tracking/search.py``'s parser, as
parameterized SQL) over the catalog's logged-model tables, with MLflow 3.17's rules:

- ``metrics.x > 0.5`` matches a model with any point of ``x`` above 0.5; with
  ``datasets=[{"dataset_name": ..., "dataset_digest": ...}]`` only points on those
  datasets count, and without a metric comparison a model needs a point on one of them.
- ``order_by=[{"field_name": "metrics.x", "ascending": False, "dataset_name": ...}]``
  sorts by the model's latest point of ``x`` (newest timestamp, then highest step; on
  that dataset if given); models without one come last. Then newest first, then id.
- ``status`` compares by name (``status = 'READY'``) or by MLflow's number (``= 2``).
"""

from __future__ import annotations

from typing import Any

from ..tracking.search import Target, compile_filter
from ._errors import UnsupportedArgumentError
from .logged import _read
from .logged_model import LoggedModel, LoggedModelStatus

#: MLflow's searchable logged-model attributes (-> compares numerically).
ATTRIBUTES: dict[str, bool] = {
    "name": False, "model_id": False, "model_type": False, "status": False,
    "source_run_id": False, "experiment_id": False, "artifact_location": False,
    "status_message": False, "creation_timestamp": True, "last_updated_timestamp": True,
}  # fmt: skip
_ALIASES = {"creation_time": "creation_timestamp", "last_updated_time": "last_updated_timestamp"}
_STATUS_NUMBERS = {str(s.to_int()): s.value for s in LoggedModelStatus}
_TABLES = {"param": ("logged_model_params", "p"), "tag": ("logged_model_tags", "t")}
MODELS = Target(ATTRIBUTES, {"metric": ("logged_model_metrics", "m"), **_TABLES}, "model_id",
                {"status": _STATUS_NUMBERS}, _ALIASES)
# the same, with only the points on the searched datasets (a temp table per search)
_ON_DATASETS = Target(ATTRIBUTES, {"metric": ("_lm_ds_metrics", "m"), **_TABLES}, "model_id",
                      {"status": _STATUS_NUMBERS}, _ALIASES)
_STATUS_ORDER = ("CASE lm.status WHEN 'UNSPECIFIED' THEN 0 WHEN 'PENDING' THEN 1 "
                 "WHEN 'READY' THEN 2 WHEN 'FAILED' THEN 3 END")


def search(store: Any, experiment_ids: list[str], filter_string: str | None,
           datasets: list[dict[str, Any]] | None, max_results: int | None,
           order_by: list[dict[str, Any]] | None) -> list[LoggedModel]:
    """Logged models of ``experiment_ids`` matching ``filter_string`` (and having points
    on ``datasets``), newest first unless ``order_by`` says otherwise; at most
    ``max_results``."""
    if max_results is not None and (isinstance(max_results, bool)
                                    or not isinstance(max_results, int) or max_results < 0):
        raise UnsupportedArgumentError(f"max_results must be a non-negative int, got "
                                       f"{max_results!r}")
    ds_sql, ds_params = _datasets(datasets)
    where, params = compile_filter(filter_string, "lm", _ON_DATASETS if ds_sql else MODELS)
    where = f"list_contains(?, lm.experiment_id) AND ({where})"
    if ds_sql:
        where += " AND EXISTS (SELECT 1 FROM _lm_ds_metrics d WHERE d.model_id = lm.model_id)"
    order, order_params = _order(order_by)
    with store.connect() as con:
        if ds_sql:
            con.execute("CREATE OR REPLACE TEMP TABLE _lm_ds_metrics AS SELECT * FROM "  # noqa: S608
                        f"logged_model_metrics WHERE {ds_sql}", ds_params)
        return _read(con, None, where=where, params=[experiment_ids, *params], order=order,
                     order_params=order_params, limit=max_results)


def _datasets(datasets: Any) -> tuple[str, list[object]]:
    """SQL selecting the metric points on ``datasets`` (MLflow's ``DatasetFilter`` dicts:
    ``dataset_name``, optional ``dataset_digest``); ``""`` for no datasets."""
    if not datasets:
        return "", []
    if not isinstance(datasets, list):
        raise UnsupportedArgumentError(
            f"datasets must be a list of dicts like {{'dataset_name': 'train', "
            f"'dataset_digest': '...'}}, got {type(datasets).__name__}")
    ors: list[str] = []
    params: list[object] = []
    for d in datasets:
        if not isinstance(d, dict) or not d.get("dataset_name"):
            raise UnsupportedArgumentError(
                f"`dataset_name` in the `datasets` clause must be specified (each item is a "
                f"dict like {{'dataset_name': 'train'}}), got {d!r}")
        if "dataset_digest" in d:
            ors.append("(dataset_name = ? AND dataset_digest = ?)")
            params += [str(d["dataset_name"]), d["dataset_digest"]]
        else:
            ors.append("dataset_name = ?")
            params.append(str(d["dataset_name"]))
    return " OR ".join(ors), params


def _order(order_by: Any) -> tuple[str, list[object]]:
    """ORDER BY (and its parameters) from MLflow's ``[{"field_name": ..., "ascending":
    bool, "dataset_name": ..., "dataset_digest": ...}]``: attributes (whitelisted column
    names) or ``metrics.<key>`` (the model's latest point, a parameterized subquery)."""
    if order_by is not None and not isinstance(order_by, list):
        raise UnsupportedArgumentError(f"order_by must be a list of dicts, got "
                                       f"{type(order_by).__name__}")
    items: list[str] = []
    params: list[object] = []
    has_created = has_id = False
    for item in order_by or []:
        if not isinstance(item, dict) or not isinstance(item.get("field_name"), str):
            raise UnsupportedArgumentError(
                f"order_by items are dicts like {{'field_name': 'metrics.acc', "
                f"'ascending': False}}, got {item!r}")
        field = item["field_name"]
        direction = "ASC" if item.get("ascending", True) else "DESC"
        if field.startswith("metrics."):
            where = "x.model_id = lm.model_id AND x.key = ?"
            params.append(field[len("metrics."):].strip("`"))
            for key in ("dataset_name", "dataset_digest"):
                if item.get(key):
                    where += f" AND x.{key} = ?"
                    params.append(str(item[key]))
            items.append(f"(SELECT x.value FROM logged_model_metrics x WHERE {where} "  # noqa: S608
                         "ORDER BY x.timestamp DESC, x.step DESC, x.run_id ASC LIMIT 1) "
                         f"{direction} NULLS LAST")
            continue
        bare = field.removeprefix("attributes.").removeprefix("attribute.")
        bare = _ALIASES.get(bare, bare)
        if bare not in ATTRIBUTES:
            raise UnsupportedArgumentError(
                f"invalid order_by field name {field!r}: expected metrics.<key> or one of "
                f"{', '.join(ATTRIBUTES)} (as in MLflow, params and tags cannot order)")
        has_created |= bare == "creation_timestamp"
        has_id |= bare == "model_id"
        column = _STATUS_ORDER if bare == "status" else f"lm.{bare}"
        items.append(f"{column} {direction} NULLS LAST")
    if not has_created:
        items.append("lm.creation_timestamp DESC")
    if not has_id:
        items.append("lm.model_id")
    return ", ".join(items), params


def to_frame(models: list[LoggedModel]) -> Any:
    """The models as MLflow's DataFrame: one row per model, its ``to_dictionary`` fields
    with the status by name (no columns at all when there is no model, as MLflow's)."""
    import pandas as pd

    rows = []
    for m in models:
        d = m.to_dictionary()
        d["status"] = m.status
        rows.append(d)
    return pd.DataFrame(rows)
