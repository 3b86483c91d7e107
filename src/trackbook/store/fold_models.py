"""Folding the logged-model records (MLflow 3's ``models:/m-<id>``) into the catalog.

Records (each in the writer's own log, see :mod:`trackbook.store.events`)::

    {"op": "model_create", "model": id, "exp", "name", "source_run", "model_type",
     "artifact_location", "status", "tags": {...}, "params": {...}}
    {"op": "model_status", "model": id, "status", "message"}
    {"op": "model_tags", "model": id, "data": {...}}         # set
    {"op": "model_del_tag", "model": id, "key"}
    {"op": "model_params", "model": id, "data": {...}}       # first value wins
    {"op": "model_delete", "model": id}
    {"op": "model_output", "run": run_id, "model": id, "step"}
    {"op": "model_metrics", "model": id, "run": run_id, "id": nonce,
     "points": [[key, value, step, timestamp, dataset_name, dataset_digest], ...]}

A model's records only touch its own rows, so a damaged line loses one change of one
model; records for a model whose ``model_create`` is unreadable are kept (its row appears
once the create record is read, or never: then they are invisible, not an error).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import duckdb

MODEL_OPS = frozenset({"model_create", "model_status", "model_tags", "model_del_tag",
                       "model_params", "model_delete", "model_output", "model_metrics"})

_MODEL_COLS = ["model_id", "experiment_id", "name", "source_run_id", "artifact_location",
               "model_type", "status", "status_message", "creation_timestamp",
               "last_updated_timestamp", "deleted"]


class LoggedModelsFold:
    """The logged-model part of one fold batch; :meth:`flush` writes it."""

    def __init__(self) -> None:
        self.created: dict[str, dict[str, Any]] = {}
        self.updates: list[tuple[str, dict[str, Any]]] = []
        self.tags: dict[tuple[str, str], str | None] = {}
        self.params: dict[tuple[str, str], str] = {}
        self.outputs: dict[tuple[str, str], int] = {}
        self.points: list[tuple[Any, ...]] = []

    def apply(self, writer_id: str, r: dict[str, Any]) -> None:
        getattr(self, "_" + r["op"])(writer_id, r)

    def _model_create(self, writer_id: str, r: dict[str, Any]) -> None:
        mid = r["model"]
        self.created[mid] = {
            "model_id": mid, "experiment_id": str(r["exp"]), "name": r["name"],
            "source_run_id": r.get("source_run"), "artifact_location": r.get("artifact_location"),
            "model_type": r.get("model_type"), "status": r.get("status", "PENDING"),
            "status_message": None, "creation_timestamp": r["t"],
            "last_updated_timestamp": r["t"], "deleted": 0}
        for k, v in (r.get("tags") or {}).items():
            self.tags[(mid, k)] = v
        for k, v in (r.get("params") or {}).items():
            self.params.setdefault((mid, k), v)

    def _touch(self, mid: str, t: int, **fields: Any) -> None:
        row = self.created.get(mid)
        if row is not None:
            row.update(fields, last_updated_timestamp=t)
        else:
            self.updates.append((mid, dict(fields, last_updated_timestamp=t)))

    def _model_status(self, writer_id: str, r: dict[str, Any]) -> None:
        self._touch(r["model"], r["t"], status=r["status"], status_message=r.get("message"))

    def _model_delete(self, writer_id: str, r: dict[str, Any]) -> None:
        self._touch(r["model"], r["t"], deleted=1)

    def _model_tags(self, writer_id: str, r: dict[str, Any]) -> None:
        for k, v in r["data"].items():
            self.tags[(r["model"], k)] = v
        self._touch(r["model"], r["t"])

    def _model_del_tag(self, writer_id: str, r: dict[str, Any]) -> None:
        self.tags[(r["model"], r["key"])] = None
        self._touch(r["model"], r["t"])

    def _model_params(self, writer_id: str, r: dict[str, Any]) -> None:
        for k, v in r["data"].items():
            self.params.setdefault((r["model"], k), v)
        self._touch(r["model"], r["t"])

    def _model_output(self, writer_id: str, r: dict[str, Any]) -> None:
        self.outputs[(r["run"], r["model"])] = int(r.get("step") or 0)

    def _model_metrics(self, writer_id: str, r: dict[str, Any]) -> None:
        nonce = f"{writer_id}:{r.get('id', r['t'])}"
        for i, p in enumerate(r["points"]):
            key, value, step, ts = p[0], p[1], p[2], p[3]
            ds_name = p[4] if len(p) > 4 else None
            ds_digest = p[5] if len(p) > 5 else None
            self.points.append((r["model"], key, _float(value), step, ts, r.get("run"),
                                ds_name, ds_digest, f"{nonce}:{i:06d}"))

    def flush(self, con: duckdb.DuckDBPyConnection) -> None:
        from .fold import bulk_upsert

        bulk_upsert(con, "logged_models", _MODEL_COLS,
                    [tuple(row[c] for c in _MODEL_COLS) for row in self.created.values()])
        allowed = {"status", "status_message", "last_updated_timestamp", "deleted"}
        for mid, fields in self.updates:
            for col, value in fields.items():
                if col in allowed:  # column names come from this whitelist only
                    con.execute(f"UPDATE logged_models SET {col} = ? "  # noqa: S608
                                "WHERE model_id = ?", [value, mid])
        for (mid, key), value in self.tags.items():
            if value is None:
                con.execute("DELETE FROM logged_model_tags WHERE model_id = ? AND key = ?",
                            [mid, key])
        bulk_upsert(con, "logged_model_tags", ["model_id", "key", "value"],
                    [(m, k, v) for (m, k), v in self.tags.items() if v is not None])
        bulk_upsert(con, "logged_model_params", ["model_id", "key", "value"],
                    [(m, k, v) for (m, k), v in self.params.items()], keep_existing=True)
        bulk_upsert(con, "run_model_outputs", ["run_id", "model_id", "step"],
                    [(r, m, s) for (r, m), s in self.outputs.items()])
        bulk_upsert(con, "logged_model_metrics",
                    ["model_id", "key", "value", "step", "timestamp", "run_id",
                     "dataset_name", "dataset_digest", "seq"], self.points, keep_existing=True)


def _float(value: Any) -> float:
    # json has no NaN/inf literals that every reader accepts: they travel as strings
    return float(value)
