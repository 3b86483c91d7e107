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


def test_metrics_logged_with_model_id_or_while_active_are_the_models(tb_store: Path) -> None:
    model, _ = _fit()
    with tb.start_run() as run:
        info = tb.sklearn.log_model(model, name="model")
        tb.log_metric("acc", 0.9, model_id=info.model_id)
        tb.log_metrics({"f1": 0.8, "auc": 0.7}, step=2, model_id=info.model_id)
        # no model id, no active model: linked as the model was logged at this step
        tb.log_metric("loss", 0.5)
        tb.log_metric("lr", 0.1, step=1)  # not linked: no model was logged at step 1
        with tb.set_active_model(model_id=info.model_id):
            assert tb.get_active_model_id() == info.model_id
            tb.log_metric("active", 1.0, step=4)
        assert tb.get_active_model_id() is None
    got = {(m.key, m.value, m.step, m.model_id, m.run_id)
           for m in tb.get_logged_model(info.model_id).metrics}
    rid, mid = run.info.run_id, info.model_id
    assert got == {("acc", 0.9, 0, mid, rid), ("f1", 0.8, 2, mid, rid),
                   ("auc", 0.7, 2, mid, rid), ("loss", 0.5, 0, mid, rid),
                   ("active", 1.0, 4, mid, rid)}
    # they are the run's metrics too, as in MLflow
    assert set(tb.get_run(rid).data.metrics) == {"acc", "f1", "auc", "loss", "lr", "active"}


def test_search_logged_models_filters_with_parameterized_sql(tb_store: Path) -> None:
    model, _ = _fit()
    with tb.start_run():
        a = tb.sklearn.log_model(model, name="a", model_type="lr", params={"C": "1"})
        b = tb.sklearn.log_model(model, name="b", model_type="tree", params={"C": "2"})
        tb.log_metric("acc", 0.9, model_id=a.model_id)
        tb.log_metric("acc", 0.5, model_id=b.model_id)
    ids = lambda f: [m.model_id for m in tb.search_logged_models(  # noqa: E731
        filter_string=f, output_format="list")]
    assert ids(None) == [b.model_id, a.model_id]  # newest first
    assert ids("name = 'a'") == [a.model_id]
    assert ids("metrics.acc > 0.6") == [a.model_id]
    assert ids("params.C = '2' AND model_type = 'tree'") == [b.model_id]
    assert ids("tags.`mlflow.user` LIKE '%'") == [b.model_id, a.model_id]
    assert ids("name = 'x'' OR 1=1 --'") == []  # a value, never SQL
    ordered = tb.search_logged_models(order_by=[{"field_name": "name", "ascending": True}],
                                      output_format="list")
    assert [m.name for m in ordered] == ["a", "b"]
    frame = tb.search_logged_models()
    assert list(frame["model_id"]) == [b.model_id, a.model_id]
    with pytest.raises(tb.TrackbookError, match="unknown attribute"):
        tb.search_logged_models(filter_string="nope = 1")
    with pytest.raises(tb.TrackbookError, match="output_format"):
        tb.search_logged_models(output_format="arrow")


def test_initialize_finalize_tags_params_and_external_models(tb_store: Path) -> None:
    model, _ = _fit()
    pending = tb.initialize_logged_model(name="later", model_type="lr", params={"p": "1"})
    assert pending.status == tb.LoggedModelStatus.PENDING
    assert tb.get_logged_model(pending.model_id).status == tb.LoggedModelStatus.PENDING
    info = tb.sklearn.log_model(model, name="later", model_id=pending.model_id)
    assert info.model_id == pending.model_id
    assert tb.get_logged_model(pending.model_id).status == tb.LoggedModelStatus.READY
    tb.set_logged_model_tags(pending.model_id, {"k": "v", "gone": "x"})
    tb.delete_logged_model_tag(pending.model_id, "gone")
    tb.log_model_params({"q": 2}, model_id=pending.model_id)
    lm = tb.get_logged_model(pending.model_id)
    assert lm.tags["k"] == "v"
    assert "gone" not in lm.tags
    assert lm.params == {"p": "1", "q": "2"}
    ext = tb.create_external_model(name="agent", model_type="agent")
    assert ext.status == tb.LoggedModelStatus.READY
    assert tb.get_logged_model(ext.model_id).tags["mlflow.model.isExternal"] == "true"
    failed = tb.finalize_logged_model(tb.initialize_logged_model(name="f").model_id, "FAILED")
    assert failed.status == tb.LoggedModelStatus.FAILED
    with pytest.raises(tb.TrackbookError, match="READY or FAILED"):
        tb.finalize_logged_model(ext.model_id, "PENDING")


def test_log_model_into_an_initialized_model_sees_its_changes(tb_store: Path) -> None:
    """log_model(model_id=) of a model this process initialized reads it without the
    catalog; a change made to it since (or to the returned object) is not lost."""
    model, _ = _fit()
    tb.start_run()
    pending = tb.initialize_logged_model(name="m", params={"p": "1"}, tags={"t": "a"})
    pending.tags["local"] = "only"  # the caller's object, not the model
    info = tb.sklearn.log_model(model, name="m", model_id=pending.model_id)
    assert (info.params, info.tags.get("t"), "local" in info.tags) == ({"p": "1"}, "a", False)
    changed = tb.initialize_logged_model(name="c", params={"p": "1"})
    tb.set_logged_model_tags(changed.model_id, {"t": "b"})
    tb.log_model_params({"q": 2}, model_id=changed.model_id)
    info = tb.sklearn.log_model(model, name="c", model_id=changed.model_id)
    assert (info.params, info.tags["t"]) == ({"p": "1", "q": "2"}, "b")
    tb.end_run()
