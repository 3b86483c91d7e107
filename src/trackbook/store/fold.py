"""Folding log records into the catalog's tables (see :mod:`trackbook.store.catalog`).

:class:`Applier` turns a time-ordered batch of records into rows per table, last write
winning, and :func:`bulk_upsert` writes each table's rows in one Arrow insert.
"""

from __future__ import annotations

import logging
import warnings
from typing import TYPE_CHECKING, Any

from .._errors import DamagedFileWarning, TrackbookWarning
from .._text import is_storable, storable_record
from .fold_inputs import INPUT_OPS, InputsFold
from .fold_models import MODEL_OPS, LoggedModelsFold
from .metrics import covered_by, merge_summary, parse_compact

if TYPE_CHECKING:
    import duckdb

log = logging.getLogger(__name__)

# A run whose ``run_start`` record is unreadable (a damaged log line) still shows, in the
# Default experiment and tagged with this, instead of vanishing with all its records.
DAMAGED_TAG = "trackbook.damaged"
ORPHAN_EXPERIMENT_ID = "0"


# Records after which the writer may have left metric files the catalog must know of.
_WRITES_FILES = frozenset({"run_start", "resume", "metrics", "compact"})


class Applier:
    """Folds a time-ordered batch of log records into the catalog tables."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con
        self.runs: dict[str, dict[str, Any]] = {}
        self.params: dict[tuple[str, str], str] = {}
        self.tags: dict[tuple[str, str], tuple[str | None, int]] = {}
        self.metrics: dict[tuple[str, str], list[Any]] = {}
        self.files_add: set[tuple[str, str]] = set()
        self.files_del: set[tuple[str, str]] = set()
        self.exp_updates: list[tuple[str, dict[str, Any]]] = []
        self.exp_tags: dict[tuple[str, str], str | None] = {}
        self.purged: set[str] = set()
        # Runs whose whole file list (and latest metrics) a compaction record replaces.
        self.run_files: dict[str, set[str]] = {}
        self.reset_latest: set[str] = set()
        self.adopted: set[tuple[str, str]] = set()
        self.writers: dict[str, bool] = {}  # writer -> said goodbye
        self.writer_runs: set[tuple[str, str]] = set()
        self.logged_models = LoggedModelsFold()
        self.inputs = InputsFold()

    def _run(self, run_id: str) -> dict[str, Any]:
        run = self.runs.get(run_id)
        if run is None:
            run = self.runs[run_id] = {"run_id": run_id}
        return run

    def _prefetch(self, batch: list[tuple[str, dict[str, Any]]]) -> None:
        """Load the existing rows the batch touches with two queries, not one per record."""
        import pyarrow as pa

        from .arrow import strings

        run_ids = sorted({r["run"] for _, r in batch if "run" in r})
        if not run_ids:
            return
        touched = pa.table({"run_id": strings(run_ids)})  # noqa: F841
        # Records that arrive after a run was purged (gc) must not bring it back.
        self.purged.update(r[0] for r in self.con.execute(
            "SELECT run_id FROM purged_runs JOIN touched USING (run_id)").fetchall())
        cur = self.con.execute("SELECT r.* FROM runs r JOIN touched USING (run_id)")
        cols = [d[0] for d in cur.description]
        for row in cur.fetchall():
            self.runs[row[0]] = dict(zip(cols, row, strict=True))
        compacted = sorted({r["run"] for _, r in batch
                            if r.get("op") == "compact" and "covers" in r})
        if compacted:
            for run_id in compacted:
                self.run_files[run_id] = set()
            for run_id, file in self.con.execute(
                    "SELECT run_id, file FROM metric_files WHERE list_contains(?, run_id)",
                    [compacted]).fetchall():
                self.run_files[run_id].add(file)
        if any(r.get("op") == "metrics" for _, r in batch):
            # Chunks the catalog took from a dead writer's folder before their record came
            # (judged dead too early, or a replica): their summary is in already.
            self.adopted.update(self.con.execute(
                "SELECT a.run_id, a.file FROM adopted_files a JOIN touched USING (run_id)"
            ).fetchall())
            for row in self.con.execute(
                "SELECT m.run_id, m.key, m.count, m.min, m.max, m.step, m.timestamp, m.value "
                "FROM latest_metrics m JOIN touched USING (run_id)"
            ).fetchall():
                self.metrics[(row[0], row[1])] = list(row[2:])

    def apply(self, batch: list[tuple[str, dict[str, Any]]]) -> None:
        self._prefetch(batch)
        for writer_id, r in batch:
            if writer_id not in self.writers:
                self.writers[writer_id] = False
            if r.get("run") in self.purged:
                continue
            if not is_storable(r):
                r = _storable(writer_id, r)
            run_id = r.get("run")
            if r.get("op") in _WRITES_FILES and isinstance(run_id, str):
                self.writer_runs.add((writer_id, run_id))
            if r.get("op") in MODEL_OPS:
                self.logged_models.apply(writer_id, r)
                continue
            if r.get("op") in INPUT_OPS:
                self.inputs.apply(writer_id, r)
                continue
            handler = getattr(self, "_op_" + str(r.get("op")), None)
            if handler is None:
                log.debug("skipping unknown log op %r", r.get("op"))
                continue
            handler(writer_id, r)
            if "run" in r and isinstance(r.get("t"), int):
                run = self.runs.get(r["run"])
                if run is not None and run.get("experiment_id") is None:
                    first = run.get("_seen", (r["t"], r["t"], writer_id))[0]
                    run["_seen"] = (first, r["t"], writer_id)
        self._adopt_orphans()
        self._flush()

    def _adopt_orphans(self) -> None:
        """Runs with records but no ``run_start`` (its log line is damaged, or on another
        log not read yet: then it arrives later and replaces this row)."""
        for run_id, run in self.runs.items():
            if (run.get("experiment_id") is not None or run_id in self.purged
                    or not run.get("_seen")):
                continue
            warnings.warn(f"run {run_id} has records but its run_start record is unreadable "
                          f"(a damaged log line): shown in experiment {ORPHAN_EXPERIMENT_ID}, "
                          f"tagged {DAMAGED_TAG}; see `trackbook doctor`", DamagedFileWarning,
                          stacklevel=2)
            seen = run["_seen"]
            run.update(experiment_id=ORPHAN_EXPERIMENT_ID, status=run.get("_status") or "RUNNING",
                       start_time=seen[0], end_time=run.get("_end"), lifecycle_stage="active",
                       writer_id=seen[2], last_update=seen[1])
            self.tags.setdefault((run_id, DAMAGED_TAG), (
                "the run_start record of this run is unreadable (damaged log line): its "
                "experiment, name and start are unknown; see `trackbook doctor`", seen[1]))

    def _op_run_start(self, writer_id: str, r: dict[str, Any]) -> None:
        run = self._run(r["run"])
        if run.get("experiment_id") == ORPHAN_EXPERIMENT_ID and run.get("artifact_uri") is None:
            self.tags[(r["run"], DAMAGED_TAG)] = (None, r["t"])  # adopted too early
        run.update(experiment_id=r["exp"], run_name=r.get("name"), status="RUNNING",
                   start_time=r.get("start", r["t"]), end_time=None,
                   lifecycle_stage="active", user_id=r.get("user"),
                   parent_run_id=r.get("parent"), artifact_uri=r.get("artifact_uri"),
                   writer_id=writer_id, last_update=r["t"])

    def _op_resume(self, writer_id: str, r: dict[str, Any]) -> None:
        run = self._run(r["run"])
        if "experiment_id" in run:
            run.update(status="RUNNING", end_time=None, writer_id=writer_id, last_update=r["t"])

    def _op_status(self, writer_id: str, r: dict[str, Any]) -> None:
        run = self._run(r["run"])
        if run.get("experiment_id") is None:  # kept for an orphan (see _adopt_orphans)
            run["_status"] = r["status"]
            if r["status"] != "RUNNING":
                run["_end"] = r.get("end", r["t"])
            return
        if r["t"] < (run.get("last_update") or 0):
            return
        run.update(status=r["status"], last_update=r["t"])
        if r["status"] != "RUNNING":
            run["end_time"] = r.get("end", r["t"])

    def _op_rename(self, writer_id: str, r: dict[str, Any]) -> None:
        self._run(r["run"])["run_name"] = r["name"]

    def _op_lifecycle(self, writer_id: str, r: dict[str, Any]) -> None:
        self._run(r["run"])["lifecycle_stage"] = r["stage"]

    def _op_purge(self, writer_id: str, r: dict[str, Any]) -> None:
        """``trackbook gc`` removed the run's files: forget it everywhere."""
        run_id = r["run"]
        self.purged.add(run_id)
        self.runs.pop(run_id, None)
        for d in (self.params, self.tags, self.metrics):
            for k in [k for k in d if k[0] == run_id]:
                del d[k]
        self.files_add = {k for k in self.files_add if k[0] != run_id}
        self.run_files.pop(run_id, None)
        self.reset_latest.discard(run_id)

    def _op_params(self, writer_id: str, r: dict[str, Any]) -> None:
        # Params are immutable: the first value logged wins, even across processes.
        run_id = r["run"]
        for k, v in r["data"].items():
            self.params.setdefault((run_id, k), v)

    def _op_tags(self, writer_id: str, r: dict[str, Any]) -> None:
        run_id = r["run"]
        for k, v in r["data"].items():
            self.tags[(run_id, k)] = (v, r["t"])
            if k == "mlflow.runName" and v:
                self._run(run_id)["run_name"] = v

    def _op_del_tag(self, writer_id: str, r: dict[str, Any]) -> None:
        self.tags[(r["run"], r["key"])] = (None, r["t"])

    def _op_bye(self, writer_id: str, r: dict[str, Any]) -> None:
        """The writer exited cleanly: every file it wrote has its record."""
        self.writers[writer_id] = True

    def _op_metrics(self, writer_id: str, r: dict[str, Any]) -> None:
        run_id = r["run"]
        if (run_id, r["file"]) in self.adopted:
            return
        files = self.run_files.get(run_id)
        if files is not None:
            files.add(r["file"])
        else:
            self.files_add.add((run_id, r["file"]))
        for key, summary in r["sum"].items():
            k = (run_id, key)
            self.metrics[k] = merge_summary(self.metrics.get(k), summary)

    def _op_compact(self, writer_id: str, r: dict[str, Any]) -> None:
        run_id = r["run"]
        files = self.run_files.get(run_id)
        if files is not None:
            # The reading rule of store/metrics.py: the new file hides every file its covers
            # cover, whether or not this catalog heard of them; its summary replaces the
            # run's (it holds every point the run had).
            files.difference_update(covered_by(sorted(files), parse_compact(r["file"]) or 0,
                                               r["covers"]))
            files.add(r["file"])
            for k in [k for k in self.metrics if k[0] == run_id]:
                del self.metrics[k]
            for key, summary in r["sum"].items():
                self.metrics[(run_id, key)] = list(summary)
            self.reset_latest.add(run_id)
            return
        for old in r["replaces"]:  # a record written before compactions carried covers
            self.files_add.discard((run_id, old))
            self.files_del.add((run_id, old))
        self.files_add.add((run_id, r["file"]))
        self.files_del.discard((run_id, r["file"]))

    def _op_quarantine(self, writer_id: str, r: dict[str, Any]) -> None:
        """``trackbook doctor --repair`` moved a damaged metric file away."""
        self.files_add.discard((r["run"], r["file"]))
        files = self.run_files.get(r["run"])
        if files is not None:
            files.discard(r["file"])
        self.files_del.add((r["run"], r["file"]))

    def _op_experiment_update(self, writer_id: str, r: dict[str, Any]) -> None:
        self.exp_updates.append((r["exp"], r["fields"]))

    def _op_experiment_tags(self, writer_id: str, r: dict[str, Any]) -> None:
        for k, v in r["data"].items():
            self.exp_tags[(r["exp"], k)] = v

    def _flush(self) -> None:
        con = self.con
        self.logged_models.flush(con)
        self.inputs.flush(con, self.purged)
        for run_id in self.purged:
            for table in ("runs", "params", "tags", "latest_metrics", "metric_files"):
                con.execute(f"DELETE FROM {table} WHERE run_id = ?", [run_id])  # noqa: S608
        bulk_upsert(con, "purged_runs", ["run_id"], [(r,) for r in self.purged])
        run_cols = ["run_id", "experiment_id", "run_name", "status", "start_time", "end_time",
                    "lifecycle_stage", "user_id", "parent_run_id", "artifact_uri", "writer_id",
                    "last_update"]
        rows = [tuple(run.get(c) for c in run_cols) for run in self.runs.values()
                if run.get("experiment_id") is not None]
        bulk_upsert(con, "runs", run_cols, rows)
        bulk_upsert(con, "params", ["run_id", "key", "value"],
                     [(k[0], k[1], v) for k, v in self.params.items()], keep_existing=True)
        deleted_tags = [k for k, (v, _) in self.tags.items() if v is None]
        for run_id, key in deleted_tags:
            con.execute("DELETE FROM tags WHERE run_id = ? AND key = ?", [run_id, key])
        bulk_upsert(con, "tags", ["run_id", "key", "value", "ts"],
                     [(k[0], k[1], v, ts) for k, (v, ts) in self.tags.items() if v is not None])
        for run_id in sorted(self.reset_latest - self.purged):
            con.execute("DELETE FROM latest_metrics WHERE run_id = ?", [run_id])
        bulk_upsert(con, "latest_metrics",
                     ["run_id", "key", "value", "step", "timestamp", "min", "max", "count"],
                     [(k[0], k[1], s[5], s[3], s[4], s[1], s[2], s[0])
                      for k, s in self.metrics.items()])
        if self.files_del:
            import pyarrow as pa

            gone = pa.table({"run_id": [r for r, _ in self.files_del],  # noqa: F841
                             "file": [f for _, f in self.files_del]})
            con.execute("DELETE FROM metric_files m USING gone g "
                        "WHERE m.run_id = g.run_id AND m.file = g.file")
        bulk_upsert(con, "metric_files", ["run_id", "file"], sorted(self.files_add))
        for run_id, files in sorted(self.run_files.items()):
            if run_id in self.purged:
                continue
            con.execute("DELETE FROM metric_files WHERE run_id = ?", [run_id])
            bulk_upsert(con, "metric_files", ["run_id", "file"],
                        [(run_id, f) for f in sorted(files)])
        bulk_upsert(con, "writers", ["writer_id", "settled"],
                    [(w, 0) for w, b in self.writers.items() if not b], keep_existing=True)
        bulk_upsert(con, "writers", ["writer_id", "settled"],
                    [(w, 1) for w, b in self.writers.items() if b])
        bulk_upsert(con, "writer_runs", ["writer_id", "run_id"], sorted(self.writer_runs),
                    keep_existing=True)
        allowed = {"name", "lifecycle_stage", "last_update_time"}
        for exp_id, fields in self.exp_updates:
            for col, value in fields.items():
                if col in allowed:  # column names come from this whitelist only
                    con.execute(f"UPDATE experiments SET {col} = ? WHERE experiment_id = ?",  # noqa: S608
                                [value, exp_id])
        for (exp_id, key), value in self.exp_tags.items():
            if value is None:
                con.execute("DELETE FROM experiment_tags WHERE experiment_id = ? AND key = ?",
                            [exp_id, key])
            else:
                con.execute("INSERT OR REPLACE INTO experiment_tags VALUES (?, ?, ?)",
                            [exp_id, key, value])


