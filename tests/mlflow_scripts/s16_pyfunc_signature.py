"""A custom pyfunc PythonModel with an inferred signature, logged and loaded back."""
import mlflow
import pandas as pd
from mlflow.models import infer_signature


class AddN(mlflow.pyfunc.PythonModel):
    def __init__(self, n):
        self.n = n

    def predict(self, context, model_input, params=None):
        scale = (params or {}).get("scale", 1)
        return model_input.apply(lambda column: (column + self.n) * scale)


mlflow.set_experiment("pyfunc-custom")
example = pd.DataFrame({"a": [1.0, 2.0], "b": [3.0, 4.0]})
signature = infer_signature(example, AddN(5).predict(None, example), params={"scale": 1})

with mlflow.start_run(run_name="add-n"):
    mlflow.log_param("n", 5)
    info = mlflow.pyfunc.log_model(name="add_n", python_model=AddN(n=5),
                                   signature=signature, input_example=example)

loaded = mlflow.pyfunc.load_model(info.model_uri)
out = loaded.predict(pd.DataFrame({"a": [10.0], "b": [20.0]}), params={"scale": 2})
assert out.to_dict("list") == {"a": [30.0], "b": [50.0]}, out
assert loaded.metadata.get_input_schema().input_names() == ["a", "b"]
print(out)
