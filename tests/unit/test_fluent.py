"""The fluent API (``import trackbook as tb``) against a real store folder and DuckDB."""

from __future__ import annotations

import contextlib
import json
import math
import time
from pathlib import Path

import numpy as np
import pytest

import trackbook as tb
from trackbook._errors import (
    ExperimentNotFoundError,
    InvalidNameError,
    InvalidValueError,
    ParamConflictError,
)

pytestmark = pytest.mark.usefixtures("tb_store")


def history(run_id: str, key: str) -> list[tuple[int, float, int]]:
    return [(m.step, m.value, m.timestamp) for m in tb.Client().get_metric_history(run_id, key)]


# -- experiments ---------------------------------------------------------------------------

def test_set_experiment_creates_once_and_reuses() -> None:
    first = tb.set_experiment("vision")
    again = tb.set_experiment("vision")
    assert first.experiment_id == again.experiment_id
    assert first.name == "vision"
    assert tb.get_experiment_by_name("vision").experiment_id == first.experiment_id
    assert tb.get_experiment(first.experiment_id).name == "vision"
    names = [e.name for e in tb.search_experiments()]
    assert names.count("vision") == 1


def test_set_experiment_by_id_makes_it_current() -> None:
    exp_id = tb.create_experiment("by-id")
    tb.set_experiment("other")
    exp = tb.set_experiment(experiment_id=exp_id)
    assert exp.name == "by-id"
    with tb.start_run() as run:
        pass
    assert run.info.experiment_id == exp_id


def test_create_experiment_twice_raises_naming_it() -> None:
    exp_id = tb.create_experiment("dup")
    with pytest.raises(InvalidNameError, match="dup"):
        tb.create_experiment("dup")
    assert tb.get_experiment_by_name("dup").experiment_id == exp_id


def test_unknown_experiments() -> None:
    assert tb.get_experiment_by_name("nope") is None
    with pytest.raises(ExperimentNotFoundError):
        tb.get_experiment("123456")
    with pytest.raises(ExperimentNotFoundError):
        tb.set_experiment(experiment_id="123456")


def test_runs_without_experiment_go_to_default() -> None:
    with tb.start_run() as run:
        pass
    assert tb.get_experiment(run.info.experiment_id).name == "Default"


def test_user_experiment_named_default_does_not_orphan_runs() -> None:
    """A run started with no experiment set must belong to an experiment that exists,
    even when the user created an experiment called "Default" before the first run."""
    with contextlib.suppress(InvalidNameError):  # refusing the name would be fine too
        tb.create_experiment("Default")
    with tb.start_run() as run:
        tb.log_metric("x", 1.0)
    exp = tb.get_experiment(run.info.experiment_id)
    assert exp.name == "Default"


# -- run lifecycle -------------------------------------------------------------------------

def test_start_end_active_run_and_times() -> None:
    tb.set_experiment("life")
    before = int(time.time() * 1000)
    run = tb.start_run(run_name="first")
    assert tb.active_run() is run
    assert tb.get_run(run.info.run_id).info.status == "RUNNING"
    assert tb.get_run(run.info.run_id).info.end_time is None
    tb.end_run()
    after = int(time.time() * 1000)
    assert tb.active_run() is None
    info = tb.get_run(run.info.run_id).info
    assert info.status == "FINISHED"
    assert info.run_name == "first"
    assert before <= info.start_time <= info.end_time <= after
    assert tb.last_active_run().info.run_id == run.info.run_id


def test_with_block_finishes_run() -> None:
    with tb.start_run() as run:
        assert tb.active_run().info.run_id == run.info.run_id
    assert tb.active_run() is None
    info = tb.get_run(run.info.run_id).info
    assert info.status == "FINISHED"
    assert info.end_time is not None


def train_and_crash() -> str:
    with tb.start_run() as run:
        tb.log_metric("before", 1.0)
        run_id = run.info.run_id
        _ = 1 / 0
    return run_id


