"""Importers: bring another tool's history into a trackbook store.

``tb.import_mlflow("mlflow.db", artifacts="mlartifacts")`` (or ``trackbook import-mlflow``)
reads an MLflow store directly (its SQLite schema or its file-store layout; MLflow need not
be installed) and writes runs, metric histories, artifacts and the model registry through
the store's own writer. Names load on first use, so importing this package is cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

_LAZY = {"import_mlflow": "._mlflow", "ImportSummary": "._summary",
         "MlflowImportError": "._errors", "UnknownSchemaError": "._errors"}
__all__ = ["ImportSummary", "MlflowImportError", "UnknownSchemaError", "import_mlflow"]


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, __all__)


if TYPE_CHECKING:
    from ._errors import MlflowImportError, UnknownSchemaError
    from ._mlflow import import_mlflow
    from ._summary import ImportSummary
