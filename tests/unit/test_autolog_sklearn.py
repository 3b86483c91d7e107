"""scikit-learn autologging on the real scikit-learn and a real store.

What is logged (names, values, truncation, child runs, post-training metric keys) is what
MLflow 3.17.2's ``mlflow.sklearn.autolog`` logs for the same calls; the last test runs one
script under both and compares them.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sklearn.metrics
import sklearn.model_selection
from sklearn.datasets import load_iris
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.metrics import accuracy_score, mean_squared_error, precision_score
from sklearn.model_selection import GridSearchCV, RandomizedSearchCV, train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

import trackbook as tb
from trackbook.autologging import AutologWarning, _config, _patch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from mlflow_env import run_mlflow

CLASSIFIER_METRICS = {"training_accuracy_score", "training_f1_score", "training_log_loss",
                      "training_precision_score", "training_recall_score", "training_roc_auc",
                      "training_score"}
REGRESSOR_METRICS = {"training_mean_squared_error", "training_root_mean_squared_error",
                     "training_mean_absolute_error", "training_r2_score", "training_score"}
CHILD_METRICS = {"mean_fit_time", "std_fit_time", "mean_score_time", "std_score_time",
                 "mean_test_score", "std_test_score", "rank_test_score"}


@pytest.fixture
def autolog(store):
    """``autolog(**settings)`` for sklearn; everything unpatched afterwards."""
    def turn_on(**settings):
        tb.sklearn.autolog(**settings)
    yield turn_on
    _patch.unpatch_all("sklearn")
    _config._configs.pop("sklearn", None)


@pytest.fixture(scope="module")
def iris():
    X, y = load_iris(return_X_y=True, as_frame=True)
    return X.iloc[::2], y.iloc[::2]  # 75 rows: fast fits


@pytest.fixture(scope="module")
def binary():
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.random((60, 3)), columns=list("abc"))
    return X, np.where(X.a + X.b > 1, "yes", "no")


def _last():
    return tb.get_run(tb.last_active_run().info.run_id)


def _artifacts(run_id, path=None):
    out = []
    for f in tb.Client().list_artifacts(run_id, path):
        out += _artifacts(run_id, f.path) if f.is_dir else [f.path]
    return sorted(out)


def _models(run):
    return {m.name: m for m in tb.search_logged_models(output_format="list")
            if m.source_run_id == run.info.run_id}


def _children(run):
    return tb.Client().search_runs([run.info.experiment_id],
                                   f"tags.mlflow.parentRunId = '{run.info.run_id}'")


# -- one estimator -------------------------------------------------------------------------

def test_estimator_logs_params_metrics_tags_model_and_dataset(autolog, iris):
    X, y = iris
    autolog()
    model = LogisticRegression(C=0.5, max_iter=300).fit(X, y)
    run = _last()
    (logged,) = _models(run).values()
    # before the scores below: they are post-training metrics (and a metric_info.json)
    assert _artifacts(run.info.run_id) == ["estimator.html", "training_confusion_matrix.png"]
    assert run.info.status == "FINISHED"
    assert run.data.params == {k: str(v) for k, v in model.get_params(deep=True).items()}
    assert set(run.data.metrics) == CLASSIFIER_METRICS
    assert run.data.metrics["training_score"] == pytest.approx(model.score(X, y))
    assert run.data.metrics["training_accuracy_score"] == pytest.approx(
        accuracy_score(y, model.predict(X)))
    assert run.data.tags["estimator_name"] == "LogisticRegression"
    assert run.data.tags["estimator_class"] == "sklearn.linear_model._logistic.LogisticRegression"
    assert run.data.tags["mlflow.autologging"] == "sklearn"
    (inp,) = run.inputs.dataset_inputs
    assert [t.value for t in inp.tags] == ["train"]
    assert json.loads(inp.dataset.profile)["num_rows"] == len(X)

    assert logged.name == "model"
    assert logged.params["C"] == "0.5"
    assert {m.key for m in logged.metrics} == CLASSIFIER_METRICS
    # named by the training dataset, as MLflow does (which is the run's one input)
    assert {(m.dataset_name, m.dataset_digest) for m in logged.metrics} == {
        (inp.dataset.name, inp.dataset.digest)}
    meta = tb.pyfunc.load_model(f"models:/{logged.model_id}").metadata
    assert meta.signature.inputs.input_names() == list(X.columns)
    assert meta.saved_input_example_info is None  # log_input_examples defaults to False
    loaded = tb.sklearn.load_model(f"runs:/{run.info.run_id}/model")
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


def test_model_files_and_sklearn_flavor_are_mlflows(autolog, iris):
    """MLflow 3.17 autologs with cloudpickle and writes every sklearn flavor key, with
    skops_trusted_types and code null."""
    import sklearn
    import yaml

    X, y = iris
    autolog(log_datasets=False)
    with tb.start_run() as run:
        LogisticRegression(max_iter=300).fit(X, y)
    (logged,) = _models(run).values()
    root = Path(logged.artifact_location.removeprefix("file://"))
    assert (root / "model.pkl").is_file()
    flavors = yaml.safe_load((root / "MLmodel").read_text())["flavors"]
    assert flavors["sklearn"] == {"code": None, "pickled_model": "model.pkl",
                                  "serialization_format": "cloudpickle",
                                  "sklearn_version": sklearn.__version__,
                                  "skops_trusted_types": None}
    assert sorted(flavors["python_function"]) == ["env", "loader_module", "model_path",
                                                  "predict_fn", "python_version"]


def test_two_runs_each_log_their_own_model_newest_first(autolog, iris):
    """Each run's fit logs a model named 'model'; the search lists the newest first."""
    X, y = iris
    autolog(log_datasets=False)
    with tb.start_run(run_name="plain") as first:
        LogisticRegression(C=0.5, max_iter=300).fit(X, y)
    with tb.start_run(run_name="pipe") as second:
        Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression())]).fit(X, y)
    found = tb.search_logged_models(output_format="list")
    assert [(m.name, m.source_run_id) for m in found] == [
        ("model", second.info.run_id), ("model", first.info.run_id)]
    assert found[0].params["clf__C"] == "1.0"
    assert "C" not in found[0].params
    assert found[1].params["C"] == "0.5"
    for run, model in ((first, found[1]), (second, found[0])):
        outputs = tb.get_run(run.info.run_id).outputs.model_outputs
        assert [(o.model_id, o.step) for o in outputs] == [(model.model_id, 0)]


