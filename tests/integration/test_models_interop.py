"""Interop with MLflow, proven with MLflow itself (never installed in the project's venv).

MLflow runs in its own virtualenv: the benchmark's ``benchmarks/.mlflow-venv`` when it
exists, else a throwaway one under ``~/.cache/trackbook-tests/mlflow-venv`` (created here
with pip). The test is skipped, saying why, only when pip cannot install MLflow.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier

import trackbook as tb
from mlflow_env import mlflow_python

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow
TREE = "sklearn.tree._tree.Tree"

MLFLOW_SIDE = r"""
import json, os, sys
os.environ["MLFLOW_ALLOW_PICKLE_DESERIALIZATION"] = "true"  # MLflow 3 gates every pickle
import mlflow
import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

tb_model, out = sys.argv[1], sys.argv[2]
X = pd.DataFrame(json.loads(sys.argv[3]))
loaded = mlflow.pyfunc.load_model(tb_model)
result = {
    "mlflow_version": mlflow.__version__,
    "tb_predictions": loaded.predict(X).tolist(),
    "tb_signature": [[s.name, s.type.name] for s in loaded.metadata.get_input_schema().inputs],
    "tb_flavors": sorted(mlflow.models.Model.load(tb_model).flavors),
    "tb_format": mlflow.models.Model.load(tb_model).flavors["sklearn"]["serialization_format"],
    # a skops model needing a type skops does not trust by default, saved by trackbook
    "tb_tree_predictions": mlflow.pyfunc.load_model(sys.argv[4]).predict(X).tolist(),
    "tb_tree_proba": mlflow.sklearn.load_model(sys.argv[4]).predict_proba(X)[:, 1].tolist(),
}
try:
    loaded.predict(X.drop(columns=["b"]))
    result["mlflow_enforces_our_signature"] = False
except Exception as exc:
    result["mlflow_enforces_our_signature"] = "b" in str(exc)
rng = np.random.default_rng(7)
T = pd.DataFrame({"a": rng.random(80), "b": rng.random(80), "n": rng.integers(0, 9, 80)})
model = LogisticRegression().fit(T, (T.a > T.b).astype(int))
mlflow.sklearn.save_model(model, out + "/cloudpickle", serialization_format="cloudpickle",
                          input_example=T[:3])
mlflow.sklearn.save_model(model, out + "/skops", input_example=T[:3])
result["ml_predictions"] = model.predict_proba(X)[:, 1].tolist()
result["ml_skops_predictions"] = model.predict(X).tolist()
print("@@" + json.dumps(result))
"""


def _mlflow_python() -> Path:
    return mlflow_python(["sklearn", "skops"])


def test_models_move_between_trackbook_and_mlflow(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.random(80), "b": rng.random(80),
                      "n": rng.integers(0, 9, 80).astype("int64")})
    ours = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, (X.a + X.b > 1))
    tb.sklearn.save_model(ours, tmp_path / "tb_model", input_example=X[:3])  # skops: default
    tree = DecisionTreeClassifier(max_depth=3, random_state=0).fit(X, X.a > X.b)
    tb.sklearn.save_model(tree, tmp_path / "tb_tree", serialization_format="skops",
                          skops_trusted_types=[TREE])
    probe = X[:6]
    proc = subprocess.run([str(_mlflow_python()), "-c", MLFLOW_SIDE, str(tmp_path / "tb_model"),
                           str(tmp_path), probe.to_json(orient="columns"),
                           str(tmp_path / "tb_tree")],
                          capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("@@"))
    theirs = json.loads(line[2:])

    # trackbook -> MLflow: same predictions, our signature read and enforced by MLflow
    assert theirs["tb_predictions"] == ours.predict(probe).tolist()
    assert theirs["tb_signature"] == [["a", "double"], ["b", "double"], ["n", "long"]]
    assert theirs["tb_flavors"] == ["python_function", "sklearn"]
    assert theirs["tb_format"] == "skops"
    assert theirs["tb_tree_predictions"] == tree.predict(probe).tolist()
    assert theirs["tb_tree_proba"] == pytest.approx(tree.predict_proba(probe)[:, 1].tolist())
    assert theirs["mlflow_enforces_our_signature"] is True

    # MLflow -> trackbook: the cloudpickle-format model loads and predicts the same
    loaded = tb.pyfunc.load_model(tmp_path / "cloudpickle")
    assert loaded.metadata.mlflow_version == theirs["mlflow_version"]
    proba = tb.sklearn.load_model(tmp_path / "cloudpickle").predict_proba(probe)[:, 1]
    assert proba.tolist() == pytest.approx(theirs["ml_predictions"])
    assert len(loaded.predict(probe)) == len(probe)
    with pytest.raises(tb.models.SchemaEnforcementError, match="missing column"):
        loaded.predict(probe.drop(columns=["a"]))
    # MLflow's serving example is a body our server accepts
    body = (tmp_path / "cloudpickle" / "serving_input_example.json").read_bytes()
    with tb.models.ScoringServer(loaded, port=0) as server:
        status, reply, _ = server.invocations(body, "application/json")
    assert status == 200
    assert len(json.loads(reply)["predictions"]) == 3
    # MLflow 3's default format, skops, loads with trusted types only and predicts the same
    skops_model = tb.pyfunc.load_model(tmp_path / "skops")
    assert skops_model.metadata.flavors["sklearn"]["serialization_format"] == "skops"
    assert skops_model.predict(probe).tolist() == theirs["ml_skops_predictions"]
    proba = tb.sklearn.load_model(tmp_path / "skops").predict_proba(probe)[:, 1]
    assert proba.tolist() == pytest.approx(theirs["ml_predictions"], rel=1e-9)  # other BLAS
