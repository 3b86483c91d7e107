"""Reading the catalog: runs, experiments, search results and ad-hoc SQL."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .._errors import FilterSyntaxError, InvalidValueError
from ..store.store import Store
from . import inputs as _inputs
from .entities import Experiment, Run, RunData, RunInfo, ViewType
from .search import check_filter_text, compile_filter, compile_order_by

if TYPE_CHECKING:
    import duckdb
    import pandas as pd
    import pyarrow as pa

log = logging.getLogger(__name__)
_RUN_COLS = ("run_id", "experiment_id", "run_name", "user_id", "status", "start_time",
             "end_time", "artifact_uri", "lifecycle_stage")
_STAGES = {ViewType.ACTIVE_ONLY: ["active"], ViewType.DELETED_ONLY: ["deleted"],
           ViewType.ALL: ["active", "deleted"]}


def make_run(row: dict[str, Any], params: dict[str, str], tags: dict[str, str],
             metrics: dict[str, float]) -> Run:
    info = RunInfo(**{c: row.get(c) for c in _RUN_COLS})
    return Run(info, RunData(metrics=metrics, params=params, tags=tags))


def _experiment_from(con: duckdb.DuckDBPyConnection, row: tuple[Any, ...]) -> Experiment:
    tags = dict(con.execute("SELECT key, value FROM experiment_tags WHERE experiment_id = ?",
                            [row[0]]).fetchall())
    return Experiment(row[0], row[1], row[2], row[3], tags, row[4], row[5])


def experiment(store: Store, experiment_id: str | None = None,
               name: str | None = None) -> Experiment | None:
    with store.connect() as con:
        if experiment_id is not None:
            row = con.execute("SELECT * FROM experiments WHERE experiment_id = ?",
                              [experiment_id]).fetchone()
        else:
            row = con.execute("SELECT * FROM experiments WHERE name = ?", [name]).fetchone()
        return _experiment_from(con, row) if row else None


def experiments(store: Store, view_type: int = ViewType.ACTIVE_ONLY,
                max_results: int | None = None,
                filter_string: str | None = None, order_by: Sequence[str] | None = None,
                offset: int = 0) -> list[Experiment]:
    where, params = ["lifecycle_stage IN (SELECT unnest(?))"], [_STAGES[view_type]]
    if filter_string:
        parts = check_filter_text(filter_string).strip().split(None, 2)
        if len(parts) != 3 or parts[0].lower() != "name" or \
                parts[1].upper() not in ("=", "!=", "LIKE", "ILIKE"):
            raise FilterSyntaxError(
                "experiment filters support: name = '...', name != '...', name LIKE '...', "
                f"name ILIKE '...'; got {filter_string!r}", filter_string, 0)
        value = parts[2].strip()
        if len(value) < 2 or value[0] not in "'\"" or value[-1] != value[0]:
            raise FilterSyntaxError("the name must be a quoted string", filter_string,
                                    filter_string.find(value))
        op = {"=": "=", "!=": "!=", "LIKE": "LIKE", "ILIKE": "ILIKE"}[parts[1].upper()]
        where.append(f"name {op} ?")
        params.append(value[1:-1])
    sql = (f"SELECT * FROM experiments WHERE {' AND '.join(where)} "  # noqa: S608
           f"ORDER BY {_experiment_order(order_by)}")
    if max_results is not None:
        sql += " LIMIT ?"
        params.append(int(max_results))
    if offset:
        sql += " OFFSET ?"
        params.append(int(offset))
    with store.connect() as con:
        return [_experiment_from(con, r) for r in con.execute(sql, params).fetchall()]


_EXPERIMENT_ORDER = ("experiment_id", "name", "creation_time", "last_update_time")


def _experiment_order(order_by: Sequence[str] | None) -> str:
    """The ORDER BY of an experiment search: MLflow's keys only (the column names come
    from the whitelist, never from the text), newest first by default."""
    out = []
    for clause in order_by or []:
        parts = str(clause).split()
        key = parts[0] if parts else ""
        if key not in _EXPERIMENT_ORDER:
            raise InvalidValueError(f"cannot order experiments by {clause!r}; valid keys: "
                                    f"{', '.join(_EXPERIMENT_ORDER)}")
        if len(parts) > 2 or (len(parts) == 2 and parts[1].upper() not in ("ASC", "DESC")):
            raise InvalidValueError(f"invalid ordering {clause!r}: use '<key>', '<key> ASC' "
                                    "or '<key> DESC'")
        direction = parts[1].upper() if len(parts) == 2 else "ASC"
        if key == "experiment_id":  # numeric ids in number order
            out.append(f"TRY_CAST(experiment_id AS BIGINT) {direction}")
        out.append(f"{key} {direction}")
    out += ["creation_time DESC", "experiment_id"]
    return ", ".join(out)


def get_run(store: Store, run_id: str) -> Run | None:
    with store.connect() as con:
        row = store.run_row(con, run_id)
        if row is None:
            return None
        params = dict(con.execute("SELECT key, value FROM params WHERE run_id = ?",
                                  [run_id]).fetchall())
        tags = dict(con.execute("SELECT key, value FROM tags WHERE run_id = ?",
                                [run_id]).fetchall())
        metrics = dict(con.execute("SELECT key, value FROM latest_metrics WHERE run_id = ?",
                                   [run_id]).fetchall())
        run_inputs = _inputs.fetch(con, [run_id])
        run_outputs = _inputs.fetch_outputs(con, [run_id])
    run = make_run(row, params, tags, metrics)
    if run_id in run_inputs:
        run.inputs = run_inputs[run_id]
    if run_id in run_outputs:
        run.outputs = run_outputs[run_id]
    return run


def select_run_ids(con: duckdb.DuckDBPyConnection, experiment_ids: Sequence[str] | None,
                   filter_string: str | None, view_type: int, max_results: int | None,
                   order_by: Sequence[str] | None, offset: int = 0) -> list[str]:
    """Ids of the runs matching a search, in order, on an open catalog connection.

    ``experiment_ids`` None means all experiments; ``max_results``/``offset`` page.
    """
    stage_search(con, experiment_ids, filter_string, view_type, max_results, order_by, offset)
    return [r[0] for r in con.execute("SELECT run_id FROM _sel ORDER BY _ord").fetchall()]


def stage_search(con: duckdb.DuckDBPyConnection, experiment_ids: Sequence[str] | None,
                 filter_string: str | None, view_type: int, max_results: int | None,
                 order_by: Sequence[str] | None, offset: int = 0) -> int:
    """Put the matching runs into temp table ``_sel(run_id, _ord)``; return how many.

    The ids never travel through Python: later queries join ``_sel`` and order by ``_ord``.
    """
    if view_type not in _STAGES:
        raise InvalidValueError(f"run_view_type must be 1, 2 or 3 (ViewType), got {view_type!r}")
    if max_results is not None and (not isinstance(max_results, int) or max_results < 0):
        raise InvalidValueError(f"max_results must be a non-negative int, got {max_results!r}")
    if not isinstance(offset, int) or offset < 0:
        raise InvalidValueError(f"offset must be a non-negative int, got {offset!r}")
    fsql, fparams = compile_filter(filter_string or "")
    osql, oparams = compile_order_by(list(order_by) if order_by else None)
    exp_clause, exp_params = "TRUE", []
    if experiment_ids is not None:
        exp_clause, exp_params = "list_contains(?, r.experiment_id)", [
            [str(e) for e in experiment_ids]]
    # Top-N first (DuckDB's ORDER BY ... LIMIT keeps a heap), then number only the page:
    # a window over every match costs twice as much at 100k runs.
    sql = ("CREATE OR REPLACE TEMP TABLE _sel AS "  # noqa: S608 - fragments are ours
           f"SELECT r.run_id, row_number() OVER (ORDER BY {osql}) - 1 AS _ord FROM ("
           f"SELECT r.* FROM runs r WHERE {exp_clause} "
           f"AND list_contains(?, r.lifecycle_stage) AND ({fsql}) "
           f"ORDER BY {osql} LIMIT ? OFFSET ?) r")
    params: list[Any] = [*oparams, *exp_params, _STAGES[view_type], *fparams, *oparams,
                         max_results if max_results is not None else 2**62, offset]
    t0 = time.perf_counter()
    con.execute(sql, params)
    n = con.execute("SELECT count(*) FROM _sel").fetchall()[0][0]
    if time.perf_counter() - t0 > 0.5:
        log.info("slow run search (%.3fs): %r", time.perf_counter() - t0, filter_string)
    return int(n)


def search_run_objects(store: Store, experiment_ids: Sequence[str] | None,
                       filter_string: str | None, view_type: int,
                       max_results: int | None, order_by: Sequence[str] | None) -> list[Run]:
    with store.connect() as con:
        stage_search(con, experiment_ids, filter_string, view_type, max_results, order_by)
        ids = [r[0] for r in con.execute("SELECT run_id FROM _sel ORDER BY _ord").fetchall()]
        if not ids:
            return []
        cur = con.execute("SELECT r.* FROM runs r JOIN _sel USING (run_id) ORDER BY _sel._ord")
        cols = [d[0] for d in cur.description]
        rows = {r[0]: dict(zip(cols, r, strict=True)) for r in cur.fetchall()}
        data: dict[str, dict[str, dict[str, Any]]] = {i: {"p": {}, "t": {}, "m": {}} for i in ids}
        for kind, table in (("p", "params"), ("t", "tags"), ("m", "latest_metrics")):
            for run_id, key, value in con.execute(
                    f"SELECT x.run_id, x.key, x.value FROM {table} x "  # noqa: S608
                    "JOIN _sel USING (run_id)").fetchall():
                data[run_id][kind][key] = value
        run_inputs = _inputs.fetch(con, None)
        run_outputs = _inputs.fetch_outputs(con, None)
    runs = [make_run(rows[i], data[i]["p"], data[i]["t"], data[i]["m"]) for i in ids]
    for run in runs:
        if run.info.run_id in run_inputs:
            run.inputs = run_inputs[run.info.run_id]
        if run.info.run_id in run_outputs:
            run.outputs = run_outputs[run.info.run_id]
    return runs


_WIDE = (("metrics.", "latest_metrics"), ("params.", "params"), ("tags.", "tags"))


def search_frame(store: Store, experiment_ids: Sequence[str] | None,
                 filter_string: str | None, view_type: int, max_results: int | None,
                 order_by: Sequence[str] | None) -> pd.DataFrame:
    """MLflow-shaped DataFrame: run_id, experiment_id, status, ..., metrics.*, params.*,
    tags.* (one row per run, in the requested order).

    DuckDB selects and orders; the long key/value tables come back as Arrow and are
    pivoted with array takes (much faster than SQL PIVOT or pandas for 10k+ runs).
    """
    import pyarrow as pa

    with store.connect() as con:
        n = stage_search(con, experiment_ids, filter_string, view_type, max_results, order_by)
        base = con.sql(
            "SELECT r.run_id, r.experiment_id, r.status, r.artifact_uri, "
            "to_timestamp(r.start_time / 1000.0) AS start_time, "
            "to_timestamp(r.end_time / 1000.0) AS end_time, r.run_name "
            "FROM runs r JOIN _sel USING (run_id) ORDER BY _sel._ord").to_arrow_table()
        longs = [(prefix, con.sql(  # table names are constants, never input
            f"SELECT _sel._ord AS i, x.key, x.value FROM {table} x "  # noqa: S608
            "JOIN _sel USING (run_id) ORDER BY x.key").to_arrow_table())
            for prefix, table in _WIDE]
    names, columns = list(base.column_names), list(base.columns)
    for prefix, long in longs:
        for key, column in _pivot(long, n):
            names.append(prefix + key)
            columns.append(column)
    return pa.Table.from_arrays(columns, names=names).to_pandas()


def _pivot(long: pa.Table, n: int) -> list[tuple[str, pa.Array]]:
    """(key, column of length n) for each key of a long (i, key, value) table sorted by key."""
    import numpy as np
    import pyarrow as pa

    if long.num_rows == 0:
        return []
    keys = long["key"].combine_chunks()
    rows = long["i"].to_numpy()
    values = long["value"].combine_chunks()
    encoded = keys.dictionary_encode()
    codes = encoded.indices.to_numpy()
    starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
    ends = np.r_[starts[1:], len(codes)]
    out = []
    for start, end in zip(starts, ends, strict=True):
        where = np.full(n, -1, dtype=np.int64)
        where[rows[start:end]] = np.arange(start, end)
        take = pa.array(where, mask=where < 0)
        out.append((encoded.dictionary[codes[start]].as_py(), values.take(take)))
    return sorted(out, key=lambda kv: kv[0])


def sql(store: Store, text: str, params: Sequence[Any] | None = None,
        unsafe: bool = False, attempts: int = 5) -> pd.DataFrame:
    """Run DuckDB SQL over the catalog tables plus a ``metrics`` view of every point.

    Tables: ``experiments``, ``runs``, ``params``, ``tags``, ``latest_metrics`` (and the
    other catalog tables), and the view
    ``metrics(run_id, run_name, experiment_id, key, value, step, timestamp)``. The query
    sees a snapshot of the tables it names, copied in one short turn on the catalog, and
    runs in a sandbox of its own (:mod:`trackbook.tracking.sqlbox`): it only reads, and
    only the store; ``unsafe=True`` runs it with full DuckDB on a connection of its own.
    """
    import duckdb

    from ..store import damaged
    from . import sqlbox

    if not isinstance(text, str):
        raise InvalidValueError(f"tb.sql takes the SQL text as a str, got {type(text).__name__}")
    for attempt in range(attempts):
        with sqlbox.connection(store.layout, unsafe) as box:
            if not unsafe:
                sqlbox.check_read_only(box, text)
            with store.connect() as con:  # held only while copying what the query names
                tables = _snapshot(con, text)
            try:
                for name, table in tables.items():
                    box.register(name, table)
                if _names(text, ("metrics",)):
                    store.points(box).create_view("_tb_points")  # lists the snapshot's files
                    box.execute(
                        "CREATE OR REPLACE TEMP VIEW metrics AS SELECT p.run_id, r.run_name, "
                        "r.experiment_id, p.key, p.value, p.step, p.timestamp "
                        "FROM _tb_points p JOIN runs r USING (run_id)")
                return box.execute(text, list(params) if params else None).df()
            except Exception as exc:
                refused = None if unsafe or not isinstance(exc, duckdb.Error) \
                    else sqlbox.refusal(exc)
                if refused is not None:
                    raise refused from None
                # Damage the first probe missed (a byte inside a compacted file's page, say):
                # find the damaged files, warn, and read the healthy runs without them.
                if (attempt < attempts - 1 and _names(text, ("metrics",))
                        and damaged.recover(exc, store.metric_file_paths(box))):
                    continue
                # A live writer compacted files between listing and reading: list again.
                vanished = isinstance(exc, FileNotFoundError) or any(
                    m in str(exc) for m in ("No such file", "No files found",
                                            "does not exist", "NO_SUCH_KEY"))
                if not vanished or attempt == attempts - 1:
                    raise
    raise AssertionError("unreachable")  # pragma: no cover


def _names(text: str, candidates: Sequence[str]) -> set[str]:
    """Which of ``candidates`` occur in ``text`` as words (more than it references, at
    worst: a name inside a string or a comment is copied in vain)."""
    import re

    words = {w.lower() for w in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", text)}
    return {c for c in candidates if c in words}


def _snapshot(con: duckdb.DuckDBPyConnection, text: str) -> dict[str, pa.Table]:
    """The catalog tables ``text`` names (and those the ``metrics`` view reads), as Arrow."""
    catalog = [r[0] for r in con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main' "
        "AND database_name = current_database() AND NOT temporary").fetchall()]
    wanted = _names(text, [*catalog, "metrics"])
    if "metrics" in wanted:
        wanted |= {"runs", "metric_files"}
    # names are the catalog's own tables, never input
    return {name: con.sql(f'SELECT * FROM "{name}"').to_arrow_table()  # noqa: S608
            for name in catalog if name in wanted}
