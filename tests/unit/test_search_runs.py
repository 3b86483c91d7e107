"""``tb.search_runs`` (MLflow's DataFrame shape) and ``tb.sql`` over a real store."""

from __future__ import annotations

import pandas as pd
import pytest

import trackbook as tb
from trackbook._errors import InvalidValueError
from trackbook.tracking.entities import Run

pytestmark = pytest.mark.usefixtures("tb_store")


def make_runs() -> tuple[str, str, list[str]]:
    """Experiment "a" with 4 runs (acc 0.1..0.4, model rf/xgb), experiment "b" with 1."""
    a = tb.set_experiment("a").experiment_id
    ids = []
    for i in range(4):
        with tb.start_run(run_name=f"a{i}") as run:
            tb.log_metric("acc", (i + 1) / 10, step=0)
            tb.log_metric("acc", (i + 1) / 10, step=1)
            tb.log_param("model", "rf" if i % 2 == 0 else "xgb")
            tb.log_param("depth", str(i + 2))
            tb.set_tag("team", "core" if i < 2 else "research")
        ids.append(run.info.run_id)
    b = tb.set_experiment("b").experiment_id
    with tb.start_run(run_name="b0") as run:
        tb.log_metric("loss", 1.5)
    ids.append(run.info.run_id)
    tb.set_experiment("a")
    return a, b, ids


def test_dataframe_columns_and_values() -> None:
    a, _, ids = make_runs()
    df = tb.search_runs()
    assert isinstance(df, pd.DataFrame)
    for col in ("run_id", "experiment_id", "status", "artifact_uri", "start_time", "end_time",
                "metrics.acc", "params.model", "params.depth", "tags.team",
                "tags.mlflow.runName"):
        assert col in df.columns, col
    assert "metrics.loss" not in df.columns  # experiment "b" is not searched
    assert len(df) == 4
    assert set(df["experiment_id"]) == {a}
    assert set(df["status"]) == {"FINISHED"}
    # newest first by default
    assert list(df["run_id"]) == ids[3::-1]
    row = df.set_index("run_id").loc[ids[2]]
    assert row["metrics.acc"] == pytest.approx(0.3)
    assert row["params.model"] == "rf"
    assert row["tags.team"] == "research"
    assert pd.api.types.is_datetime64_any_dtype(df["start_time"])
    assert pd.api.types.is_datetime64_any_dtype(df["end_time"])
    assert (df["end_time"] >= df["start_time"]).all()
    info = tb.get_run(ids[2]).info
    assert row["start_time"] == pd.Timestamp(info.start_time, unit="ms", tz="UTC")
    assert row["artifact_uri"] == info.artifact_uri


def test_filter_order_by_and_max_results() -> None:
    _, _, ids = make_runs()
    df = tb.search_runs(filter_string="metrics.acc >= 0.2 and params.model = 'rf'")
    assert list(df["run_id"]) == [ids[2]]
    df = tb.search_runs(filter_string="tags.team = 'core'", order_by=["metrics.acc ASC"])
    assert list(df["run_id"]) == [ids[0], ids[1]]
    df = tb.search_runs(order_by=["params.depth DESC"], max_results=3)
    assert list(df["run_id"]) == [ids[3], ids[2], ids[1]]
    df = tb.search_runs(filter_string="attributes.run_name LIKE 'a%'",
                        order_by=["attributes.run_name"], max_results=2)
    assert list(df["run_name"]) == ["a0", "a1"]
    empty = tb.search_runs(filter_string="metrics.acc > 5")
    assert len(empty) == 0
    assert "run_id" in empty.columns


def test_output_format_list() -> None:
    _, _, ids = make_runs()
    runs = tb.search_runs(output_format="list", order_by=["metrics.acc DESC"])
    assert all(isinstance(r, Run) for r in runs)
    assert [r.info.run_id for r in runs] == ids[3::-1]
    assert runs[0].data.params == {"model": "xgb", "depth": "5"}
    assert runs[0].data.metrics == {"acc": pytest.approx(0.4)}
    with pytest.raises(InvalidValueError):
        tb.search_runs(output_format="csv")


