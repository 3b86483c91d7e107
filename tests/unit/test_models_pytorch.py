"""The PyTorch flavor (CPU). torch is optional: without it these tests skip, saying so."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from models_helpers import notebook_fixture

torch = pytest.importorskip(
    "torch", reason="torch is not installed: the pytorch flavor tests need it "
                    "(pip install torch; a CPU wheel is enough)")

import trackbook as tb  # noqa: E402
from trackbook.models.env import read_requirements  # noqa: E402

notebook = pytest.fixture(notebook_fixture)


@pytest.fixture
def net():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))


def test_round_trip_and_mlflow_layout(net, tmp_path: Path) -> None:
    X = np.random.default_rng(0).random((5, 4)).astype("float32")
    meta = tb.pytorch.save_model(net, tmp_path / "m", input_example=X)
    assert (tmp_path / "m" / "data" / "model.pth").is_file()
    assert (tmp_path / "m" / "data" / "pickle_module_info.txt").read_text() == \
        "mlflow.pytorch.pickle_module"
    assert meta.flavors["pytorch"] == {"model_data": "data", "code": None,
                                       "pytorch_version": torch.__version__}
    assert {k: v for k, v in meta.flavors["python_function"].items()
            if k not in ("env", "python_version")} == {
        "loader_module": "mlflow.pytorch", "data": "data",
        "pickle_module_name": "mlflow.pytorch.pickle_module", "config": {"device": None}}
    assert [s.shape for s in meta.signature.inputs] == [(-1, 4)]
    assert any(r.startswith("torch==") for r in read_requirements(tmp_path / "m"))
    want = net(torch.from_numpy(X)).detach().numpy()
    loaded = tb.pyfunc.load_model(tmp_path / "m")
    assert np.allclose(loaded.predict(X), want)
    native = tb.pytorch.load_model(tmp_path / "m")
    assert not native.training
    assert np.allclose(native(torch.from_numpy(X)).detach().numpy(), want)


def test_dataframes_in_and_out(net, tmp_path: Path) -> None:
    frame = pd.DataFrame(np.ones((3, 4)), columns=list("abcd"))
    tb.models.save_model(net, tmp_path / "m", input_example=frame)
    out = tb.pyfunc.load_model(tmp_path / "m").predict(frame)
    assert isinstance(out, pd.DataFrame)
    assert out.shape == (3, 2)
    with pytest.raises(tb.models.SchemaEnforcementError, match="missing column"):
        tb.pyfunc.load_model(tmp_path / "m").predict(frame.drop(columns="a"))


def test_log_model(net, tb_store) -> None:
    with tb.start_run():
        info = tb.pytorch.log_model(net, name="net")
    assert info.flavors["pytorch"]["model_data"] == "data"
    assert tb.pytorch.load_model(info.model_uri)[0].out_features == 8


def test_a_notebook_module_loads_in_a_new_process(notebook, tmp_path: Path) -> None:
    ns = notebook("""
    import torch
    from torch import nn

    class TinyNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(3, 1)

        def forward(self, x):
            return torch.sigmoid(self.fc(x))
    """)
    torch.manual_seed(1)
    model = ns["TinyNet"]()
    meta = tb.pytorch.save_model(model, tmp_path / "m")
    # MLflow's files and keys: no code/ (MLflow writes it for code_paths only); the pickle
    # carries the source, and MLmodel's trackbook section a readable copy
    assert not (tmp_path / "m" / "code").exists()
    assert meta.flavors["pytorch"]["code"] is None
    assert "code" not in meta.flavors["python_function"]
    source = meta.trackbook["main_code"]["source"]
    assert "class TinyNet(nn.Module):" in source
    assert "import torch.nn as nn" in source
    x = torch.ones((2, 3))
    want = model(x).detach().numpy().ravel().tolist()
    code = textwrap.dedent(f"""
        import numpy as np, trackbook as tb
        m = tb.pyfunc.load_model({str(tmp_path / 'm')!r})
        print(m.predict(np.ones((2, 3), dtype='float32')).ravel().tolist())
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=tmp_path, timeout=120)
    assert out.returncode == 0, out.stderr
    assert eval(out.stdout.strip()) == pytest.approx(want)


def test_not_a_module(tmp_path: Path) -> None:
    with pytest.raises(tb.models.ModelError, match=r"must be a torch\.nn\.Module"):
        tb.pytorch.save_model(object(), tmp_path / "m")
