"""What ``evaluate`` links its results to, as MLflow 3.17 does: the logged model (from a
``models:/`` URI, else the active model), two points per metric at step 0 (the evaluator's
batch and ``log_metrics`` once more) on the run and on the model, the evaluated model as
a run input, and the ``mlflow.datasets`` tag with MLflow's ``EvaluationDataset`` hash."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import trackbook as tb
from mlflow_env import run_mlflow
from trackbook.models.evaluation import EvaluationError
from trackbook.models.evaluation._hash import split_hash
from trackbook.models.evaluation._inputs import eval_data


def _frame(rows: int = 40) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(rows, 3))
    return pd.DataFrame(x, columns=list("abc")).assign(label=(x[:, 0] > 0).astype(int))


def _fit(df: pd.DataFrame):
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression().fit(df[list("abc")], df["label"])


def test_evaluate_a_logged_model_links_two_points_per_metric(tb_store: Path) -> None:
    df = _frame()
    with tb.start_run() as run:
        info = tb.sklearn.log_model(_fit(df), name="model", pip_requirements=["scikit-learn"],
                                    serialization_format="cloudpickle")
        result = tb.models.evaluate(info.model_uri, df, targets="label",
                                    model_type="classifier")
    rid = run.info.run_id
    client = tb.MlflowClient()
    for key, value in result.metrics.items():
        points = client.get_metric_history(rid, key)
        assert [(p.step, p.value) for p in points] == [(0, value), (0, value)], key
    model = tb.get_logged_model(info.model_id)
    linked = sorted((m.key, m.step, m.dataset_name, m.run_id) for m in model.metrics)
    assert linked == sorted([(k, 0, "dataset", rid) for k in result.metrics] * 2)
    digests = {m.dataset_digest for m in model.metrics}
    got = tb.get_run(rid)
    assert digests == {got.inputs.dataset_inputs[0].dataset.digest}
    assert [m.model_id for m in got.inputs.model_inputs] == [info.model_id]
    tag = json.loads(got.data.tags["mlflow.datasets"])
    assert tag == [{"name": "dataset", "hash": split_hash(eval_data(df, "label", None, None)),
                    "model": info.model_id}]


def test_a_function_model_links_nothing_and_an_active_model_is_used(tb_store: Path) -> None:
    df = _frame()
    clf = _fit(df)
    with tb.start_run() as run:
        info = tb.sklearn.log_model(clf, name="model", pip_requirements=["scikit-learn"],
                                    serialization_format="cloudpickle")
        # a function: no model id, no active model -> one point, not linked by step
        tb.models.evaluate(lambda x: clf.predict(x), df, targets="label",
                           model_type="classifier")
    assert len(tb.MlflowClient().get_metric_history(run.info.run_id, "accuracy_score")) == 1
    assert tb.get_logged_model(info.model_id).metrics is None  # MLflow: None, not []
    assert "mlflow.datasets" not in tb.get_run(run.info.run_id).data.tags  # no MLmodel
    tb.set_active_model(model_id=info.model_id)
    try:
        with tb.start_run():
            tb.models.evaluate(lambda x: clf.predict(x), df, targets="label",
                               model_type="classifier")
    finally:
        tb.clear_active_model()
    assert len([m for m in tb.get_logged_model(info.model_id).metrics
                if m.key == "accuracy_score"]) == 2


def test_a_contradicting_model_id_is_refused(tb_store: Path) -> None:
    df = _frame()
    with tb.start_run() as run:
        info = tb.sklearn.log_model(_fit(df), name="model", pip_requirements=["scikit-learn"],
                                    serialization_format="cloudpickle")
        other = tb.initialize_logged_model(name="other")
        with pytest.raises(EvaluationError, match="contradicts the model_id"):
            tb.models.evaluate(info.model_uri, df, targets="label", model_type="classifier",
                               model_id=other.model_id)
    assert tb.get_run(run.info.run_id).data.metrics == {}


HASH_CASES = r'''
import json
import numpy as np
import pandas as pd
rng = np.random.default_rng(3)
big = pd.DataFrame(rng.normal(size=(143, 5)), columns=list("vwxyz")).assign(
    label=rng.integers(0, 2, 143), name=[f"r{i}" for i in range(143)])
small = big.head(6)
array, labels = rng.normal(size=(20, 3)), rng.integers(0, 2, 20)
cases = {"big": (big, "label"), "small": (small, "label"), "array": (array, labels)}
'''


def test_dataset_hash_is_mlflows() -> None:
    mlflow_code = HASH_CASES + (
        "from mlflow.data.evaluation_dataset import EvaluationDataset\n"
        "print('@@' + json.dumps({k: EvaluationDataset(d, targets=t).hash "
        "for k, (d, t) in cases.items()}))")
    theirs = run_mlflow(mlflow_code)
    scope: dict = {}
    exec(HASH_CASES, scope)  # the same data built here
    ours = {k: split_hash(eval_data(d, t, None, None)) for k, (d, t) in scope["cases"].items()}
    assert ours == theirs
    assert len(set(ours.values())) == 3
