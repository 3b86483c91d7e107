"""DuckDB queries behind the run table: scope, pages, columns and a change token.

Filtering and ordering use trackbook's search grammar (``compile_filter`` /
``compile_order_by``), so the filter box accepts exactly what ``search_runs`` does and
nothing the user types is spliced into SQL. Only one page of runs leaves DuckDB.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .._errors import ExperimentNotFoundError, InvalidValueError
from ..store import events
from ..tracking.entities import ViewType
from ..tracking.fluent import current_experiment_id
from ..tracking.query import select_run_ids
from ..tracking.search import compile_filter
from ._protocol import ID_COLUMN, ColumnInfo, SortKey

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

    from ..store.store import Store

log = logging.getLogger(__name__)

#: Run attributes the table can show, in picker order (all are sortable).
ATTRIBUTE_COLUMNS = ("run_name", "status", "start_time", "end_time", "user_id", "run_id",
                     "experiment_id", "parent_run_id")
DEFAULT_ATTRIBUTES = ("attributes.run_name", "attributes.status", "attributes.start_time",
                      "attributes.end_time")
DEFAULT_MAX_PER_KIND = 8
_PREFIX_KIND = {"attributes": "attribute", "params": "param", "metrics": "metric", "tags": "tag"}
_KIND_TABLE = {"param": "params", "metric": "latest_metrics", "tag": "tags"}
_KIND_PREFIX = {v: k for k, v in _PREFIX_KIND.items()}
SLOW_QUERY_SECONDS = 0.3


@dataclass(frozen=True)
class RunScope:
    """Which runs a widget looks at: some experiments (None: all) and a fixed filter."""

    experiment_ids: tuple[str, ...] | None = None
    filter_string: str = ""


def resolve_scope(store: Store, experiment: str | Sequence[str] | None = None,
                  experiment_ids: Sequence[str] | None = None,
                  filter_string: str | None = None,
                  search_all_experiments: bool = False) -> RunScope:
    """Turn experiment names and/or ids into a :class:`RunScope`.

    With neither names nor ids, the scope is the current experiment
    (:func:`trackbook.current_experiment_id`), or every experiment when
    ``search_all_experiments`` is True, as in ``search_runs``.

    Raises
    ------
    ExperimentNotFoundError
        If a name or id matches no experiment.
    FilterSyntaxError
        If ``filter_string`` does not parse.
    """
    ids: list[str] = []
    names = [experiment] if isinstance(experiment, str) else list(experiment or [])
    for name in names:
        record = store.experiment_by_name(str(name)) or store.experiment_by_id(str(name))
        if record is None:
            raise ExperimentNotFoundError(
                f"no experiment named (or with id) {name!r}; list them with "
                "tb.search_experiments()")
        ids.append(record["experiment_id"])
    ids.extend(str(e) for e in experiment_ids or [])
    compile_filter(filter_string)  # fail now, not at first display
    if names or experiment_ids is not None:
        return RunScope(tuple(dict.fromkeys(ids)), filter_string or "")
    if search_all_experiments:
        return RunScope(None, filter_string or "")
    return RunScope((current_experiment_id(),), filter_string or "")


def parse_column(name: str) -> tuple[str, str]:
    """Split ``"params.lr"`` into ``("param", "lr")``; reject unknown prefixes/attributes."""
    prefix, dot, key = str(name).partition(".")
    kind = _PREFIX_KIND.get(prefix)
    if not dot or not key or kind is None:
        raise InvalidValueError(
            f"unknown column {name!r}: expected attributes.<name>, params.<key>, "
            "metrics.<key> or tags.<key>")
    if kind == "attribute" and key not in ATTRIBUTE_COLUMNS:
        raise InvalidValueError(
            f"unknown attribute column {name!r}: expected one of "
            + ", ".join(f"attributes.{a}" for a in ATTRIBUTE_COLUMNS))
    return kind, key


def order_items(sort: Sequence[SortKey]) -> list[str]:
    """Sort keys -> ``order_by`` items of the search grammar (keys quoted, so any key works)."""
    items = []
    for s in sort:
        kind, key = parse_column(s["column"])
        direction = "DESC" if s.get("desc") else "ASC"
        if kind == "attribute":
            items.append(f"attributes.{key} {direction}")
        else:
            quoted = key.replace("`", "``")
            items.append(f"{_KIND_PREFIX[kind]}.`{quoted}` {direction}")
    return items


def combined_filter(scope: RunScope, user_filter: str | None) -> str:
    """The scope's fixed filter ANDed with the user's, as one search-grammar string.

    Each part is compiled on its own first, so a syntax error points into the text the
    user typed (not into the combination).
    """
    parts = []
    for text in (scope.filter_string, user_filter):
        if text and text.strip():
            compile_filter(text)
            parts.append(f"({text})")
    return " AND ".join(parts)


def where_clause(scope: RunScope, user_filter: str | None) -> tuple[str, list[Any]]:
    """WHERE text over ``runs r`` for the scope plus the user's filter, and its params."""
    parts, params = ["r.lifecycle_stage = 'active'"], []
    if scope.experiment_ids is not None:
        parts.append("r.experiment_id IN (SELECT unnest(?::VARCHAR[]))")
        params.append(list(scope.experiment_ids))
    sql, p = compile_filter(combined_filter(scope, user_filter))
    if sql != "TRUE":
        parts.append(f"({sql})")
        params.extend(p)
    return " AND ".join(parts), params


