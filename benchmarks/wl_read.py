"""Worker side: workloads that read a store another process wrote.

Each reader is a fresh process on a fresh copy of the written store, so its first query
is the first one after writing (trackbook then builds its DuckDB index from the files).
Before the clock starts, both tools import the libraries their queries use (pandas;
trackbook also pyarrow and duckdb) and make the experiment current (MLflow opens its
SQLAlchemy engine there), so the timings are of the queries, not of imports.
"""

from __future__ import annotations

import time
from typing import Any

from _tool import count, experiment_id, load, preload

SEARCH_FILTER = "params.p0 = '3' and metrics.m0 > 0.5"
# History timings include reading every point through the Metric objects (``m.step``,
# ``m.value``), as portable code plotting a curve does: a lazy result that defers
# building them (trackbook's MetricHistory) is charged for it too.
SEARCH_ORDER = ["metrics.m1 DESC"]


def _warm_up(tool: str, store: str) -> tuple[Any, str]:
    preload(tool)
    ml = load(tool, store)
    return ml, experiment_id(ml)


def expected_filter_hits(n: int) -> int:
    """How many of ``wl_write.create_runs(n)``'s runs match ``SEARCH_FILTER``."""
    return sum(1 for i in range(n) if i % 10 == 3 and i / n > 0.5)


def _search_twice(ml: Any, exp: str, kind: str) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"experiment_ids": [exp]}
    if kind == "filter":
        kwargs.update(filter_string=SEARCH_FILTER, order_by=SEARCH_ORDER)
    times, sizes, ordered = [], [], True
    for _ in range(2):
        t0 = time.perf_counter()
        df = ml.search_runs(**kwargs)
        times.append(time.perf_counter() - t0)
        sizes.append(len(df))
        if kind == "filter" and len(df):
            m1 = df["metrics.m1"].tolist()
            ordered = ordered and m1 == sorted(m1, reverse=True)
    return {"first": times[0], "warm": times[1], "n": sizes[0], "n_warm": sizes[1],
            "ordered": ordered}


def search(tool: str, store: str, filter_store: str) -> dict[str, Any]:
    """Workload 3b: ``search_runs`` of all runs twice (first, then warm) on ``store``,
    then with filter + order_by twice on ``filter_store``, a second copy of the same
    store (so that search is a first query too; the warm-up runs on it first)."""
    preload(tool)
    out = {}
    for kind, path in (("all", store), ("filter", filter_store)):
        ml = load(tool, path)
        out[kind] = _search_twice(ml, experiment_id(ml), kind)
    return out


def _materialize(hist: Any) -> list[Any]:
    return hist if type(hist) is list else list(hist)


def read_history(tool: str, store: str, run_id: str, key: str = "loss") -> dict[str, Any]:
    """Workload 4: ``MlflowClient().get_metric_history`` of one run, first and warm."""
    ml, _ = _warm_up(tool, store)
    client = ml.MlflowClient()
    times, calls, sizes, last_step = [], [], [], None
    for _ in range(2):
        t0 = time.perf_counter()
        hist = client.get_metric_history(run_id, key)
        calls.append(time.perf_counter() - t0)
        points = _materialize(hist)
        times.append(time.perf_counter() - t0)
        sizes.append(len(points))
        last_step = max(m.step for m in points) if points else None
    return {"first": times[0], "warm": times[1], "first_call_only": calls[0],
            "n": sizes[0], "n_warm": sizes[1], "last_step": last_step}


def read_curves(tool: str, store: str, run_ids: list[str], key: str = "loss"
                ) -> dict[str, Any]:
    """Workload 5: the full history of every run in ``run_ids`` (one call per run)."""
    ml, _ = _warm_up(tool, store)
    client = ml.MlflowClient()
    times, totals = [], []
    for _ in range(2):
        t0 = time.perf_counter()
        total = sum(len(_materialize(client.get_metric_history(r, key))) for r in run_ids)
        times.append(time.perf_counter() - t0)
        totals.append(total)
    return {"first": times[0], "warm": times[1], "n": totals[0], "n_warm": totals[1]}


def count_store(tool: str, store: str) -> dict[str, Any]:
    """Runs and points on disk (see ``_tool.count``)."""
    return count(tool, store)
