"""``trackbook.artifacts`` reaches MLflow 3 logged models by ``models:/m-<id>`` (what
``log_model`` returns), whole or one file, as ``mlflow.artifacts`` does."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sklearn.linear_model import LinearRegression

import trackbook as tb


@pytest.fixture
def info(tb_store):
    with tb.start_run():
        return tb.sklearn.log_model(LinearRegression().fit([[0.0], [1.0]], [0.0, 2.0]),
                                    name="model")


def test_download_a_logged_model_by_its_uri(info, tmp_path: Path) -> None:
    assert info.model_uri.startswith("models:/m-")
    whole = Path(tb.artifacts.download_artifacts(info.model_uri, dst_path=str(tmp_path)))
    assert {"MLmodel", "requirements.txt"} <= {p.name for p in whole.iterdir()}
    assert tb.models.Model.load(whole).model_id == info.model_id
    assert whole == tmp_path  # as MLflow 3: a models:/ URI lands in dst_path itself
    assert "MLmodel" in [f.path for f in tb.artifacts.list_artifacts(info.model_uri)]


def test_an_unknown_logged_model_is_named(tb_store) -> None:
    with pytest.raises(tb.exceptions.MlflowException, match=r"no artifact at .models:/m-0+"):
        tb.artifacts.download_artifacts("models:/m-" + "0" * 32)


def test_models_uri_copies_get_registered_model_meta_and_the_store_stays_as_logged(
        tb_store, tmp_path):
    """MLflow's models:/ downloads write registered_model_meta (the name and version asked
    for) into the copy; trackbook does too, and never into the store's model folder."""
    import yaml
    from sklearn.linear_model import LogisticRegression

    X, y = [[0.0], [1.0], [0.1], [0.9]], [0, 1, 0, 1]
    with tb.start_run():
        info = tb.sklearn.log_model(LogisticRegression().fit(X, y), name="m",
                                    registered_model_name="r",
                                    pip_requirements=["scikit-learn"])
    tb.MlflowClient().set_registered_model_alias("r", "champ", 1)
    store_dir = tb.get_logged_model(info.model_id).artifact_location.removeprefix("file://")
    logged = sorted(os.listdir(store_dir))
    for uri, meta in [("models:/r/1", {"model_name": "r", "model_version": "1"}),
                      ("models:/r@champ", {"model_name": "r", "model_version": 1}),
                      (info.model_uri, {"model_name": None, "model_version": None})]:
        dst = tmp_path / uri.replace(":", "_").replace("/", "_").replace("@", "_")
        dst.mkdir()
        tb.pyfunc.load_model(uri, dst_path=str(dst))  # into dst itself, as MLflow
        assert yaml.safe_load((dst / "registered_model_meta").read_text()) == meta
        got = Path(tb.artifacts.download_artifacts(uri))
        assert yaml.safe_load((got / "registered_model_meta").read_text()) == meta
        tb.pyfunc.load_model(uri)  # no copy: nothing written
    assert sorted(os.listdir(store_dir)) == logged
    assert "registered_model_meta" not in logged
