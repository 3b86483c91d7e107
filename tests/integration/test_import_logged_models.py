"""import-mlflow keeps MLflow 3 logged models under their ids: a store written by MLflow
3.17 itself (SQLite and file store, one MLflow process), imported, then read back with
trackbook. ``models:/m-<id>`` in a user's code loads the same model afterwards."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import trackbook as tb
from mlflow_env import run_mlflow

MAKE = r'''
import json, os, sys, warnings
warnings.filterwarnings("ignore")
os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"
import mlflow, numpy as np, pandas as pd
from sklearn.linear_model import LogisticRegression
X = np.array([[0.0, 1.0], [1.0, 0.0], [0.2, 0.9], [0.9, 0.1]])
y = np.array([0, 1, 0, 1])
clf = LogisticRegression().fit(X, y)
ds = mlflow.data.from_pandas(pd.DataFrame(X, columns=["a", "b"]), name="eval")
out = {}
for uri in sys.argv[1:]:
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment("logged")
    with mlflow.start_run() as run:
        mlflow.log_param("C", "1.0")
        info = mlflow.sklearn.log_model(clf, name="clf", step=3, model_type="classifier",
                                        params={"solver": "lbfgs"}, tags={"team": "a"})
        mlflow.log_metric("acc", 0.75, step=3)  # linked: the model was logged at step 3
        mlflow.log_metric("loss", 0.5, model_id=info.model_id, dataset=ds, step=7)
    mv = mlflow.register_model(info.model_uri, "clf-model")
    lm = mlflow.get_logged_model(info.model_id)
    out[uri] = {
        "model_id": info.model_id, "run_id": run.info.run_id, "name": lm.name,
        "model_type": lm.model_type, "status": str(lm.status), "tags": lm.tags,
        "params": lm.params, "creation_timestamp": lm.creation_timestamp,
        "metrics": sorted([m.key, m.value, m.step, m.timestamp, m.run_id, m.dataset_name,
                           m.dataset_digest] for m in lm.metrics),
        "outputs": [o.to_dictionary()
                    for o in mlflow.get_run(run.info.run_id).outputs.model_outputs],
        "version_model_id": mv.model_id, "version_source": mv.source,
        "predict": clf.predict(X).tolist()}
print("@@" + json.dumps(out))
'''


@pytest.fixture(scope="module")
def mlflow_stores(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("mlflow3-models")
    uris = [f"sqlite:///{root / 'mlflow.db'}", (root / "mlruns").as_uri()]
    return root, run_mlflow(MAKE, *uris, cwd=root)


@pytest.mark.parametrize("backend", ["sqlite", "file"])
def test_import_keeps_logged_models_under_their_ids(
        backend: str, mlflow_stores: tuple[Path, dict], store: Path) -> None:
    root, truth = mlflow_stores
    src = root / ("mlflow.db" if backend == "sqlite" else "mlruns")
    theirs = next(v for k, v in truth.items() if k.startswith(backend))
    summary = tb.import_mlflow(src, progress=False)
    assert summary.imported["logged models"] == 1, summary.skipped
    mid = theirs["model_id"]
    lm = tb.get_logged_model(mid)  # the same id
    assert (lm.name, lm.model_type, str(lm.status), lm.source_run_id,
            lm.creation_timestamp) == (theirs["name"], theirs["model_type"],
                                       theirs["status"], theirs["run_id"],
                                       theirs["creation_timestamp"])
    assert lm.tags == theirs["tags"]
    assert lm.params == theirs["params"]
    ours = sorted([m.key, m.value, m.step, m.timestamp, m.run_id, m.dataset_name,
                   m.dataset_digest] for m in lm.metrics)
    assert ours == theirs["metrics"]
    assert lm.artifact_location == str(store / "models" / mid / "artifacts")
    # the URI users' code holds loads the same model
    X = np.array([[0.0, 1.0], [1.0, 0.0], [0.2, 0.9], [0.9, 0.1]])
    assert tb.pyfunc.load_model(f"models:/{mid}").predict(X).tolist() == theirs["predict"]
    assert tb.sklearn.load_model(f"runs:/{theirs['run_id']}/clf").predict(X).tolist() == \
        theirs["predict"]
    assert [o.to_dictionary() for o in tb.get_run(theirs["run_id"]).outputs.model_outputs] \
        == theirs["outputs"]
    mv = tb.MlflowClient().get_model_version("clf-model", 1)
    assert mv.source == theirs["version_source"] == f"models:/{mid}"
    # MLflow 3.17's SQLite store drops ModelVersion.model_id (None), its file store keeps
    # it; trackbook records the logged model behind a models:/m-<id> source in both
    assert theirs["version_model_id"] == (None if backend == "sqlite" else mid)
    assert mv.model_id == mid
    assert tb.pyfunc.load_model("models:/clf-model/1").predict(X).tolist() == theirs["predict"]
    found = tb.search_logged_models(experiment_ids=[lm.experiment_id],
                                    filter_string="metrics.loss < 1",
                                    datasets=[{"dataset_name": "eval"}], output_format="list")
    assert [m.model_id for m in found] == [mid]
    again = tb.import_mlflow(src, progress=False)  # idempotent
    assert again.imported["logged models"] == 0
    assert again.existing["logged models"] == 1
    assert len(tb.get_logged_model(mid).metrics) == len(theirs["metrics"])
