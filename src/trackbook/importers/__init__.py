"""Importers: bring another tool's history into a trackbook store.

``tb.import_mlflow("mlflow.db", artifacts="mlartifacts")`` (or ``trackbook import-mlflow``)
reads an MLflow store directly (its SQLite schema or its file-store layout; MLflow need not
be installed) and writes runs, metric histories, artifacts and the model registry through
the store's own writer. Names load on first use, so importing this package is cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_LAZY = {"import_mlflow": "_mlflow", "ImportSummary": "_summary",
         "MlflowImportError": "_errors", "UnknownSchemaError": "_errors"}
__all__ = ["ImportSummary", "MlflowImportError", "UnknownSchemaError", "import_mlflow"]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'trackbook.importers' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:
    from ._errors import MlflowImportError, UnknownSchemaError
    from ._mlflow import import_mlflow
    from ._summary import ImportSummary
