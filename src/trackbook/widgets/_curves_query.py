"""Learning-curve points for the curves widget, down-sampled in DuckDB.

Each (run, metric) series is cut into equal-width buckets along x; a bucket keeps its
minimum and its maximum point, so spikes survive and a series never sends more than
``2 * buckets`` points however long it is.

The work is one scan of the runs' Parquet files (listed by the catalog's
``metric_files``) in an in-memory DuckDB, so the catalog stays unlocked while points are
crunched. The series' extents come from the files' footers (row-group statistics of
``key``, ``step`` and ``timestamp``); only files whose row groups mix keys (a live run's
small chunks) are scanned for them. The scan never reads the ``run_id`` column: a file
belongs to one run, so ``file_index`` says which series a point is in.

On an ``s3://`` store the replica may not have a run's files yet (they are downloaded a
second after the pull that announced them): the files are fetched before they are read,
so the points are exact at once.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from .._errors import InvalidValueError

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

    from ..store.store import Store

log = logging.getLogger(__name__)

XAxis = Literal["step", "time", "relative"]
X_AXES: tuple[str, ...] = ("step", "time", "relative")
MIN_BUCKETS = 16
_READ_ATTEMPTS = 10
SLOW_SECONDS = 0.3

# Row-group statistics of the columns that give a series' extent, one row per row group.
_FOOTER_SQL = """
SELECT file_name, row_group_id, any_value(row_group_num_rows) AS n,
       any_value(stats_min_value) FILTER (WHERE path_in_schema = 'key') AS key_lo,
       any_value(stats_max_value) FILTER (WHERE path_in_schema = 'key') AS key_hi,
       bool_and(coalesce(min_is_exact AND max_is_exact, false))
           FILTER (WHERE path_in_schema = 'key') AS key_exact,
       any_value(TRY_CAST(stats_min_value AS BIGINT)) FILTER (WHERE path_in_schema = 'step')
           AS s_lo,
       any_value(TRY_CAST(stats_max_value AS BIGINT)) FILTER (WHERE path_in_schema = 'step')
           AS s_hi,
       any_value(TRY_CAST(stats_min_value AS BIGINT))
           FILTER (WHERE path_in_schema = 'timestamp') AS t_lo,
       any_value(TRY_CAST(stats_max_value AS BIGINT))
           FILTER (WHERE path_in_schema = 'timestamp') AS t_hi
FROM parquet_metadata(?::VARCHAR[])
WHERE path_in_schema IN ('key', 'step', 'timestamp')
GROUP BY ALL
"""

# Extents of files whose footers cannot tell (row groups that mix keys): scan them.
_SCAN_EXTENT_SQL = """
SELECT file_index::BIGINT AS f, key, count(*) AS n, min(step) AS s_lo, max(step) AS s_hi,
       min(timestamp) AS t_lo, max(timestamp) AS t_hi
