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
from ..tracking.query import stage_search
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


def _timed(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any], *,
           arrow: bool = False) -> Any:
    """Rows of ``sql`` (an Arrow table when ``arrow``); slow queries are logged."""
    t0 = time.perf_counter()
    if arrow:
        result = con.sql(sql, params=params).to_arrow_table()
    else:
        result = con.execute(sql, params).fetchall()
    dt = time.perf_counter() - t0
    if dt > SLOW_QUERY_SECONDS:
        log.info("slow run-table query (%.3fs): %s", dt, sql[:200])
    return result


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

    The page's runs come from :func:`trackbook.tracking.query.stage_search` (the search
    behind ``search_runs``), so the table orders and filters exactly like it.
    Metrics are float64; params, tags and text attributes are strings; times are int64 ms.
    The page is built by one DuckDB query straight into Arrow: building Arrow arrays
    from Python values would import pandas (~0.5 s of a fresh kernel's first display).
    """
    if limit < 0 or offset < 0:
        raise InvalidValueError(f"offset and limit must be >= 0, got {offset}, {limit}")
    names = [ID_COLUMN]
    parsed = []
    for name in columns:
        kind, key = parse_column(name)
        if name not in names:
            names.append(name)
            parsed.append((kind, key))
    t0 = time.perf_counter()
    stage_search(con, scope.experiment_ids, combined_filter(scope, user_filter),
                 ViewType.ACTIVE_ONLY, limit, order_items(sort), offset)
    if time.perf_counter() - t0 > SLOW_QUERY_SECONDS:
        log.info("slow run-table page (%.3fs): sort %s", time.perf_counter() - t0, sort)
    total = count_runs(con, scope, user_filter)
    select = ["r.run_id"]
    joins: list[str] = []
    params: list[Any] = []
    wide: dict[str, list[str]] = {}  # kind -> keys, in column order
    for kind, key in parsed:
        if kind == "attribute":
            select.append(f"r.{key}")  # parse_column allows ATTRIBUTE_COLUMNS only
        else:
            keys = wide.setdefault(kind, [])
            select.append(f"w_{kind}.c{len(keys)}")
            keys.append(key)
    for kind, keys in wide.items():
        pivots = ", ".join(f"any_value(x.value) FILTER (WHERE x.key = ?) AS c{i}"
                           for i in range(len(keys)))
        # Fragments are fixed names (kinds, whitelisted attributes); keys are parameters.
        joins.append(f"LEFT JOIN (SELECT x.run_id, {pivots} FROM {_KIND_TABLE[kind]} x "  # noqa: S608
                     "WHERE x.run_id IN (SELECT run_id FROM _sel) "
                     f"GROUP BY x.run_id) w_{kind} ON w_{kind}.run_id = r.run_id")
        params.extend(keys)
    sql = (f"SELECT {', '.join(select)} FROM _sel s JOIN runs r ON r.run_id = s.run_id "  # noqa: S608
           f"{' '.join(joins)} ORDER BY s._ord")
    table = _timed(con, sql, params, arrow=True)
    return table.rename_columns(names), total


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
