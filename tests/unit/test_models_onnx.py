"""The ONNX flavor with real converters: an sklearn model via skl2onnx, a torch module via
torch.onnx.export, run by onnxruntime."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

import trackbook as tb  # noqa: E402
from trackbook.models._errors import UnsupportedModelError  # noqa: E402

rng = np.random.default_rng(0)
X = rng.random((40, 3)).astype(np.float32)
y = X @ np.array([1.0, -2.0, 0.5], dtype=np.float32) + 0.1


def _sk_onnx() -> tuple[object, object]:
    from skl2onnx import to_onnx
    from sklearn.linear_model import LinearRegression

    model = LinearRegression().fit(X, y)
    return model, to_onnx(model, X[:1], target_opset=17)


def test_sklearn_model_converted_with_skl2onnx_round_trips(tmp_path: Path) -> None:
    sk, onx = _sk_onnx()
    tb.onnx.save_model(onx, tmp_path / "m", input_example=X[:3])
    meta = tb.models.Model.load(tmp_path / "m")
    conf = meta.flavors["onnx"]
    assert conf["data"] == "model.onnx"
    assert conf["providers"] == ["CUDAExecutionProvider", "CPUExecutionProvider"]
    assert conf["onnx_version"] == onnx.__version__
    assert meta.flavors["python_function"]["loader_module"] == "mlflow.onnx"
    assert meta.signature is not None  # inferred from the example and onnxruntime's output
    proto = tb.onnx.load_model(tmp_path / "m")
    assert isinstance(proto, onnx.ModelProto)
    assert proto.graph.input[0].name == onx.graph.input[0].name
    loaded = tb.pyfunc.load_model(tmp_path / "m")
    out = loaded.predict(X[:5])  # array in: {output name: array}
    np.testing.assert_allclose(out["variable"].reshape(-1), sk.predict(X[:5]), rtol=1e-5)
    # without a (tensor) signature a DataFrame reaches the model: a DataFrame of outputs
    tb.models.save_model(onx, tmp_path / "dispatched")  # dispatch knows onnx.ModelProto
    frame = tb.pyfunc.load_model(tmp_path / "dispatched").predict(pd.DataFrame(X[:5]))
    assert list(frame.columns) == ["variable"]
    np.testing.assert_allclose(frame["variable"], sk.predict(X[:5]), rtol=1e-5)


def test_external_data_goes_to_a_side_file_and_the_model_is_not_modified(
        tmp_path: Path) -> None:
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(rng.random((64, 64)).astype(np.float32), "w")  # 16 kB
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 64])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 64])], [w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    tb.onnx.save_model(model, tmp_path / "ext")
    tb.onnx.save_model(model, tmp_path / "inline", save_as_external_data=False)
    # onnx.save_model names the side file (a uuid + ".data"), as under MLflow
    assert len(list((tmp_path / "ext").glob("*.data"))) == 1
    assert not list((tmp_path / "inline").glob("*.data"))
    assert (tmp_path / "ext" / "model.onnx").stat().st_size < 4096
    assert model.graph.initializer[0].raw_data  # the caller's proto keeps its weights
    x = rng.random((2, 64)).astype(np.float32)
    for name in ("ext", "inline"):
        got = tb.pyfunc.load_model(tmp_path / name).predict({"x": x})["y"]
        np.testing.assert_allclose(got, x @ numpy_helper.to_array(w), rtol=1e-5)


def test_torch_module_exported_to_onnx_runs_on_onnxruntime(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 1))
    path = tmp_path / "net.onnx"
    torch.onnx.export(net, (torch.from_numpy(X[:2]),), str(path), input_names=["x"],
                      output_names=["y"], dynamic_axes={"x": {0: "batch"}}, dynamo=False)
    tb.onnx.save_model(onnx.load(str(path)), tmp_path / "m",
                       onnx_execution_providers=["CPUExecutionProvider"],
                       onnx_session_options={"intra_op_num_threads": 1,
                                             "execution_mode": "sequential"})
    loaded = tb.pyfunc.load_model(tmp_path / "m")
    with torch.no_grad():
        expected = net(torch.from_numpy(X)).numpy()
    np.testing.assert_allclose(loaded.predict(X)["y"], expected, rtol=1e-5)
    assert loaded.get_raw_model().get_providers() == ["CPUExecutionProvider"]
    # float64 input is cast to the model's float32, as MLflow does
    np.testing.assert_allclose(loaded.predict({"x": X.astype(np.float64)})["y"], expected,
                               rtol=1e-5)


def test_bad_session_options_and_non_onnx_models_are_refused(tmp_path: Path) -> None:
    _, onx = _sk_onnx()
    with pytest.raises(UnsupportedModelError, match=r"not an onnxruntime\.SessionOptions"):
        tb.onnx.save_model(onx, tmp_path / "a", onnx_session_options={"threads": 2})
    with pytest.raises(UnsupportedModelError, match="'parallel' or 'sequential'"):
        tb.onnx.save_model(onx, tmp_path / "b", onnx_session_options={"execution_mode": "x"})
    with pytest.raises(tb.models.ModelError, match=r"onnx\.ModelProto"):
        tb.onnx.save_model(b"not a model", tmp_path / "c")
    assert tb.onnx.get_default_pip_requirements() == [
        f"onnx=={onnx.__version__}",
        f"onnxruntime=={pytest.importorskip('onnxruntime').__version__}"]
