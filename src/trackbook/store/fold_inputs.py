"""Folding a run's dataset inputs (MLflow's ``log_inputs``) into the catalog.

Record (in the writer's own log, see :mod:`trackbook.store.events`)::

    {"op": "inputs", "run": run_id, "exp": experiment_id,
     "datasets": [{"name", "digest", "source_type", "source", "schema", "profile",
                   "tags": [[key, value], ...]}, ...],
     "models": [model_id, ...]}

MLflow's rules: a dataset is one row per experiment and ``(name, digest)``, the first one
logged wins (a later log with another source or schema points at that row); a run uses a
dataset once, with the tags of its first use; model inputs are kept once per model.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import duckdb

INPUT_OPS = frozenset({"inputs"})
CONTEXT_TAG = "mlflow.data.context"

_DATASET_COLS = ["experiment_id", "name", "digest", "source_type", "source", "schema",
                 "profile"]
_INPUT_COLS = ["run_id", "experiment_id", "name", "digest", "tags", "context", "t", "seq"]


class InputsFold:
    """The dataset-input part of one fold batch; :meth:`flush` writes it."""

    def __init__(self) -> None:
        self.datasets: dict[tuple[str, str, str], tuple[Any, ...]] = {}
        self.inputs: dict[tuple[str, str, str], tuple[Any, ...]] = {}
        self.models: set[tuple[str, str]] = set()
        # Order of the inputs within the batch: records of one millisecond keep the order
        # they were logged in (a record's own index would tie across records).
        self._seq = 0

    def apply(self, writer_id: str, r: dict[str, Any]) -> None:
        run_id, exp = r.get("run"), r.get("exp")
        if not isinstance(run_id, str) or exp is None:
            return
        exp = str(exp)
        for d in r.get("datasets") or ():
            if not (isinstance(d, dict) and isinstance(d.get("name"), str)
                    and isinstance(d.get("digest"), str)):
                continue  # a hand-edited record: the rest of the batch still folds
            key = (exp, d["name"], d["digest"])
            self.datasets.setdefault(key, (*key, d.get("source_type"), d.get("source"),
                                           d.get("schema"), d.get("profile")))
            tags = [[str(kv[0]), str(kv[1])] for kv in d.get("tags") or ()
                    if isinstance(kv, list) and len(kv) == 2]
            context = next((v for k, v in tags if k == CONTEXT_TAG), None)
            self._seq += 1
            self.inputs.setdefault((run_id, d["name"], d["digest"]), (
                run_id, exp, d["name"], d["digest"], json.dumps(tags), context, r["t"],
                self._seq))
        for model_id in r.get("models") or ():
            self.models.add((run_id, str(model_id)))

    def flush(self, con: duckdb.DuckDBPyConnection, purged: set[str]) -> None:
        from .fold import bulk_upsert

        bulk_upsert(con, "datasets", _DATASET_COLS, list(self.datasets.values()),
                    keep_existing=True)
        bulk_upsert(con, "run_inputs", _INPUT_COLS,
                    [row for key, row in self.inputs.items() if key[0] not in purged],
                    keep_existing=True)
        bulk_upsert(con, "run_model_inputs", ["run_id", "model_id"],
                    sorted(m for m in self.models if m[0] not in purged), keep_existing=True)
        for run_id in sorted(purged):
            for table in ("run_inputs", "run_model_inputs"):
                con.execute(f"DELETE FROM {table} WHERE run_id = ?", [run_id])  # noqa: S608
