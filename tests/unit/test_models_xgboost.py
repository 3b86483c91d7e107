"""The XGBoost flavor: MLflow's on-disk layout, native and scikit-learn API models, pyfunc.

MLmodel keys and file names checked against MLflow 3.17.2 (mlflow.xgboost.save_model writes
model.<model_format>, flavor xgboost {xgb_version, data, model_class, model_format, code},
python_function {loader_module: mlflow.xgboost, data}).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

xgb = pytest.importorskip("xgboost", reason="the xgboost flavor tests need xgboost")

import trackbook as tb  # noqa: E402
from trackbook.models._errors import UnsupportedModelError  # noqa: E402


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.random((60, 3)), columns=["a", "b", "c"])
    return X, (X.a + X.b > 1).astype(int)


@pytest.fixture(scope="module")
def booster(data):
    X, y = data
    return xgb.train({"objective": "binary:logistic", "max_depth": 2},
                     xgb.DMatrix(X, label=y), 3)


@pytest.mark.parametrize("fmt", ["ubj", "json", "xgb"])
def test_booster_round_trip_in_every_format(booster, data, tmp_path: Path, fmt) -> None:
    X, _ = data
    meta = tb.xgboost.save_model(booster, tmp_path / "m", model_format=fmt, input_example=X[:3])
    assert (tmp_path / "m" / f"model.{fmt}").is_file()
    assert meta.flavors["xgboost"] == {"xgb_version": xgb.__version__, "data": f"model.{fmt}",
                                       "model_class": "xgboost.core.Booster",
                                       "model_format": fmt, "code": None}
    pyfunc_conf = meta.flavors["python_function"]
    assert (pyfunc_conf["loader_module"], pyfunc_conf["data"]) == ("mlflow.xgboost",
                                                                   f"model.{fmt}")
    loaded = tb.xgboost.load_model(tmp_path / "m")
    assert isinstance(loaded, xgb.Booster)
    expected = booster.predict(xgb.DMatrix(X))
    np.testing.assert_allclose(loaded.predict(xgb.DMatrix(X)), expected)
    np.testing.assert_allclose(tb.pyfunc.load_model(tmp_path / "m").predict(X), expected)
    assert [s.name for s in meta.signature.inputs] == ["a", "b", "c"]


def test_sklearn_wrappers_keep_their_class(data, tmp_path: Path) -> None:
    X, y = data
    clf = xgb.XGBClassifier(n_estimators=3, max_depth=2).fit(X, y)
    reg = xgb.XGBRegressor(n_estimators=3).fit(X, X.a)
    tb.xgboost.save_model(clf, tmp_path / "clf")
    tb.models.save_model(reg, tmp_path / "reg")  # dispatch picks the xgboost flavor
    loaded = tb.xgboost.load_model(tmp_path / "clf")
    assert type(loaded) is xgb.XGBClassifier
    np.testing.assert_allclose(loaded.predict_proba(X), clf.predict_proba(X))
    np.testing.assert_array_equal(tb.pyfunc.load_model(tmp_path / "clf").predict(X),
                                  clf.predict(X))
    assert tb.models.Model.load(tmp_path / "reg").flavors["xgboost"]["model_class"] == \
        "xgboost.sklearn.XGBRegressor"
    np.testing.assert_allclose(tb.pyfunc.load_model(tmp_path / "reg").predict(X),
                               reg.predict(X), rtol=1e-6)


def test_log_model_and_default_environment(booster, store) -> None:
    with tb.start_run():
        info = tb.xgboost.log_model(booster, name="model")
    assert info.model_uri.startswith("models:/m-")  # an MLflow 3 logged model
    assert isinstance(tb.xgboost.load_model(info.model_uri), xgb.Booster)
    # MLflow pins the module's version under the name xgboost (not xgboost-cpu)
    assert tb.xgboost.get_default_pip_requirements() == [f"xgboost=={xgb.__version__}"]
    env = tb.xgboost.get_default_conda_env()
    assert env["channels"] == ["conda-forge"]
    assert f"xgboost=={xgb.__version__}" in env["dependencies"][-1]["pip"]


def test_refuses_what_it_cannot_honour(booster, tmp_path: Path) -> None:
    with pytest.raises(UnsupportedModelError, match="model_format 'bin'"):
        tb.xgboost.save_model(booster, tmp_path / "a", model_format="bin")
    with pytest.raises(UnsupportedModelError, match="conda_env"):
        tb.xgboost.save_model(booster, tmp_path / "b", conda_env={"dependencies": []})
    with pytest.raises(tb.TrackbookError, match=r"xgboost\.Booster"):
        tb.xgboost.save_model(object(), tmp_path / "c")


def test_a_model_class_outside_xgboost_is_refused(booster, tmp_path: Path) -> None:
    tb.xgboost.save_model(booster, tmp_path / "m")
    mlmodel = tmp_path / "m" / "MLmodel"
    mlmodel.write_text(mlmodel.read_text().replace("xgboost.core.Booster",
                                                   "collections.OrderedDict"))
    with pytest.raises(tb.TrackbookError, match="not a subclass"):
        tb.xgboost.load_model(tmp_path / "m")
