"""The scoring server's cheap path: plain scikit-learn models score a numpy array exactly as
they score the DataFrame, models that might not are refused, and the batcher still sends
every odd value through the checked path with its message."""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from trackbook.models import sklearn as tsk
from trackbook.models._batching import Batcher
from trackbook.models._errors import SchemaEnforcementError
from trackbook.models._fastpath import sklearn_array_scorer
from trackbook.models.loading import load_model

COLS = ["a", "b", "c"]


def _xy(n: int = 60) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.random((n, 3)), columns=COLS)
    return X, (X["a"] + X["b"] > 1).astype(int)


class Custom(ClassifierMixin, BaseEstimator):  # not scikit-learn's: could read names
    def fit(self, X: Any, y: Any) -> Custom:
        self.classes_ = np.unique(y)
        return self

    def predict(self, X: Any) -> Any:
        return np.zeros(len(X), dtype=int)


@pytest.mark.parametrize(("model", "fn"), [
    (LogisticRegression(), "predict"),
    (LogisticRegression(), "predict_proba"),
    (Ridge(), "predict"),
    (RandomForestClassifier(n_estimators=5, random_state=0), "predict"),
    (make_pipeline(StandardScaler(), LogisticRegression()), "predict"),
    (make_pipeline("passthrough", StandardScaler(), LogisticRegression()), "predict_proba"),
])
def test_plain_models_score_arrays_like_frames(model: Any, fn: str) -> None:
    X, y = _xy()
    model.fit(X, y)
    scorer = sklearn_array_scorer(model, fn, COLS)
    assert scorer is not None
    frame = X[:7]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "X does not have valid feature names"
        got = scorer(frame.to_numpy())
    np.testing.assert_array_equal(got, getattr(model, fn)(frame))
    first = model.steps[-2][1] if hasattr(model, "steps") else model
    assert list(first.feature_names_in_) == COLS  # the loaded model keeps its names


def test_models_that_may_read_column_names_are_refused() -> None:
    X, y = _xy()
    refused = [
        make_pipeline(ColumnTransformer([("s", StandardScaler(), ["a", "b"])]),
                      LogisticRegression()),
        make_pipeline(FunctionTransformer(lambda d: d), LogisticRegression()),
        make_pipeline(StandardScaler().set_output(transform="pandas"), LogisticRegression()),
        Custom(),
    ]
    for model in refused:
        assert sklearn_array_scorer(model.fit(X, y), "predict", COLS) is None, model
    plain = LogisticRegression().fit(X, y)
    assert sklearn_array_scorer(plain, "predict", ["b", "a", "c"]) is None  # other order
    on_arrays = LogisticRegression().fit(X.to_numpy(), y)  # fitted without names
    assert sklearn_array_scorer(on_arrays, "predict", COLS) is not None


@pytest.fixture(scope="module")
def batcher_model(tmp_path_factory: pytest.TempPathFactory) -> Any:
    X, y = _xy()
    path: Path = tmp_path_factory.mktemp("fast") / "model"
    tsk.save_model(LogisticRegression().fit(X, y), path, input_example=X[:2])
    return load_model(path), X


def _score(model: Any, jobs: list[tuple[list[str], list[list[Any]]]]) -> list[Any]:
    """Queue ``jobs`` together and run the batch; return each job's (predictions, error)."""
    pending: list[Any] = []
    batcher = Batcher(model, lambda delay, fn: pending.append(fn))
    out: list[Any] = [None] * len(jobs)
    for i, (columns, rows) in enumerate(jobs):
        batcher.add(columns, rows, lambda p, e, i=i: out.__setitem__(i, (p, e)))
    while pending:
        pending.pop(0)()
    return out


def test_batcher_scores_numbers_fast_and_explains_everything_else(batcher_model) -> None:
    model, X = batcher_model
    assert Batcher(model, lambda d, f: None).skips_pandas
    rows = X[:3].to_numpy().tolist()
    want = model.predict(X[:3]).tolist()
    swapped = [[r[1], r[0], r[2]] for r in rows]
    jobs = [(COLS, rows[:1]), (COLS, rows[1:]), (["b", "a", "c"], swapped),
            (COLS, [[1, 0, 1]]),                       # ints into double columns: fine
            (COLS, [["0.5", 0.1, 0.2]]),               # a string is not a number
            (COLS, [[True, 0.1, 0.2]]),                # nor is a boolean
            (["a", "b"], [[0.1, 0.2]]),                # a column is missing
            (COLS, [[float("nan"), 0.1, 0.2]])]        # scikit-learn's own NaN error
    results = _score(model, jobs)
    assert [list(p) for p, e in results[:3]] == [want[:1], want[1:], want]
    assert results[3][1] is None
    for (p, err), message in zip(results[4:], ["column 'a': expected double",
                                                "column 'a': expected double",
                                                r"missing column\(s\) 'c'",
                                                "Input X contains NaN"], strict=True):
        assert p is None
        assert isinstance(err, (SchemaEnforcementError, ValueError))
        assert re.search(message, str(err)), err
