"""import-mlflow carries datasets and dataset inputs across: a small MLflow 3.17 store
(SQLite and file store) with datasets logged by MLflow itself, imported, then compared
with what MLflow's own get_run returns."""

from __future__ import annotations

from pathlib import Path

import pytest

import trackbook as tb
from mlflow_env import run_mlflow

MAKE = r'''
import json, os, sys, warnings
warnings.filterwarnings("ignore")
os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"
import mlflow, numpy as np, pandas as pd
mlflow.set_tracking_uri(sys.argv[1])
mlflow.set_experiment("with-data")
df = pd.DataFrame({"a": [1, 2, 3], "b": [0.5, 1.5, 2.5], "c": ["x", "y", "z"]})
ids = []
with mlflow.start_run() as r:
    mlflow.log_input(mlflow.data.from_pandas(df, source="/data/train.csv", targets="a",
                                             name="train"), context="training", tags={"k": "v"})
    mlflow.log_input(mlflow.data.from_numpy(np.ones((4, 2)), source="s3://b/x.npy",
                                            name="test"), context="testing")
    ids.append(r.info.run_id)
with mlflow.start_run() as r:  # the same dataset again: one dataset row in MLflow
    mlflow.log_input(mlflow.data.from_pandas(df, source="https://example.com/d.csv",
                                             name="train"))
    ids.append(r.info.run_id)
out = {i: mlflow.get_run(i).inputs.to_dictionary()["dataset_inputs"] for i in ids}
print("@@" + json.dumps(out))
'''


@pytest.mark.parametrize("backend", ["sqlite", "file"])
def test_import_carries_dataset_inputs(backend: str, tmp_path: Path, store: Path) -> None:
    src = tmp_path / ("mlflow.db" if backend == "sqlite" else "mlruns")
    uri = f"sqlite:///{src}" if backend == "sqlite" else src.as_uri()
    theirs = run_mlflow(MAKE, uri, extra=["polars"], cwd=tmp_path)
    summary = tb.import_mlflow(src, progress=False)
    assert summary.imported["dataset inputs"] == 3
    for run_id, inputs in theirs.items():
        ours = tb.get_run(run_id).inputs.to_dictionary()["dataset_inputs"]
        key = lambda d: d["dataset"]["name"]  # noqa: E731 - the stores' orders differ
        assert sorted(ours, key=key) == sorted(inputs, key=key)
    assert {r.info.run_id for r in tb.search_runs(
        filter_string="datasets.context = 'testing'", search_all_experiments=True,
        output_format="list")} == {next(iter(theirs))}
    again = tb.import_mlflow(src, progress=False)  # nothing new the second time
    assert again.imported["dataset inputs"] == 0
    assert again.existing["dataset inputs"] == 3
    first = next(iter(theirs))
    assert len(tb.get_run(first).inputs.dataset_inputs) == 2
