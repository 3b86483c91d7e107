"""Custom PythonModels: artifacts, context, config, both predict styles, params, dispatch."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import trackbook as tb
from trackbook.models import Model, ModelSignature, ParamSchema, ParamSpec
from trackbook.models import SchemaEnforcementError as SchemaError
from trackbook.models.loading import load_model
from trackbook.models.pyfunc import PythonModel, log_model, save_model


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