def test_exception_in_with_block_fails_run_and_propagates() -> None:
    with pytest.raises(ZeroDivisionError):
        train_and_crash()
    assert tb.active_run() is None
    run = tb.last_active_run()
    got = tb.get_run(run.info.run_id)
    assert got.info.status == "FAILED"
    assert got.info.end_time is not None
    assert got.data.metrics == {"before": 1.0}


def test_keyboard_interrupt_in_with_block_kills_run() -> None:
    with pytest.raises(KeyboardInterrupt), tb.start_run() as run:
        raise KeyboardInterrupt
    assert tb.get_run(run.info.run_id).info.status == "KILLED"


def test_end_run_with_status() -> None:
    run = tb.start_run()
    tb.end_run(status="FAILED")
    assert tb.get_run(run.info.run_id).info.status == "FAILED"


def test_end_run_without_run_is_noop() -> None:
    tb.end_run()
    assert tb.active_run() is None


def test_start_run_again_ends_previous_as_finished() -> None:
    first = tb.start_run()
    tb.log_metric("m", 1.0)
    second = tb.start_run()  # re-running a notebook cell
    assert second.info.run_id != first.info.run_id
    assert tb.active_run().info.run_id == second.info.run_id
    assert tb.get_run(first.info.run_id).info.status == "FINISHED"
    assert tb.get_run(first.info.run_id).data.metrics == {"m": 1.0}
    tb.end_run()
    assert tb.get_run(second.info.run_id).info.status == "FINISHED"


def test_nested_runs_record_parent() -> None:
    tb.set_experiment("nest")
    with tb.start_run() as parent:
        with tb.start_run(nested=True) as child:
            assert tb.active_run().info.run_id == child.info.run_id
        assert tb.active_run().info.run_id == parent.info.run_id
        grandchild = tb.start_run(nested=True)
    pid, cid = parent.info.run_id, child.info.run_id
    got = tb.get_run(cid)
    assert got.data.tags["mlflow.parentRunId"] == pid
    assert "mlflow.parentRunId" not in tb.get_run(pid).data.tags
    assert tb.get_parent_run(cid).info.run_id == pid
    assert tb.get_parent_run(pid) is None
    # ending the parent ended its open child
    assert tb.get_run(grandchild.info.run_id).info.status == "FINISHED"
    children = tb.search_runs(filter_string=f"attributes.parent_run_id = '{pid}'",
                              output_format="list")
    assert sorted(r.info.run_id for r in children) == sorted([cid, grandchild.info.run_id])
    rows = tb.sql("SELECT run_id, parent_run_id FROM runs ORDER BY run_id")
    parents = dict(zip(rows["run_id"], rows["parent_run_id"], strict=True))
    assert parents[cid] == pid
    assert parents[pid] is None or (isinstance(parents[pid], float) and math.isnan(parents[pid]))


def test_resume_by_run_id_keeps_and_extends_data() -> None:
    with tb.start_run() as run:
        tb.log_param("lr", 0.1)
        for i in range(5):
            tb.log_metric("loss", float(i), step=i)
    rid = run.info.run_id
    resumed = tb.start_run(run_id=rid)
    assert resumed.info.run_id == rid
    assert tb.get_run(rid).info.status == "RUNNING"
    assert tb.get_run(rid).info.end_time is None
    tb.log_param("lr", 0.1)  # same value again: fine
    with pytest.raises(ParamConflictError):
        tb.log_param("lr", 0.2)
    for i in range(5, 10):
        tb.log_metric("loss", float(i), step=i)
    tb.end_run()
    got = tb.get_run(rid)
    assert got.info.status == "FINISHED"
    assert got.data.params == {"lr": "0.1"}
    assert got.data.metrics == {"loss": 9.0}
    assert [s for s, _, _ in history(rid, "loss")] == list(range(10))
    assert tb.sql("SELECT count(*) AS n FROM metrics WHERE run_id = ?", [rid])["n"][0] == 10


def test_resume_active_run_returns_it() -> None:
    run = tb.start_run()
    assert tb.start_run(run_id=run.info.run_id) is run


# -- params ----------------------------------------------------------------------------------