def _timed(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
    t0 = time.perf_counter()
    rows = con.execute(sql, params).fetchall()
    dt = time.perf_counter() - t0
    if dt > SLOW_QUERY_SECONDS:
        log.info("slow run-table query (%.3fs): %s", dt, sql[:200])
    return rows


def column_infos(con: duckdb.DuckDBPyConnection, scope: RunScope,
                 user_filter: str | None) -> tuple[list[ColumnInfo], int]:
    """Every column available for the runs in scope (and filter), and how many runs match.

    ``differs`` is False when all matching runs have the same value (absent counts as a
    value), which drives the "only columns that differ" toggle.
    """
    where, params = where_clause(scope, user_filter)
    total = count_runs(con, scope, user_filter)
    infos: list[ColumnInfo] = [
        {"name": f"attributes.{a}", "kind": "attribute", "differs": True}
        for a in ATTRIBUTE_COLUMNS]
    for kind, table in _KIND_TABLE.items():
        rows = _timed(con, f"WITH sel AS (SELECT r.run_id FROM runs r WHERE {where}) "  # noqa: S608
                      f"SELECT x.key, count(DISTINCT x.value), count(*) FROM {table} x "
                      "JOIN sel USING (run_id) GROUP BY x.key ORDER BY x.key", params)
        for key, n_distinct, n in rows:
            differs = n_distinct > 1 or 0 < n < total
            infos.append({"name": f"{_KIND_PREFIX[kind]}.{key}", "kind": kind,  # type: ignore[typeddict-item]
                          "differs": bool(differs)})
    return infos, int(total)


def default_columns(con: duckdb.DuckDBPyConnection, scope: RunScope,
                    max_per_kind: int = DEFAULT_MAX_PER_KIND) -> list[str]:
    """Name, status and times, then the first params and metrics (alphabetical) in scope."""
    where, params = where_clause(scope, None)
    out = list(DEFAULT_ATTRIBUTES)
    for kind in ("param", "metric"):
        table = _KIND_TABLE[kind]
        rows = _timed(con, f"SELECT DISTINCT x.key FROM {table} x JOIN runs r "  # noqa: S608
                      f"USING (run_id) WHERE {where} ORDER BY x.key LIMIT ?",
                      [*params, max_per_kind])
        out.extend(f"{_KIND_PREFIX[kind]}.{key}" for (key,) in rows)
    return out


def count_runs(con: duckdb.DuckDBPyConnection, scope: RunScope,
               user_filter: str | None) -> int:
    """How many active runs in scope match the user's filter."""
    where, params = where_clause(scope, user_filter)
    return int(_timed(con, f"SELECT count(*) FROM runs r WHERE {where}", params)[0][0])  # noqa: S608


def fetch_page(con: duckdb.DuckDBPyConnection, scope: RunScope, user_filter: str | None,
               sort: Sequence[SortKey], columns: Sequence[str], offset: int,
               limit: int) -> tuple[pa.Table, int]:
    """One page of runs as an Arrow table (``__run_id`` + ``columns``) and the match count.

    The page's run ids come from :func:`trackbook.tracking.query.select_run_ids` (the
    search behind ``search_runs``), so the table orders and filters exactly like it.
    Metrics are float64; params, tags and text attributes are strings; times are int64 ms.
    """
    import pyarrow as pa

    if limit < 0 or offset < 0:
        raise InvalidValueError(f"offset and limit must be >= 0, got {offset}, {limit}")
    parsed = [(c, *parse_column(c)) for c in columns]
    t0 = time.perf_counter()
    ids = select_run_ids(con, scope.experiment_ids, combined_filter(scope, user_filter),
                         ViewType.ACTIVE_ONLY, limit, order_items(sort), offset)
    if time.perf_counter() - t0 > SLOW_QUERY_SECONDS:
        log.info("slow run-table page (%.3fs): sort %s", time.perf_counter() - t0, sort)
    total = count_runs(con, scope, user_filter)
    attrs = ", ".join(ATTRIBUTE_COLUMNS)  # fixed whitelist
    by_id = {row[0]: row[1:] for row in _timed(
        con, f"SELECT run_id, {attrs} FROM runs "  # noqa: S608
        "WHERE run_id IN (SELECT unnest(?::VARCHAR[]))", [ids])}
    by_attr = {a: [by_id[i][k] for i in ids] for k, a in enumerate(ATTRIBUTE_COLUMNS)}
    values: dict[tuple[str, str], dict[str, Any]] = {}
    for kind, table in _KIND_TABLE.items():
        keys = [key for _, k, key in parsed if k == kind]
        if not keys or not ids:
            continue
        for run_id, key, value in _timed(
                con, f"SELECT x.run_id, x.key, x.value FROM {table} x "  # noqa: S608
                "WHERE x.run_id IN (SELECT unnest(?::VARCHAR[])) "
                "AND x.key IN (SELECT unnest(?::VARCHAR[]))", [ids, keys]):
            values.setdefault((kind, key), {})[run_id] = value
    arrays: list[pa.Array] = [pa.array(ids, pa.string())]
    names = [ID_COLUMN]
    for name, kind, key in parsed:
        if name in names:
            continue
        if kind == "attribute":
            typ = pa.int64() if key in ("start_time", "end_time") else pa.string()
            arrays.append(pa.array(by_attr[key], typ))
        else:
            got = values.get((kind, key), {})
            typ = pa.float64() if kind == "metric" else pa.string()
            arrays.append(pa.array([got.get(i) for i in ids], typ))
        names.append(name)
    return pa.Table.from_arrays(arrays, names=names), total


def to_ipc(table: pa.Table) -> bytes:
    """Serialize ``table`` as an Arrow IPC stream (what the JS decodes with flechette)."""
    import pyarrow as pa

    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def store_version(store: Store) -> str:
    """A token that changes whenever any writer appends to the store's logs.

    Cheap (one ``stat`` per writer log, no DuckDB): the run table polls it to refresh
    live. Metric flushes, params, tags and status changes all append to a log.
    """
    parts = []
    for writer_id, path in sorted(events.iter_logs(store.layout)):
        try:
            parts.append(f"{writer_id}:{path.stat().st_size}")
        except FileNotFoundError:
            continue
    return hashlib.sha1(",".join(parts).encode()).hexdigest()[:16]