def _storable(writer_id: str, r: dict[str, Any]) -> dict[str, Any]:
    """``r`` with its lone surrogates replaced by U+FFFD, and a warning: an old or
    hand-edited log line must never make the catalog unbuildable (text UTF-8 cannot
    encode fails Arrow and DuckDB)."""
    fixed, _ = storable_record(r)
    message = (f"log {writer_id}.jsonl: a {r.get('op')!r} record of "
               f"{'run ' + str(fixed.get('run')) if 'run' in fixed else 'the store'} holds "
               "text that is not valid Unicode (a lone surrogate); folded with U+FFFD in "
               "place of the bad characters")
    log.warning("%s", message)
    warnings.warn(message, TrackbookWarning, stacklevel=2)
    return dict(fixed)


# Non-string columns of the tables written in bulk; every other column is a string.
_INT, _FLOAT = "int64", "float64"
_COLUMN_TYPES: dict[str, dict[str, str]] = {
    "writers": {"settled": _INT},
    "experiments": {"creation_time": _INT, "last_update_time": _INT},
    "log_offsets": {"byte_offset": _INT},
    "runs": {"start_time": _INT, "end_time": _INT, "last_update": _INT},
    "tags": {"ts": _INT},
    "logged_models": {"creation_timestamp": _INT, "last_updated_timestamp": _INT,
                      "deleted": _INT},
    "run_model_outputs": {"step": _INT},
    "run_inputs": {"t": _INT, "seq": _INT},
    "logged_model_metrics": {"value": _FLOAT, "step": _INT, "timestamp": _INT},
    "latest_metrics": {"value": _FLOAT, "step": _INT, "timestamp": _INT, "min": _FLOAT,
                       "max": _FLOAT, "count": _INT},
}


def bulk_upsert(con: duckdb.DuckDBPyConnection, table: str, cols: list[str],
                 rows: list[tuple[Any, ...]], keep_existing: bool = False) -> None:
    """INSERT OR REPLACE many rows at once through an Arrow table.

    Even for a handful of rows this beats ``executemany`` (~9 ms per row on DuckDB 2.0).
    ``table`` and ``cols`` are constants of this module, never user input.
    """
    if not rows:
        return
    import pyarrow as pa

    from .arrow import column

    types = _COLUMN_TYPES.get(table, {})
    columns = list(zip(*rows, strict=True))
    arrays = [column(c, pa.type_for_alias(types.get(n, "string")))
              for n, c in zip(cols, columns, strict=True)]
    staged = pa.Table.from_arrays(arrays, names=cols)  # noqa: F841 - read by DuckDB below
    verb = "INSERT OR IGNORE" if keep_existing else "INSERT OR REPLACE"
    con.execute(f"{verb} INTO {table} ({', '.join(cols)}) "  # noqa: S608
                f"SELECT {', '.join(cols)} FROM staged")