def test_string_labels_pos_label_input_example_registered_model_extra_tags(autolog, binary):
    X, y = binary
    autolog(log_input_examples=True, pos_label="yes", registered_model_name="sk-reg",
            extra_tags={"team": "vision"})
    model = LogisticRegression().fit(X, y)
    run = _last()
    assert run.data.tags["team"] == "vision"
    # pos_label switches precision/recall/f1 to average="binary" on that label
    assert run.data.metrics["training_precision_score"] == pytest.approx(
        precision_score(y, model.predict(X), pos_label="yes"))
    assert run.data.metrics["training_recall_score"] == 1.0
    (logged,) = _models(run).values()
    meta = tb.pyfunc.load_model(f"models:/{logged.model_id}").metadata
    assert meta.saved_input_example_info["artifact_path"] == "input_example.json"
    # string predictions: MLflow's Tensor('str', (-1,)) output
    assert meta.signature.outputs.to_dict() == [
        {"type": "tensor", "tensor-spec": {"dtype": "str", "shape": [-1]}}]
    (version,) = tb.Client().search_model_versions("name='sk-reg'")
    assert version.version in (1, "1")
    assert version.run_id == run.info.run_id


def test_regressor_metrics(autolog):
    rng = np.random.default_rng(1)
    X = rng.random((40, 3))
    y = X @ [1.0, 2.0, 3.0] + rng.normal(0, 0.1, 40)
    autolog(log_models=False)
    model = LinearRegression().fit(X, y)
    run = _last()
    assert set(run.data.metrics) == REGRESSOR_METRICS
    mse = mean_squared_error(y, model.predict(X))
    assert run.data.metrics["training_mean_squared_error"] == pytest.approx(mse)
    assert run.data.metrics["training_root_mean_squared_error"] == pytest.approx(np.sqrt(mse))
    assert _models(run) == {}