def test_params_are_immutable_and_first_value_kept() -> None:
    with tb.start_run() as run:
        tb.log_param("depth", 8)
        tb.log_param("depth", "8")  # the same value as text: fine
        with pytest.raises(ParamConflictError) as err:
            tb.log_param("depth", 9)
        msg = str(err.value)
        assert "depth" in msg
        assert "'8'" in msg
        assert "'9'" in msg
        with pytest.raises(ParamConflictError):
            tb.log_params({"other": 1, "depth": 10})
    params = tb.get_run(run.info.run_id).data.params
    assert params == {"depth": "8"}  # nothing from the refused batch either


def test_long_param_value_round_trips() -> None:
    config = {f"layer_{i}": {"units": i, "name": "x" * 80, "ok": True} for i in range(1000)}
    text = json.dumps(config)
    assert len(text) > 100_000
    with tb.start_run() as run:
        tb.log_params({"config": text, "seed": 42})
    got = tb.get_run(run.info.run_id).data.params
    assert got["config"] == text
    assert got["seed"] == "42"
    df = tb.search_runs()
    assert df["params.config"][0] == text


# -- metrics ---------------------------------------------------------------------------------

def test_metric_steps_timestamps_and_latest() -> None:
    with tb.start_run() as run:
        tb.log_metric("acc", 0.5, step=1, timestamp=1_000)
        tb.log_metric("acc", 0.7, step=2, timestamp=2_000)
        tb.log_metric("acc", 0.6, step=3, timestamp=3_000)
        tb.log_metric("plain", 1.0)
        tb.log_metrics({"a": 1, "b": 2.5}, step=7)
    rid = run.info.run_id
    assert history(rid, "acc") == [(1, 0.5, 1_000), (2, 0.7, 2_000), (3, 0.6, 3_000)]
    assert [(s, v) for s, v, _ in history(rid, "plain")] == [(0, 1.0)]
    assert [(s, v) for s, v, _ in history(rid, "a")] == [(7, 1.0)]
    assert tb.get_run(rid).data.metrics == {"acc": 0.6, "plain": 1.0, "a": 1.0, "b": 2.5}


def test_metric_history_is_ordered_across_flushes_and_compaction() -> None:
    with tb.start_run() as run:
        for step in (5, 3, 9):
            tb.log_metric("m", float(step * 10), step=step, timestamp=100 + step)
        tb.flush()
        for step in (1, 7):
            tb.log_metric("m", float(step * 10), step=step, timestamp=100 + step)
        tb.log_metric("m", 31.0, step=3, timestamp=50)  # same step, earlier timestamp
        tb.flush()
        mid = history(run.info.run_id, "m")
        tb.log_metric("m", 0.0, step=0, timestamp=1)
    want_mid = [(1, 10.0, 101), (3, 31.0, 50), (3, 30.0, 103), (5, 50.0, 105),
                (7, 70.0, 107), (9, 90.0, 109)]
    assert mid == want_mid
    assert history(run.info.run_id, "m") == [(0, 0.0, 1), *want_mid]
    # latest = highest step, as MLflow defines it
    assert tb.get_run(run.info.run_id).data.metrics["m"] == 90.0


def test_nan_and_inf_are_kept() -> None:
    with tb.start_run() as run:
        tb.log_metric("v", float("nan"), step=0)
        tb.log_metric("v", float("inf"), step=1)
        tb.log_metric("v", float("-inf"), step=2)
        tb.log_metric("n", float("nan"), step=0)
    values = [v for _, v, _ in history(run.info.run_id, "v")]
    assert math.isnan(values[0])
    assert values[1:] == [math.inf, -math.inf]
    latest = tb.get_run(run.info.run_id).data.metrics
    assert latest["v"] == -math.inf
    assert math.isnan(latest["n"])
    df = tb.search_runs()
    assert df["metrics.v"][0] == -math.inf


