"""MLflow 3's links between runs, logged models and datasets: ``run.outputs.model_outputs``
and ``run.inputs.model_inputs``, metrics linked to models (``model_id=``, the active model,
the models a run logged at that step) with ``dataset=``'s name and digest, and
``search_logged_models``' datasets/order_by/filters. One script runs under MLflow 3.17 and
trackbook and must give the same answers."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import trackbook as tb
from mlflow_env import run_mlflow

# Run as-is by both tools (``mlflow`` is bound to MLflow or to trackbook); ids are
# replaced by names, timestamps by their order, so the two answers compare.
SCRIPT = r'''
import time
import pandas as pd
ds = mlflow.data.from_pandas(pd.DataFrame({"a": [1.0, 2.0]}), name="train")
ds2 = mlflow.data.from_pandas(pd.DataFrame({"a": [3.0, 4.0]}), name="eval")
mlflow.set_experiment("links")
with mlflow.start_run() as run:
    a = mlflow.initialize_logged_model(name="a", params={"p": "v"}, tags={"t": "1"})
    time.sleep(0.01)  # distinct creation times: newest first is then one order
    b = mlflow.initialize_logged_model(name="b", params={"p": "w"}, model_type="tree")
    time.sleep(0.01)
    c = mlflow.initialize_logged_model(name="c")
    time.sleep(0.01)
    mlflow.finalize_logged_model(a.model_id, "READY")
    # distinct timestamps: a model's metric to order by is its latest point (by time,
    # then step), and both tools break a tie within one millisecond arbitrarily
    mlflow.log_metric("x", 0.9, model_id=a.model_id, dataset=ds)
    time.sleep(0.005)
    mlflow.log_metric("x", 0.1, model_id=a.model_id, dataset=ds2)
    time.sleep(0.005)
    mlflow.log_metric("x", 0.4, model_id=b.model_id, dataset=ds)
    time.sleep(0.005)
    mlflow.log_metrics({"x": 0.8, "y": 2.0}, model_id=b.model_id, dataset=ds2)
    time.sleep(0.005)
    mlflow.log_metric("x", 0.3, model_id=b.model_id, step=1)
    mlflow.log_metric("plain", 1.0, dataset=ds2, step=9)
with mlflow.start_run() as run2:
    mlflow.log_metric("ext", 0.5, model_id=a.model_id)  # a model this run did not produce
    active = mlflow.set_active_model(name="act")
    mlflow.log_metric("while_active", 2.0, step=1)
    # the client links model-less points to the active model too (MLflow 3.17)
    cl = mlflow.MlflowClient()
    cl.log_metric(run2.info.run_id, "client_active", 3.0)
    cl.log_batch(run2.info.run_id, metrics=[mlflow.entities.Metric("batch_active", 4.0,
                                                          int(time.time() * 1000) + 5, 2)])
    mlflow.clear_active_model()
    cl.log_metric(run2.info.run_id, "client_after", 5.0)
names = {a.model_id: "a", b.model_id: "b", c.model_id: "c", active.model_id: "act",
         run.info.run_id: "run", run2.info.run_id: "run2"}
def q(**kw):
    try:
        return [names[m.model_id] for m in mlflow.search_logged_models(
            experiment_ids=[run.info.experiment_id], output_format="list", **kw)]
    except Exception as e:
        return "error"
def metrics(m):
    return [[x.key, x.value, x.step, x.dataset_name, names.get(x.run_id)]
            for x in mlflow.get_logged_model(m.model_id).metrics or []]
r1, r2 = mlflow.get_run(run.info.run_id), mlflow.get_run(run2.info.run_id)
out = {
    "run_inputs": [[d.dataset.name, [t.key for t in d.tags]] for d in r1.inputs.dataset_inputs],
    "run_model_inputs": sorted(names[i.model_id] for i in r1.inputs.model_inputs),
    "run2_model_inputs": sorted(names[i.model_id] for i in r2.inputs.model_inputs),
    "run2_outputs": r2.outputs.to_dictionary(),
    "metrics_a": metrics(a), "metrics_b": metrics(b), "metrics_c": metrics(c),
    "metrics_act": metrics(active),
    "x>0.5": q(filter_string="metrics.x > 0.5"),
    "x>0.5 eval": q(filter_string="metrics.x > 0.5", datasets=[{"dataset_name": "eval"}]),
    "x>0.5 train": q(filter_string="metrics.x > 0.5", datasets=[{"dataset_name": "train"}]),
    "on train": q(datasets=[{"dataset_name": "train", "dataset_digest": ds.digest}]),
    "bad digest": q(datasets=[{"dataset_name": "train", "dataset_digest": "zz"}]),
    "no name": q(datasets=[{"dataset_digest": "zz"}]),
    "p=v": q(filter_string="params.p = 'v'"), "tags.t": q(filter_string="tags.t = '1'"),
    "name IN": sorted(q(filter_string="name IN ('a', 'c')")),
    "type": q(filter_string="model_type = 'tree'"),
    "status 2": q(filter_string="status = 2"),
    "created": sorted(q(filter_string="creation_time > 0")),
    "x desc": q(order_by=[{"field_name": "metrics.x", "ascending": False}]),
    "x asc": q(order_by=[{"field_name": "metrics.x", "ascending": True}]),
    "x train desc": q(order_by=[{"field_name": "metrics.x", "ascending": False,
                                 "dataset_name": "train"}]),
    "x eval": q(order_by=[{"field_name": "metrics.x", "dataset_name": "eval",
                           "dataset_digest": ds2.digest}]),
    "name desc": q(order_by=[{"field_name": "name", "ascending": False}]),
    "order params": q(order_by=[{"field_name": "params.p"}]),
    "max 0": q(max_results=0),
    "frame cols": list(mlflow.search_logged_models(
        experiment_ids=[run.info.experiment_id]).columns),
    "empty frame cols": list(mlflow.search_logged_models(
        experiment_ids=[run.info.experiment_id], filter_string="name = 'zz'").columns),
}
'''


def _trackbook() -> dict[str, Any]:
    scope: dict[str, Any] = {"mlflow": tb}
    exec(SCRIPT, scope)
    return scope["out"]


@pytest.fixture(autouse=True)
def _no_active_model() -> Iterator[None]:
    from trackbook.tracking import active_model

    active_model.set_active_model_id(None)
    yield
    active_model.set_active_model_id(None)


def test_links_metrics_and_search_as_mlflow_does(tb_store: Path, tmp_path: Path) -> None:
    code = ("import json, warnings\nwarnings.filterwarnings('ignore')\nimport mlflow\n"
            f"mlflow.set_tracking_uri('sqlite:///{tmp_path}/m.db')\n{SCRIPT}\n"
            "print('@@' + json.dumps(out))")
    theirs = run_mlflow(code, cwd=tmp_path)
    ours = json.loads(json.dumps(_trackbook()))
    assert ours == theirs
    # what the script saw, spelled out (so a shared mistake cannot pass)
    assert ours["metrics_b"] == [["x", 0.4, 0, "train", "run"], ["x", 0.8, 0, "eval", "run"],
                                 ["y", 2.0, 0, "eval", "run"], ["x", 0.3, 1, None, "run"]]
    assert ours["run2_model_inputs"] == ["a", "act"]
    assert ours["x desc"] == ["b", "a", "act", "c"]  # latest x: 0.3, 0.1, none (newest first)


def test_run_outputs_and_metrics_at_the_model_step(tb_store: Path) -> None:
    from sklearn.linear_model import LogisticRegression

    X, y = np.array([[0.0], [1.0], [0.1], [0.9]]), np.array([0, 1, 0, 1])
    with tb.start_run() as run:
        # before the model, at its step: log_model links it (as MLflow 3.17's log_model,
        # which re-logs the run's points at that step with the new model's id)
        tb.log_metric("early", 1.0, step=3)
        tb.log_metric("early_other_step", 1.0, step=2)  # another step: not linked
        first = tb.sklearn.log_model(LogisticRegression().fit(X, y), name="m", step=3)
        second = tb.sklearn.log_model(LogisticRegression().fit(X, y), name="m2")
        tb.log_metric("acc", 0.9, step=3)  # the model logged at step 3
        tb.log_metrics({"f1": 0.8, "g": 1.0}, step=3)
        tb.log_metric("zero", 0.5)  # step 0: the second model
        tb.log_metric("other", 0.1, step=4)  # no model at step 4
        for i in range(5):  # the fast path still applies at other steps
            tb.log_metric("loss", 1.0 / (i + 1), step=10 + i)
        assert tb.last_active_run().outputs.model_outputs == [
            tb.LoggedModelOutput(first.model_id, 3), tb.LoggedModelOutput(second.model_id, 0)]
    rid = run.info.run_id
    for got in (tb.get_run(rid), tb.last_active_run(),
                tb.search_runs(output_format="list")[0]):
        assert [(o.model_id, o.step) for o in got.outputs.model_outputs] == [
            (first.model_id, 3), (second.model_id, 0)]
        assert got.to_dictionary()["outputs"] == {"model_outputs": [
            {"model_id": first.model_id, "step": 3}, {"model_id": second.model_id, "step": 0}]}
        assert got.inputs.model_inputs == []  # outputs are not inputs
    assert [(m.key, m.step) for m in tb.get_logged_model(first.model_id).metrics] == [
        ("early", 3), ("acc", 3), ("f1", 3), ("g", 3)]
    assert len(tb.MlflowClient().get_metric_history(rid, "early")) == 1  # not logged twice
    assert [(m.key, m.step) for m in tb.get_logged_model(second.model_id).metrics] == [
        ("zero", 0)]
    assert len(tb.MlflowClient().get_metric_history(rid, "loss")) == 5
    with tb.start_run() as empty:
        pass
    assert tb.get_run(empty.info.run_id).outputs.model_outputs == []


def test_a_resumed_run_links_to_the_models_it_logged_before(tb_store: Path) -> None:
    from trackbook.tracking import runstate

    with tb.start_run() as run:
        lm = tb.initialize_logged_model(name="m")
        from trackbook.models import logged

        logged.log_output(tb.Client().store, run.info.run_id, lm.model_id, 2)
    runstate._states.clear()  # as a new process would see it
    with tb.start_run(run_id=run.info.run_id):
        tb.log_metric("acc", 0.7, step=2)
    assert [(m.key, m.value) for m in tb.get_logged_model(lm.model_id).metrics] == [
        ("acc", 0.7)]


def test_client_log_metric_and_log_batch_take_model_and_dataset(tb_store: Path) -> None:
    client = tb.MlflowClient()
    with tb.start_run() as run:
        lm = tb.initialize_logged_model(name="m")
        rid = run.info.run_id
        client.log_metric(rid, "acc", 0.5, step=1, model_id=lm.model_id, dataset_name="d",
                          dataset_digest="abc")
        client.log_batch(rid, metrics=[tb.entities.Metric("f1", 0.25, 5, 2, "e", "x", None,
                                                           lm.model_id),
                                       tb.entities.Metric("plain", 1.0, 5, 2)])
        with pytest.raises(tb.TrackbookError, match="model_id must be a logged model id"):
            client.log_metric(rid, "acc", 0.5, model_id="nope")
    got = sorted((m.key, m.value, m.step, m.dataset_name, m.dataset_digest, m.run_id)
                 for m in tb.get_logged_model(lm.model_id).metrics)
    assert got == [("acc", 0.5, 1, "d", "abc", rid), ("f1", 0.25, 2, "e", "x", rid)]
    # the client logs no inputs (as MLflow's): the model is no input of the run
    assert tb.get_run(rid).inputs.model_inputs == []
    assert set(tb.get_run(rid).data.metrics) == {"acc", "f1", "plain"}


def test_bad_dataset_and_model_id_fail_before_anything_is_logged(tb_store: Path) -> None:
    with tb.start_run() as run:
        with pytest.raises(tb.TrackbookError, match="dataset= takes a dataset"):
            tb.log_metric("acc", 0.5, dataset=pd.DataFrame({"a": [1]}))
        with pytest.raises(tb.TrackbookError, match="model_id must be a logged model id"):
            tb.log_metrics({"acc": 0.5}, model_id="m-1")
    assert tb.get_run(run.info.run_id).data.metrics == {}
    ds = tb.data.from_pandas(pd.DataFrame({"a": [1.0]}), name="d")
    with tb.start_run() as run:  # a dataset entity works too, once per run
        tb.log_metric("acc", 0.5, dataset=ds._to_mlflow_entity())
        tb.log_metric("acc", 0.6, dataset=ds, step=1)
    assert [d.dataset.name for d in tb.get_run(run.info.run_id).inputs.dataset_inputs] == ["d"]


def test_search_limits_and_errors(tb_store: Path) -> None:
    a = tb.initialize_logged_model(name="a")
    time.sleep(0.005)  # b is newer by its creation time (ms), not by a tie
    b = tb.initialize_logged_model(name="b")
    tb.finalize_logged_model(b.model_id, tb.LoggedModelStatus.FAILED)
    tb.log_metric("x", 1.0, model_id=a.model_id)
    ids = lambda **kw: [m.name for m in tb.search_logged_models(  # noqa: E731
        output_format="list", **kw)]
    assert ids(filter_string="status = 'FAILED'") == ["b"]
    assert ids(filter_string="status = 3") == ["b"]
    assert ids(order_by=[{"field_name": "status"}]) == ["a", "b"]  # PENDING(1) < FAILED(3)
    assert ids(max_results=1) == ["b"]
    assert ids(experiment_ids=[]) == ["b", "a"]  # the current experiment, as MLflow
    page = tb.MlflowClient().search_logged_models([a.experiment_id], max_results=0)
    assert len(page) == 2  # the client's 0 is its default page size, as MLflow's
    frame = tb.search_logged_models()
    assert list(frame["status"]) == ["FAILED", "PENDING"]
    assert frame["metrics"].iloc[0] is None
    assert len(frame["metrics"].iloc[1]) == 1
    for bad, match in (({"datasets": [{"dataset_digest": "x"}]}, "dataset_name"),
                       ({"datasets": "train"}, "datasets must be a list"),
                       ({"order_by": [{"field_name": "tags.t"}]}, "params and tags"),
                       ({"order_by": ["name"]}, "order_by items are dicts"),
                       ({"max_results": -1}, "non-negative"),
                       ({"filter_string": "metrics.x LIKE '1'"}, "LIKE cannot be used")):
        with pytest.raises(tb.TrackbookError, match=match):
            tb.search_logged_models(**bad)


def test_create_model_version_records_the_logged_model(tb_store: Path) -> None:
    client = tb.MlflowClient()
    with tb.start_run() as run:
        lm = tb.initialize_logged_model(name="m")
    client.create_registered_model("r")
    v1 = client.create_model_version("r", "/some/path", model_id=lm.model_id)
    assert (v1.model_id, v1.run_id) == (lm.model_id, run.info.run_id)
    v2 = client.create_model_version("r", f"models:/{lm.model_id}")
    assert v2.run_id == run.info.run_id  # from the model, as MLflow
    assert client.get_model_version("r", 1).model_id == lm.model_id
    with pytest.raises(tb.TrackbookError, match="no logged model"):
        client.create_model_version("r", "/p", model_id="m-" + "0" * 32)
    mv = tb.register_model(f"models:/{lm.model_id}", "r")
    assert mv.model_id == lm.model_id


def test_registering_a_logged_model_tags_it_with_its_versions(tb_store: Path) -> None:
    from sklearn.linear_model import LogisticRegression

    X, y = np.array([[0.0], [1.0], [0.1], [0.9]]), np.array([0, 1, 0, 1])
    with tb.start_run():
        info = tb.sklearn.log_model(LogisticRegression().fit(X, y), name="m",
                                    registered_model_name="r",
                                    pip_requirements=["scikit-learn"])
    tag = "mlflow.modelVersions"
    assert tb.get_logged_model(info.model_id).tags[tag] == '[{"name": "r", "version": 1}]'
    tb.register_model(f"models:/{info.model_id}", "other")
    tb.register_model(f"models:/{info.model_id}", "r")  # MLflow appends, one per version
    assert json.loads(tb.get_logged_model(info.model_id).tags[tag]) == [
        {"name": "r", "version": 1}, {"name": "other", "version": 1},
        {"name": "r", "version": 2}]
    # the client's create_model_version records model_id but sets no tag (as MLflow's)
    lm = tb.initialize_logged_model(name="plain")
    tb.MlflowClient().create_model_version("r", f"models:/{lm.model_id}",
                                           model_id=lm.model_id)
    assert tag not in tb.get_logged_model(lm.model_id).tags


def test_log_model_into_an_initialized_model_links_a_point_once(tb_store: Path) -> None:
    """A point already linked to the model (autolog's epochs) is not linked again by
    log_model(model_id=...); the run's other points at that step are (as MLflow)."""
    from sklearn.linear_model import LogisticRegression

    X, y = np.array([[0.0], [1.0], [0.1], [0.9]]), np.array([0, 1, 0, 1])
    with tb.start_run():
        lm = tb.initialize_logged_model(name="m")
        tb.log_metric("loss", 0.5, step=0, model_id=lm.model_id)
        tb.log_metric("plain", 1.0, step=0)
        tb.sklearn.log_model(LogisticRegression().fit(X, y), name="m", model_id=lm.model_id,
                             pip_requirements=["scikit-learn"])
    assert sorted((m.key, m.step) for m in tb.get_logged_model(lm.model_id).metrics) == [
        ("loss", 0), ("plain", 0)]
