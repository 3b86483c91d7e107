"""``mlflow.types.schema``: the column, tensor and params specs of model signatures.

The classes live in :mod:`trackbook.models.schema`; this module gives them MLflow's import
path, plus :class:`DataType`, MLflow's enum of column types.
"""

from __future__ import annotations

from enum import StrEnum

from ..models.schema import DATA_TYPES, ColSpec, ParamSchema, ParamSpec, Schema, TensorSpec


class DataType(StrEnum):
    """MLflow's column types (``DataType.double``, ...); a str, so ``ColSpec(DataType.double,
    "a")`` works as in MLflow."""

    boolean = "boolean"
    integer = "integer"
    long = "long"
    float = "float"
    double = "double"
    string = "string"
    binary = "binary"
    datetime = "datetime"

    def to_numpy(self) -> object:
        """The numpy dtype a column of this type is held in."""
        import numpy as np

        return np.dtype(DATA_TYPES[self.value])


__all__ = ["ColSpec", "DataType", "ParamSchema", "ParamSpec", "Schema", "TensorSpec"]
