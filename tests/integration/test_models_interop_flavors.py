"""PyTorch / ONNX / Keras models move between trackbook and MLflow 3.17, proven with MLflow.

MLflow runs in its own virtualenv (``tests/mlflow_env.py``); each test
saves models with trackbook, has MLflow load and re-save them in a subprocess, and loads
MLflow's models back here.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

import trackbook as tb
from mlflow_env import mlflow_python

pytestmark = pytest.mark.slow
X = np.random.default_rng(0).random((6, 4)).astype(np.float32)


def _run_mlflow(script: str, tmp_path: Path, *args: str,
                env: dict[str, str] | None = None) -> dict:
    python = mlflow_python(["sklearn", "skops", "torch", "onnx", "onnxruntime", "skl2onnx",
                            "keras"])
    proc = subprocess.run([str(python), "-c", script, str(tmp_path), *args],
                          capture_output=True, text=True, timeout=600, cwd=tmp_path,
                          env={**os.environ, "MLFLOW_ALLOW_PICKLE_DESERIALIZATION": "true",
                               "KERAS_BACKEND": "torch", **(env or {})})
    assert proc.returncode == 0, proc.stderr[-4000:]
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("@@"))
    return json.loads(line[2:])


TORCH_SIDE = r"""
import json, sys
import numpy as np, torch, mlflow.pytorch, mlflow.pyfunc
out = sys.argv[1]
X = np.random.default_rng(0).random((6, 4)).astype(np.float32)
res = {}
for name in ("tb_pickle", "tb_script", "tb_pt2", "tb_main"):
    m = mlflow.pytorch.load_model(f"{out}/{name}")
    res[name] = m(torch.from_numpy(X)).detach().numpy().tolist()
    pf = mlflow.pyfunc.load_model(f"{out}/{name}")
    res[name + "_pyfunc"] = np.asarray(pf.predict(X)).tolist()
torch.manual_seed(1)
net = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Tanh())
mlflow.pytorch.save_model(net, f"{out}/ml_pt2", input_example=X)          # 3.17 default: pt2
mlflow.pytorch.save_model(net, f"{out}/ml_pickle", serialization_format="pickle")
mlflow.pytorch.save_model(torch.jit.script(net), f"{out}/ml_script", serialization_format="pickle")
with torch.no_grad():
    res["ml"] = net(torch.from_numpy(X)).numpy().tolist()
print("@@" + json.dumps(res))
"""


# A module defined in the script that saves it (__main__), as in a notebook or train.py
MAIN_NET = r"""
import sys
import numpy as np, torch
from torch import nn
import trackbook as tb

class TinyNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        return torch.tanh(self.fc(x))

torch.manual_seed(2)
net = TinyNet()
tb.pytorch.save_model(net, sys.argv[1])
X = np.random.default_rng(0).random((6, 4)).astype(np.float32)
np.save(sys.argv[2], net(torch.from_numpy(X)).detach().numpy())
"""


def test_pytorch_formats_move_between_trackbook_and_mlflow(tmp_path: Path) -> None:
    import subprocess
    import sys

    import torch

    subprocess.run([sys.executable, "-c", MAIN_NET, str(tmp_path / "tb_main"),
                    str(tmp_path / "main.npy")], check=True, timeout=120, cwd=tmp_path)
    # MLflow's files: no code/ (the pickle carries TinyNet's source), so MLflow loads it
    # in a new process that never saw the script
    assert not (tmp_path / "tb_main" / "code").exists()
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 5), torch.nn.ReLU(), torch.nn.Linear(5, 2))
    tb.pytorch.save_model(net, tmp_path / "tb_pickle")
    tb.pytorch.save_model(torch.jit.script(net), tmp_path / "tb_script")
    tb.pytorch.save_model(net, tmp_path / "tb_pt2", serialization_format="pt2",
                          input_example=X)
    with torch.no_grad():
        expected = net(torch.from_numpy(X)).numpy()
    theirs = _run_mlflow(TORCH_SIDE, tmp_path)
    for name in ("tb_pickle", "tb_script", "tb_pt2"):
        np.testing.assert_allclose(theirs[name], expected, rtol=1e-5, err_msg=name)
        np.testing.assert_allclose(theirs[name + "_pyfunc"], expected, rtol=1e-5, err_msg=name)
    main_expected = np.load(tmp_path / "main.npy")
    np.testing.assert_allclose(theirs["tb_main"], main_expected, rtol=1e-5)
    np.testing.assert_allclose(theirs["tb_main_pyfunc"], main_expected, rtol=1e-5)
    assert (tmp_path / "ml_pt2" / "data" / "model.pt2").is_file()
    for name in ("ml_pt2", "ml_pickle", "ml_script"):
        model = tb.pytorch.load_model(tmp_path / name)
        got = model(torch.from_numpy(X)).detach().numpy()
        np.testing.assert_allclose(got, theirs["ml"], rtol=1e-5, err_msg=name)
        np.testing.assert_allclose(tb.pyfunc.load_model(tmp_path / name).predict(X),
                                   theirs["ml"], rtol=1e-5, err_msg=name)
    assert isinstance(tb.pytorch.load_model(tmp_path / "ml_script"), torch.jit.ScriptModule)


ONNX_SIDE = r"""
import json, sys
import numpy as np, onnx, mlflow.onnx, mlflow.pyfunc
from sklearn.linear_model import LinearRegression
from skl2onnx import to_onnx
out = sys.argv[1]
X = np.random.default_rng(0).random((6, 4)).astype(np.float32)
res = {"tb_proto_inputs": [i.name for i in mlflow.onnx.load_model(f"{out}/tb_onnx").graph.input]}
res["tb"] = np.asarray(mlflow.pyfunc.load_model(f"{out}/tb_onnx").predict(X)["variable"]).tolist()
sk = LinearRegression().fit(X, X.sum(axis=1))
mlflow.onnx.save_model(to_onnx(sk, X[:1], target_opset=17), f"{out}/ml_onnx", input_example=X[:2],
                       onnx_session_options={"intra_op_num_threads": 1})
