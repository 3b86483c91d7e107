"""The rest of MLflow's fluent and client surface (issue 14 item 7).

Every expected value here was checked against MLflow 3.17.2 (benchmarks/.mlflow-venv, a
sqlite store): return values, what is stored, and what raises.
"""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path

import pytest

import trackbook as tb
from trackbook._errors import (
    ArtifactPathError,
    ExperimentNotFoundError,
    InvalidValueError,
    RunNotFoundError,
    TagNotFoundError,
)
from trackbook.registry.errors import RegistryUriError

pytestmark = pytest.mark.usefixtures("tb_store")


# -- experiment tags -------------------------------------------------------------------------

def test_experiment_tags_set_many_and_delete_like_mlflow() -> None:
    exp = tb.set_experiment("e1")
    # MLflow 3.17.2: set_experiment_tag returns None and stores str(value).
    assert tb.set_experiment_tag("k", 1) is None
    assert tb.get_experiment(exp.experiment_id).tags == {"k": "1"}
    tb.set_experiment_tags({"a": "b", "c": 2})
    assert tb.get_experiment(exp.experiment_id).tags == {"k": "1", "a": "b", "c": "2"}
    assert tb.delete_experiment_tag("a") is None
    assert tb.get_experiment(exp.experiment_id).tags == {"k": "1", "c": "2"}
    # MLflow: "No tag with name: nope in experiment with id 1"
    with pytest.raises(TagNotFoundError, match="nope"):
        tb.delete_experiment_tag("nope")
    # MLflow: "No Experiment with id=99999 exists"
    with pytest.raises(ExperimentNotFoundError):
        tb.Client().delete_experiment_tag("99999", "x")


def test_experiment_tag_without_set_experiment_goes_to_default() -> None:
    # MLflow 3.17.2: with no experiment set, the tag lands on the Default experiment "0".
    tb.set_experiment_tag("nokey", "v")
    assert tb.get_experiment("0").tags == {"nokey": "v"}


def test_deleted_tag_stays_deleted_after_reindex(tb_store: Path) -> None:
    exp = tb.set_experiment("e2")
    tb.set_experiment_tags({"x": "1", "y": "2"})
    tb.delete_experiment_tag("x")
    from trackbook.store.catalog import Catalog
    from trackbook.tracking.uri import get_store

    Catalog(get_store().layout).rebuild()  # the catalog is rebuilt from the files alone
    assert tb.get_experiment(exp.experiment_id).tags == {"y": "2"}


# -- restore ---------------------------------------------------------------------------------

def test_restore_run_and_experiment() -> None:
    with tb.start_run() as run:
        pass
    rid = run.info.run_id
    # MLflow: delete_run and restore_run return None; the run is active again.
    assert tb.delete_run(rid) is None
    assert tb.restore_run(rid) is None
    assert tb.get_run(rid).info.lifecycle_stage == "active"
    tb.restore_run(rid)  # MLflow: restoring an active run does not raise
    with pytest.raises(RunNotFoundError):  # MLflow: "Run with id=000... not found"
        tb.restore_run("0" * 32)
    exp_id = tb.create_experiment("gone")
    tb.delete_experiment(exp_id)
    tb.restore_experiment(exp_id)
    assert tb.get_experiment(exp_id).lifecycle_stage == "active"
    with pytest.raises(InvalidValueError, match="not deleted"):  # MLflow raises too
        tb.restore_experiment(exp_id)


# -- flushing, async handles -------------------------------------------------------------------

def test_flush_async_logging_writes_buffered_points() -> None:
    with tb.start_run() as run:
        tb.log_metric("loss", 0.5)
        # MLflow 3.17.2: both return None.
        assert tb.flush_async_logging() is None
        assert tb.flush_artifact_async_logging() is None
        files = list(Path(tb.get_tracking_uri()[len("file://"):]).rglob("*.parquet"))
        assert files, "the point must be on disk after flush_async_logging"
    assert tb.get_run(run.info.run_id).data.metrics == {"loss": 0.5}


