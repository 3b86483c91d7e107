"""MLflow 3 logged models: ``log_model`` creates a ``LoggedModel`` (``models:/m-<id>``) whose
files live in ``<store>/models/<id>/artifacts``, recorded in the writers' logs and folded
into the catalog; read back with ``get_logged_model`` / ``search_logged_models``."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from models_helpers import training_data
from sklearn.linear_model import LogisticRegression

import trackbook as tb
from trackbook.models.model import Model


@pytest.fixture(autouse=True)
def _no_active_model() -> Iterator[None]:
    from trackbook.tracking import active_model

    active_model.set_active_model_id(None)
    active_model.set_last_logged_model_id(None)
    yield
    active_model.set_active_model_id(None)
    active_model.set_last_logged_model_id(None)


def _fit() -> tuple[LogisticRegression, object]:
    X, y = training_data()
    return LogisticRegression().fit(X, y), X


def test_log_model_returns_mlflow3_model_info_and_loads_by_model_id(tb_store: Path) -> None:
    model, X = _fit()
    with tb.start_run() as run:
        tb.log_param("C", "1.0")
        info = tb.sklearn.log_model(model, name="model", params={"C": 2, "solver": "lbfgs"},
                                    step=3, model_type="classifier", input_example=X[:2])
    assert re.fullmatch(r"m-[0-9a-f]{32}", info.model_id)
    assert info.model_uri == f"models:/{info.model_id}"
    assert info.model_uuid == info.model_id
    assert info.run_id == run.info.run_id
    assert info.name == "model"
    expected_dir = tb_store / "models" / info.model_id / "artifacts"
    assert info.artifact_path == str(expected_dir)
    assert (expected_dir / "MLmodel").is_file()
    # the run's params win over log_model's params, as in MLflow
    assert info.params == {"C": "1.0", "solver": "lbfgs"}
    manifest = Model.load(expected_dir)
    assert manifest.extra["model_id"] == info.model_id
    assert manifest.artifact_path == str(expected_dir)
    # nothing in the run's artifacts, no history tag: MLflow 3 keeps models outside the run
    assert not (tb_store / "runs" / run.info.run_id / "artifacts" / "model").exists()
    assert "mlflow.log-model.history" not in tb.get_run(run.info.run_id).data.tags

    want = model.predict(X[:5]).tolist()
    assert tb.pyfunc.load_model(info.model_uri).predict(X[:5]).tolist() == want
    # MLflow 3 resolves runs:/<run>/<name> to the run's logged model of that name
    by_run = tb.pyfunc.load_model(f"runs:/{run.info.run_id}/model")
    assert by_run.predict(X[:5]).tolist() == want


def test_get_and_last_logged_model(tb_store: Path) -> None:
    model, _X = _fit()
    assert tb.last_logged_model() is None
    with tb.start_run() as run:
        info = tb.sklearn.log_model(model, name="clf", model_type="lr", tags={"team": "a"})
    lm = tb.get_logged_model(info.model_id)
    assert isinstance(lm, tb.LoggedModel)
    assert (lm.model_id, lm.name, lm.model_type, lm.source_run_id) == (
        info.model_id, "clf", "lr", run.info.run_id)
    assert lm.experiment_id == run.info.experiment_id
    assert lm.status == tb.LoggedModelStatus.READY
    assert lm.artifact_location == info.artifact_path
    assert lm.model_uri == info.model_uri
    assert lm.tags["team"] == "a"
    assert lm.tags["mlflow.user"]
    assert lm.creation_timestamp <= lm.last_updated_timestamp
    assert lm.to_dictionary()["status"] == 2  # MLflow's protobuf number of READY
    assert tb.last_logged_model().model_id == info.model_id


def test_log_model_without_a_run_starts_none(tb_store: Path) -> None:
    model, _ = _fit()
    info = tb.sklearn.log_model(model, name="model")
    assert tb.active_run() is None
    assert info.run_id is None
    assert tb.get_logged_model(info.model_id).source_run_id is None


def test_unknown_model_id_is_a_clear_error(tb_store: Path) -> None:
    from trackbook.models._errors import LoggedModelNotFoundError

    with pytest.raises(LoggedModelNotFoundError, match="m-"):
        tb.get_logged_model("m-" + "0" * 32)
    with pytest.raises(LoggedModelNotFoundError, match="32 hex"):
        tb.get_logged_model("nope")
    with pytest.raises(LoggedModelNotFoundError):
        tb.pyfunc.load_model("models:/m-" + "1" * 32)


def test_registered_model_name_records_model_id_on_the_version(tb_store: Path) -> None:
    model, X = _fit()
    with tb.start_run() as run:
        info = tb.sklearn.log_model(model, name="model", registered_model_name="churn")
    assert info.registered_model_version == 1
    mv = tb.Client().get_model_version("churn", 1)
    assert mv.model_id == info.model_id
    assert mv.run_id == run.info.run_id
    assert mv.source == info.model_uri
    got = tb.pyfunc.load_model("models:/churn/1").predict(X[:3]).tolist()
    assert got == model.predict(X[:3]).tolist()


def test_catalog_rebuilt_from_files_has_the_models(tb_store: Path) -> None:
    from trackbook.models import logged
    from trackbook.store.store import Store

    model, _ = _fit()
    with tb.start_run():
        info = tb.sklearn.log_model(model, name="model", params={"a": 1})
    fresh = Store(tb_store)
    fresh.catalog.rebuild()
    lm = logged.get(fresh, info.model_id)
    assert lm.params["a"] == "1"
    assert lm.status == tb.LoggedModelStatus.READY
