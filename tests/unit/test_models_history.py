"""Logging a model records it in the run's ``mlflow.log-model.history`` tag, in MLflow's
format (a JSON list of ``Model.get_tags_dict()`` entries), so tools that read MLflow runs
see which models a run logged."""

from __future__ import annotations

import json
from pathlib import Path

from models_helpers import training_data
from sklearn.linear_model import LogisticRegression, Ridge

import trackbook as tb
from trackbook.models.model import Model

TAG = "mlflow.log-model.history"
KEYS = {"run_id", "artifact_path", "utc_time_created", "model_uuid", "flavors"}


def _history(run_id: str) -> list[dict]:
    return json.loads(tb.Client().get_run(run_id).data.tags[TAG])


def test_each_logged_model_is_appended_in_mlflows_format(tb_store: Path) -> None:
    X, y = training_data()
    with tb.start_run() as run:
        first = tb.sklearn.log_model(LogisticRegression().fit(X, y), name="model")
        assert [e["model_uuid"] for e in _history(run.info.run_id)] == [first.model_uuid]
        second = tb.sklearn.log_model(Ridge().fit(X, y), name="candidates/ridge",
                                      input_example=X[:3])
    with tb.start_run() as other:
        third = tb.sklearn.log_model(Ridge().fit(X, y), name="model")

    history = _history(run.info.run_id)
    assert [e["artifact_path"] for e in history] == ["model", "candidates/ridge"]
    for entry, info in zip(history, [first, second], strict=True):
        assert set(entry) == KEYS
        assert entry["run_id"] == run.info.run_id
        assert entry["model_uuid"] == info.model_uuid
        assert entry["utc_time_created"] == info.utc_time_created
        # the flavors exactly as the MLmodel file has them (MLflow drops only "config")
        manifest = Model.load(Path(tb.Client().download_artifacts(run.info.run_id,
                                                                  entry["artifact_path"])))
        assert entry["flavors"] == manifest.flavors
        assert entry["flavors"]["python_function"]["loader_module"] == "mlflow.sklearn"
        assert "sklearn_version" in entry["flavors"]["sklearn"]
    assert [e["model_uuid"] for e in _history(other.info.run_id)] == [third.model_uuid]


def test_the_entry_drops_flavor_config_like_mlflow() -> None:
    model = Model(artifact_path="m", run_id="r1", model_uuid="u1",
                  utc_time_created="2026-01-02 03:04:05.000001",
                  flavors={"python_function": {"loader_module": "x", "config": {"k": 1}}})
    assert model.history_entry() == {
        "artifact_path": "m", "model_uuid": "u1", "run_id": "r1",
        "utc_time_created": "2026-01-02 03:04:05.000001",
        "flavors": {"python_function": {"loader_module": "x"}}}
