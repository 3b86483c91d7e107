"""Dataset schemas in MLflow's JSON forms: ``{"mlflow_colspec": [...]}`` for tables and
``{"mlflow_tensorspec": {"features": ..., "targets": ...}}`` for arrays."""

from __future__ import annotations

import json
from typing import Any

from ..models._errors import UnsupportedModelError


def pandas_colspecs(df: Any) -> list[dict[str, Any]] | None:
    """One ``{"type", "name", "required"}`` per column (names kept as they are, ints too);
    None when a column's type cannot be told (mixed values), as MLflow gives None."""
    from ..models.signature import column_type

    specs = []
    for i, name in enumerate(df.columns):
        col = df.iloc[:, i]
        if col.dtype.kind == "O":
            col = col.infer_objects()
        try:
            spec: dict[str, Any] = {"type": column_type(col, str(name))}
        except UnsupportedModelError:
            items = _array_items(col)
            if items is None:
                return None
            spec = {"type": "array", "items": {"type": items}}
        spec.update(name=name, required=not bool(col.isna().any()))
        specs.append(spec)
    return specs


def _array_items(col: Any) -> str | None:
    """The element type of a column of flat lists (or arrays) of one scalar type, else None
    (nested lists and dicts: no schema, where MLflow describes them)."""
    import numpy as np

    from ..models.signature import _scalar_type

    kinds = set()
    for value in col.dropna():
        if not isinstance(value, (list, tuple, np.ndarray)):
            return None
        for x in value:
            if isinstance(x, np.generic):
                x = x.item()
            try:
                kinds.add(_scalar_type(x))
            except UnsupportedModelError:
                return None
    return kinds.pop() if len(kinds) == 1 else None


def tensor_specs(data: Any) -> str:
    """The JSON list of tensor specs of an array (``[-1, ...]`` shapes) or dict of arrays
    (one named spec per key, in the dict's order)."""
    items = data.items() if isinstance(data, dict) else [(None, data)]
    specs = []
    for name, array in items:
        if not hasattr(array, "dtype") or not array.ndim:
            raise ValueError(f"no tensor spec for {type(array).__name__} {name or ''}")
        spec: dict[str, Any] = {} if name is None else {"name": name}
        spec["type"] = "tensor"
        spec["tensor-spec"] = {"dtype": _tensor_type(array.dtype),
                               "shape": [-1, *array.shape[1:]]}
        specs.append(spec)
    return json.dumps(specs)


def _tensor_type(dtype: Any) -> str:
    import numpy as np

    if dtype.char == "U":  # fixed-width text and bytes lose their width
        return np.dtype("str").name
    if dtype.char == "S":
        return np.dtype("bytes").name
    if dtype.kind == "O":
        return "object"
    return dtype.name


class TensorDatasetSchema:
    """Schema of array features and optional targets (MLflow's TensorDatasetSchema)."""

    def __init__(self, features: str, targets: str | None = None) -> None:
        self.features = features
        self.targets = targets

    def to_dict(self) -> dict[str, Any]:
        return {"mlflow_tensorspec": {"features": self.features, "targets": self.targets}}

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, TensorDatasetSchema) and self.features == other.features
                and self.targets == other.targets)

    def __repr__(self) -> str:
        return f"features:\n  {self.features}\ntargets:\n  {self.targets}\n"
