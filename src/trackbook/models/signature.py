"""Model signatures: what a model takes and returns, inferred from example data.

>>> sig = infer_signature(X_train, model.predict(X_train), params={"threshold": 0.5})
>>> sig.inputs        # one ColSpec per DataFrame column, or a TensorSpec for an array
"""

from __future__ import annotations

import datetime as _dt
from typing import Any

from ._errors import UnsupportedModelError
from .schema import ColSpec, ParamSchema, ParamSpec, Schema, Spec, TensorSpec


class ModelSignature:
    """Input schema, optional output schema and optional params schema of a model."""

    def __init__(self, inputs: Schema | None = None, outputs: Schema | None = None,
                 params: ParamSchema | None = None) -> None:
        for what, value, kind in (("inputs", inputs, Schema), ("outputs", outputs, Schema),
                                  ("params", params, ParamSchema)):
            if value is not None and not isinstance(value, kind):
                raise UnsupportedModelError(
                    f"ModelSignature {what} must be a {kind.__name__}, got "
                    f"{type(value).__name__}; use infer_signature(...) to build one")
        self.inputs = inputs
        self.outputs = outputs
        self.params = params

    def to_dict(self) -> dict[str, Any]:
        """MLflow's MLmodel form: each schema as a JSON string (``None`` when absent)."""
        return {"inputs": self.inputs.to_json() if self.inputs is not None else None,
                "outputs": self.outputs.to_json() if self.outputs is not None else None,
                "params": self.params.to_json() if self.params else None}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelSignature:
        def schema(key: str) -> Schema | None:
            return Schema.from_json(d[key]) if d.get(key) else None

        params = ParamSchema.from_json(d["params"]) if d.get("params") else None
        return cls(schema("inputs"), schema("outputs"), params)

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, ModelSignature) and self.inputs == other.inputs
                and self.outputs == other.outputs and self.params == other.params)

    def __repr__(self) -> str:
        parts = [f"inputs:\n  {self.inputs!r}", f"outputs:\n  {self.outputs!r}"]
        if self.params:
            parts.append(f"params:\n  {self.params!r}")
        return "\n".join(parts)


def infer_signature(model_input: Any = None, model_output: Any = None,
                    params: dict[str, Any] | None = None) -> ModelSignature:
    """Build a signature from example input, output and params.

    Parameters
    ----------
    model_input
        A pandas DataFrame (one column spec per column), Series, numpy array (a tensor
        spec, first dimension variable), dict of arrays (named tensors) or list of dicts.
    model_output
        The model's output for ``model_input`` (same kinds), or None.
    params
        Example inference params; each becomes a ``ParamSpec`` whose default is the value.

    Returns
    -------
    ModelSignature
    """
    return ModelSignature(
        infer_schema(model_input) if model_input is not None else None,
        infer_schema(model_output) if model_output is not None else None,
        infer_param_schema(params) if params else None)


def infer_schema(data: Any) -> Schema:
    """A schema describing ``data`` (see :func:`infer_signature` for the accepted kinds)."""
    import numpy as np
    import pandas as pd

    if isinstance(data, pd.DataFrame):
        return Schema(ColSpec(column_type(data[c], str(c)), str(c)) for c in data.columns)
    if isinstance(data, pd.Series):
        name = str(data.name) if data.name is not None else None
        return Schema([ColSpec(column_type(data, name or "series"), name)])
    if isinstance(data, dict):
        if all(isinstance(v, np.ndarray) for v in data.values()):
            return Schema(_tensor(v, str(k)) for k, v in data.items())
        return infer_schema(pd.DataFrame({k: v if isinstance(v, (list, np.ndarray)) else [v]
                                          for k, v in data.items()}))
    if isinstance(data, list) and data and all(isinstance(r, dict) for r in data):
        return infer_schema(pd.DataFrame.from_records(data))
    if isinstance(data, (str, bytes, bool, int, float)):
        return Schema([ColSpec(_scalar_type(data))])
    if isinstance(data, list) and data and all(isinstance(x, str) for x in data):
        return Schema([ColSpec("string")])
    if hasattr(data, "detach") and hasattr(data, "numpy"):  # a torch tensor
        data = data.detach().cpu().numpy()
    if isinstance(data, (list, tuple, np.ndarray)):
        return Schema([_tensor(np.asarray(data))])
    raise UnsupportedModelError(
        f"cannot infer a schema from {type(data).__name__}; pass a pandas DataFrame or Series, "
        "a numpy array, a dict of arrays or a list of dicts")


def _tensor(array: Any, name: str | None = None) -> TensorSpec:
    if array.dtype.kind == "O":
        raise UnsupportedModelError(
            f"cannot infer a tensor spec from an object array{f' {name!r}' if name else ''}; "
            "convert it to a numeric dtype or pass a DataFrame")
    shape = (-1, *array.shape[1:]) if array.ndim else ()
    # MLflow's clean_tensor_type: fixed-width strings drop their width ('<U3' -> 'str')
    dtype = {"U": "str", "S": "bytes"}.get(array.dtype.char, array.dtype.name)
    return TensorSpec(dtype, shape, name)


def _scalar_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "long"
    if isinstance(value, float):
        return "double"
    if isinstance(value, bytes):
        return "binary"
    if isinstance(value, _dt.datetime):
        return "datetime"
    if isinstance(value, str):
        return "string"
    raise UnsupportedModelError(f"cannot infer a type for {type(value).__name__} {value!r}")


def column_type(series: Any, name: str) -> str:
    """MLflow's type name for a pandas column (raise for columns with mixed values)."""
    import numpy as np

    dtype = series.dtype
    kind = getattr(dtype, "kind", "O")
    if kind == "b":
        return "boolean"
    if kind in "iu":
        bits = np.dtype(dtype.numpy_dtype if hasattr(dtype, "numpy_dtype") else dtype).itemsize
        if kind == "u" and bits >= 8:
            return "double"  # uint64 does not fit int64
        return "integer" if bits < 4 or (bits == 4 and kind == "i") else "long"
    if kind == "f":
        return "float" if np.dtype(dtype).itemsize <= 4 else "double"
    if kind == "M":
        return "datetime"
    values = series.dropna()
    types = {type(v) for v in values}
    if not types or types <= {str}:
        return "string"
    if types <= {bytes, bytearray}:
        return "binary"
    if types <= {bool, np.bool_}:
        return "boolean"
    raise UnsupportedModelError(
        f"column {name!r} holds values of several types ({sorted(t.__name__ for t in types)}); "
        "convert it to one type (e.g. df[col].astype(str)) before inferring a signature")


def infer_param_schema(params: dict[str, Any]) -> ParamSchema:
    """A params schema whose defaults are the given example values."""
    specs = []
    for name, value in params.items():
        if isinstance(value, (list, tuple)):
            if not value:
                raise UnsupportedModelError(f"param {name!r}: cannot infer a type from an "
                                            "empty list")
            specs.append(ParamSpec(name, _scalar_type(value[0]), list(value), (-1,)))
        else:
            specs.append(ParamSpec(name, _scalar_type(value), value))
    return ParamSchema(specs)


__all__ = ["ModelSignature", "Spec", "infer_param_schema", "infer_schema", "infer_signature"]
