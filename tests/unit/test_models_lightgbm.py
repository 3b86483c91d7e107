"""The LightGBM flavor: MLflow's on-disk layout, Booster and scikit-learn API models, pyfunc.

Checked against MLflow 3.17.2: a Booster is model.lgb, a wrapper model.skops (default) or
model.pkl; flavor lightgbm {lgb_version, data, model_class, serialization_format,
skops_trusted_types, code}; python_function {loader_module: mlflow.lightgbm, data}.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

lgb = pytest.importorskip("lightgbm", reason="the lightgbm flavor tests need lightgbm")

import trackbook as tb  # noqa: E402
from trackbook.models import UntrustedTypesError  # noqa: E402

TRUSTED = ["collections.OrderedDict", "lightgbm.basic.Booster",
           "lightgbm.sklearn.LGBMClassifier", "lightgbm.sklearn.LGBMRegressor"]


class MyClassifier(lgb.LGBMClassifier):
    pass


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.random((80, 3)), columns=["a", "b", "c"])
    return X, (X.a + X.b > 1).astype(int)


def test_booster_round_trip(data, tmp_path: Path) -> None:
    X, y = data
    booster = lgb.train({"objective": "binary", "verbose": -1}, lgb.Dataset(X, label=y), 3)
    meta = tb.lightgbm.save_model(booster, tmp_path / "m", input_example=X[:3])
    assert (tmp_path / "m" / "model.lgb").is_file()
    conf = meta.flavors["lightgbm"]
    assert (conf["data"], conf["model_class"], conf["serialization_format"]) == \
        ("model.lgb", "lightgbm.basic.Booster", "skops")
    assert meta.flavors["python_function"]["loader_module"] == "mlflow.lightgbm"
    loaded = tb.lightgbm.load_model(tmp_path / "m")
    assert isinstance(loaded, lgb.Booster)
    np.testing.assert_allclose(tb.pyfunc.load_model(tmp_path / "m").predict(X),
                               booster.predict(X))


def test_sklearn_wrapper_in_skops_and_cloudpickle(data, tmp_path: Path) -> None:
    X, y = data
    clf = lgb.LGBMClassifier(n_estimators=3, verbose=-1).fit(X, y)
    meta = tb.lightgbm.save_model(clf, tmp_path / "skops")
    assert (tmp_path / "skops" / "model.skops").is_file()
    assert meta.flavors["lightgbm"]["skops_trusted_types"] == TRUSTED
    assert type(tb.lightgbm.load_model(tmp_path / "skops")) is lgb.LGBMClassifier
    np.testing.assert_array_equal(tb.pyfunc.load_model(tmp_path / "skops").predict(X),
                                  clf.predict(X))
    tb.models.save_model(clf, tmp_path / "pkl", serialization_format="cloudpickle")
    assert (tmp_path / "pkl" / "model.pkl").is_file()
    np.testing.assert_allclose(tb.lightgbm.load_model(tmp_path / "pkl").predict_proba(X),
                               clf.predict_proba(X))


def test_skops_types_beyond_lightgbm_must_be_named(data, tmp_path: Path) -> None:
    X, y = data
    mine = MyClassifier(n_estimators=2, verbose=-1).fit(X, y)
    name = f"{MyClassifier.__module__}.MyClassifier"
    tb.lightgbm.save_model(mine, tmp_path / "m", serialization_format="skops",
                           skops_trusted_types=[name])
    # the list in MLmodel names it, but it is not trusted from the files being loaded
    with pytest.raises(UntrustedTypesError, match="MyClassifier"):
        tb.lightgbm.load_model(tmp_path / "m")
    assert isinstance(tb.lightgbm.load_model(tmp_path / "m", skops_trusted_types=[name]),
                      MyClassifier)


def test_log_model_and_default_environment(data, store) -> None:
    X, _ = data
    reg = lgb.LGBMRegressor(n_estimators=2, verbose=-1).fit(X, X.a)
    with tb.start_run():
        info = tb.lightgbm.log_model(reg, name="reg", input_example=X[:2])
    np.testing.assert_allclose(tb.pyfunc.load_model(info.model_uri).predict(X), reg.predict(X))
    assert tb.lightgbm.get_default_pip_requirements() == [f"lightgbm=={lgb.__version__}"]
    import skops

    assert tb.lightgbm.get_default_pip_requirements(include_skops=True)[1] == \
        f"skops=={skops.__version__}"
    with pytest.raises(tb.TrackbookError, match="serialization_format 'joblib'"):
        tb.lightgbm.save_model(reg, "never", serialization_format="joblib")
