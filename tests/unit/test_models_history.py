"""The run tag ``mlflow.log-model.history``: MLflow 2 listed a run's models in it (a JSON
list of ``Model.get_tags_dict()`` entries); MLflow 3 does not write it."""

from __future__ import annotations

import json
from pathlib import Path

from models_helpers import training_data
from sklearn.linear_model import LogisticRegression

import trackbook as tb
from trackbook.models.model import Model

TAG = "mlflow.log-model.history"
KEYS = {"run_id", "artifact_path", "utc_time_created", "model_uuid", "flavors"}


def _history(run_id: str) -> list[dict]:
    return json.loads(tb.Client().get_run(run_id).data.tags[TAG])


def test_mlflow3_log_model_sets_no_history_tag(tb_store: Path) -> None:
    """MLflow 3.17 no longer writes the tag (checked in its venv): a run's models are its
    ``outputs`` and the store's logged models, so trackbook writes it no more either."""
    X, y = training_data()
    with tb.start_run() as run:
        tb.sklearn.log_model(LogisticRegression().fit(X, y), name="model")
    assert TAG not in tb.Client().get_run(run.info.run_id).data.tags


def test_the_entry_drops_flavor_config_like_mlflow() -> None:
    model = Model(artifact_path="m", run_id="r1", model_uuid="u1",
                  utc_time_created="2026-01-02 03:04:05.000001",
                  flavors={"python_function": {"loader_module": "x", "config": {"k": 1}}})
    assert model.history_entry() == {
        "artifact_path": "m", "model_uuid": "u1", "run_id": "r1",
        "utc_time_created": "2026-01-02 03:04:05.000001",
        "flavors": {"python_function": {"loader_module": "x"}}}