def test_log_batch_synchronous_false_returns_run_operations() -> None:
    with tb.start_run() as run:
        c = tb.Client()
        # MLflow 3.17.2: synchronous=False returns RunOperations with .wait(); None otherwise.
        ops = c.log_batch(run.info.run_id, metrics=[tb.Metric("m", 1.0, 0, 0)],
                          synchronous=False)
        assert type(ops).__name__ == "RunOperations"
        assert ops.wait() is None
        assert c.set_tag(run.info.run_id, "t", "v") is None
        assert c.log_param(run.info.run_id, "p", 3, synchronous=True) == 3
    assert tb.get_run(run.info.run_id).data.tags["t"] == "v"


def test_log_stream() -> None:
    with tb.start_run() as run:
        tb.log_stream(io.BytesIO(b"\x00\x01bytes"), "raw/blob.bin")
        with pytest.raises(InvalidValueError, match="binary"):
            tb.log_stream(io.StringIO("text"), "raw/t.txt")
    path = tb.Client().download_artifacts(run.info.run_id, "raw/blob.bin")
    assert Path(path).read_bytes() == b"\x00\x01bytes"


# -- registry URI and fluent registry searches -------------------------------------------------

def test_registry_uri_is_the_tracking_uri(tb_store: Path) -> None:
    # MLflow 3.17.2: get_registry_uri() is the tracking URI when none was set.
    assert tb.get_registry_uri() == tb.get_tracking_uri()
    tb.set_registry_uri(None)
    tb.set_registry_uri(str(tb_store))
    tb.set_registry_uri(tb_store.as_uri())
    with pytest.raises(RegistryUriError, match="inside the tracking store"):
        tb.set_registry_uri("/somewhere/else")
    with pytest.raises(RegistryUriError):
        tb.set_registry_uri("databricks-uc")
    with pytest.raises(RegistryUriError):
        tb.Client(registry_uri="sqlite:///other.db")
    tb.Client(registry_uri=str(tb_store))


def test_fluent_registry_search_and_version_tag() -> None:
    # MLflow 3.17.2: with nothing registered both return [] (a plain list).
    assert tb.search_registered_models() == []
    assert tb.search_model_versions() == []
    with tb.start_run() as run:
        tb.log_text("x", "model/MLmodel")
    for name in ("churn", "fraud"):
        tb.register_model(f"runs:/{run.info.run_id}/model", name)
    tb.register_model(f"runs:/{run.info.run_id}/model", "churn")
    models = tb.search_registered_models(filter_string="name LIKE 'ch%'")
    assert type(models) is list
    assert [m.name for m in models] == ["churn"]
    assert [m.name for m in tb.search_registered_models(order_by=["name DESC"])] == \
        ["fraud", "churn"]
    versions = tb.search_model_versions(filter_string="name = 'churn'")
    assert sorted(v.version for v in versions) == [1, 2]
    assert len(tb.search_model_versions(max_results=1)) == 1
    assert tb.set_model_version_tag("churn", "2", "validated", True) is None
    assert tb.Client().get_model_version("churn", 2).tags == {"validated": "True"}


def test_is_tracking_uri_set(monkeypatch: pytest.MonkeyPatch) -> None:
    assert tb.is_tracking_uri_set() is True  # the fixture set it
    import trackbook.tracking.uri as uri

    monkeypatch.setattr(uri, "_uri", None)
    monkeypatch.delenv("TRACKBOOK_STORE")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert tb.is_tracking_uri_set() is False


# -- paging and ordering -----------------------------------------------------------------------

def test_search_experiments_order_by_and_pages() -> None:
    c = tb.Client()
    for name in ("b", "a", "c"):
        c.create_experiment(name)
    c.create_run("0")  # makes the Default experiment
    # MLflow 3.17.2 (same creations): default newest first ['c', 'a', 'b', 'Default'];
    # order_by=["name"] -> ['Default', 'a', 'b', 'c']; ["name DESC"] reversed.
    assert [e.name for e in c.search_experiments(order_by=["name"])] == ["Default", "a", "b", "c"]
    assert [e.name for e in c.search_experiments(order_by=["name DESC"])] == \
        ["c", "b", "a", "Default"]
    page = c.search_experiments(max_results=2, order_by=["name"])
    assert [e.name for e in page] == ["Default", "a"]
    assert page.token is not None
    page2 = c.search_experiments(max_results=2, order_by=["name"], page_token=page.token)
    assert [e.name for e in page2] == ["b", "c"]
    assert page2.token is None
    # MLflow: "Invalid attribute key 'nope' specified. Valid keys are ..."
    with pytest.raises(InvalidValueError, match="nope"):
        c.search_experiments(order_by=["nope"])
    with pytest.raises(InvalidValueError):  # MLflow: "Invalid ordering key ..."
        c.search_experiments(order_by=["name sideways"])


