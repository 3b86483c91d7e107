"""Custom PythonModels: artifacts, context, config, both predict styles, params, dispatch."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from models_helpers import notebook_fixture

import trackbook as tb
from trackbook.models import Model, ModelSignature, ParamSchema, ParamSpec
from trackbook.models import SchemaEnforcementError as SchemaError
from trackbook.models.loading import load_model
from trackbook.models.pyfunc import PythonModel, log_model, save_model

notebook = pytest.fixture(notebook_fixture)


class Lookup(PythonModel):
    """Reads a table from an artifact at load time; adds params['bonus']."""

    def load_context(self, context):
        self.table = pd.read_csv(context.artifacts["table"]).set_index("k")["v"]
        self.scale = context.model_config.get("scale", 1)

    def predict(self, context, model_input, params=None):
        bonus = (params or {}).get("bonus", 0)
        return model_input["k"].map(self.table).to_numpy() * self.scale + bonus


class NewStyle(PythonModel):
    rowwise = True

    def predict(self, model_input, params=None):
        return np.asarray(model_input["x"]) * 2


@pytest.fixture
def table(tmp_path: Path) -> Path:
    path = tmp_path / "table.csv"
    pd.DataFrame({"k": ["a", "b"], "v": [1.0, 2.0]}).to_csv(path, index=False)
    return path


def test_artifacts_config_and_params(table: Path, tmp_path: Path) -> None:
    example = pd.DataFrame({"k": ["a", "b"]})
    sig = ModelSignature(tb.models.infer_signature(example).inputs,
                         params=ParamSchema([ParamSpec("bonus", "double", 0.0)]))
    save_model(tmp_path / "m", Lookup(), artifacts={"table": str(table)},
               model_config={"scale": 10}, signature=sig, input_example=example,
               code_paths=[__file__])
    table.unlink()  # the model keeps its own copy
    conf = Model.load(tmp_path / "m").flavors["python_function"]
    assert conf["loader_module"] == "trackbook.models.pyfunc"
    # MLflow's keys: model_config under 'config', code for code_paths, streamable
    assert conf["config"] == {"scale": 10}
    assert "model_config" not in conf
    assert conf["code"] == "code"
    assert conf["streamable"] is False
    assert conf["artifacts"]["table"]["path"] == "artifacts/table/table.csv"
    assert (tmp_path / "m" / "code" / Path(__file__).name).is_file()
    model = load_model(tmp_path / "m")
    assert list(model.predict(example)) == [10.0, 20.0]
    assert list(model.predict(example, params={"bonus": 1})) == [11.0, 21.0]
    with pytest.raises(SchemaError, match="param 'bonus' must be double"):
        model.predict(example, params={"bonus": "x"})
    assert isinstance(model.unwrap_python_model(), Lookup)
    assert not model.rowwise


def test_new_style_predict_without_context_and_dispatch(tmp_path: Path) -> None:
    tb.models.save_model(NewStyle(), tmp_path / "m", input_example=pd.DataFrame({"x": [1, 2]}),
                         code_paths=[__file__])
    model = load_model(str(tmp_path / "m"))
    assert list(model.predict(pd.DataFrame({"x": [3]}))) == [6]
    assert model.rowwise
    sig = model.metadata.signature
    assert sig.outputs is not None
    assert sig.outputs.inputs[0].dtype == "int64"
    with pytest.raises(SchemaError, match="this model declares no params"):
        model.predict(pd.DataFrame({"x": [3]}), params={"k": 1})


def test_a_failing_example_prediction_warns_and_keeps_the_input_schema(tmp_path: Path) -> None:
    class Broken(PythonModel):
        def predict(self, context, model_input, params=None):
            raise RuntimeError("boom")

    with pytest.warns(tb.models.ModelWarning, match="no output schema.*boom"):
        save_model(tmp_path / "m", Broken(), input_example=pd.DataFrame({"x": [1.0]}),
                   code_paths=[__file__])
    sig = Model.load(tmp_path / "m").signature
    assert sig.inputs is not None
    assert sig.outputs is None


def test_log_model_of_a_python_model(tb_store) -> None:
    with tb.start_run():
        info = log_model(NewStyle(), name="doubler", code_paths=[__file__])
    assert info.model_uri == f"models:/{info.model_id}"  # MLflow 3's logged-model URI
    assert info.name == "doubler"
    assert list(load_model(info.model_uri).predict(pd.DataFrame({"x": [1]}))) == [2]
    with pytest.raises(tb.models.ModelError, match=r"must be a trackbook\.pyfunc\.PythonModel"):
        save_model(Path(tb_store) / "x", python_model=3)


def test_pyfunc_keys_are_mlflows(notebook, tmp_path: Path) -> None:
    """A notebook-defined PythonModel: MLflow 3.17's keys and files (no code/)."""
    ns = notebook("""
    import trackbook as tb

    class Plain(tb.pyfunc.PythonModel):
        def predict(self, context, model_input, params=None):
            return model_input

    class Streams(Plain):
        def predict_stream(self, context, model_input, params=None):
            yield model_input
    """)
    save_model(tmp_path / "plain", ns["Plain"]())
    conf = Model.load(tmp_path / "plain").flavors["python_function"]
    assert sorted(conf) == ["cloudpickle_version", "code", "env", "loader_module",
                            "python_model", "python_version", "streamable"]
    assert conf["code"] is None
    assert conf["streamable"] is False
    assert not (tmp_path / "plain" / "code").exists()
    save_model(tmp_path / "streams", ns["Streams"]())
    assert Model.load(tmp_path / "streams").flavors["python_function"]["streamable"] is True


