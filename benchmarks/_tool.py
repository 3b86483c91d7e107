"""Worker side: load one tool, point it at a store, count what the store holds.

Everything in here runs inside a benchmark subprocess, under either trackbook's or
MLflow's interpreter, so it imports only the standard library at module level.
"""

from __future__ import annotations

import os
from typing import Any

EXPERIMENT = "bench"
TOOLS = ("mlflow", "trackbook")


def mlflow_db(store: str) -> str:
    """The SQLite file of an MLflow store folder (MLflow 3's default backend)."""
    return os.path.join(store, "mlflow.db")


def load(tool: str, store: str) -> Any:
    """Import ``tool`` and point its tracking URI at ``store``; return the module."""
    if tool == "trackbook":
        import trackbook as ml

        ml.set_tracking_uri(store)
    elif tool == "mlflow":
        import mlflow as ml

        ml.set_tracking_uri(f"sqlite:///{mlflow_db(store)}")
    else:
        raise ValueError(f"tool must be one of {TOOLS}, got {tool!r}")
    return ml


def metric_class(tool: str) -> Any:
    """The ``Metric(key, value, timestamp, step)`` entity of ``tool``."""
    if tool == "trackbook":
        from trackbook import Metric
    else:
        from mlflow.entities import Metric
    return Metric


def preload(tool: str) -> None:
    """Import the libraries a tool's writes or queries use, before any clock starts.

    ``import mlflow`` loads its stack up front (and ``set_experiment`` opens SQLAlchemy);
    trackbook defers pyarrow/pandas to its first flush or query. Workload 7 charges both
    tools for everything from a fresh interpreter to the first durable point.
    """
    if tool == "trackbook":
        import duckdb  # noqa: F401
        import numpy  # noqa: F401
        import pandas
        import pyarrow
        import pyarrow.parquet  # noqa: F401
    else:
        import pandas  # noqa: F401


def experiment_id(ml: Any) -> str:
    """Make the benchmark experiment current (it exists already) and return its id."""
    return ml.set_experiment(EXPERIMENT).experiment_id


def count(tool: str, store: str) -> dict[str, int]:
    """Active runs and metric points the store holds on disk, read by a fresh process.

    For MLflow the SQLite file is read directly (what is committed is durable); for
    trackbook through its own SQL view over the Parquet files (a fresh process has no
    buffered points, so only flushed points can be counted).
    """
    if tool == "mlflow":
        import sqlite3

        con = sqlite3.connect(f"file:{mlflow_db(store)}?mode=ro", uri=True)
        try:
            points = con.execute("SELECT count(*) FROM metrics").fetchone()[0]
            runs = con.execute(
                "SELECT count(*) FROM runs WHERE lifecycle_stage = 'active'").fetchone()[0]
        finally:
            con.close()
        return {"points": int(points), "runs": int(runs)}
    ml = load(tool, store)
    runs = int(ml.sql("SELECT count(*) AS n FROM runs WHERE lifecycle_stage = 'active'")
               ["n"].iloc[0])
    points = int(ml.sql("SELECT count(*) AS n FROM metrics")["n"].iloc[0]) if runs else 0
    return {"points": points, "runs": runs}
