"""``trackbook.artifacts`` reaches MLflow 3 logged models by ``models:/m-<id>`` (what
``log_model`` returns), whole or one file, as ``mlflow.artifacts`` does."""

from __future__ import annotations

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
    one = tb.artifacts.download_artifacts(f"{info.model_uri}/MLmodel")
    assert Path(one).read_text() == (whole / "MLmodel").read_text()
    assert "MLmodel" in [f.path.rsplit("/", 1)[-1]
                         for f in tb.artifacts.list_artifacts(info.model_uri)]


def test_an_unknown_logged_model_is_named(tb_store) -> None:
    with pytest.raises(tb.exceptions.MlflowException, match="no logged model at"):
        tb.artifacts.download_artifacts("models:/m-" + "0" * 32)