def test_search_all_experiments_and_by_name() -> None:
    a, b, ids = make_runs()
    df = tb.search_runs(search_all_experiments=True)
    assert set(df["run_id"]) == set(ids)
    assert {"metrics.loss", "metrics.acc"} <= set(df.columns)
    assert list(tb.search_runs(experiment_names=["b"])["run_id"]) == [ids[4]]
    assert set(tb.search_runs(experiment_ids=[a, b])["run_id"]) == set(ids)
    assert list(tb.search_runs(experiment_ids=b)["run_id"]) == [ids[4]]
    # As MLflow 3.17.2: a missing name warns (logging) and matches nothing.
    assert tb.search_runs(experiment_names=["nope"]).empty


def test_no_silent_cap_on_results() -> None:
    exp = tb.set_experiment("big").experiment_id
    client = tb.Client()
    n = 1200
    for i in range(n):
        rid = client.create_run(exp).info.run_id
        client.log_param(rid, "i", i)  # a param, not a metric: no Parquet file per run
        client.set_terminated(rid)
    df = tb.search_runs()
    assert len(df) == n
    assert sorted(df["params.i"].astype(int)) == list(range(n))
    assert len(tb.search_runs(output_format="list")) == n
    assert len(client.search_runs([exp])) == n
    assert len(tb.search_runs(max_results=1100)) == 1100


def test_sql_over_runs_params_and_metric_points() -> None:
    _, _, ids = make_runs()
    per_run = tb.sql("SELECT run_id, count(*) AS n, max(step) AS last FROM metrics "
                     "WHERE key = 'acc' GROUP BY run_id ORDER BY run_id")
    assert list(per_run["run_id"]) == sorted(ids[:4])
    assert set(per_run["n"]) == {2}
    assert set(per_run["last"]) == {1}
    assert tb.sql("SELECT count(*) AS n FROM metrics")["n"][0] == 9
    rf = tb.sql("SELECT r.run_name FROM runs r JOIN params p USING (run_id) "
                "WHERE p.key = 'model' AND p.value = ? ORDER BY r.run_name", ["rf"])
    assert list(rf["run_name"]) == ["a0", "a2"]
    assert tb.sql("SELECT count(*) AS n FROM runs")["n"][0] == 5
    joined = tb.sql("SELECT m.run_name, m.value FROM metrics m WHERE m.key = 'loss'")
    assert list(joined["run_name"]) == ["b0"]
    assert list(joined["value"]) == [1.5]
    latest = tb.sql("SELECT value FROM latest_metrics WHERE run_id = ? AND key = 'acc'",
                    [ids[1]])
    assert latest["value"][0] == pytest.approx(0.2)


def test_sql_finds_nan_points_in_compacted_and_chunk_files() -> None:
    """DuckDB prunes isnan() with Parquet min/max statistics (which leave NaN out) unless
    told not to: tb.sql must still find them."""
    with tb.start_run() as run:
        for i in range(3000):  # compacted at the run's end
            tb.log_metric("v", float("nan") if i % 100 == 7 else float(i), step=i)
    with tb.start_run() as small:  # one small chunk
        tb.log_metric("v", float("nan"), step=0)
        tb.log_metric("v", 1.0, step=1)
    nan = tb.sql("SELECT run_id, count(*) AS n FROM metrics WHERE isnan(value) "
                 "GROUP BY run_id ORDER BY n DESC")
    assert list(zip(nan["run_id"], nan["n"], strict=True)) == [
        (run.info.run_id, 30), (small.info.run_id, 1)]


def test_sql_sees_points_of_a_running_run() -> None:
    with tb.start_run() as run:
        for i in range(100):
            tb.log_metric("x", float(i), step=i)
        live = tb.sql("SELECT count(*) AS n FROM metrics WHERE run_id = ?", [run.info.run_id])
        assert live["n"][0] == 100
        assert len(tb.Client().get_metric_history(run.info.run_id, "x")) == 100
        assert tb.search_runs()["metrics.x"][0] == 99.0