def test_pipeline_params_are_flattened_deeply(autolog, iris):
    X, y = iris
    autolog(log_models=False, log_datasets=False)
    pipe = Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression())]).fit(X, y)
    run = _last()
    params = run.data.params
    assert params == {k: str(v) for k, v in pipe.get_params(deep=True).items()}
    assert {"steps", "scale", "clf", "scale__with_mean", "clf__C"} <= set(params)
    assert run.data.tags["estimator_name"] == "Pipeline"
    assert run.inputs.dataset_inputs == []
    assert set(run.data.metrics) == CLASSIFIER_METRICS


def _keep(X, x=None):
    return X


def test_long_param_values_and_keys_are_truncated_as_mlflow(autolog, iris, caplog):
    X, y = iris
    autolog(log_models=False)
    long_step = "s" * 260
    pipe = Pipeline([("ft", FunctionTransformer(_keep, kw_args={"x": "v" * 7000})),
                     (long_step, LogisticRegression())])
    with caplog.at_level(logging.WARNING, logger="trackbook.autolog"):
        pipe.fit(X, y)
    params = _last().data.params
    value = params["ft__kw_args"]
    assert len(value) == 6000
    assert value.endswith("v...")
    long_keys = [k for k in params if k.startswith("sss")]
    # every <260 s>__<param> key cut to the same 250 characters: one param, the last value
    assert long_keys == ["s" * 247 + "..."]
    assert params[long_keys[0]] == str(pipe.get_params()[f"{long_step}__warm_start"])
    assert "Truncated the value of the key `ft__kw_args`" in caplog.text
    assert "Truncated the key `" + "s" * 247 + "...`" in caplog.text


def test_no_labels_no_training_metrics(autolog, iris, caplog):
    from sklearn.cluster import KMeans

    X, _ = iris
    autolog(log_models=False)
    with caplog.at_level(logging.WARNING, logger="trackbook.autolog"):
        KMeans(n_clusters=2, n_init=1, random_state=0).fit(X)
    run = _last()
    assert run.data.metrics == {}
    assert run.data.params["n_clusters"] == "2"
    assert "Training metrics will not be recorded" in caplog.text


# -- settings ------------------------------------------------------------------------------

def test_active_run_exclusive_and_disable(autolog, iris):
    X, y = iris
    autolog(log_models=False)
    with tb.start_run() as run:
        LogisticRegression().fit(X, y)
    assert tb.get_run(run.info.run_id).data.params["C"] == "1.0"

    autolog(log_models=False, exclusive=True)
    with tb.start_run() as run:
        LogisticRegression().fit(X, y)
    assert tb.get_run(run.info.run_id).data.params == {}
    assert len(tb.search_runs()) == 2  # and no run of its own either

    autolog(disable=True)
    LogisticRegression().fit(X, y)
    assert len(tb.search_runs()) == 2


def test_nested_fits_log_once(autolog, iris):
    X, y = iris
    autolog(log_models=False)
    # autologging off inside; like MLflow's patch, only the module attribute is patched (a
    # cross_val_score imported before autolog() logs its fits, there as here)
    scores = sklearn.model_selection.cross_val_score(LogisticRegression(), X, y, cv=2)
    assert len(scores) == 2
    assert len(tb.search_runs()) == 0
    Pipeline([("clf", LogisticRegression())]).fit(X, y)
    (run,) = tb.search_runs(output_format="list")
    assert run.data.tags["estimator_name"] == "Pipeline"


# -- parameter search ----------------------------------------------------------------------

