"""The sklearn flavor: MLmodel manifest, files, save/load/log, URIs, and loading safety."""

from __future__ import annotations

import pickle
import re
from pathlib import Path

import numpy as np
import pytest
import yaml
from models_helpers import training_data
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import trackbook as tb
from trackbook.models import Model, ModelError, ModelInfo, SchemaEnforcementError
from trackbook.models import sklearn as tsk
from trackbook.models._errors import ModelLoadError
from trackbook.models.loading import load_model


@pytest.fixture
def fitted():
    X, y = training_data()
    return make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y), X


def test_saved_directory_has_mlflows_layout_and_manifest(fitted, tmp_path: Path,
                                                         monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)  # no pyproject.toml around: no project/ folder
    model, X = fitted
    tsk.save_model(model, tmp_path / "m", input_example=X[:3])
    files = sorted(p.name for p in (tmp_path / "m").iterdir())
    # skops by default, as MLflow 3 (tests/unit/test_models_skops.py covers the format)
    assert files == ["MLmodel", "conda.yaml", "input_example.json", "model.skops",
                     "python_env.yaml", "requirements.txt", "serving_input_example.json"]
    raw = yaml.safe_load((tmp_path / "m" / "MLmodel").read_text())
    pyfunc = raw["flavors"]["python_function"]
    assert pyfunc["loader_module"] == "mlflow.sklearn"
    assert pyfunc["model_path"] == "model.skops"
    assert pyfunc["env"] == {"conda": "conda.yaml", "virtualenv": "python_env.yaml"}
    assert raw["flavors"]["sklearn"]["serialization_format"] == "skops"
    assert re.fullmatch(r"[0-9a-f]{32}", raw["model_uuid"])
    assert raw["mlflow_version"]
    assert raw["trackbook"]["version"] == tb.__version__
    # MLflow's figure: the model's own files, not MLmodel or the environment files
    own = ["input_example.json", "model.skops", "serving_input_example.json"]
    assert raw["model_size_bytes"] == sum((tmp_path / "m" / f).stat().st_size for f in own)
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+", raw["utc_time_created"])
    assert raw["saved_input_example_info"] == {
        "artifact_path": "input_example.json", "serving_input_path":
        "serving_input_example.json", "type": "dataframe", "pandas_orient": "split"}
    assert set(raw["signature"]) == {"inputs", "outputs", "params"}  # inferred from example


def test_round_trip_predicts_the_same(fitted, tmp_path: Path) -> None:
    model, X = fitted
    tsk.save_model(model, tmp_path / "m", input_example=X[:3])
    loaded = load_model(tmp_path / "m")
    assert np.array_equal(loaded.predict(X), model.predict(X))
    assert np.array_equal(tsk.load_model(str(tmp_path / "m")).predict(X), model.predict(X))
    assert loaded.get_raw_model().__class__ is model.__class__
    with pytest.raises(SchemaEnforcementError, match="missing column"):
        loaded.predict(X.drop(columns="a"))
    assert "mlflow.sklearn" in repr(loaded)


def test_plain_pickle_format_and_predict_proba(fitted, tmp_path: Path) -> None:
    model, X = fitted
    tsk.save_model(model, tmp_path / "m", serialization_format="pickle",
                   pyfunc_predict_fn="predict_proba")
    with open(tmp_path / "m" / "model.pkl", "rb") as f:
        assert np.array_equal(pickle.load(f).predict(X), model.predict(X))
    proba = load_model(tmp_path / "m").predict(X)
    assert proba.shape == (len(X), 2)
    assert Model.load(tmp_path / "m").signature is None  # no example, no signature


def test_bad_arguments_are_refused(fitted, tmp_path: Path) -> None:
    model, _ = fitted
    with pytest.raises(ModelError, match="serialization_format 'joblib'"):
        tsk.save_model(model, tmp_path / "a", serialization_format="joblib")
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "keep.txt").write_text("x")
    with pytest.raises(ModelError, match="already exists and is not an empty folder"):
        tsk.save_model(model, tmp_path / "b")
    with pytest.raises(ModelError, match="must be a scikit-learn estimator"):
        tsk.save_model(object(), tmp_path / "c")
    with pytest.raises(ModelError, match="trackbook saves scikit-learn estimators"):
        tb.models.save_model(object(), tmp_path / "d")


def test_log_model_returns_a_logged_model_uri_that_loads(tb_store, fitted) -> None:
    model, X = fitted
    with tb.start_run() as run:
        info = tsk.log_model(model, name="model", input_example=X[:5])
    assert isinstance(info, ModelInfo)
    assert info.model_uri == f"models:/{info.model_id}"  # MLflow 3
    assert info.run_id == run.info.run_id
    where = tb_store / "models" / info.model_id / "artifacts"
    assert info.artifact_path == str(where)
    assert "scikit-learn==" in " ".join(info.requirements)
    meta = Model.load(where)
    assert meta.run_id == run.info.run_id
    assert meta.artifact_path == str(where)
    assert np.array_equal(load_model(info.model_uri).predict(X), model.predict(X))
    assert np.array_equal(load_model(f"runs:/{run.info.run_id}/model").predict(X),
                          model.predict(X))


def test_log_model_twice_under_one_name_and_unknown_uris(tb_store, fitted) -> None:
    model, X = fitted
    with tb.start_run() as run:
        first = tsk.log_model(model, name="m")
        # MLflow 3: two logged models; runs:/<run>/m is the newer one
        second = tsk.log_model(Ridge().fit(X, np.arange(len(X))), name="m")
        assert first.model_id != second.model_id
        # The registry plugs in on demand: registered_model_name registers, models:/ loads.
        third = tsk.log_model(model, name="m2", registered_model_name="churn")
    assert tb.Client().get_model_version("churn", 1).source == third.model_uri
    assert isinstance(load_model("models:/churn/1"), tb.pyfunc.PyFuncModel)
    newest = load_model(f"runs:/{run.info.run_id}/m")
    assert newest.metadata.extra["model_id"] == second.model_id
    with pytest.raises(ModelLoadError, match=f"run {run.info.run_id} has no artifact 'nope'"):
        load_model(f"runs:/{run.info.run_id}/nope")
    with pytest.raises(ModelLoadError, match="unsupported model URI scheme 's3'"):
        load_model("s3://bucket/model")


def test_a_registry_can_plug_in_a_resolver(fitted, tmp_path: Path, monkeypatch) -> None:
    from trackbook.models import uri

    model, X = fitted
    tsk.save_model(model, tmp_path / "m")
    monkeypatch.setitem(uri._resolvers, "models", lambda u: tmp_path / "m")
    assert len(load_model("models:/churn/1").predict(X)) == len(X)


@pytest.mark.parametrize(("fmt", "file"), [("cloudpickle", "model.pkl"),
                                          ("skops", "model.skops")])
def test_manifest_paths_cannot_leave_the_model_directory(fitted, tmp_path: Path, fmt: str,
                                                         file: str) -> None:
    model, _ = fitted
    tsk.save_model(model, tmp_path / "m", serialization_format=fmt)
    path = tmp_path / "m" / "MLmodel"
    path.write_text(path.read_text().replace(f"pickled_model: {file}",
                                             "pickled_model: ../../evil.pkl"))
    with pytest.raises(ModelLoadError, match="outside the model directory"):
        tsk.load_model(tmp_path / "m")
    with pytest.raises(ModelLoadError, match="no MLmodel file"):
        load_model(tmp_path)