FROM read_parquet(?::VARCHAR[]) WHERE {key_filter} GROUP BY ALL
"""

# One scan: each point's series (sid) from its file and key, its bucket from the series'
# extent (lists indexed by sid + 1), then the min and max point of every bucket, labelled
# with its run id and key (sid = run index * number of keys + key index).
_DOWNSAMPLE_SQL = """
WITH pts AS (
    SELECT sid, {x} AS x, value,
           ($n::BIGINT[])[sid + 1] AS n, ($lo::DOUBLE[])[sid + 1] AS lo,
           ($hi::DOUBLE[])[sid + 1] AS hi
    FROM (SELECT {sid} AS sid, step, timestamp, value
          FROM read_parquet($files::VARCHAR[]) WHERE {key_filter} AND NOT isnan(value))
),
agg AS (
    SELECT sid,
           -- a short series keeps every point: each distinct x is its own bucket
           CASE WHEN n <= 2 * $buckets::BIGINT THEN x
                WHEN hi > lo THEN least(floor((x - lo) / (hi - lo) * $buckets::BIGINT),
                                        $buckets::BIGINT - 1)
                ELSE 0 END AS bucket,
           arg_min(x, value) AS x_lo, min(value) AS v_lo,
           arg_max(x, value) AS x_hi, max(value) AS v_hi
    FROM pts GROUP BY ALL
),
out AS (
    SELECT sid, x_lo AS x, v_lo AS value FROM agg
    UNION ALL
    SELECT sid, x_hi, v_hi FROM agg WHERE x_hi != x_lo OR v_hi != v_lo
)
SELECT ($run_ids::VARCHAR[])[sid // $n_keys::BIGINT + 1] AS run_id,
       ($key_names::VARCHAR[])[sid % $n_keys::BIGINT + 1] AS key, x, value
FROM out ORDER BY sid, x, value
"""

_X_SQL = {
    "step": "step::DOUBLE",
    "time": "timestamp::DOUBLE",
    "relative": "(timestamp - ($t0::DOUBLE[])[sid + 1]) / 1000.0",
}


_con: duckdb.DuckDBPyConnection | None = None
_con_lock = threading.Lock()


def _cursor() -> duckdb.DuckDBPyConnection:
    """A cursor on one shared in-memory DuckDB (connecting costs ~50-100 ms each time)."""
    global _con
    import duckdb

    with _con_lock:
        if _con is None:
            _con = duckdb.connect()
            # DuckDB 2.0 folds isnan() to false from Parquet min/max statistics (which leave
            # NaN out), letting NaN points through; this connection only down-samples points.
            _con.execute("SET disabled_optimizers = 'statistics_propagation'")
        return _con.cursor()


def _vanished(exc: Exception) -> bool:
    return isinstance(exc, FileNotFoundError) or "No such file" in str(exc) \
        or "No files found" in str(exc)


def buckets_for(n_series: int, resolution: int, max_points: int) -> int:
    """Buckets per series: at most ``resolution``, and ``max_points`` in total overall."""
    if n_series <= 0:
        return resolution
    return max(MIN_BUCKETS, min(resolution, max_points // (2 * n_series)))


def metric_files(con: duckdb.DuckDBPyConnection, store: Store,
                 run_ids: Sequence[str]) -> list[tuple[int, str]]:
    """(index in ``run_ids``, path) of every metric file of those runs, from the catalog.

    Filtered in SQL: ``Store.metric_file_paths`` filters in Python after reading every
    row (~0.1 s at 100,000 runs, against ~7 ms here).
    """
    index = {r: i for i, r in enumerate(run_ids)}
    rows = con.execute("SELECT run_id, file FROM metric_files "
                       "WHERE run_id IN (SELECT unnest(?::VARCHAR[])) ORDER BY run_id, file",
                       [list(index)]).fetchall()
    return [(index[r], str(store.layout.metrics_dir(r) / f)) for r, f in rows]


def local_files(store: Store, files: list[tuple[int, str]],
                run_ids: Sequence[str]) -> list[tuple[int, str]]:
    """``files`` made readable: on a store that fetches metric files on demand (an
    ``s3://`` replica), the runs with a listed file missing are fetched first, and their
    files then come from their folders (the catalog may lag a compaction on another
    machine; the folder follows the reading rule of ``store/metrics.py``). Elsewhere
    ``files`` as they are."""
    from ..store.store import Store as _Base

    if type(store).fetch_metrics is _Base.fetch_metrics:
        return files
    missing = {i for i, p in files if not os.path.exists(p)}
    if not missing:
        return files
    store.fetch_metrics([run_ids[i] for i in sorted(missing)])
    from ..store import metrics as _metrics

    out = [(i, p) for i, p in files if i not in missing]
    for i in missing:
        newest, chunks, _ = _metrics.visible_files(store.layout.metrics_dir(run_ids[i]))
        out += [(i, str(f)) for f in ([newest] if newest else []) + chunks]
    return sorted(out)


def _empty() -> pa.Table:
    import pyarrow as pa

    from ..store.arrow import numbers, strings

    return pa.table({"run_id": strings([]), "key": strings([]),
                     "x": numbers([], pa.float64()), "value": numbers([], pa.float64())})


@dataclass
class _Extent:
    n: int
    s_lo: int
    s_hi: int
    t_lo: int
    t_hi: int

    def merge(self, n: int, s_lo: int, s_hi: int, t_lo: int, t_hi: int) -> None:
        self.n += n
        self.s_lo, self.s_hi = min(self.s_lo, s_lo), max(self.s_hi, s_hi)
        self.t_lo, self.t_hi = min(self.t_lo, t_lo), max(self.t_hi, t_hi)


def _key_filter(n_keys: int, named: str = "") -> str:
    """``key = ?`` / ``key IN (?, ...)`` (or ``$k0``, ``$k1``, ... when ``named``):
    one placeholder per key lets DuckDB skip row groups by their statistics."""
    marks = [f"{named}{i}" if named else "?" for i in range(n_keys)]
    return f"key = {marks[0]}" if n_keys == 1 else f"key IN ({', '.join(marks)})"


def _extents(cur: duckdb.DuckDBPyConnection, files: list[tuple[int, str]],
             keys: Sequence[str]) -> dict[tuple[int, str], _Extent]:
    """(run index, key) -> point count and step/time extent, from footers where they tell.

    Counts include NaN points (footers cannot leave them out); they only decide whether
    a series is short enough to send whole.
    """
    paths = [p for _, p in files]
    run_of = {p: r for r, p in files}
    wanted = set(keys)
    out: dict[tuple[int, str], _Extent] = {}
    unclear: set[str] = set()
    by_file: dict[str, list[tuple[Any, ...]]] = {}
    for row in cur.execute(_FOOTER_SQL, [paths]).fetchall():
        by_file.setdefault(row[0], []).append(row[2:])
    for path in paths:
        groups = by_file.get(path, [])
        if any(not exact or k_lo is None or k_lo != k_hi or None in (s_lo, s_hi, t_lo, t_hi)
               for _, k_lo, k_hi, exact, s_lo, s_hi, t_lo, t_hi in groups):
            unclear.add(path)
            continue
        for n, key, _, _, s_lo, s_hi, t_lo, t_hi in groups:
            if key in wanted and n:
                ext = out.get((run_of[path], key))
                if ext is None:
                    out[(run_of[path], key)] = _Extent(n, s_lo, s_hi, t_lo, t_hi)
                else:
                    ext.merge(n, s_lo, s_hi, t_lo, t_hi)
    if unclear:
        scan = [p for p in paths if p in unclear]
        sql = _SCAN_EXTENT_SQL.format(key_filter=_key_filter(len(keys)))
        for f, key, n, s_lo, s_hi, t_lo, t_hi in cur.execute(sql, [scan, *keys]).fetchall():
            k = (run_of[scan[f]], key)
            if k in out:
                out[k].merge(n, s_lo, s_hi, t_lo, t_hi)
            else:
                out[k] = _Extent(n, s_lo, s_hi, t_lo, t_hi)
    return out


def _points(cur: duckdb.DuckDBPyConnection, files: list[tuple[int, str]],
            run_ids: Sequence[str], keys: Sequence[str], x: str, buckets: int) -> pa.Table | None:
    """The down-sampled points as (run_id, key, x, value); None when no series has a point."""
    extents = _extents(cur, files, keys)
    if not extents:
        return None
    n_keys = len(keys)
    size = len(run_ids) * n_keys
    n, lo, hi, t0 = [0] * size, [0.0] * size, [0.0] * size, [0.0] * size
    run_t0: dict[int, int] = {}
    for (run, _), ext in extents.items():
        run_t0[run] = min(run_t0.get(run, ext.t_lo), ext.t_lo)
    key_index = {k: i for i, k in enumerate(keys)}
    for (run, key), ext in extents.items():
        sid = run * n_keys + key_index[key]
        n[sid], t0[sid] = ext.n, float(run_t0[run])
        if x == "step":
            lo[sid], hi[sid] = float(ext.s_lo), float(ext.s_hi)
        elif x == "time":
            lo[sid], hi[sid] = float(ext.t_lo), float(ext.t_hi)
        else:
            lo[sid] = (ext.t_lo - run_t0[run]) / 1000.0
            hi[sid] = (ext.t_hi - run_t0[run]) / 1000.0
    run_of_file = [r for r, _ in files]
    if n_keys == 1:
        sid_sql = "($run::BIGINT[])[file_index::BIGINT + 1]"
    else:
        sid_sql = (f"($run::BIGINT[])[file_index::BIGINT + 1] * {n_keys} "
                   "+ list_position($keys::VARCHAR[], key) - 1")
    sql = _DOWNSAMPLE_SQL.format(x=_X_SQL[x], sid=sid_sql, key_filter=_key_filter(n_keys, "$k"))
    params: dict[str, Any] = {
        "run": run_of_file, "n": n, "lo": lo, "hi": hi, "buckets": buckets,
        "files": [p for _, p in files], "run_ids": list(run_ids), "key_names": list(keys),
        "n_keys": n_keys,
    }
    if x == "relative":
        params["t0"] = t0
    if n_keys > 1:
        params["keys"] = list(keys)
    params.update({f"k{i}": k for i, k in enumerate(keys)})
    return cur.sql(sql, params=params).to_arrow_table()


def downsample(store: Store, run_ids: Sequence[str], keys: Sequence[str],
               x: str = "step", buckets: int = 1000,
               files: list[tuple[int, str]] | None = None) -> pa.Table:
    """Points of ``keys`` for ``run_ids``, at most ``2 * buckets`` per (run, key) series.

    Parameters
    ----------
    store : Store
        The store to read.
    run_ids, keys : sequence of str
        Which runs and metric keys.
    x : {"step", "time", "relative"}
        The x axis: step, wall time (ms since the epoch) or seconds since the run's first
        point.
    buckets : int
        Equal-width buckets per series along x; each keeps its min and max point.
        Series with at most ``2 * buckets`` points are sent whole.
    files : list of (int, str), optional
        The runs' metric files as :func:`metric_files` lists them, when the caller
        already read the catalog; listed from the catalog otherwise.

    Returns
    -------
    pyarrow.Table
        Columns ``run_id``, ``key`` (strings), ``x``, ``value`` (float64), sorted by run
        (in ``run_ids`` order), key (in ``keys`` order) and x. NaN values are dropped.
    """
    import duckdb

    from ..store import damaged

    if x not in _X_SQL:
        raise InvalidValueError(f"x must be one of {', '.join(X_AXES)}; got {x!r}")
    if buckets < 1:
        raise InvalidValueError(f"buckets must be >= 1, got {buckets}")
    run_ids, keys = list(dict.fromkeys(run_ids)), list(dict.fromkeys(keys))
    if not run_ids or not keys:
        return _empty()
    t0 = time.perf_counter()
    for attempt in range(_READ_ATTEMPTS):
        if files is None or attempt:
            with store.connect() as con:
                files = metric_files(con, store, run_ids)
        files = local_files(store, files, run_ids)
        cur = _cursor()
        sound = set(damaged.usable([p for _, p in files], cur))
        files = [(i, p) for i, p in files if p in sound]
        if not files:
            cur.close()
            return _empty()
        try:
            points = _points(cur, files, run_ids, keys, x, buckets)
            break
        except (OSError, duckdb.Error) as exc:
            # A writer compacted the run between listing and reading: list again. A
            # damaged file DuckDB stumbled on: found, warned about, and left out next time.
            if attempt < _READ_ATTEMPTS - 1 and damaged.recover(exc, [p for _, p in files]):
                continue
            if attempt == _READ_ATTEMPTS - 1 or not _vanished(exc):
                raise
        finally:
            cur.close()
    dt = time.perf_counter() - t0
    if dt > SLOW_SECONDS:
        log.info("down-sampling %d runs x %d keys took %.3fs", len(run_ids), len(keys), dt)
    return _empty() if points is None else points


def wire_format(table: pa.Table) -> tuple[dict[str, Any], bytes]:
    """Pack down-sampled points for the browser: ~8 bytes per point.

    The points are grouped by series already (``downsample``'s order), so the series go
    as a list of ``{"run_id", "key", "n"}`` (``n`` points each, in order), and the points
    as an Arrow IPC stream of two float32 columns: ``x`` minus ``x0`` (sent as a float64,
    so wall-clock milliseconds keep their precision) and ``value``.
    """
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    from ..store.arrow import from_numpy, to_numpy

    meta: dict[str, Any] = {"series": [], "x0": 0.0}
    n = table.num_rows
    if n:
        runs = pc.dictionary_encode(table["run_id"]).combine_chunks()
        keys = pc.dictionary_encode(table["key"]).combine_chunks()
        sid = (to_numpy(runs.indices).astype(np.int64) * len(keys.dictionary)
               + to_numpy(keys.indices))
        starts = np.flatnonzero(np.diff(sid, prepend=-1))
        counts = np.diff(np.append(starts, n))
        run_names, key_names = runs.dictionary.to_pylist(), keys.dictionary.to_pylist()
        meta["series"] = [
            {"run_id": run_names[sid[i] // len(key_names)],
             "key": key_names[sid[i] % len(key_names)], "n": int(c)}
            for i, c in zip(starts, counts, strict=True)]
        meta["x0"] = float(pc.min(table["x"]).as_py())
    x = to_numpy(table["x"]) - meta["x0"]
    points = pa.table({
        "x": from_numpy(pa.float32(), x.astype(np.float32)),
        "value": from_numpy(pa.float32(), to_numpy(table["value"]).astype(np.float32))})
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, points.schema) as writer:
        writer.write_table(points)
    return meta, sink.getvalue().to_pybytes()


def run_labels(con: duckdb.DuckDBPyConnection, run_ids: Sequence[str],
               max_params: int = 6) -> list[dict[str, Any]]:
    """Name and a few params of each run (those that differ first), for legend and hover."""
    if not run_ids:
        return []
    names = dict(con.execute(
        "SELECT run_id, run_name FROM runs WHERE run_id IN (SELECT unnest(?::VARCHAR[]))",
        [list(run_ids)]).fetchall())
    rows = con.execute(
        "SELECT run_id, key, value FROM params WHERE run_id IN "
        "(SELECT unnest(?::VARCHAR[])) ORDER BY key", [list(run_ids)]).fetchall()
    params: dict[str, dict[str, str]] = {r: {} for r in run_ids}
    values: dict[str, set[str]] = {}
    for run_id, key, value in rows:
        params[run_id][key] = value
        values.setdefault(key, set()).add(value)
    ranked = sorted(values, key=lambda k: (len(values[k]) <= 1, k))[:max_params]
    return [{"run_id": r, "name": names.get(r) or r[:8],
             "params": {k: params[r][k] for k in ranked if k in params[r]}} for r in run_ids]