def test_grid_search_parent_and_child_runs(autolog, iris):
    X, y = iris
    autolog(max_tuning_runs=3)
    grid = {"C": [0.01, 0.1, 1.0, 10.0], "fit_intercept": [True, False]}
    search = GridSearchCV(LogisticRegression(max_iter=300), grid, cv=2)
    with tb.start_run() as parent:
        search.fit(X, y)
    run = tb.get_run(parent.info.run_id)
    params = run.data.params
    assert params["best_C"] == str(search.best_params_["C"])
    assert params["best_fit_intercept"] == str(search.best_params_["fit_intercept"])
    assert params["param_grid"] == str(grid)
    assert "estimator__C" not in params  # a search's seed params are not logged deeply
    assert run.data.metrics["best_cv_score"] == pytest.approx(search.best_score_)
    assert set(run.data.metrics) >= CLASSIFIER_METRICS
    assert run.data.tags["estimator_name"] == "GridSearchCV"
    assert "cv_results.csv" in _artifacts(run.info.run_id)
    csv = tb.Client().download_artifacts(run.info.run_id, "cv_results.csv")
    table = pd.read_csv(csv)
    assert len(table) == 8
    assert "rank_test_score" in table

    models = _models(run)
    assert set(models) == {"model", "best_estimator"}
    assert models["model"].params["best_C"] == params["best_C"]
    best = tb.sklearn.load_model(f"models:/{models['best_estimator'].model_id}")
    assert best.get_params() == search.best_estimator_.get_params()

    children = _children(run)
    assert len(children) == 3
    ranks = sorted(c.data.metrics["rank_test_score"] for c in children)
    assert ranks == sorted(table["rank_test_score"])[:3]
    results = pd.DataFrame(search.cv_results_).nsmallest(3, "rank_test_score")
    expected = [{**{k: str(v) for k, v in LogisticRegression(max_iter=300).get_params().items()},
                 **{k: str(v) for k, v in p.items()}} for p in results["params"]]
    assert sorted(sorted(c.data.params.items()) for c in children) == sorted(
        sorted(e.items()) for e in expected)
    for child in children:
        assert set(child.data.metrics) == CHILD_METRICS
        assert child.data.tags["estimator_name"] == "LogisticRegression"
        assert child.data.tags["mlflow.autologging"] == "sklearn"
        assert child.info.status == "FINISHED"
        assert child.info.start_time == run.info.start_time
        assert [t.value for d in child.inputs.dataset_inputs for t in d.tags] == ["train"]
    # the best child's metrics are the best_estimator model's metrics too
    best_child = min(children, key=lambda c: c.data.metrics["rank_test_score"])
    assert {m.key: m.value for m in models["best_estimator"].metrics} == pytest.approx(
        best_child.data.metrics)


def test_randomized_search_all_candidates_without_a_limit(autolog, iris):
    X, y = iris
    autolog(max_tuning_runs=None, log_models=False)
    search = RandomizedSearchCV(LogisticRegression(max_iter=300), {"C": [0.1, 1.0, 10.0]},
                                n_iter=3, cv=2, random_state=0).fit(X, y)
    run = _last()
    assert run.data.tags["estimator_name"] == "RandomizedSearchCV"
    assert run.data.params["best_C"] == str(search.best_params_["C"])
    assert _models(run) == {}
    assert sorted(c.data.params["C"] for c in _children(run)) == ["0.1", "1.0", "10.0"]


def test_max_tuning_runs_zero_and_negative(autolog, iris):
    X, y = iris
    with pytest.raises(tb.exceptions.MlflowException, match="max_tuning_runs"):
        tb.sklearn.autolog(max_tuning_runs=-1)
    autolog(max_tuning_runs=0, log_models=False)
    GridSearchCV(LogisticRegression(), {"C": [0.1, 1.0]}, cv=2).fit(X, y)
    run = _last()
    assert run.data.params["best_C"]
    assert _children(run) == []


# -- post-training metrics -----------------------------------------------------------------