def test_numpy_scalars_are_accepted() -> None:
    with tb.start_run() as run:
        tb.log_metric("f32", np.float32(0.5), step=np.int64(1))
        tb.log_metric("f64", np.float64(0.25), step=np.int32(2))
        tb.log_metric("i64", np.int64(3))
        tb.log_metric("arr0", np.array(1.5))
        tb.log_metrics({"u8": np.uint8(7)}, step=np.int16(4))
    rid = run.info.run_id
    assert [(s, v) for s, v, _ in history(rid, "f32")] == [(1, 0.5)]
    assert [(s, v) for s, v, _ in history(rid, "f64")] == [(2, 0.25)]
    assert tb.get_run(rid).data.metrics == {"f32": 0.5, "f64": 0.25, "i64": 3.0,
                                            "arr0": 1.5, "u8": 7.0}
    assert [s for s, _, _ in history(rid, "u8")] == [4]


@pytest.mark.parametrize("bad", ["1.0", None, True, False, b"1", [1.0], {"a": 1}, object()])
def test_non_numeric_metric_values_are_refused(bad: object) -> None:
    with tb.start_run() as run:
        tb.log_metric("good", 1.0)
        with pytest.raises(InvalidValueError, match="my_metric"):
            tb.log_metric("my_metric", bad)
        with pytest.raises(InvalidValueError, match="my_metric"):
            tb.log_metrics({"other": 2.0, "my_metric": bad})
    got = tb.get_run(run.info.run_id).data.metrics
    assert got == {"good": 1.0}


# -- tags ------------------------------------------------------------------------------------

def test_tags_are_mutable_and_deletable() -> None:
    with tb.start_run(tags={"origin": "test"}, description="a note") as run:
        tb.set_tag("stage", "dev")
        tb.set_tag("stage", "prod")
        tb.set_tags({"a": 1, "b": "two"})
        tb.set_tag("gone", "soon")
        tb.delete_tag("gone")
    tags = tb.get_run(run.info.run_id).data.tags
    assert tags["stage"] == "prod"
    assert tags["a"] == "1"
    assert tags["b"] == "two"
    assert tags["origin"] == "test"
    assert tags["mlflow.note.content"] == "a note"
    assert "gone" not in tags
    df = tb.search_runs()
    assert "tags.gone" not in df.columns
    assert df["tags.stage"][0] == "prod"


# -- artifacts -------------------------------------------------------------------------------

def test_artifact_files_dirs_text_and_dicts(tmp_path: Path) -> None:
    import yaml

    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "a.txt").write_text("A")
    (src / "sub" / "b.bin").write_bytes(b"\x00\x01")
    single = tmp_path / "single.csv"
    single.write_text("x,y\n1,2\n")
    config = {"lr": 0.1, "layers": [1, 2], "name": "m"}
    with tb.start_run() as run:
        tb.log_artifact(str(single))
        tb.log_artifact(str(single), artifact_path="data/raw")
        tb.log_artifacts(str(src), artifact_path="tree")
        tb.log_text("hello\nworld", "notes/readme.md")
        tb.log_dict(config, "config.json")
        tb.log_dict(config, "conf/config.yaml")
        uri = tb.get_artifact_uri()
    rid = run.info.run_id
    client = tb.Client()
    top = {f.path: f for f in client.list_artifacts(rid)}
    assert set(top) == {"single.csv", "data", "tree", "notes", "config.json", "conf"}
    assert top["single.csv"].is_dir is False
    assert top["single.csv"].file_size == 8
    assert top["tree"].is_dir is True
    assert [f.path for f in client.list_artifacts(rid, "tree")] == ["tree/a.txt", "tree/sub"]
    assert [f.path for f in client.list_artifacts(rid, "tree/sub")] == ["tree/sub/b.bin"]
    assert [f.path for f in client.list_artifacts(rid, "data/raw")] == ["data/raw/single.csv"]
    root = Path(client.download_artifacts(rid, ""))
    assert uri == root.as_uri()
    assert (root / "tree" / "sub" / "b.bin").read_bytes() == b"\x00\x01"
    assert (root / "notes" / "readme.md").read_text() == "hello\nworld"
    assert json.loads((root / "config.json").read_text()) == config
    assert yaml.safe_load((root / "conf" / "config.yaml").read_text()) == config
    dst = tmp_path / "dst"
    copied = Path(client.download_artifacts(rid, "tree", dst_path=str(dst)))
    assert (copied / "a.txt").read_text() == "A"
    assert (copied / "sub" / "b.bin").read_bytes() == b"\x00\x01"
    one = Path(client.download_artifacts(rid, "data/raw/single.csv", dst_path=str(dst)))
    assert one.read_text() == "x,y\n1,2\n"
    with pytest.raises(FileNotFoundError):
        client.download_artifacts(rid, "missing.txt")