def test_client_search_runs_pages() -> None:
    c = tb.Client()
    exp = c.create_experiment("paged")
    ids = set()
    for _ in range(5):
        r = c.create_run(exp)
        c.set_terminated(r.info.run_id)
        ids.add(r.info.run_id)
    seen, token, pages = set(), None, 0
    while True:
        page = c.search_runs([exp], max_results=2, page_token=token)
        seen |= {r.info.run_id for r in page}
        pages += 1
        token = page.token
        if token is None:
            break
    assert seen == ids
    assert pages == 3
    # MLflow 3.17.2: one page with room to spare has token None.
    assert c.search_runs([exp], max_results=10).token is None


# -- search_runs by experiment name ------------------------------------------------------------

def test_search_runs_missing_experiment_name_warns_and_is_empty(
        caplog: pytest.LogCaptureFixture) -> None:
    with tb.start_run():
        pass
    with caplog.at_level(logging.WARNING):
        df = tb.search_runs(experiment_names=["nope"])
    # MLflow 3.17.2: WARNING "Cannot retrieve experiment by name nope", then an empty
    # DataFrame with exactly these columns.
    assert "Cannot retrieve experiment by name nope" in caplog.text
    assert df.shape == (0, 6)
    assert list(df.columns) == ["run_id", "experiment_id", "status", "artifact_uri",
                                "start_time", "end_time"]
    assert len(tb.search_runs(experiment_names=["nope", "Default"])) == 1
    assert tb.search_runs(experiment_names=["nope"], output_format="list") == []
    # MLflow: "Only experiment_ids or experiment_names can be used, but not both"
    with pytest.raises(InvalidValueError, match="not both"):
        tb.search_runs(experiment_ids=["0"], experiment_names=["Default"])
    # MLflow: "Unsupported output format: x. Supported string values are 'pandas' or 'list'"
    with pytest.raises(InvalidValueError, match="pandas"):
        tb.search_runs(output_format="x")


# -- tb.artifacts ------------------------------------------------------------------------------

def test_artifacts_module_like_mlflow_artifacts(tmp_path: Path) -> None:
    with tb.start_run() as run:
        tb.log_text("hello", "d/t.txt")
        tb.log_dict({"a": 1}, "d/x.json")
        tb.log_text("not json", "bad.json")
    rid = run.info.run_id
    A = tb.artifacts
    # MLflow 3.17.2 list_artifacts: [bad.json (8 bytes), d (dir, size None)]
    top = A.list_artifacts(run_id=rid)
    assert [(f.path, f.is_dir, f.file_size) for f in top] == \
        [("bad.json", False, 8), ("d", True, None)]
    inside = [(f.path, f.file_size) for f in A.list_artifacts(run_id=rid, artifact_path="d")]
    assert inside == [("d/t.txt", 5), ("d/x.json", 12)]
    assert [f.path for f in A.list_artifacts(artifact_uri=f"runs:/{rid}/d")] == \
        ["d/t.txt", "d/x.json"]
    assert A.list_artifacts(artifact_uri=f"runs:/{rid}/nonexist") == []
    assert A.load_text(f"runs:/{rid}/d/t.txt") == "hello"
    assert A.load_dict(f"runs:/{rid}/d/x.json") == {"a": 1}
    with pytest.raises(InvalidValueError, match="JSON"):
        A.load_dict(f"runs:/{rid}/bad.json")
    with pytest.raises(ArtifactPathError):
        A.load_text(f"runs:/{rid}/missing.txt")
    # MLflow: "Exactly one of `run_id` or `artifact_uri` must be specified"
    for bad in (lambda: A.download_artifacts(artifact_uri=f"runs:/{rid}/d", run_id=rid),
                lambda: A.download_artifacts(),
                lambda: A.download_artifacts(artifact_uri=f"runs:/{rid}", artifact_path="d")):
        with pytest.raises(InvalidValueError):
            bad()
    # MLflow: a file keeps its name in dst, a folder too, a whole run lands in dst.
    dl = tmp_path / "dl"
    assert A.download_artifacts(run_id=rid, artifact_path="d/t.txt", dst_path=str(dl)) == \
        str(dl / "t.txt")
    d = A.download_artifacts(run_id=rid, artifact_path="d", dst_path=str(dl))
    assert d == str(dl / "d")
    assert sorted(p.name for p in Path(d).iterdir()) == \
        ["t.txt", "x.json"]
    whole = A.download_artifacts(run_id=rid, dst_path=str(tmp_path / "dl2"))
    assert whole == str(tmp_path / "dl2")
    assert sorted(p.name for p in Path(whole).iterdir()) == ["bad.json", "d"]
    # Without dst_path: a copy in a new temporary folder, never the store's own file.
    tmp_copy = Path(A.download_artifacts(f"runs:/{rid}/d/t.txt"))
    assert tmp_copy.name == "t.txt"
    assert tmp_copy.read_text() == "hello"
    assert str(tb.get_tracking_uri()[len("file://"):]) not in str(tmp_copy)
    assert json.loads(Path(A.download_artifacts(f"runs:/{rid}/d/x.json")).read_text()) == \
        {"a": 1}


