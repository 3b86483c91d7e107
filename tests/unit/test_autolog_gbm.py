"""XGBoost and LightGBM autologging on the real frameworks, tiny data.

The logged names and values are the ones MLflow 3.17.2 logs for the same calls on the same
data (checked against MLflow 3.17.2 in benchmarks/.mlflow-venv, sqlite store).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

xgb = pytest.importorskip("xgboost")
lgb = pytest.importorskip("lightgbm")

import trackbook as tb  # noqa: E402
from trackbook.autologging import AutologWarning, _config, _patch  # noqa: E402
from trackbook.store.catalog import Catalog  # noqa: E402
from trackbook.store.store import Store  # noqa: E402

# checked against MLflow 3.17.2: per-iteration metrics, early stopping, artifacts
XGB_METRICS = {"train-auc", "train-logloss", "validation-auc", "validation-logloss",
               "stopped_iteration", "best_iteration"}
XGB_PARAMS = {"custom_metric": "None", "early_stopping_rounds": "3",
              "eval_metric": "['logloss', 'auc']", "max_depth": "2", "maximize": "None",
              "num_boost_round": "20", "objective": "binary:logistic", "verbose_eval": "True"}
LGB_PARAMS = {"keep_training_booster": "False", "metric": "['binary_logloss', 'auc']",
              "num_boost_round": "20", "objective": "binary", "verbose": "-1"}
LGB_ARTIFACTS = ["feature_importance_gain.json", "feature_importance_gain.png",
                 "feature_importance_split.json", "feature_importance_split.png"]


@pytest.fixture
def autolog(store):
    yield
    for flavor in ("xgboost", "lightgbm"):
        _patch.unpatch_all(flavor)
        _config._configs.pop(flavor, None)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.random((200, 4)), columns=list("abcd"))
    return X, (X.a + X.b > 1).astype(int)


def _run():
    return tb.get_run(tb.last_active_run().info.run_id)


def _history(run, key):
    return [(m.step, m.value) for m in tb.Client().get_metric_history(run.info.run_id, key)]


def _inputs(run):
    return [(d.dataset.name, d.dataset.source_type, [t.value for t in d.tags])
            for d in run.inputs.dataset_inputs]


def _models(run):
    """The run's logged models (MLflow 3 keeps them out of the run's artifacts)."""
    return [m for m in tb.search_logged_models(output_format="list")
            if m.source_run_id == run.info.run_id]


def _run_points(run):
    """Every metric point of the run: (key, step, value)."""
    return sorted((m.key, m.step, m.value) for k in run.data.metrics
                  for m in tb.Client().get_metric_history(run.info.run_id, k))


def _model_points(model):
    return sorted((m.key, m.step, m.value) for m in model.metrics)


def _model_uri(run):
    (model,) = _models(run)
    return f"models:/{model.model_id}"


def _artifacts(run):
    return sorted(f.path for f in tb.Client().list_artifacts(run.info.run_id))


def _xgb_train(X, y, num_boost_round=20, **kwargs):
    dtr, dva = xgb.DMatrix(X[:150], label=y[:150]), xgb.DMatrix(X[150:], label=y[150:])
    return xgb.train({"objective": "binary:logistic", "max_depth": 2,
                      "eval_metric": ["logloss", "auc"]}, dtr, num_boost_round=num_boost_round,
                     evals=[(dtr, "train"), (dva, "validation")], **kwargs)


def test_xgboost_train_logs_what_mlflow_logs(autolog, data) -> None:
    X, y = data
    tb.xgboost.autolog()
    booster = _xgb_train(X, y, early_stopping_rounds=3, verbose_eval=True)
    run = _run()
    assert run.info.status == "FINISHED"
    assert run.data.tags["mlflow.autologging"] == "xgboost"
    assert run.data.params == XGB_PARAMS
    assert set(run.data.metrics) == XGB_METRICS
    # MLflow 3.17.2: best_iteration 7, stopped_iteration 10, 11 iterations + the best again
    assert run.data.metrics["best_iteration"] == 7 == booster.best_iteration
    assert run.data.metrics["stopped_iteration"] == 10
    history = _history(run, "validation-logloss")
    assert [s for s, _ in history] == [*range(11), 11]
    assert history[0][1] == pytest.approx(0.5766, abs=1e-4)
    assert history[-1][1] == history[7][1]  # the best iteration's value, at step 11
    # one log_metrics per iteration: every metric of a step shares its timestamp
    points = [m for k in ("train-auc", "validation-logloss")
              for m in tb.Client().get_metric_history(run.info.run_id, k)]
    by_step: dict[int, set[int]] = {}
    for m in points:
        by_step.setdefault(m.step, set()).add(m.timestamp)
    assert all(len(ts) == 1 for ts in by_step.values())
    assert _artifacts(run) == ["feature_importance_weight.json",
                               "feature_importance_weight.png"]
    # MLflow 3.17.2: [('dataset', 'code', ['train']), ('train', 'code', ['eval']),
    # ('validation', 'code', ['eval'])]
    assert sorted(_inputs(run)) == [("dataset", "code", ["train"]),
                                    ("train", "code", ["eval"]),
                                    ("validation", "code", ["eval"])]
    loaded = tb.xgboost.load_model(_model_uri(run))
    np.testing.assert_allclose(loaded.predict(xgb.DMatrix(X)),
                               booster.predict(xgb.DMatrix(X)))


def test_xgboost_model_is_started_before_training_and_holds_its_metrics(
        autolog, store, data, monkeypatch) -> None:
    X, y = data
    tb.xgboost.autolog()
    opened: list[str] = []
    with monkeypatch.context() as m:  # a training process never opens the catalog
        for cls in (Store, Catalog):
            def connect(self, *a, _cls=cls, _o=cls.connect, **k):
                if self.layout.root == store:  # not an earlier test's background work
                    opened.append(_cls.__name__)
                return _o(self, *a, **k)
            m.setattr(cls, "connect", connect)
        _xgb_train(X, y, early_stopping_rounds=3, verbose_eval=False)
    assert opened == []
    run = _run()
    (model,) = _models(run)
    # MLflow 3.17.2: _initialize_logged_model before training, then log_model(model_id=):
    # no params; every per-iteration point (and the early-stopping ones) linked to it
    assert model.params == {}
    assert model.status == tb.LoggedModelStatus.READY
    assert _model_points(model) == _run_points(run)
    assert model.creation_timestamp <= min(m.timestamp for m in model.metrics)
    assert [(o.model_id, o.step) for o in run.outputs.model_outputs] == [(model.model_id, 0)]
    # MLflow 3.17.2: the early-stopping points name the training dataset, the others none
    (train,) = [d.dataset for d in run.inputs.dataset_inputs
                if [t.value for t in d.tags] == ["train"]]
    named = {(m.key, m.step): (m.dataset_name, m.dataset_digest) for m in model.metrics}
    assert named[("best_iteration", 0)] == named[("stopped_iteration", 0)] == \
        named[("validation-auc", 11)] == ("dataset", train.digest)
    assert named[("validation-auc", 10)] == named[("train-logloss", 0)] == (None, None)


def test_xgboost_metrics_link_to_the_active_model_without_a_logged_one(autolog, data) -> None:
    X, y = data
    tb.xgboost.autolog(log_models=False, log_datasets=False)
    active = tb.set_active_model(name="am")
    try:
        _xgb_train(X, y, num_boost_round=3, verbose_eval=False)
    finally:
        tb.clear_active_model()
    run = _run()
    assert _models(run) == []
    # MLflow 3.17.2: its client log_batch links the points to the active model
    assert _model_points(tb.get_logged_model(active.model_id)) == _run_points(run)


def test_xgboost_keywords(autolog, data) -> None:
    X, y = data
    tb.xgboost.autolog(importance_types=["gain", "weight"], model_format="json",
                       log_input_examples=True, extra_tags={"team": "gbm"})
    _xgb_train(X, y, verbose_eval=False)
    run = _run()
    assert run.data.tags["team"] == "gbm"
    assert "best_iteration" not in run.data.metrics  # no early stopping asked for
    assert len(_history(run, "train-auc")) == 20
    names = _artifacts(run)
    assert {"feature_importance_gain.json", "feature_importance_weight.png"} <= set(names)
    meta = tb.pyfunc.load_model(_model_uri(run)).metadata
    assert meta.flavors["xgboost"]["model_format"] == "json"
    assert meta.saved_input_example_info is not None
    assert [s.name for s in meta.signature.inputs] == list("abcd")
    tb.xgboost.autolog(log_models=False)
    _xgb_train(X, y, verbose_eval=False)
    assert _models(_run()) == []
    with pytest.raises(tb.TrackbookError, match="model_format 'bin'"):
        tb.xgboost.autolog(model_format="bin")


def test_xgboost_sklearn_wrapper_logs_one_run_with_its_class(autolog, data) -> None:
    X, y = data
    tb.xgboost.autolog()
    clf = xgb.XGBClassifier(n_estimators=5, max_depth=2).fit(X, y, eval_set=[(X, y)],
                                                             verbose=False)
    run = _run()
    # MLflow 3.17.2 logs the params its inner train call gets, and validation_0-logloss
    assert run.data.params["num_boost_round"] == "5"
    assert run.data.params["max_depth"] == "2"
    assert run.data.params["base_score"] == "None"
    assert list(run.data.metrics) == ["validation_0-logloss"]
    assert len(_history(run, "validation_0-logloss")) == 5
    assert len(tb.search_runs(output_format="list")) == 1
    loaded = tb.xgboost.load_model(_model_uri(run))
    assert type(loaded) is xgb.XGBClassifier
    np.testing.assert_array_equal(loaded.predict(X), clf.predict(X))


def test_exclusive_disable_and_user_runs(autolog, data) -> None:
    X, y = data
    tb.xgboost.autolog(exclusive=True)
    with tb.start_run() as run:
        _xgb_train(X, y, verbose_eval=False)
    assert tb.get_run(run.info.run_id).data.metrics == {}
    tb.xgboost.autolog()
    with tb.start_run() as run:
        _xgb_train(X, y, verbose_eval=False)
        assert tb.active_run().info.run_id == run.info.run_id
    assert "train-auc" in tb.get_run(run.info.run_id).data.metrics
    tb.xgboost.autolog(disable=True)
    n = len(tb.search_runs(output_format="list"))
    _xgb_train(X, y, verbose_eval=False)
    assert len(tb.search_runs(output_format="list")) == n


def test_failed_training_ends_the_run_failed(autolog, data) -> None:
    X, y = data
    tb.xgboost.autolog()
    with pytest.raises(xgb.core.XGBoostError):
        xgb.train({"objective": "no-such-objective"}, xgb.DMatrix(X, label=y), 2)
    assert _run().info.status == "FAILED"
    assert tb.active_run() is None
    # the model started before training (MLflow 3.17.2 leaves it PENDING; README)
    assert [m.status for m in _models(_run())] == [tb.LoggedModelStatus.FAILED]


@pytest.mark.filterwarnings("ignore:.*are not used:UserWarning")
def test_a_logging_failure_warns_and_training_goes_on(autolog, data) -> None:
    X, y = data
    tb.xgboost.autolog()
    too_long = "p" * 300  # xgboost ignores an unknown param; trackbook refuses the name
    with pytest.warns(AutologWarning, match="could not log params"):
        booster = xgb.train({"objective": "binary:logistic", too_long: 1},
                            xgb.DMatrix(X, label=y), 2)
    assert isinstance(booster, xgb.Booster)
    assert _run().info.status == "FINISHED"


def test_lightgbm_train_logs_what_mlflow_logs(autolog, data) -> None:
    X, y = data
    tb.lightgbm.autolog()
    ds, dv = lgb.Dataset(X[:150], label=y[:150]), lgb.Dataset(X[150:], label=y[150:])
    lgb.train({"objective": "binary", "metric": ["binary_logloss", "auc"], "verbose": -1},
              ds, num_boost_round=20, valid_sets=[ds, dv], valid_names=["train", "valid"],
              callbacks=[lgb.early_stopping(3, verbose=False)])
    run = _run()
    assert run.data.tags["mlflow.autologging"] == "lightgbm"
    assert run.data.params == LGB_PARAMS
    assert set(run.data.metrics) == {"train-auc", "train-binary_logloss", "valid-auc",
                                     "valid-binary_logloss", "stopped_iteration",
                                     "best_iteration"}
    # MLflow 3.17.2: best_iteration 15, stopped_iteration 18, 18 iterations + the best again
    assert (run.data.metrics["best_iteration"], run.data.metrics["stopped_iteration"]) == \
        (15, 18)
    history = _history(run, "valid-binary_logloss")
    assert [s for s, _ in history] == [*range(19)]
    assert history[-1][1] == history[14][1]
    assert _artifacts(run) == LGB_ARTIFACTS
    assert sorted(_inputs(run)) == [("dataset", "code", ["train"]),  # as MLflow 3.17.2
                                    ("train", "code", ["eval"]), ("valid", "code", ["eval"])]
    assert isinstance(tb.lightgbm.load_model(_model_uri(run)), lgb.Booster)
    # MLflow 3.17.2: the model started before training has no params and every point
    # (per-iteration and early-stopping, no dataset named) linked to it
    (model,) = _models(run)
    assert model.params == {}
    assert _model_points(model) == _run_points(run)
    assert {m.dataset_name for m in model.metrics} == {None}
    assert model.creation_timestamp <= min(m.timestamp for m in model.metrics)
    text = tb.Client().download_artifacts(run.info.run_id, "feature_importance_split.json")
    assert set(pd.read_json(text, typ="series").index) == set("abcd")


@pytest.mark.filterwarnings("ignore:The argument 'eval_set' is deprecated")
def test_lightgbm_unnamed_valid_sets_and_sklearn_wrapper(autolog, data) -> None:
    X, y = data
    tb.lightgbm.autolog()
    lgb.train({"objective": "regression", "verbose": -1}, lgb.Dataset(X, label=X.a),
              num_boost_round=5, valid_sets=[lgb.Dataset(X, label=X.a)])
    assert list(_run().data.metrics) == ["valid_0-l2"]  # MLflow 3.17.2's name
    clf = lgb.LGBMClassifier(n_estimators=5, verbose=-1).fit(X, y, eval_set=[(X, y)])
    run = _run()
    assert list(run.data.metrics) == ["training-binary_logloss"]  # LightGBM names it
    assert run.data.params["num_leaves"] == "31"
    assert run.data.params["num_boost_round"] == "5"
    assert _artifacts(run) == LGB_ARTIFACTS
    loaded = tb.lightgbm.load_model(_model_uri(run))
    assert type(loaded) is lgb.LGBMClassifier
    np.testing.assert_array_equal(loaded.predict(X), clf.predict(X))


def test_tb_autolog_turns_both_on(autolog, data) -> None:
    X, _ = data
    tb.autolog(log_models=False)
    assert {"xgboost", "lightgbm"} <= set(_config.enabled_flavors())
    lgb.train({"objective": "regression", "verbose": -1}, lgb.Dataset(X, label=X.a), 3)
    assert _run().data.tags["mlflow.autologging"] == "lightgbm"
    assert _models(_run()) == []
