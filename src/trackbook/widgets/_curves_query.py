"""Learning-curve points for the curves widget, down-sampled in DuckDB.

Each (run, metric) series is cut into equal-width buckets along x; a bucket keeps its
minimum and its maximum point, so spikes survive and a series never sends more than
``2 * buckets`` points however long it is. Points come straight from the runs' Parquet
files (the store's reading rule picks them), read by an in-memory DuckDB: the catalog
stays unlocked while the points are crunched.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

from .._errors import InvalidValueError
from ..store import metrics as _metrics

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

    from ..store.store import Store

log = logging.getLogger(__name__)

XAxis = Literal["step", "time", "relative"]
X_AXES: tuple[str, ...] = ("step", "time", "relative")
MIN_BUCKETS = 16
_READ_ATTEMPTS = 10

# Pass 1 (one scan, cheap aggregates): the extent of every (run, key) series.
_BOUNDS_SQL = """
SELECT run_id, key, count(*) AS n, min(step)::DOUBLE AS s_lo, max(step)::DOUBLE AS s_hi,
       min(timestamp)::DOUBLE AS t_lo, max(timestamp)::DOUBLE AS t_hi
FROM read_parquet(?::VARCHAR[])
WHERE key IN (SELECT unnest(?::VARCHAR[])) AND NOT isnan(value)
GROUP BY run_id, key
"""

# x per mode, as (point expression, series low, series high); t0 is the run's first point
_X_SQL = {
    "step": ("p.step::DOUBLE", "s_lo", "s_hi"),
    "time": ("p.timestamp::DOUBLE", "t_lo", "t_hi"),
    "relative": ("(p.timestamp - b.t0) / 1000.0", "(t_lo - t0) / 1000.0",
                 "(t_hi - t0) / 1000.0"),
}

# Pass 2 (one scan joined with the small bounds table): min and max point per bucket.
_DOWNSAMPLE_SQL = """
WITH b AS (
    SELECT run_id, key, n, {lo} AS lo, {hi} AS hi, t0
    FROM (SELECT *, min(t_lo) OVER (PARTITION BY run_id) AS t0 FROM series_bounds)
),
pts AS (
    SELECT p.run_id, p.key, {x} AS x, p.value, b.n, b.lo, b.hi
    FROM read_parquet(?::VARCHAR[]) p JOIN b USING (run_id, key)
    WHERE NOT isnan(p.value)
),
buckets AS (
    -- a short series keeps every point: each distinct x is its own bucket
    SELECT run_id, key,
           CASE WHEN n <= 2 * ? THEN x
                WHEN hi > lo THEN least(floor((x - lo) / (hi - lo) * ?), ? - 1)
                ELSE 0 END AS bucket,
           arg_min(x, value) AS x_lo, min(value) AS v_lo,
           arg_max(x, value) AS x_hi, max(value) AS v_hi
    FROM pts GROUP BY ALL
)
SELECT run_id, key, x_lo AS x, v_lo AS value FROM buckets
UNION ALL
SELECT run_id, key, x_hi, v_hi FROM buckets WHERE x_hi != x_lo OR v_hi != v_lo
ORDER BY run_id, key, x, value
"""


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


def _files(store: Store, run_ids: Sequence[str]) -> list[str]:
    out = []
    for run_id in run_ids:
        newest, chunks, _ = _metrics.visible_files(store.layout.metrics_dir(run_id))
        out += [str(p) for p in ([newest] if newest else []) + chunks]
    return out


def _empty() -> pa.Table:
    import pyarrow as pa

    return pa.table({"run_id": pa.array([], pa.string()), "key": pa.array([], pa.string()),
                     "x": pa.array([], pa.float64()), "value": pa.array([], pa.float64())})


def downsample(store: Store, run_ids: Sequence[str], keys: Sequence[str],
               x: str = "step", buckets: int = 1000) -> pa.Table:
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

    Returns
    -------
    pyarrow.Table
        Columns ``run_id``, ``key`` (strings), ``x``, ``value`` (float64), sorted by run,
        key and x. NaN values are dropped.
    """
    import duckdb

    if x not in _X_SQL:
        raise InvalidValueError(f"x must be one of {', '.join(X_AXES)}; got {x!r}")
    if buckets < 1:
        raise InvalidValueError(f"buckets must be >= 1, got {buckets}")
    if not run_ids or not keys:
        return _empty()
    x_expr, lo, hi = _X_SQL[x]
    sql = _DOWNSAMPLE_SQL.format(x=x_expr, lo=lo, hi=hi)
    t0 = time.perf_counter()
    for attempt in range(_READ_ATTEMPTS):
        files = _files(store, run_ids)
        if not files:
            return _empty()
        cur = _cursor()
        try:
            bounds = cur.sql(_BOUNDS_SQL, params=[files, list(keys)]).to_arrow_table()
            cur.register("series_bounds", bounds)
            table = cur.sql(sql, params=[files, *[buckets] * 3]).to_arrow_table()
            break
        except (OSError, duckdb.Error) as exc:
            # A writer compacted the run between listing and reading: list again.
            if attempt == _READ_ATTEMPTS - 1 or not _vanished(exc):
                raise
        finally:
            cur.close()
    dt = time.perf_counter() - t0
    if dt > 0.3:
        log.info("down-sampling %d runs x %d keys took %.3fs", len(run_ids), len(keys), dt)
    return table


def compact_for_wire(table: pa.Table) -> pa.Table:
    """Dictionary-encode the run id and key columns (~24 bytes per point on the wire)."""
    import pyarrow.compute as pc

    for name in ("run_id", "key"):
        i = table.column_names.index(name)
        table = table.set_column(i, name, pc.dictionary_encode(table[name]))
    return table


def run_labels(store: Store, run_ids: Sequence[str],
               max_params: int = 6) -> list[dict[str, Any]]:
    """Name and a few params of each run (those that differ first), for legend and hover."""
    if not run_ids:
        return []
    with store.connect() as con:
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