def test_load_image(tmp_path: Path) -> None:
    np = pytest.importorskip("numpy")
    pytest.importorskip("PIL")
    with tb.start_run() as run:
        tb.log_image(np.zeros((4, 6, 3), dtype=np.uint8), "img.png")
    image = tb.artifacts.load_image(f"runs:/{run.info.run_id}/img.png")
    assert image.size == (6, 4)


# -- log_table / load_table --------------------------------------------------------------------

def test_log_table_format_appends_and_tags_like_mlflow() -> None:
    import numpy as np
    import pandas as pd

    with tb.start_run() as r1:
        tb.log_table({"a": [1, 2], "b": ["x", "y"]}, "t.json")
        tb.log_table(pd.DataFrame({"a": [3], "b": ["z"]}), "t.json")
        tb.log_table(pd.DataFrame({"f": [1.5, np.nan], "n": [None, "q"]}), "dir/u.json")
        # MLflow: ValueError "Invalid artifact file path 't.csv'. ... '.json' or '.parquet'"
        with pytest.raises(ValueError, match="parquet"):
            tb.log_table({"a": [1]}, "t.csv")
        # MLflow: "data must be a pandas.DataFrame or a dictionary"
        with pytest.raises(InvalidValueError, match="DataFrame or a dictionary"):
            tb.log_table([1, 2], "v.json")
    with tb.start_run() as r2:
        tb.log_table({"a": [9], "c": [1]}, "t.json")
    rid = r1.info.run_id
    # MLflow 3.17.2 wrote exactly these bytes and this tag.
    assert tb.get_run(rid).data.tags["mlflow.loggedArtifacts"] == \
        '[{"path": "t.json", "type": "table"}, {"path": "dir/u.json", "type": "table"}]'
    assert tb.artifacts.load_text(f"runs:/{rid}/t.json") == \
        '{"columns":["a","b"],"data":[[1,"x"],[2,"y"],[3,"z"]]}'
    assert tb.artifacts.load_text(f"runs:/{rid}/dir/u.json") == \
        '{"columns":["f","n"],"data":[[1.5,null],[null,"q"]]}'
    # MLflow 3.17.2 load_table: newest run first, columns a, c, b.
    df = tb.load_table("t.json")
    assert list(df.columns) == ["a", "c", "b"]
    assert df["a"].tolist() == [9, 1, 2, 3]
    both = tb.load_table("t.json", run_ids=[rid, r2.info.run_id], extra_columns=["run_id"])
    assert list(both.columns) == ["a", "c", "run_id", "b"]
    assert both["run_id"].tolist() == [r2.info.run_id, rid, rid, rid]
    # MLflow: "No runs found with the corresponding table artifact."
    with pytest.raises(RunNotFoundError):
        tb.load_table("nope.json")
    with pytest.raises(KeyError):  # MLflow: KeyError 'bogus'
        tb.load_table("t.json", extra_columns=["bogus"])
    u = tb.Client().load_table("0", "dir/u.json")
    assert u["f"].dtype == "float64"
    assert u["n"].tolist()[1] == "q"


