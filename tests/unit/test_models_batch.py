"""Batch scoring of DataFrames and Parquet files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from models_helpers import training_data
from sklearn.linear_model import LogisticRegression

import trackbook as tb
from trackbook.models import ModelError
from trackbook.models import sklearn as tsk


@pytest.fixture
def saved(tmp_path: Path):
    X, y = training_data(200)
    model = LogisticRegression().fit(X, y)
    tsk.save_model(model, tmp_path / "m", input_example=X[:2])
    return tmp_path / "m", model, X


def test_dataframe_in_chunks(saved) -> None:
    path, model, X = saved
    out = tb.models.score_batch(str(path), X, batch_size=37)
    assert list(out.columns) == ["a", "b", "n", "prediction"]
    assert np.array_equal(out["prediction"].to_numpy(), model.predict(X))
    pd.testing.assert_index_equal(out.index, X.index)


def test_parquet_to_parquet(saved, tmp_path: Path) -> None:
    path, model, X = saved
    X.to_parquet(tmp_path / "in.parquet")
    out = tb.models.score_batch(path, tmp_path / "in.parquet",
                                output_path=tmp_path / "out.parquet", batch_size=64)
    scored = pd.read_parquet(out)
    assert len(scored) == len(X)
    assert np.array_equal(scored["prediction"].to_numpy(), model.predict(X))
    assert not list(tmp_path.glob(".out.parquet*"))


def test_errors(saved, tmp_path: Path) -> None:
    path, _, X = saved
    with pytest.raises(ModelError, match="already exist in the input"):
        tb.models.score_batch(path, X.assign(prediction=1))
    with pytest.raises(ModelError, match="no Parquet file"):
        tb.models.score_batch(path, tmp_path / "missing.parquet")
    bad = X.assign(n=X["n"] + 0.5)
    bad.to_parquet(tmp_path / "bad.parquet")
    with pytest.raises(tb.models.SchemaEnforcementError, match="column 'n'"):
        tb.models.score_batch(path, tmp_path / "bad.parquet", output_path=tmp_path / "o.pq")
    assert not (tmp_path / "o.pq").exists()