res["ml"] = sk.predict(X).tolist()
print("@@" + json.dumps(res))
"""


def test_onnx_models_move_between_trackbook_and_mlflow(tmp_path: Path) -> None:
    pytest.importorskip("skl2onnx")
    from skl2onnx import to_onnx
    from sklearn.linear_model import LinearRegression

    sk = LinearRegression().fit(X, X @ np.arange(4, dtype=np.float32))
    tb.onnx.save_model(to_onnx(sk, X[:1], target_opset=17), tmp_path / "tb_onnx",
                       input_example=X[:2])
    theirs = _run_mlflow(ONNX_SIDE, tmp_path)
    assert theirs["tb_proto_inputs"] == ["X"]
    np.testing.assert_allclose(np.ravel(theirs["tb"]), sk.predict(X), rtol=1e-5)
    assert tb.onnx.load_model(tmp_path / "ml_onnx").graph.input[0].name == "X"
    loaded = tb.pyfunc.load_model(tmp_path / "ml_onnx")
    assert loaded.metadata.flavors["onnx"]["onnx_session_options"] == {
        "intra_op_num_threads": 1}
    np.testing.assert_allclose(loaded.predict(X)["variable"].ravel(), theirs["ml"], rtol=1e-5)


KERAS_SIDE = r"""
import json, sys
import numpy as np, keras, mlflow.keras, mlflow.pyfunc
out = sys.argv[1]
X = np.random.default_rng(0).random((6, 4)).astype(np.float32)
res = {"tb": mlflow.keras.load_model(f"{out}/tb_keras").predict(X, verbose=0).tolist(),
       "tb_pyfunc": np.asarray(mlflow.pyfunc.load_model(f"{out}/tb_keras").predict(X)).tolist()}
keras.utils.set_random_seed(1)
m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
mlflow.keras.save_model(m, f"{out}/ml_keras")
res["ml"] = m.predict(X, verbose=0).tolist()
print("@@" + json.dumps(res))
"""


def test_keras_models_move_between_trackbook_and_mlflow(tmp_path: Path) -> None:
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    tb.keras.save_model(model, tmp_path / "tb_keras")
    theirs = _run_mlflow(KERAS_SIDE, tmp_path)
    expected = model.predict(X, verbose=0)
    np.testing.assert_allclose(theirs["tb"], expected, rtol=1e-5)
    np.testing.assert_allclose(theirs["tb_pyfunc"], expected, rtol=1e-5)
    np.testing.assert_allclose(tb.keras.load_model(tmp_path / "ml_keras").predict(X, verbose=0),
                               theirs["ml"], rtol=1e-5)
    np.testing.assert_allclose(tb.pyfunc.load_model(tmp_path / "ml_keras").predict(X),
                               theirs["ml"], rtol=1e-5)
