"""``trackbook.Client`` (MLflow's ``MlflowClient`` names) against a real store."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

import trackbook as tb
from trackbook._errors import (
    ExperimentNotFoundError,
    InvalidNameError,
    InvalidValueError,
    ParamConflictError,
    RunNotFoundError,
)
from trackbook.tracking.entities import Metric, RunStatus, ViewType


def test_mlflowclient_alias_is_client() -> None:
    assert tb.MlflowClient is tb.Client


def test_experiments(client: Any) -> None:
    exp_id = client.create_experiment("exp-a", tags={"owner": "me"})
    exp = client.get_experiment(exp_id)
    assert (exp.name, exp.lifecycle_stage, exp.tags) == ("exp-a", "active", {"owner": "me"})
    assert client.get_experiment_by_name("exp-a").experiment_id == exp_id
    with pytest.raises(InvalidNameError, match="exp-a"):
        client.create_experiment("exp-a")
    other = client.create_experiment("exp-b")
    names = {e.name for e in client.search_experiments()}
    assert {"exp-a", "exp-b"} <= names
    assert [e.name for e in client.search_experiments(filter_string="name = 'exp-b'")] == [
        "exp-b"]
    client.delete_experiment(other)
    assert "exp-b" not in {e.name for e in client.search_experiments()}
    assert "exp-b" in {e.name for e in client.search_experiments(view_type=ViewType.ALL)}
    client.restore_experiment(other)
    assert "exp-b" in {e.name for e in client.search_experiments()}
    client.rename_experiment(exp_id, "exp-renamed")
    assert client.get_experiment(exp_id).name == "exp-renamed"
    assert client.get_experiment_by_name("exp-a") is None
    with pytest.raises(ExperimentNotFoundError):
        client.get_experiment("999999")


def test_create_run_log_and_terminate(client: Any) -> None:
    exp_id = client.create_experiment("runs")
    run = client.create_run(exp_id, run_name="r1", tags={"k": "v"})
    rid = run.info.run_id
    assert run.info.status == "RUNNING"
    assert run.info.experiment_id == exp_id
    client.log_metric(rid, "loss", 0.5, step=1, timestamp=10)
    client.log_metric(rid, "loss", 0.25, step=2, timestamp=20)
    client.log_param(rid, "p", 3)
    client.set_tag(rid, "t", "x")
    client.set_tag(rid, "t", "y")
    client.set_terminated(rid)
    got = client.get_run(rid)
    assert got.info.status == "FINISHED"
    assert got.info.run_name == "r1"
    assert got.info.end_time >= got.info.start_time
    assert got.data.metrics == {"loss": 0.25}
    assert got.data.params == {"p": "3"}
    assert got.data.tags["t"] == "y"
    assert got.data.tags["k"] == "v"
    assert client.get_metric_history(rid, "loss") == [
        Metric("loss", 0.5, 10, 1), Metric("loss", 0.25, 20, 2)]
    client.delete_tag(rid, "t")
    assert "t" not in client.get_run(rid).data.tags


def test_create_run_in_unknown_experiment_raises(client: Any) -> None:
    with pytest.raises(ExperimentNotFoundError):
        client.create_run("424242")


def test_get_unknown_run_raises(client: Any) -> None:
    with pytest.raises(RunNotFoundError):
        client.get_run("0" * 32)
    with pytest.raises(RunNotFoundError):
        client.log_metric("0" * 32, "x", 1.0)


def test_log_batch(client: Any) -> None:
    exp_id = client.create_experiment("batch")
    rid = client.create_run(exp_id).info.run_id
    client.log_batch(
        rid,
        metrics=[Metric("m", 1.0, 100, 0), Metric("m", 2.0, 200, 1), ("n", 5.0, 300, 4)],
        params=[("a", 1), ("b", "x")],
        tags=[("t", "1")],
    )
    client.set_terminated(rid)
    got = client.get_run(rid)
    assert got.data.metrics == {"m": 2.0, "n": 5.0}
    assert got.data.params == {"a": "1", "b": "x"}
    assert got.data.tags["t"] == "1"
    assert [(m.step, m.value, m.timestamp) for m in client.get_metric_history(rid, "m")] == [
        (0, 1.0, 100), (1, 2.0, 200)]
    assert client.get_metric_history(rid, "n") == [Metric("n", 5.0, 300, 4)]


def test_log_batch_is_all_or_nothing(client: Any) -> None:
    exp_id = client.create_experiment("atomic")
    rid = client.create_run(exp_id).info.run_id
    client.log_param(rid, "fixed", "1")
    with pytest.raises(ParamConflictError, match="fixed"):
        client.log_batch(rid, metrics=[Metric("m", 1.0, 1, 0)],
                         params=[("new", "x"), ("fixed", "2")], tags=[("t", "v")])
    with pytest.raises(InvalidValueError, match="bad"):
        client.log_batch(rid, metrics=[Metric("ok", 1.0, 1, 0), Metric("bad", "nan?", 1, 0)],
                         params=[("new2", "y")])
    with pytest.raises(InvalidNameError):
        client.log_batch(rid, params=[("new3", "z")], tags=[("bad;name", "v")])
    client.set_terminated(rid)
    got = client.get_run(rid)
    assert got.data.params == {"fixed": "1"}
    assert got.data.metrics == {}
    assert "t" not in got.data.tags
    assert client.get_metric_history(rid, "m") == []


def test_metric_history_df_and_many_points(client: Any) -> None:
    exp_id = client.create_experiment("many")
    rid = client.create_run(exp_id).info.run_id
    n = 25_000  # more than one automatic flush
    client.log_batch(rid, metrics=[Metric("x", float(i), i, i) for i in range(n)])
    client.log_metric(rid, "y", math.nan, step=0)
    client.set_terminated(rid)
    hist = client.get_metric_history(rid, "x")
    assert len(hist) == n
    assert [m.step for m in hist] == list(range(n))
    assert all(m.value == float(m.step) for m in hist)
    df = client.get_metric_history_df(rid)
    assert len(df) == n + 1
    assert set(df.columns) >= {"key", "value", "step", "timestamp"}
    assert client.get_run(rid).data.metrics["x"] == float(n - 1)
    summary = tb.sql("SELECT count, min, max FROM latest_metrics WHERE run_id = ? AND key = 'x'",
                     [rid])
    assert (summary["count"][0], summary["min"][0], summary["max"][0]) == (n, 0.0, n - 1.0)


def test_update_delete_restore_run(client: Any) -> None:
    exp_id = client.create_experiment("lifecycle")
    rid = client.create_run(exp_id, run_name="old").info.run_id
    client.update_run(rid, name="new")
    assert client.get_run(rid).info.run_name == "new"
    client.update_run(rid, status="KILLED")
    assert client.get_run(rid).info.status == "KILLED"
    assert client.get_run(rid).info.end_time is not None
    client.delete_run(rid)
    assert client.get_run(rid).info.lifecycle_stage == "deleted"
    assert client.search_runs([exp_id]) == []
    deleted = client.search_runs([exp_id], run_view_type=ViewType.DELETED_ONLY)
    assert [r.info.run_id for r in deleted] == [rid]
    client.restore_run(rid)
    assert [r.info.run_id for r in client.search_runs(exp_id)] == [rid]


def test_client_search_runs(client: Any) -> None:
    exp_id = client.create_experiment("search")
    ids = []
    for i in range(5):
        rid = client.create_run(exp_id, run_name=f"r{i}").info.run_id
        client.log_metric(rid, "acc", i / 10)
        client.log_param(rid, "model", "rf" if i % 2 else "xgb")
        client.set_terminated(rid, status=RunStatus.FINISHED)
        ids.append(rid)
    runs = client.search_runs([exp_id], "params.model = 'rf'", order_by=["metrics.acc DESC"])
    assert [r.info.run_id for r in runs] == [ids[3], ids[1]]
    assert runs[0].data.metrics == {"acc": 0.3}
    top = client.search_runs([exp_id], order_by=["metrics.acc DESC"], max_results=2)
    assert [r.info.run_id for r in top] == [ids[4], ids[3]]


def test_client_artifacts(client: Any, tmp_path: Path) -> None:
    exp_id = client.create_experiment("arts")
    rid = client.create_run(exp_id).info.run_id
    f = tmp_path / "model.pkl"
    f.write_bytes(b"weights")
    client.log_artifact(rid, str(f), "model")
    client.log_text(rid, "text", "notes/n.txt")
    client.log_dict(rid, {"a": [1, 2]}, "d.yml")
    assert [x.path for x in client.list_artifacts(rid)] == ["d.yml", "model", "notes"]
    assert Path(client.download_artifacts(rid, "model/model.pkl")).read_bytes() == b"weights"
    out = client.download_artifacts(rid, "notes", dst_path=str(tmp_path / "out"))
    assert (Path(out) / "n.txt").read_text() == "text"


def test_a_second_client_process_view(client: Any, tb_store: Path) -> None:
    """A run written by one Client is visible to another Client on the same folder
    (``file://`` URI included)."""
    exp_id = client.create_experiment("uri")
    rid = client.create_run(exp_id).info.run_id
    client.log_metric(rid, "m", 2.0)
    client.set_terminated(rid)
    other = tb.Client(tracking_uri=tb_store.as_uri())
    assert other.get_run(rid).data.metrics == {"m": 2.0}
