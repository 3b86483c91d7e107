"""``mlflow.types``: ``Schema``, ``ColSpec``, ``TensorSpec``, ``ParamSchema``, ``ParamSpec`` and
``DataType``, at MLflow's import path (``from mlflow.types import Schema, ColSpec``)."""

from __future__ import annotations

from .schema import ColSpec, DataType, ParamSchema, ParamSpec, Schema, TensorSpec

__all__ = ["ColSpec", "DataType", "ParamSchema", "ParamSpec", "Schema", "TensorSpec"]