def test_post_training_metrics_keys_and_metric_info(autolog, iris):
    X, y = iris
    X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
    autolog(log_models=False)
    # the patched functions are sklearn.metrics' attributes (MLflow's patch too): a name
    # imported from there before autolog() is the unpatched function
    accuracy_score, f1_score = sklearn.metrics.accuracy_score, sklearn.metrics.f1_score
    model = LogisticRegression(max_iter=300).fit(X_train, y_train)
    run_id = tb.last_active_run().info.run_id
    model.score(X_test, y_test)
    pred = model.predict(X_test)
    accuracy_score(y_test, pred)
    accuracy_score(y_test, pred)
    f1_score(y_test, pred, average="macro")
    X_test2 = X_test[:10]
    model.predict(X_test2)
    model.score(X_test2, y_test[:10])
    run = tb.get_run(run_id)
    post = {k: v for k, v in run.data.metrics.items() if not k.startswith("training_")}
    assert post == pytest.approx({
        "LogisticRegression_score_X_test": model.score(X_test, y_test),
        "accuracy_score_X_test": accuracy_score(y_test, pred),
        "accuracy_score-2_X_test": accuracy_score(y_test, pred),
        "f1_score_X_test": f1_score(y_test, pred, average="macro"),
        "LogisticRegression_score-2_X_test2": model.score(X_test2, y_test[:10]),
    })
    assert run.info.status == "FINISHED"  # written into the ended run, which stays ended
    info = json.loads(Path(tb.Client().download_artifacts(run_id, "metric_info.json"))
                      .read_text())
    assert info["accuracy_score_X_test"] == "accuracy_score(y_true=y_test, y_pred=pred)"
    assert info["f1_score_X_test"] == "f1_score(y_true=y_test, y_pred=pred, average='macro')"
    assert info["LogisticRegression_score_X_test"] == \
        "LogisticRegression.score(X=X_test, y=y_test)"
    # the predicted-on data are eval inputs of the run
    contexts = [t.value for d in run.inputs.dataset_inputs for t in d.tags]
    assert contexts.count("eval") == 2


def test_post_training_metrics_go_into_the_logged_model(autolog, iris):
    X, y = iris
    autolog()
    model = LogisticRegression(max_iter=300).fit(X, y)
    run = _last()
    X_eval = X[:20]
    model.score(X_eval, y[:20])
    (logged,) = _models(run).values()
    keys = {m.key for m in tb.search_logged_models(output_format="list")[0].metrics}
    assert "LogisticRegression_score_X_eval" in keys
    assert logged.name == "model"


def test_log_post_training_metrics_false(autolog, iris):
    X, y = iris
    autolog(log_models=False, log_post_training_metrics=False)
    model = LogisticRegression(max_iter=300).fit(X, y)
    run_id = tb.last_active_run().info.run_id
    X_test = X[:30]
    model.score(X_test, y[:30])
    sklearn.metrics.accuracy_score(y[:30], model.predict(X_test))
    run = tb.get_run(run_id)
    assert set(run.data.metrics) == CLASSIFIER_METRICS
    assert "metric_info.json" not in _artifacts(run_id)


# -- failures ------------------------------------------------------------------------------

def test_a_logging_failure_warns_and_training_goes_on(autolog, iris):
    """A lock in the pipeline cannot be pickled: the model is not logged, everything else
    is, and fit returns the fitted pipeline."""
    X, y = iris
    autolog()
    lock = threading.Lock()
    pipe = Pipeline([("ft", FunctionTransformer(_keep, kw_args={"x": lock})),
                     ("clf", LogisticRegression(max_iter=300))])
    with pytest.warns(AutologWarning, match="could not log the model 'model'"):
        fitted = pipe.fit(X, y)
    assert fitted is pipe
    assert pipe.score(X, y) > 0.9
    run = _last()
    assert run.info.status == "FINISHED"
    # as in MLflow 3 the logged model exists, FAILED; unlike MLflow (which marks the run
    # FAILED and logs no training metrics) the run finishes with everything else logged
    assert str(_models(run)["model"].status) == "FAILED"
    assert run.data.params["clf__max_iter"] == "300"
    assert set(run.data.metrics) >= CLASSIFIER_METRICS