def test_model_config_of_older_trackbook_models_still_loads(table: Path,
                                                            tmp_path: Path) -> None:
    """trackbook before MLflow's key wrote model_config as python_function.model_config."""
    import yaml

    save_model(tmp_path / "m", Lookup(), artifacts={"table": str(table)},
               model_config={"scale": 3})
    raw = yaml.safe_load((tmp_path / "m" / "MLmodel").read_text())
    conf = raw["flavors"]["python_function"]
    conf["model_config"] = conf.pop("config")
    (tmp_path / "m" / "MLmodel").write_text(yaml.safe_dump(raw))
    model = load_model(tmp_path / "m")
    assert list(model.predict(pd.DataFrame({"k": ["a", "b"]}))) == [3.0, 6.0]


class Words(PythonModel):
    """Streams its input's words (MLflow's predict_stream)."""

    def predict(self, model_input, params=None):
        return [" ".join(model_input)]

    def predict_stream(self, model_input, params=None):
        for word in str(model_input).split():
            yield word.upper() if (params or {}).get("upper") else word


def test_predict_stream_of_a_streamable_python_model(tmp_path: Path) -> None:
    sig = ModelSignature(params=ParamSchema([ParamSpec("upper", "boolean", False)]))
    save_model(tmp_path / "words", python_model=Words(), signature=sig)
    assert Model.load(tmp_path / "words").flavors["python_function"]["streamable"] is True
    model = load_model(tmp_path / "words")
    stream = model.predict_stream("a b c")
    assert not isinstance(stream, list)  # an iterator, consumed lazily
    assert list(stream) == ["a", "b", "c"]
    assert list(model.predict_stream(["x y"], params={"upper": True})) == ["X", "Y"]
    with pytest.raises(SchemaError, match="single input, got 2"):
        model.predict_stream(["x", "y"])
    save_model(tmp_path / "plain", python_model=NewStyle())
    assert Model.load(tmp_path / "plain").flavors["python_function"]["streamable"] is False
    with pytest.raises(tb.TrackbookError, match="does not support predict_stream"):
        load_model(tmp_path / "plain").predict_stream("a")
