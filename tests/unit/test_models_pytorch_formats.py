"""PyTorch serialization formats: pickle, TorchScript (a ScriptModule) and pt2 (torch.export)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import trackbook as tb  # noqa: E402
from trackbook.models import ModelError  # noqa: E402
from trackbook.models._errors import UnsupportedModelError  # noqa: E402


def _net() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))


X = np.random.default_rng(0).random((5, 4)).astype(np.float32)


def _expected(net: torch.nn.Module, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return net(torch.from_numpy(x)).numpy()


def test_pt2_is_a_torch_export_program_with_a_dynamic_batch(tmp_path: Path) -> None:
    net = _net()
    tb.pytorch.save_model(net, tmp_path / "m", serialization_format="pt2", input_example=X)
    assert (tmp_path / "m" / "data" / "model.pt2").is_file()
    assert not (tmp_path / "m" / "data" / "model.pth").exists()
    loaded = tb.pytorch.load_model(tmp_path / "m")
    more = np.random.default_rng(1).random((9, 4)).astype(np.float32)  # another batch size
    np.testing.assert_allclose(loaded(torch.from_numpy(more)).detach().numpy(),
                               _expected(net, more), rtol=1e-6)
    pyfunc = tb.pyfunc.load_model(tmp_path / "m")
    np.testing.assert_allclose(pyfunc.predict(X), _expected(net, X), rtol=1e-6)


def test_pt2_needs_an_array_example_and_export_model_is_its_deprecated_alias(
        tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="needs input_example"):
        tb.pytorch.save_model(_net(), tmp_path / "a", serialization_format="pt2")
    with pytest.warns(FutureWarning, match="export_model is deprecated"):
        tb.pytorch.save_model(_net(), tmp_path / "b", export_model=True,
                              input_example=torch.from_numpy(X))
    assert (tmp_path / "b" / "data" / "model.pt2").is_file()
    with pytest.raises(UnsupportedModelError, match="contradict"):
        tb.pytorch.save_model(_net(), tmp_path / "c", export_model=True,
                              serialization_format="pickle")
    with pytest.raises(UnsupportedModelError, match="one of"):
        tb.pytorch.save_model(_net(), tmp_path / "d", serialization_format="onnx")


def test_torchscript_module_is_saved_with_torch_jit_and_loads_as_one(tmp_path: Path) -> None:
    net = _net()
    scripted = torch.jit.script(net)
    tb.pytorch.save_model(scripted, tmp_path / "m", input_example=X)
    assert (tmp_path / "m" / "data" / "pickle_module_info.txt").read_text() \
        == "mlflow.pytorch.pickle_module"
    loaded = tb.pytorch.load_model(tmp_path / "m")
    assert isinstance(loaded, torch.jit.ScriptModule)
    np.testing.assert_allclose(tb.pyfunc.load_model(tmp_path / "m").predict(X),
                               _expected(net, X), rtol=1e-6)
    with pytest.raises(UnsupportedModelError, match="ScriptModule"):
        tb.pytorch.save_model(scripted, tmp_path / "n", serialization_format="pt2",
                              input_example=X)


def test_a_given_pickle_module_is_recorded_and_used_again(tmp_path: Path) -> None:
    import pickle

    net = _net()
    tb.pytorch.save_model(net, tmp_path / "m", pickle_module=pickle)
    assert (tmp_path / "m" / "data" / "pickle_module_info.txt").read_text() == "pickle"
    assert tb.pytorch.load_model(tmp_path / "m")(torch.from_numpy(X)).shape == (5, 2)


def test_default_requirements_are_pinned_like_mlflows() -> None:
    reqs = tb.pytorch.get_default_pip_requirements()
    assert reqs[0] == f"torch=={torch.__version__}"
    assert any(r.startswith("cloudpickle==") for r in reqs)
    env = tb.pytorch.get_default_conda_env()
    assert env["channels"] == ["conda-forge"]
    assert env["dependencies"][-1] == {"pip": reqs}