def test_log_table_parquet_round_trip() -> None:
    with tb.start_run():
        tb.log_table({"x": [1.0, 2.0]}, "p.parquet")
        tb.log_table({"x": [3.0]}, "p.parquet")
    assert tb.load_table("p.parquet")["x"].tolist() == [1.0, 2.0, 3.0]


# -- log_image(key=, step=) --------------------------------------------------------------------

def test_log_image_series_like_mlflow_3(tb_store: Path) -> None:
    import re

    import numpy as np
    from PIL import Image

    from trackbook.tracking.images import ImageArgumentsError, list_images

    img = np.zeros((8, 10, 3), dtype=np.uint8)
    with tb.start_run() as run:
        tb.log_image(img, key="sample/a", step=3, timestamp=1234)
        tb.log_image(img, key="sample/a", step=4)
        tb.log_image(img, key="b")
        tb.log_image(img, "plain.png")  # the static form still works
        # MLflow 3.17.2: TypeError "Please specify exactly one of `artifact_file` or `key`"
        with pytest.raises(TypeError):
            tb.log_image(img)
        # MLflow: TypeError "`artifact_file` ... cannot be used in conjunction with `key`..."
        with pytest.raises(ImageArgumentsError):
            tb.log_image(img, artifact_file="x.png", key="k")
        with pytest.raises(TypeError):
            tb.log_image(img, artifact_file="x.png", step=1)
        # MLflow: ValueError "The `key` parameter may only contain alphanumerics, ..."
        with pytest.raises(ValueError, match="only contain"):
            tb.log_image(img, key="bad key!")
    rid = run.info.run_id
    # MLflow 3.17.2 tags the run mlflow.loggedImages = "True" and logs no metric.
    data = tb.get_run(rid).data
    assert data.tags["mlflow.loggedImages"] == "True"
    assert data.metrics == {}
    names = sorted(p.name for p in (tb_store / "runs").rglob("images/*"))
    # MLflow 3.17.2 wrote (uuid4 and "now" vary):
    # images/sample~a+step+3+timestamp+1234+2b399a7e-...-e9b82a72ae9c.png
    # images/sample~a+step+3+timestamp+1234+2b399a7e-...-e9b82a72ae9c+compressed.webp
    uuid = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
    assert len(names) == 6
    assert sum(bool(re.fullmatch(rf"sample~a\+step\+3\+timestamp\+1234\+{uuid}\.png", n))
               for n in names) == 1
    assert sum(bool(re.fullmatch(
        rf"sample~a\+step\+3\+timestamp\+1234\+{uuid}\+compressed\.webp", n))
        for n in names) == 1
    assert sum(n.startswith("b+step+0+timestamp+") for n in names) == 2
    entries = list_images(rid)
    assert [(e.key, e.step) for e in entries] == [("b", 0), ("sample/a", 3), ("sample/a", 4)]
    assert entries[1].timestamp == 1234
    assert [e.step for e in list_images(rid, key="sample/a")] == [3, 4]
    full = tb.artifacts.load_image(f"runs:/{rid}/{entries[1].path}")
    assert full.size == (10, 8)
    thumb = Image.open(tb.artifacts.download_artifacts(f"runs:/{rid}/{entries[1].compressed_path}"))
    # MLflow scales to fit 256x256 keeping the aspect ratio: 10x8 -> 256x204.
    assert thumb.format == "WEBP"
    assert thumb.size == (256, 204)


def test_list_images_reads_older_mlflow_names(tb_store: Path) -> None:
    from trackbook.tracking.images import list_images

    with tb.start_run() as run:
        tb.log_text("x", "images/val#img%step%7%timestamp%99%0b1c2d3e-aaaa-bbbb-cccc-"
                         "000011112222.png")
    [entry] = list_images(run.info.run_id)
    assert (entry.key, entry.step, entry.timestamp) == ("val/img", 7, 99)