def test_log_figure_and_image(tmp_path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import plotly.graph_objects as go
    from PIL import Image

    fig, ax = plt.subplots()
    ax.plot([1, 2, 3], [3, 1, 2])
    pfig = go.Figure(go.Scatter(x=[1, 2, 3], y=[3, 1, 2]))
    rgb = np.zeros((8, 6, 3), dtype=np.uint8)
    rgb[:, :, 0] = 255
    gray = np.linspace(0.0, 1.0, 20).reshape(4, 5)
    with tb.start_run() as run:
        tb.log_figure(fig, "plots/curve.png")
        tb.log_figure(pfig, "plots/curve.html")
        tb.log_image(rgb, "img/red.png")
        tb.log_image(gray, "img/gray.png")
        tb.log_image(rgb, key="sample", step=3)
    plt.close(fig)
    root = Path(tb.Client().download_artifacts(run.info.run_id, ""))
    assert (root / "plots" / "curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    html = (root / "plots" / "curve.html").read_text()
    assert "<html" in html.lower()
    assert "plotly" in html.lower()
    red = np.asarray(Image.open(root / "img" / "red.png"))
    assert red.shape[:2] == (8, 6)
    assert (red[:, :, 0] == 255).all()
    assert (red[:, :, 1] == 0).all()
    g = np.asarray(Image.open(root / "img" / "gray.png"))
    assert g.shape == (4, 5)
    assert g[0, 0] == 0
    assert g[-1, -1] == 255
    # MLflow 3's scheme: images/<key>+step+<step>+timestamp+<ms>+<uuid>.png
    assert len(list((root / "images").glob("sample+step+3+timestamp+*.png"))) == 1


# -- MLflow compatibility --------------------------------------------------------------------

MLFLOW_SNIPPET = """
import mlflow

mlflow.set_experiment("mlflow-compat")
with mlflow.start_run(run_name="baseline") as run:
    mlflow.log_params({"lr": 0.01, "epochs": 3})
    mlflow.log_param("optimizer", "adam")
    for epoch in range(3):
        mlflow.log_metric("loss", 1.0 / (epoch + 1), step=epoch)
        mlflow.log_metrics({"acc": 0.5 + epoch / 10}, step=epoch)
    mlflow.set_tag("team", "vision")
    mlflow.set_tags({"dataset": "mnist"})
    mlflow.log_dict({"a": 1}, "config.json")
    mlflow.log_text("hi", "notes.txt")
run_id = run.info.run_id
assert mlflow.active_run() is None
fetched = mlflow.get_run(run_id)
assert fetched.info.status == "FINISHED", fetched.info.status
assert fetched.data.params["lr"] == "0.01"
assert fetched.data.metrics["loss"] == 1.0 / 3
client = mlflow.MlflowClient()
losses = [m.value for m in client.get_metric_history(run_id, "loss")]
assert losses == [1.0, 0.5, 1.0 / 3], losses
runs = mlflow.search_runs(filter_string="metrics.acc > 0.6 and params.optimizer = 'adam'",
                          order_by=["metrics.acc DESC"])
assert list(runs["run_id"]) == [run_id]
mlflow.log_metric("implicit", 1.0)
implicit = mlflow.active_run()
mlflow.end_run()
assert mlflow.get_run(implicit.info.run_id).info.status == "FINISHED"
exp = mlflow.get_experiment_by_name("mlflow-compat")
assert exp.experiment_id == fetched.info.experiment_id
"""


def test_import_trackbook_as_mlflow_runs_mlflow_code_unchanged() -> None:
    code = MLFLOW_SNIPPET.replace("import mlflow", "import trackbook as mlflow", 1)
    exec(compile(code, "mlflow_snippet.py", "exec"), {})
