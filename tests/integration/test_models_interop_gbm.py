"""XGBoost and LightGBM models move between trackbook and MLflow 3.17, proven with MLflow
itself (in its own venv, see tests/mlflow_env.py)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

xgb = pytest.importorskip("xgboost")
lgb = pytest.importorskip("lightgbm")

import trackbook as tb  # noqa: E402
from mlflow_env import run_mlflow  # noqa: E402

pytestmark = pytest.mark.slow

MLFLOW_SIDE = r"""
import json, sys
import mlflow, numpy as np, pandas as pd, xgboost as xgb, lightgbm as lgb
ours, out = sys.argv[1], sys.argv[2]
X = pd.DataFrame(json.loads(sys.argv[3]))
result = {}
for name in ["xgb_booster", "xgb_clf", "lgb_booster", "lgb_clf"]:
    path = f"{ours}/{name}"
    native = (mlflow.xgboost if name.startswith("xgb") else mlflow.lightgbm).load_model(path)
    result[name] = {"class": type(native).__name__,
                    "pyfunc": np.asarray(mlflow.pyfunc.load_model(path).predict(X)).tolist()}
y = (X.a + X.b > 1).astype(int)
b = xgb.train({"objective": "binary:logistic", "max_depth": 2}, xgb.DMatrix(X, label=y), 3)
mlflow.xgboost.save_model(b, out + "/xgb_booster", model_format="json")
mlflow.xgboost.save_model(xgb.XGBClassifier(n_estimators=3).fit(X, y), out + "/xgb_clf")
mlflow.lightgbm.save_model(lgb.train({"objective": "binary", "verbose": -1},
                                     lgb.Dataset(X, label=y), 3), out + "/lgb_booster")
mlflow.lightgbm.save_model(lgb.LGBMClassifier(n_estimators=3, verbose=-1).fit(X, y),
                           out + "/lgb_clf", input_example=X[:2])
print("@@" + json.dumps(result))
"""


def test_gbm_models_move_between_trackbook_and_mlflow(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.random((40, 3)), columns=["a", "b", "c"])
    y = (X.a + X.b > 1).astype(int)
    ours, theirs = tmp_path / "ours", tmp_path / "theirs"
    booster = xgb.train({"objective": "binary:logistic"}, xgb.DMatrix(X, label=y), 3)
    clf = xgb.XGBClassifier(n_estimators=3).fit(X, y)
    lbooster = lgb.train({"objective": "binary", "verbose": -1}, lgb.Dataset(X, label=y), 3)
    lclf = lgb.LGBMClassifier(n_estimators=3, verbose=-1).fit(X, y)
    tb.xgboost.save_model(booster, ours / "xgb_booster", input_example=X[:2])
    tb.xgboost.save_model(clf, ours / "xgb_clf", model_format="json")
    tb.lightgbm.save_model(lbooster, ours / "lgb_booster")
    tb.lightgbm.save_model(lclf, ours / "lgb_clf", input_example=X[:2])
    got = run_mlflow(MLFLOW_SIDE, str(ours), str(theirs), X.to_json(orient="columns"),
                     extra=["xgboost", "lightgbm", "skops"])
    # trackbook's models, loaded by MLflow
    assert got["xgb_booster"]["class"] == "Booster"
    np.testing.assert_allclose(got["xgb_booster"]["pyfunc"],
                               booster.predict(xgb.DMatrix(X)), rtol=1e-6)
    assert got["xgb_clf"]["class"] == "XGBClassifier"
    assert got["xgb_clf"]["pyfunc"] == clf.predict(X).tolist()
    assert got["lgb_booster"]["class"] == "Booster"
    np.testing.assert_allclose(got["lgb_booster"]["pyfunc"], lbooster.predict(X), rtol=1e-6)
    assert got["lgb_clf"]["class"] == "LGBMClassifier"
    assert got["lgb_clf"]["pyfunc"] == lclf.predict(X).tolist()
    # MLflow's, loaded by trackbook
    assert isinstance(tb.xgboost.load_model(theirs / "xgb_booster"), xgb.Booster)
    assert tb.pyfunc.load_model(theirs / "xgb_booster").predict(X).shape == (40,)
    assert type(tb.xgboost.load_model(theirs / "xgb_clf")) is xgb.XGBClassifier
    assert isinstance(tb.lightgbm.load_model(theirs / "lgb_booster"), lgb.Booster)
    theirs_clf = tb.lightgbm.load_model(theirs / "lgb_clf")  # skops, MLflow's default
    assert type(theirs_clf) is lgb.LGBMClassifier
    assert set(tb.pyfunc.load_model(theirs / "lgb_clf").predict(X)) <= {0, 1}
    meta = json.loads(json.dumps(tb.models.Model.load(theirs / "lgb_clf").flavors["lightgbm"]))
    assert meta["serialization_format"] == "skops"
    assert meta["data"] == "model.skops"