# -- system metrics ----------------------------------------------------------------------------

# MLflow 3.17.2 (psutil present, sampling interval 1 s, 2 samples per step) logged exactly
# these keys; with set_system_metrics_node_id("n1") each became system/n1/<name>.
MLFLOW_SYSTEM_METRICS = [
    "cpu_utilization_percentage", "disk_available_megabytes", "disk_usage_megabytes",
    "disk_usage_percentage", "network_receive_megabytes", "network_transmit_megabytes",
    "system_memory_usage_megabytes", "system_memory_usage_percentage"]


@pytest.fixture
def fast_system_metrics(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING", "MLFLOW_SYSTEM_METRICS_NODE_ID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL", "0.05")
    monkeypatch.setenv("MLFLOW_SYSTEM_METRICS_SAMPLES_BEFORE_LOGGING", "2")


def _wait_steps(run: tb.ActiveRun, n: int) -> None:
    import time

    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        monitor = run._system_monitor
        if monitor is not None and monitor.step >= n:
            return
        time.sleep(0.02)
    raise AssertionError("system metrics were not logged in time")


@pytest.mark.usefixtures("fast_system_metrics")
def test_log_system_metrics_names_steps_and_stop() -> None:
    with tb.start_run(log_system_metrics=True) as run:
        _wait_steps(run, 3)
        monitor = run._system_monitor
    assert not monitor._thread.is_alive()  # stopped at end_run
    data = tb.get_run(run.info.run_id).data
    assert sorted(data.metrics) == [f"system/{m}" for m in MLFLOW_SYSTEM_METRICS]
    history = tb.Client().get_metric_history(run.info.run_id,
                                             "system/cpu_utilization_percentage")
    steps = [m.step for m in history]
    assert steps[:3] == [0, 1, 2]
    assert all(0.0 <= m.value <= 100.0 for m in history)
    assert data.metrics["system/system_memory_usage_megabytes"] > 0
    assert 0 < data.metrics["system/disk_usage_percentage"] < 100
    # averaged values are rounded to one decimal, as MLflow's
    assert data.metrics["system/disk_usage_megabytes"] == \
        round(data.metrics["system/disk_usage_megabytes"], 1)
    # resuming continues the steps (MLflow: last system step + 1)
    with tb.start_run(run_id=run.info.run_id, log_system_metrics=True) as again:
        first = again._system_monitor.step
        _wait_steps(again, first + 1)
    assert first == max(steps) + 1


@pytest.mark.usefixtures("fast_system_metrics")
def test_system_metrics_switches_and_node_id() -> None:
    with tb.start_run() as off:  # MLflow: off unless asked
        assert off._system_monitor is None
    tb.enable_system_metrics_logging()
    tb.set_system_metrics_node_id("n1")
    try:
        with tb.start_run() as on:
            _wait_steps(on, 1)
        with tb.start_run(log_system_metrics=False) as explicit_off:
            assert explicit_off._system_monitor is None
    finally:
        tb.disable_system_metrics_logging()
        tb.set_system_metrics_node_id(None)
    assert sorted(tb.get_run(on.info.run_id).data.metrics) == \
        [f"system/n1/{m}" for m in MLFLOW_SYSTEM_METRICS]
    with tb.start_run() as off_again:
        assert off_again._system_monitor is None
    with pytest.raises(InvalidValueError):
        tb.set_system_metrics_sampling_interval(0)
    with pytest.raises(InvalidValueError):
        tb.set_system_metrics_samples_before_logging(0)


def test_proc_fallback_reads_the_same_names(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from trackbook.tracking import system_metrics as sm

    monkeypatch.setitem(sys.modules, "psutil", None)  # as if psutil were not installed
    sampler = sm._Sampler()
    averaged, latest = sampler.sample()
    names = sorted([*averaged, *latest])
    assert names == MLFLOW_SYSTEM_METRICS
    assert 0 <= averaged["cpu_utilization_percentage"] <= 100
    assert 0 < averaged["system_memory_usage_percentage"] < 100
