"""tb.models.evaluate against what MLflow 3.17.2's default evaluator logs for the same data.

The expected names and values below were produced by ``mlflow.models.evaluate`` in
benchmarks/.mlflow-venv (MLflow 3.17.2, scikit-learn 1.9.1) on exactly the data ``_data()``
builds: 60 rows, seed 0, LogisticRegression / LinearRegression, ``targets="label"``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import trackbook as tb
from trackbook.models.evaluation import EvaluationError, ModelValidationFailedException

PNG = b"\x89PNG\r\n\x1a\n"

# mlflow.models.evaluate(model_uri, df, targets="label", model_type="classifier"), binary
MLFLOW_BINARY = {
    "score": 0.9, "true_negatives": 32, "false_positives": 3, "false_negatives": 3,
    "true_positives": 22, "example_count": 60, "accuracy_score": 0.9, "recall_score": 0.88,
    "precision_score": 0.88, "f1_score": 0.88, "log_loss": 0.2703969147806719,
    "roc_auc": 0.96, "precision_recall_auc": 0.9513299112537503,
}
MLFLOW_BINARY_ARTIFACTS = ["roc_curve_plot", "precision_recall_curve_plot", "lift_curve_plot",
                           "calibration_curve_plot", "confusion_matrix"]
MLFLOW_MULTICLASS = {
    "score": 0.9, "example_count": 60, "accuracy_score": 0.9, "recall_score": 0.9,
    "precision_score": 0.9003016591251886, "f1_score": 0.8997759103641456,
    "log_loss": 0.467022578691302, "roc_auc": 0.9588833517903286,
}
MLFLOW_MULTICLASS_ARTIFACTS = ["calibration_curve_plot", "roc_curve_plot",
                               "precision_recall_curve_plot", "per_class_metrics",
                               "confusion_matrix"]
MLFLOW_REGRESSOR = {
    "score": 0.9979077629663735, "example_count": 60,
    "mean_absolute_error": 0.0680111687486202, "mean_squared_error": 0.008616399270502818,
    "root_mean_squared_error": 0.0928245617845989, "sum_on_target": 166.32437748713045,
    "mean_on_target": 2.772072958118841, "r2_score": 0.9979077629663735,
    "max_error": 0.3912789993901522, "mean_absolute_percentage_error": 0.03458764765908159,
}


def _data() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 3))
    binary = (x[:, 0] + 0.5 * rng.normal(size=60) > 0).astype(int)
    multi = np.digitize(x[:, 0] + 0.3 * rng.normal(size=60), [-0.5, 0.5])
    reg = x @ np.array([1.0, -2.0, 0.5]) + 0.1 * rng.normal(size=60) + 3
    return x, binary, multi, reg


def _regression_b() -> tuple[np.ndarray, np.ndarray]:
    """The regression data of the second MLflow probe (no multiclass draw in between)."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 3))
    rng.normal(size=60)
    return x, x @ np.array([1.0, -2.0, 0.5]) + 0.1 * rng.normal(size=60) + 3