def test_silent_turns_the_warning_off(autolog, iris, recwarn):
    X, y = iris
    autolog(silent=True)
    pipe = Pipeline([("ft", FunctionTransformer(_keep, kw_args={"x": threading.Lock()})),
                     ("clf", LogisticRegression(max_iter=300))])
    pipe.fit(X, y)
    assert not [w for w in recwarn if issubclass(w.category, AutologWarning)]
    assert str(_models(_last())["model"].status) == "FAILED"


def test_training_errors_propagate_and_fail_the_run(autolog):
    autolog(log_models=False)
    with pytest.raises(ValueError):
        LogisticRegression().fit([[1.0], [2.0]], [0, 0])  # one class
    (run,) = tb.search_runs(output_format="list")
    assert run.info.status == "FAILED"


# -- against the real MLflow ---------------------------------------------------------------

SCRIPT = r'''
import json, sys
if sys.argv[1] == "tb":
    import trackbook as mlflow
else:
    import mlflow
mlflow.set_tracking_uri(sys.argv[2])
mlflow.set_experiment("compare")
mlflow.sklearn.autolog(max_tuning_runs=3, log_models=False)  # models: MLflow takes ~20 s
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
X, y = load_iris(return_X_y=True)
X_train, y_train, X_test, y_test = X[::2], y[::2], X[1::2], y[1::2]
pipe = Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression())])
pipe.fit(X_train, y_train)
pipe.score(X_test, y_test)
GridSearchCV(LogisticRegression(), {"C": [0.1, 1.0, 10.0, 100.0]}, cv=2).fit(X_train, y_train)
client = mlflow.MlflowClient() if hasattr(mlflow, "MlflowClient") else mlflow.Client()
exp = client.get_experiment_by_name("compare")

def arts(rid, path=None):
    out = []
    for a in client.list_artifacts(rid, path):
        out += arts(rid, a.path) if a.is_dir else [a.path]
    return sorted(out)

runs = client.search_runs([exp.experiment_id])
parents = {r.data.tags.get("mlflow.parentRunId") for r in runs}
out = {}
for r in runs:
    kind = r.data.tags["estimator_name"]
    if "mlflow.parentRunId" in r.data.tags:
        kind = "child"
    out.setdefault(kind, []).append({
        "params": sorted(r.data.params), "metrics": sorted(r.data.metrics),
        "tags": sorted(k for k in r.data.tags if not k.startswith("trackbook.")),
        "artifacts": arts(r.info.run_id)})
print("@@" + json.dumps(out))
'''


def test_same_logs_as_mlflow(tmp_path, store):
    """One script, run by MLflow 3.17 (sqlite) and by trackbook at the same time."""
    from concurrent.futures import ThreadPoolExecutor

    script = tmp_path / "compare.py"
    script.write_text(SCRIPT)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "TRACKBOOK_"))}
    env["PYTHONPATH"] = str(Path(tb.__file__).parents[1])
    with ThreadPoolExecutor(1) as pool:
        mlflow_side = pool.submit(run_mlflow, SCRIPT, "mlflow",
                                  f"sqlite:///{tmp_path}/mlflow.db", cwd=tmp_path)
        proc = subprocess.run([sys.executable, str(script), "tb", str(tmp_path / "tbstore")],
                              capture_output=True, text=True, env=env, cwd=tmp_path,
                              timeout=300)
        theirs = mlflow_side.result()
    assert proc.returncode == 0, proc.stderr[-3000:]
    ours = json.loads(next(ln for ln in proc.stdout.splitlines() if ln.startswith("@@"))[2:])
    assert sorted(ours) == sorted(theirs) == ["GridSearchCV", "Pipeline", "child"]
    assert len(ours["child"]) == len(theirs["child"]) == 3
    for kind in ("Pipeline", "GridSearchCV", "child"):
        assert ours[kind] == theirs[kind], kind
