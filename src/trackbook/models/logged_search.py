"""``search_logged_models``: MLflow's filter grammar (``tracking/search.py``'s parser, as
parameterized SQL) over the catalog's logged-model tables."""

from __future__ import annotations

from typing import Any

from ..tracking.search import Target, compile_filter
from ._errors import UnsupportedArgumentError
from .logged import _read
from .logged_model import LoggedModel

#: MLflow's searchable logged-model attributes (-> compares numerically).
ATTRIBUTES: dict[str, bool] = {
    "name": False, "model_id": False, "model_type": False, "status": False,
    "source_run_id": False, "creation_timestamp": True, "last_updated_timestamp": True,
}  # fmt: skip
_ALIASES = {"creation_time": "creation_timestamp", "last_updated_time": "last_updated_timestamp"}
MODELS = Target(ATTRIBUTES,
                {"metric": ("logged_model_metrics", "m"), "param": ("logged_model_params", "p"),
                 "tag": ("logged_model_tags", "t")}, "model_id")


def search(store: Any, experiment_ids: list[str], filter_string: str | None,
           datasets: list[dict[str, str]] | None, max_results: int | None,
           order_by: list[dict[str, Any]] | None) -> list[LoggedModel]:
    """Logged models of ``experiment_ids`` matching ``filter_string``, newest first unless
    ``order_by`` says otherwise; at most ``max_results``."""
    if datasets:
        raise UnsupportedArgumentError(
            f"search_logged_models(datasets=...) is not supported yet (got {datasets!r}); "
            "filter on metrics without datasets")
    where, params = compile_filter(filter_string, "lm", MODELS)
    where = f"list_contains(?, lm.experiment_id) AND ({where})"
    order = _order(order_by)
    with store.connect() as con:
        models = _read(con, None, where=where, params=[experiment_ids, *params], order=order)
    if max_results is not None:
        if not isinstance(max_results, int) or max_results < 1:
            raise UnsupportedArgumentError(f"max_results must be a positive int, got "
                                           f"{max_results!r}")
        models = models[:max_results]
    return models


def _order(order_by: list[dict[str, Any]] | None) -> str:
    """ORDER BY from MLflow's ``[{"field_name": ..., "ascending": bool}]``; only
    attributes are whitelisted column names (metrics order is not supported yet)."""
    items = []
    for item in order_by or []:
        if not isinstance(item, dict) or "field_name" not in item:
            raise UnsupportedArgumentError(
                f"order_by items are dicts like {{'field_name': 'creation_timestamp', "
                f"'ascending': False}}, got {item!r}")
        field = str(item["field_name"])
        bare = field.removeprefix("attributes.").removeprefix("attribute.")
        bare = _ALIASES.get(bare, bare)
        if bare not in ATTRIBUTES:
            raise UnsupportedArgumentError(
                f"order_by field {field!r} is not supported; expected one of "
                f"{', '.join(ATTRIBUTES)} (ordering by metrics is not supported yet)")
        direction = "ASC" if item.get("ascending", True) else "DESC"
        items.append(f"lm.{bare} {direction} NULLS LAST")
    return ", ".join([*items, "lm.creation_timestamp DESC", "lm.model_id"])


def to_frame(models: list[LoggedModel]) -> Any:
    """The models as MLflow's DataFrame: one row per model, its ``to_dictionary`` fields."""
    import pandas as pd

    cols = ["artifact_location", "creation_timestamp", "experiment_id",
            "last_updated_timestamp", "metrics", "model_id", "model_type", "name", "params",
            "source_run_id", "status", "status_message", "tags"]
    rows = []
    for m in models:
        d = m.to_dictionary()
        d["status"] = m.status.value
        rows.append(d)
    return pd.DataFrame(rows, columns=cols)
