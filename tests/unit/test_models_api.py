"""The public face: tb.sklearn / tb.pyfunc / tb.models load lazily, and `trackbook models`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from models_helpers import training_data
from sklearn.linear_model import LogisticRegression

import trackbook as tb
from trackbook.cli import main


def test_import_trackbook_stays_light() -> None:
    code = ("import sys, trackbook as tb; before = set(sys.modules); "
            "tb.models; tb.pyfunc; tb.sklearn; tb.sklearn.log_model; tb.pytorch.save_model; "
            "heavy = ('pandas', 'numpy', 'yaml', 'sklearn', 'duckdb', 'pyarrow', 'torch', "
            "'plotly', 'anywidget', 'trackbook.widgets'); "
            "print([m for m in heavy if m in before]); "
            "print([m for m in heavy if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.splitlines()
    assert out == ["[]", "[]"], "import trackbook (or tb.sklearn) loaded heavy modules"


def test_public_names() -> None:
    assert {"models", "pyfunc", "sklearn"} <= set(tb.__all__)
    assert tb.pyfunc.load_model is tb.models.load_model
    assert {"save_model", "serve", "check", "score_batch", "infer_signature"} <= set(
        dir(tb.models))


def test_the_issue_example_end_to_end(tb_store: Path, tmp_path: Path) -> None:
    X, y = training_data()
    model = LogisticRegression().fit(X, y)
    with tb.start_run():
        info = tb.sklearn.log_model(model, name="model", input_example=X[:5])
    m = tb.pyfunc.load_model(info.model_uri)
    assert np.array_equal(m.predict(X), model.predict(X))
    with pytest.raises(tb.models.SchemaEnforcementError, match="column 'n': expected long"):
        m.predict(X.assign(n=X["n"] + 0.5))
    assert np.array_equal(tb.sklearn.load_model(info.model_uri).coef_, model.coef_)


def test_cli_predict_writes_parquet_and_csv(tb_store: Path, tmp_path: Path, capsys) -> None:
    X, y = training_data()
    model = LogisticRegression().fit(X, y)
    with tb.start_run():
        uri = tb.sklearn.log_model(model, name="model").model_uri
    X.to_parquet(tmp_path / "in.parquet")
    assert main(["models", "predict", "-m", uri, "-i", str(tmp_path / "in.parquet"),
                 "-o", str(tmp_path / "out.parquet"), "--store", str(tb_store)]) == 0
    assert list(pd.read_parquet(tmp_path / "out.parquet")["prediction"]) == list(
        model.predict(X))
    payload = {"dataframe_records": X[:2].to_dict(orient="records")}
    (tmp_path / "in.json").write_text(json.dumps(payload))
    capsys.readouterr()
    assert main(["models", "predict", "-m", uri, "-i", str(tmp_path / "in.json")]) == 0
    assert capsys.readouterr().out.splitlines()[0] == "a,b,n,prediction"


def test_cli_errors(tmp_path: Path, capsys) -> None:
    assert main(["models"]) == 2
    assert main(["models", "serve", "-m", str(tmp_path / "nope")]) == 1
    assert "no model at" in capsys.readouterr().err
    assert main(["models", "predict", "-m", str(tmp_path), "-i", "x.txt"]) == 1
    assert "no MLmodel file" in capsys.readouterr().err
