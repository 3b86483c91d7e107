"""The Keras 3 flavor with a real (tiny) Keras model on the torch backend."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")

import trackbook as tb  # noqa: E402
from trackbook.models._errors import UnsupportedModelError  # noqa: E402

X = np.random.default_rng(0).random((8, 3)).astype(np.float32)


def _model() -> keras.Model:
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, activation="relu"),
                              keras.layers.Dense(2)])
    model.compile(optimizer="sgd", loss="mse")
    model.fit(X, X[:, :2], epochs=1, verbose=0)
    return model


def test_keras_model_round_trips_in_mlflows_layout(tmp_path: Path) -> None:
    model = _model()
    tb.keras.save_model(model, tmp_path / "m", input_example=X[:2])
    assert (tmp_path / "m" / "data" / "model.keras").is_file()
    assert (tmp_path / "m" / "data" / "keras_module.txt").read_text() == "keras"
    meta = tb.models.Model.load(tmp_path / "m")
    # MLflow 3.17's keys exactly: its keras flavor has no 'code' entry (no code_paths)
    assert sorted(meta.flavors["keras"]) == ["data", "keras_backend", "keras_version",
                                             "save_exported_model"]
    assert sorted(meta.flavors["python_function"]) == ["env", "loader_module",
                                                       "python_version"]
    assert meta.flavors["keras"]["keras_backend"] == keras.backend.backend()
    assert meta.flavors["keras"]["save_exported_model"] is False
    assert meta.flavors["python_function"]["loader_module"] == "mlflow.keras"
    expected = model.predict(X, verbose=0)
    np.testing.assert_allclose(tb.keras.load_model(tmp_path / "m").predict(X, verbose=0),
                               expected, rtol=1e-6)
    pyfunc = tb.pyfunc.load_model(tmp_path / "m")
    np.testing.assert_allclose(pyfunc.predict(X), expected, rtol=1e-6)
    tb.models.save_model(model, tmp_path / "d")  # dispatch: keras before torch
    frame = tb.pyfunc.load_model(tmp_path / "d").predict(pd.DataFrame(X, index=range(5, 13)))
    assert list(frame.index) == list(range(5, 13))
    assert "keras" in tb.models.Model.load(tmp_path / "d").flavors


def test_exported_savedmodel_is_refused_by_name(tmp_path: Path) -> None:
    with pytest.raises(UnsupportedModelError, match="save_exported_model=True"):
        tb.keras.save_model(_model(), tmp_path / "m", save_exported_model=True)
    assert tb.keras.get_default_pip_requirements() == [f"keras=={keras.__version__}"]