def _frame(x: np.ndarray, y: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame(x, columns=list("abc")).assign(label=y)


def _saved_uri(estimator: object, tmp_path) -> str:
    # explicit requirements and cloudpickle: inferring requirements and importing skops
    # take seconds, and are not what is tested here
    path = tmp_path / "model"
    tb.sklearn.save_model(estimator, path, serialization_format="cloudpickle",
                          pip_requirements=["scikit-learn"])
    return str(path)


def _assert_metrics(got: dict, expected: dict) -> None:
    assert list(got) == list(expected)  # same names, same order as MLflow
    for name, value in expected.items():
        assert got[name] == pytest.approx(value, rel=1e-9), name


def _assert_pngs(result: tb.models.EvaluationResult, names: list[str]) -> None:
    for name in names:
        artifact = result.artifacts[name]
        assert type(artifact).__name__ == "ImageEvaluationArtifact"
        path = artifact.uri.removeprefix("file://")
        with open(path, "rb") as f:
            assert f.read(8) == PNG
        assert artifact.content.size[0] > 300  # a PIL image, really drawn


def test_binary_classifier_logs_mlflows_metrics_and_plots(store, tmp_path):
    from sklearn.linear_model import LogisticRegression

    x, y, _, _ = _data()
    df = _frame(x, y)
    uri = _saved_uri(LogisticRegression().fit(df[list("abc")], y), tmp_path)
    with tb.start_run() as run:
        result = tb.models.evaluate(uri, df, targets="label", model_type="classifier")
    _assert_metrics(result.metrics, MLFLOW_BINARY)
    assert list(result.artifacts) == MLFLOW_BINARY_ARTIFACTS
    _assert_pngs(result, MLFLOW_BINARY_ARTIFACTS)
    assert result.run_id == run.info.run_id
    logged = tb.get_run(run.info.run_id).data.metrics
    assert logged == pytest.approx({k: float(v) for k, v in MLFLOW_BINARY.items()})
    files = sorted(f.path for f in tb.Client().list_artifacts(run.info.run_id))
    assert files == sorted(f"{n}.png" for n in MLFLOW_BINARY_ARTIFACTS)
    assert result.tables == {}
    html = result._repr_html_()
    assert html.count("data:image/png;base64,") == 5
    assert "roc_auc" in html
    assert "<script" not in html


def test_multiclass_classifier_and_per_class_csv(store, tmp_path):
    from sklearn.linear_model import LogisticRegression

    x, _, y, _ = _data()
    df = _frame(x, y)
    model = tb.models.load_model(_saved_uri(LogisticRegression().fit(df[list("abc")], y), tmp_path))
    result = tb.evaluate(model, df, targets="label", model_type="classifier")
    _assert_metrics(result.metrics, MLFLOW_MULTICLASS)
    assert list(result.artifacts) == MLFLOW_MULTICLASS_ARTIFACTS
    per_class = result.artifacts["per_class_metrics"].content
    assert list(per_class.columns) == [
        "positive_class", "true_negatives", "false_positives", "false_negatives",
        "true_positives", "example_count", "accuracy_score", "recall_score",
        "precision_score", "f1_score", "roc_auc", "precision_recall_auc"]
    assert list(per_class["positive_class"]) == [0, 1, 2]


def test_regressor_metrics_and_no_logged_plots(store, tmp_path):
    from sklearn.linear_model import LinearRegression

    x, _, _, y = _data()
    df = _frame(x, y)
    uri = _saved_uri(LinearRegression().fit(df[list("abc")], y), tmp_path)
    result = tb.models.evaluate(uri, df, targets="label", model_type="regressor")
    _assert_metrics(result.metrics, MLFLOW_REGRESSOR)
    assert result.artifacts == {}  # MLflow logs no regressor plot without SHAP
    assert tb.active_run() is None  # the run evaluate started has ended
    assert result._repr_html_().count("data:image/png;base64,") == 1  # inline residuals


def test_callable_static_and_numpy_inputs(store):
    x, y, _, _ = _data()
    _, yr = _regression_b()
    df = _frame(x, y)
    from sklearn.linear_model import LinearRegression, LogisticRegression

    clf = LogisticRegression().fit(df[list("abc")], y)
    # a plain function has no predict_proba: MLflow logs no log_loss/roc_auc and only the
    # confusion matrix
    counts_only = {k: v for k, v in MLFLOW_BINARY.items()
                   if k not in ("score", "log_loss", "roc_auc", "precision_recall_auc")}
    result = tb.models.evaluate(clf.predict, df, targets="label", model_type="classifier")
    _assert_metrics(result.metrics, counts_only)
    inputs = tb.get_run(result.run_id).inputs.dataset_inputs
    # MLflow logs the evaluation frame as input "dataset", digest "eeff7581" for this frame
    assert [(i.dataset.name, i.dataset.digest) for i in inputs] == [("dataset", "eeff7581")]
    assert list(result.artifacts) == ["confusion_matrix"]
    static = tb.evaluate(data=df.assign(p=clf.predict(df[list("abc")])), targets="label",
                         predictions="p", model_type="classifier")
    _assert_metrics(static.metrics, counts_only)
    # numpy data: columns are feature_1.. unless feature_names is given (MLflow's names)
    seen = []
    reg = LinearRegression().fit(x, yr)

    def predict(frame):
        seen.append(list(frame.columns))
        return reg.predict(frame.to_numpy())

    out = tb.evaluate(predict, x, targets=yr, model_type="regressor")
    tb.evaluate(predict, x, targets=yr, model_type="regressor", feature_names=["u", "v", "w"])
    assert seen == [["feature_1", "feature_2", "feature_3"], ["u", "v", "w"]]
    assert out.metrics["r2_score"] == pytest.approx(0.9973267132673399)  # MLflow's value


def test_extra_metrics_metric_values_and_eval_table(store):
    x, y = _regression_b()
    from sklearn.linear_model import LinearRegression

    pred = LinearRegression().fit(x, y).predict(x)
    frame = pd.DataFrame({"x": x[:, 0], "y": y, "p": pred})

    def mse_fn(predictions, targets):
        return float(((predictions - targets) ** 2).mean())

    def abs_err(predictions, targets):
        s = list(abs(predictions - targets))
        return tb.metrics.MetricValue(scores=s, aggregate_results={
            "mean": float(np.mean(s)), "p90": float(np.percentile(s, 90))})

    def old(eval_df, builtin_metrics):
        return float(eval_df["prediction"].sum()) + builtin_metrics["example_count"]

    extra = [tb.models.make_metric(eval_fn=mse_fn, greater_is_better=False),
             tb.models.make_metric(eval_fn=abs_err, greater_is_better=False, name="abs_err"),
             tb.models.make_metric(eval_fn=old, greater_is_better=True, name="old")]
    result = tb.evaluate(data=frame, targets="y", predictions="p", model_type="regressor",
                         extra_metrics=extra)
    # MLflow 3.17: ..., "mse_fn", "abs_err/mean", "abs_err/p90", "old"
    assert list(result.metrics)[-4:] == ["mse_fn", "abs_err/mean", "abs_err/p90", "old"]
    assert result.metrics["mse_fn"] == pytest.approx(0.010942561523850298)
    assert result.metrics["abs_err/p90"] == pytest.approx(0.1467515809955976)
    assert result.metrics["old"] == pytest.approx(225.87573293115196)
    assert list(result.artifacts) == ["eval_results_table"]
    table = result.tables["eval_results_table"]
    assert list(table.columns) == ["x", "y", "p", "abs_err/score"]
    assert len(table) == 60
    only = tb.evaluate(data=frame, targets="y", predictions="p", model_type=None,
                       extra_metrics=[tb.metrics.mae()])
    assert only.metrics == {"mean_absolute_error": pytest.approx(0.08311190899313409)}


def test_prefix_sample_weights_and_custom_artifacts(store):
    x, y, _, _ = _data()
    from sklearn.linear_model import LogisticRegression

    df = _frame(x, y)
    df["p"] = LogisticRegression().fit(df[list("abc")], y).predict(df[list("abc")])
    with tb.start_run() as run:
        result = tb.evaluate(
            data=df, targets="label", predictions="p", model_type="classifier",
            evaluator_config={"metric_prefix": "val_",
                              "sample_weights": np.linspace(0.1, 1, 60)},
            custom_artifacts=[lambda e, m, d: {"head": e.head(3), "j": {"a": 1},
                                               "arr": np.zeros(3)}])
    # MLflow: weights change the scores, not the confusion counts
    assert result.metrics["val_true_negatives"] == 32
    (given,) = tb.get_run(run.info.run_id).inputs.dataset_inputs
    assert given.dataset.digest == "1e327eca"  # MLflow's digest of this frame
    assert [(t.key, t.value) for t in given.tags] == [("mlflow.data.context", "val_")]
    assert result.metrics["val_accuracy_score"] == pytest.approx(0.8630200308166409)
    assert result.metrics["val_f1_score"] == pytest.approx(0.8279909706546275)
    files = sorted(f.path for f in tb.Client().list_artifacts(run.info.run_id))
    assert files == ["arr.npy", "head.csv", "j.json", "val_confusion_matrix.png"]
    assert result.artifacts["j"].content == {"a": 1}
    assert list(result.artifacts["head"].content.columns) == ["prediction", "target"]


def test_validate_evaluation_results(store):
    from trackbook.models import MetricThreshold, validate_evaluation_results

    cand = tb.models.EvaluationResult({"accuracy_score": 0.9}, {})
    base = tb.models.EvaluationResult({"accuracy_score": 0.85}, {})
    rule = MetricThreshold(threshold=0.8, min_absolute_change=0.01, greater_is_better=True)
    validate_evaluation_results({"accuracy_score": rule}, cand, base)
    strict = MetricThreshold(min_relative_change=0.5, greater_is_better=True)
    with pytest.raises(ModelValidationFailedException, match="minimum relative change"):
        validate_evaluation_results({"accuracy_score": strict}, cand, base)
    with pytest.raises(ModelValidationFailedException, match="missing from the evaluation"):
        validate_evaluation_results({"f1_score": rule}, cand, base)


def test_save_and_load_round_trip(store, tmp_path):
    x, y, _, _ = _data()
    df = _frame(x, y).assign(p=y)
    result = tb.evaluate(data=df, targets="label", predictions="p", model_type="classifier")
    result.save(tmp_path / "res")
    back = tb.models.EvaluationResult.load(tmp_path / "res")
    assert back.metrics == pytest.approx({k: float(v) for k, v in result.metrics.items()})
    assert back.artifacts["confusion_matrix"].content.format == "PNG"


@pytest.mark.parametrize(("kwargs", "error", "match"), [
    ({"baseline_model": "x"}, TypeError, "baseline_model"),  # removed in MLflow 3
    ({"validation_thresholds": {}}, TypeError, "validation_thresholds"),
    ({"model_type": "question-answering"}, EvaluationError, "'classifier', 'regressor'"),
    ({"model_type": "bogus"}, EvaluationError, "supported are"),
    ({"model_type": None}, EvaluationError, "extra_metrics argument must be specified"),
    ({"targets": None}, EvaluationError, "targets argument must be specified"),
    ({"data": None}, EvaluationError, "data argument cannot be None"),
    ({"predictions": None}, EvaluationError, "Either a model or set of predictions"),
    ({"model": 3}, EvaluationError, "a function, or None"),
    ({"extra_metrics": [len]}, EvaluationError, "wrong type"),
    ({"env_manager": "conda"}, EvaluationError, "only 'local'"),
    ({"evaluators": "shap"}, EvaluationError, "SHAP"),
    ({"evaluator_config": {"log_model_explainability": True}}, EvaluationError, "SHAP"),
    ({"inference_params": {"t": 1}}, EvaluationError, "endpoint"),
])
def test_refused_arguments(store, kwargs, error, match):
    df = pd.DataFrame({"a": [1.0, 2.0, 3.0], "label": [0, 1, 0], "p": [0, 1, 1]})
    call = {"data": df, "targets": "label", "predictions": "p", "model_type": "classifier",
            **kwargs}
    with pytest.raises(error, match=match):
        tb.evaluate(**call)
    assert tb.active_run() is None


def test_make_metric_checks_names_and_dataset_targets_conflict(store):
    with pytest.raises(EvaluationError, match="lambda"):
        tb.models.make_metric(eval_fn=lambda p, t: 1.0, greater_is_better=True)
    with pytest.raises(EvaluationError, match="forward slashes"):
        tb.models.make_metric(eval_fn=len, greater_is_better=True, name="a/b")
    with pytest.raises(EvaluationError, match="GenAI"):
        tb.metrics.toxicity  # noqa: B018

    class FakeDataset:  # a trackbook.data / mlflow.data PandasDataset, duck-typed
        digest, targets, predictions = "x", "label", None
        df = pd.DataFrame({"a": [1.0, 2.0], "label": [0, 1]})

    with pytest.raises(EvaluationError, match="top-level targets"):
        tb.evaluate(len, FakeDataset(), targets="label", model_type="classifier")
